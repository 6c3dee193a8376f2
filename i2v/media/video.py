"""Frames in, browser-playable files out.  Pure (numpy, PIL, imageio-ffmpeg; no torch).

Every file is written under a temporary hidden name in the destination folder
and renamed into place only when complete, so a crash, a full disk or a cancel
never leaves a half-written file under a real name.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

from ..base.errors import GenerationFailed, OutOfResources

PARTIAL_TAG = ".partial"


def _ffmpeg_lib():
    """imageio-ffmpeg, imported when a video is written or read (its 170 MB binary is not needed by the
    engine, the planner or ``bench --gpu``)."""
    import imageio_ffmpeg

    return imageio_ffmpeg


def check_frames(frames: np.ndarray) -> None:
    """Refuse frames that would silently become a black or flat video."""
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise GenerationFailed("frames_shape", shape=tuple(frames.shape))
    bad = ~np.isfinite(frames)
    if bad.any():
        where = sorted({int(i) for i in np.argwhere(bad.reshape(frames.shape[0], -1).any(axis=1)).ravel()})
        raise GenerationFailed("frames_nan", frames=where[:8])
    if float(frames.max() - frames.min()) < 1e-6:
        raise GenerationFailed("frames_constant")


def to_uint8(frames: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def partial_name(final: Path) -> Path:
    """Hidden, and tagged with the writer's process id, so a sweep can tell an abandoned file (its
    writer is gone) from one another process is writing right now."""
    return final.with_name(f".{final.stem}.{os.getpid()}{PARTIAL_TAG}{final.suffix}")


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine is still running (ours always is)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def partial_writer_alive(path: Path) -> bool:
    m = re.search(r"\.(\d+)" + re.escape(PARTIAL_TAG), path.name)
    return bool(m) and pid_alive(int(m.group(1)))


DISK_FULL = (28, 27)  # ENOSPC, EFBIG (also what RLIMIT_FSIZE produces)


def disk_full_error(name: str, folder: Path) -> OutOfResources:
    return OutOfResources("disk_full", name=name, folder=folder)


@contextmanager
def atomic_path(final: Path):
    """Yield a temporary path beside ``final``; rename it into place on success, delete it on failure."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise disk_full_error(final.name, final.parent) from None
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify_mp4(path: Path, frames: int) -> None:
    """Read a just-written MP4 back: it must decode to exactly ``frames`` frames.  A truncated file (a full
    disk, a file-size limit, a killed encoder) fails here instead of being published."""
    try:
        info = probe(path)
    except (ValueError, OSError, RuntimeError, subprocess.SubprocessError):
        info = None
    if info is None or info["frames"] != frames or not info["seconds"]:
        got = "unreadable" if info is None else f"{info['frames']} of {frames} frames"
        raise OutOfResources("write_incomplete", detail=got)


def commit_files(writers: dict[Path, Callable[[Path], None]], *, mp4_frames: dict[Path, int] | None = None,
                 on_commit: Callable[[list[Path]], None] | None = None) -> list[Path]:
    """Write several files as one unit: each under a temporary name, MP4s read back and checked, all
    flushed to disk, ``on_commit(finals)`` told the final names (the job store records them, so a crash
    during the renames is recoverable), then renamed into place.  Any failure removes every file."""
    temps: dict[Path, Path] = {}
    placed: list[Path] = []
    try:
        for final, write in writers.items():
            final.parent.mkdir(parents=True, exist_ok=True)
            temps[final] = partial_name(final)
            write(temps[final])
            if not temps[final].exists():
                raise OutOfResources("write_failed", name=final.name)
        for final, n in (mp4_frames or {}).items():
            verify_mp4(temps[final], n)
        for tmp in temps.values():
            _fsync(tmp)
        finals = list(writers)
        if on_commit is not None:
            on_commit(finals)
        for final in finals:
            os.replace(temps[final], final)
            placed.append(final)
        for folder in {f.parent for f in finals}:
            _fsync(folder)
        return finals
    except BaseException as exc:
        for p in [*temps.values(), *placed]:
            p.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            first = next(iter(writers))
            raise disk_full_error(first.name, first.parent) from None
        raise


def json_to(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def png_to(path: Path, frame: np.ndarray) -> None:
    Image.fromarray(frame).save(path, format="PNG")


def write_json(data: dict, final: Path) -> Path:
    with atomic_path(final) as tmp:
        json_to(tmp, data)
    return final


def write_png(frame: np.ndarray, final: Path) -> Path:
    with atomic_path(final) as tmp:
        png_to(tmp, frame)
    return final


def write_mp4(frames: np.ndarray, final: Path, fps: float, comment: str | None = None,
              crf: int = 17) -> Path:
    """H.264 yuv420p MP4 with the moov atom up front (plays while downloading in browsers)."""
    with atomic_path(final) as tmp:
        mp4_to(tmp, frames, fps, comment, crf)
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OutOfResources("write_failed", name=final.name)
    return final


def mp4_to(path: Path, frames: np.ndarray, fps: float, comment: str | None = None, crf: int = 17) -> None:
    """Encode ``frames`` into ``path`` (no atomicity: callers write to a temporary name)."""
    frames = np.ascontiguousarray(frames)
    n, h, w, _ = frames.shape
    mp4_stream_to(path, frames, (w, h), fps, comment, crf)


def mp4_stream_to(path: Path, frames: Iterable[np.ndarray], size: tuple[int, int], fps: float,
                  comment: str | None = None, crf: int = 17) -> None:
    """:func:`mp4_to` from frames of ``size`` (width, height) given one at a time (a video read as it is
    written is never held whole)."""
    w, h = size
    params = ["-crf", str(crf), "-preset", "medium", "-movflags", "+faststart"]
    if comment:
        params += ["-metadata", f"comment={comment}"]
    writer = _ffmpeg_lib().write_frames(str(path), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                         pix_fmt_out="yuv420p", macro_block_size=16, quality=None,
                                         output_params=params, ffmpeg_log_level="error")
    writer.send(None)
    try:
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
    finally:
        try:
            writer.close()
        except (RuntimeError, OSError, StopIteration):
            pass


# -- reading back ---------------------------------------------------------------------------------

def _ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([_ffmpeg_lib().get_ffmpeg_exe(), "-hide_banner", *args],
                          capture_output=True, text=True, errors="replace", timeout=120)


def _stream_info(path: Path) -> tuple[dict, str]:
    """What ``ffmpeg -i`` says of the first video stream: codec, pixel format, size, fps."""
    info = _ffmpeg("-i", str(path)).stderr
    m = re.search(r"Stream #\S+.*?Video: (\w+).*?, (\w+)(?:\([^)]*\))?, (\d+)x(\d+)", info)
    if not m:
        raise ValueError(f"no video stream found in {path}")
    fps_m = re.search(r"([\d.]+) fps", info)
    return {"codec": m.group(1), "pix_fmt": m.group(2), "width": int(m.group(3)), "height": int(m.group(4)),
            "fps": float(fps_m.group(1)) if fps_m else None}, info


def probe(path: Path) -> dict:
    """codec, pixel format, size, fps, frame count of a video (from ffmpeg's own reading: every frame is
    decoded to count them, so use :func:`header` first on a file that may be hostile)."""
    out, _ = _stream_info(path)
    n, secs = _ffmpeg_lib().count_frames_and_secs(str(path))
    return {**out, "frames": n, "seconds": secs}


def header(path: Path) -> dict:
    """A video's codec, pixel format, size, fps and duration (``seconds``, None when it gives none) from
    the container's header, without decoding its frames (``ffmpeg -i``)."""
    out, info = _stream_info(path)
    d = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", info)
    out["seconds"] = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3)) if d else None
    return out


def count_packets(path: Path, up_to: int) -> int:
    """The frames of a video's first video stream, counted by stream copy (no decoding) and at most
    ``up_to`` + 1 of them: a file of a million tiny frames costs no more than the limit."""
    r = _ffmpeg("-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-frames:v", str(int(up_to) + 1),
                "-f", "null", "-")
    counts = re.findall(r"frame=\s*(\d+)", r.stderr)
    if r.returncode != 0 or not counts:
        raise ValueError(f"cannot read the frames of {path}")
    return int(counts[-1])


COMMENT_MAX_BYTES = 1 << 20  # ours are a few KB


class CommentTooLong(ValueError):
    """An MP4's comment tag is longer than the reader's bound."""


def read_comment(path: Path, max_bytes: int = COMMENT_MAX_BYTES) -> str | None:
    """The MP4's comment tag, as written by :func:`write_mp4`.  ffmpeg's output is read with a bound: a tag
    of more than ``max_bytes`` (UTF-8) raises :class:`CommentTooLong` without being held here whole."""
    cap = 2 * max_bytes + 65536  # ffmetadata escapes '=;#\' and newlines; the other tags are short
    cmd = [_ffmpeg_lib().get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-f", "ffmetadata", "-"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL) as proc:
        timer = threading.Timer(120, proc.kill)  # a file ffmpeg hangs on
        timer.start()
        try:
            raw = proc.stdout.read(cap + 1)
        finally:
            timer.cancel()
            proc.kill()  # done reading: at the bound, or at its end (then it has exited, or is about to)
    if len(raw) > cap:
        raise CommentTooLong(f"{Path(path).name}: comment tag over {max_bytes} bytes")
    out = raw.decode("utf-8", errors="replace")
    lines, buf, key = out.splitlines(), [], None
    for line in lines:
        if key is None:
            if line.startswith("comment="):
                key, line = "comment", line[len("comment="):]
            else:
                continue
        cont = line.endswith("\\") and not line.endswith("\\\\")
        buf.append(line[:-1] if cont else line)
        if not cont:
            break
    if key is None:
        return None
    text = re.sub(r"\\(.)", r"\1", "\n".join(buf))
    if len(text.encode("utf-8")) > max_bytes:
        raise CommentTooLong(f"{Path(path).name}: comment tag over {max_bytes} bytes")
    return text


def iter_frames(path: Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The frames one at a time, each (H, W, 3) uint8, decoded as they are asked for (one frame is held
    here at a time); with ``max_frames``, at most that many (the decoder is stopped there)."""
    reader = _ffmpeg_lib().read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = reader.__next__()
        w, h = meta["size"]
        n = 0
        while max_frames is None or n < max_frames:
            buf = next(reader, None)
            if buf is None:
                break
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            n += 1
    finally:
        reader.close()


def read_frames(path: Path, max_frames: int | None = None) -> np.ndarray:
    """All frames as (N, H, W, 3) uint8; with ``max_frames``, at most that many (the decoder is stopped
    there, whatever the file holds beyond what :func:`header` counted)."""
    frames = list(iter_frames(path, max_frames))
    if not frames:
        raise ValueError(f"no frames in {Path(path).name}")
    return np.stack(frames)


def read_tail(path: Path, keep: int, max_frames: int, each: Callable[[np.ndarray], None] | None = None
              ) -> tuple[np.ndarray, int]:
    """The last ``keep`` frames of a video (N, H, W, 3) and how many frames it has, decoding at most
    ``max_frames`` and holding no more than ``keep`` + 1 of them at a time.  ``each(frame)`` sees every
    frame that is not among the last ``keep``, in order, as soon as that is known (a running statistic:
    the frames before the tail are never held together)."""
    tail: deque[np.ndarray] = deque()
    n = 0
    for frame in iter_frames(path, max_frames):
        tail.append(frame)
        n += 1
        if len(tail) > keep:
            old = tail.popleft()
            if each is not None:
                each(old)
    if not tail:
        raise ValueError(f"no frames in {Path(path).name}")
    return np.stack(tail), n


def check_video_bounds(video: Path, limits: dict, too_many: Callable[..., Exception],
                       frames_of: Callable[[int], int] = lambda n: n) -> dict:
    """The bounds of a video this studio reads (the config's ``limits``), checked before a frame is
    decoded: pixels per frame and duration from the file's header, then the frames of the result
    (``frames_of(n)`` for a source of ``n`` frames) from its packets, counted without decoding and no
    further than the limit; over it, ``too_many(name=, frames=, limit=)`` (the reader's own words).  One
    checker for smoothing, extend and analyze.  Returns what was read (``frames``: the source's)."""
    from ..base.errors import InvalidInput

    name = Path(video).name
    cap = int(limits["smooth_max_frames"])
    try:
        info = header(video)
        pixels = info["width"] * info["height"]
        if pixels > limits["video_max_pixels"]:
            raise InvalidInput("video_too_many_pixels", width=info["width"], height=info["height"], pixels=pixels,
                               limit=limits["video_max_pixels"])
        if info["seconds"] is not None and info["seconds"] > limits["video_max_seconds"]:
            raise InvalidInput("video_too_long", seconds=round(info["seconds"], 1), limit=limits["video_max_seconds"])
        n = count_packets(video, up_to=cap)
    except (ValueError, OSError, subprocess.SubprocessError):
        raise InvalidInput("video_unreadable", name=name) from None
    if n < 1:
        raise InvalidInput("video_unreadable", name=name)
    after = frames_of(n)
    if after > cap:  # a count that stopped at the limit says "at least"
        raise too_many(name=name, frames=after if n <= cap else f"{after}+", limit=cap)
    return {**info, "frames": n}


def check_video_input(video: Path, limits: dict, reader: str) -> dict:
    """:func:`check_video_bounds` for a video read as it is (``reader``: extend or analyze, whose words
    a video over the frame limit is refused in)."""
    from ..base.errors import InvalidInput

    def too_many(**p) -> InvalidInput:
        return InvalidInput("extend_too_many_frames", **p) if reader == "extend" else \
            InvalidInput("analyze_too_many_frames", **p)

    return check_video_bounds(Path(video), limits, too_many)
