"""Smoothing: interpolate a video to a multiple of its frame rate (optical flow or ffmpeg's
minterpolate) and optionally loop it, its bounds checked from the header before a frame is decoded."""

from __future__ import annotations

import datetime
import json
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..base.cancel import CancelToken
from ..base.config import load_config
from ..base.errors import InvalidInput, echo
from ..media.video import check_video_bounds, commit_files, json_to, mp4_to, partial_name, read_comment, read_frames
from ..motion.analysis import analyze_frames, interpolate, make_loop


def check_smooth_args(video: Path, factor: int, method: str, loop: str | None) -> None:
    if Path(video).is_dir():  # (as extend and analyze say it)
        raise InvalidInput("video_is_folder", name=echo(Path(video).name or str(video)))
    if not Path(video).is_file():
        raise InvalidInput("video_not_found", name=video)
    if factor not in (1, 2, 4):
        raise InvalidInput("smooth_factor", got=factor)
    if method not in ("flow", "minterpolate"):
        raise InvalidInput("unknown_choice", what="interpolation method", got=method, choices="flow, minterpolate")
    if loop not in (None, "", "pingpong", "crossfade"):
        raise InvalidInput("unknown_choice", what="loop mode", got=loop, choices="pingpong, crossfade")


def frames_after(n: int, factor: int, method: str = "flow", loop: str | None = None) -> int:
    """How many frames smoothing ``n`` frames makes: factor x (n - 1) + 1 by flow (at most factor x n by
    minterpolate, which times them itself), about twice that with a pingpong loop."""
    m = n * factor if method == "minterpolate" and factor > 1 else factor * (n - 1) + 1
    return 2 * m - 2 if loop == "pingpong" and m > 2 else m


def check_smooth_input(video: Path, factor: int, method: str, loop: str | None, limits: dict) -> dict:
    """The bounds of smoothing (``limits``: the config's), checked before a frame is decoded: pixels per
    frame and duration from the file's header, then the frames of the result from its packets, counted
    without decoding and no further than the limit.  Returns what was read (``frames``: the source's)."""
    check_smooth_args(video, factor, method, loop)
    return check_video_bounds(video, limits, lambda **p: InvalidInput("smooth_too_many_frames", **p),
                              lambda n: frames_after(n, factor, method, loop))


def smooth(video: Path, factor: int = 2, method: str = "flow", loop: str | None = None,
           outputs: Path | None = None, on_commit: Callable[[list[Path]], None] | None = None,
           limits: dict | None = None, cancel: CancelToken | None = None) -> tuple[Path, dict]:
    """Interpolate to ``factor`` x the frame rate and optionally loop; writes a new MP4 + sidecar.

    ``outputs`` is the studio's outputs folder (default: the source's own folder).  The result goes beside
    its source when the source is in it, else into today's folder of it; the metadata names the source
    relative to it, or by file name only when it is elsewhere (no server path is recorded).  ``limits``
    (default: the config's) bound the work before a frame is decoded; ``cancel`` is checked between steps
    and before the files are published (a cancel writes nothing)."""
    video = Path(video)
    limits = limits or load_config().limits
    info = check_smooth_input(video, factor, method, loop, limits)
    cap = int(limits["smooth_max_frames"])
    step = cancel.check if cancel is not None else (lambda: None)
    fps = info["fps"] or 8
    source_meta = None
    try:
        text = read_comment(video)
        source_meta = json.loads(text) if text else None
    except ValueError:
        source_meta = None
    root = Path(outputs) if outputs else video.parent
    try:
        source = video.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        source = None
    folder = video.parent if source is not None else root / datetime.datetime.now().strftime("%Y-%m-%d")
    suffix = f"x{factor}{'_' + loop if loop else ''}"
    target = folder / f"{video.stem}_{suffix}_{secrets.token_hex(2)}.mp4"
    step()
    if method == "minterpolate" and factor > 1:
        frames = _minterpolate(video, fps * factor, folder, max_frames=cap + 1)
    else:
        frames = interpolate(read_frames(video, max_frames=info["frames"]), factor, check=step)
    step()
    if loop:
        frames = make_loop(frames, loop)
    if len(frames) > cap:  # what the packets promised, whatever the decoder made of them
        raise InvalidInput("smooth_too_many_frames", name=video.name, frames=len(frames), limit=cap)
    meta = {"app": "i2v-studio", "kind": "smoothed", "source": source, "source_name": video.name, "factor": factor,
            "method": method, "loop": loop or None, "fps": fps * factor, "frames": int(frames.shape[0]),
            "source_metadata": source_meta, "motion": analyze_frames(frames).summary()}
    comment = json.dumps(meta, ensure_ascii=False)
    step()

    def publish(finals: list[Path]) -> None:
        step()  # a cancel during the encoding: the written files are removed, nothing is published
        if on_commit is not None:
            on_commit(finals)

    commit_files({target: lambda p: mp4_to(p, frames, fps * factor, comment),
                  target.with_suffix(".json"): lambda p: json_to(p, meta)},
                 mp4_frames={target: len(frames)}, on_commit=publish)
    return target, meta


def _minterpolate(video: Path, fps: float, folder: Path, max_frames: int | None = None) -> np.ndarray:
    """ffmpeg's motion-compensated interpolation, through a temporary file in ``folder`` (the result's)."""
    import imageio_ffmpeg

    folder.mkdir(parents=True, exist_ok=True)
    tmp = partial_name(folder / f"{video.stem}.minterp.mp4")
    try:
        r = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(video), "-vf",
                            f"minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1",
                            "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p", str(tmp)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise InvalidInput("minterpolate_failed", detail=r.stderr.strip()[:200])
        return read_frames(tmp, max_frames=max_frames)
    finally:
        tmp.unlink(missing_ok=True)
