"""Multi-video work on top of the studio service: guidance sweeps, batches, smoothing.

* **sweep**: the seed article's experiment as a feature: one picture, prompt and seed, several guidance
  values; each video is a normal result (in the history), plus one captioned grid MP4 and a table of
  motion metrics, the best motion/jitter balance marked.  The engine's encoding cache means the prompt
  and picture are encoded once for the whole sweep.
* **batch**: a YAML list of requests run in order, resumable (finished entries are skipped), one failure
  reported without stopping the rest.
* **smooth**: frame interpolation x2/x4 (optical flow, or ffmpeg's motion-compensated ``minterpolate``)
  and optional looping; the result is a new file with its own sidecar pointing to its source.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable

import numpy as np
import yaml
from PIL import Image, ImageDraw, ImageFont

from .analysis import analyze_frames, interpolate, make_loop
from .cancel import CancelToken
from .config import load_config
from .errors import InvalidInput, echo
from .autotune import TUNE_KEYS
from .longplan import LONG_KEYS
from .studio import GenerationResult, Studio
from .tuning import balance_score
from .settings import NAMES, REQUEST_EXTRAS, canonical
from .video import check_video_bounds, commit_files, json_to, mp4_to, partial_name, read_comment, read_frames

DEFAULT_SWEEP = (5.0, 7.0, 9.0, 11.0, 14.0, 18.0)


def parse_guidance_list(text: str | list) -> list[float]:
    if isinstance(text, str) and len(text) > 200:  # 12 values fit in far less: refused before splitting
        raise InvalidInput("text_too_long", name="guidance values", length=len(text), limit=200)
    items = text if isinstance(text, list) else [p for p in str(text).replace("，", ",").split(",") if p.strip()]
    try:
        values = [float(v) for v in items]
    except ValueError:
        raise InvalidInput("sweep_values_nan", got=repr(text)) from None
    if not 2 <= len(values) <= 12:
        raise InvalidInput("sweep_values_count", count=len(values))
    if any(not 1.0 <= v <= 20.0 for v in values):
        raise InvalidInput("sweep_values_range")
    return values


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # pragma: no cover - older Pillow
        return ImageFont.load_default()


def _fit_captions(labels: list[str], width: int, size: int) -> tuple[list[list[str]], ImageFont.ImageFont, int]:
    """Caption lines that fit a tile ``width`` px wide (6 px margin each side): one line at the largest
    font size from ``size`` down to 9 px, else the label split at its double spaces (one part a line),
    else cut with an ellipsis.  Returns (lines per label, font, line height)."""
    room = width - 12
    layouts = [[label] for label in labels], [label.split("  ") for label in labels]
    for lines in layouts:
        for px in range(size, 8, -1):
            font = _font(px)
            if all(font.getlength(line) <= room for parts in lines for line in parts):
                return lines, font, px + 4
    font = _font(9)

    def cut(line: str) -> str:
        while line and font.getlength(line + "…") > room:
            line = line[:-1]
        return line + "…"
    return [[line if font.getlength(line) <= room else cut(line) for line in parts] for parts in layouts[1]], font, 13


def grid_frames(videos: list[np.ndarray], labels: list[str], best: int | None, max_width: int = 1280) -> np.ndarray:
    """Tiles side by side (rows of up to 3), each captioned above (the caption fits its tile); the best one
    framed in green."""
    n = len(videos)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    h, w = videos[0].shape[1:3]
    scale = min(1.0, max_width / (cols * w))
    tw, th = max(16, int(w * scale) // 2 * 2), max(16, int(h * scale) // 2 * 2)
    captions, font, line_h = _fit_captions(labels, tw, max(10, th // 10 - 4))
    cap = max(len(parts) for parts in captions) * line_h + 2
    frames = max(v.shape[0] for v in videos)
    pad16 = lambda x: -(-x // 16) * 16  # noqa: E731  (H.264 macroblocks: no resize by the encoder)
    out = np.full((frames, pad16(rows * (th + cap)), pad16(cols * tw), 3), 20, np.uint8)
    for i, (v, lines) in enumerate(zip(videos, captions)):
        r, c = divmod(i, cols)
        for t in range(frames):
            tile = Image.fromarray(v[min(t, v.shape[0] - 1)]).resize((tw, th), Image.BILINEAR)
            canvas = Image.new("RGB", (tw, th + cap), (20, 20, 20))
            canvas.paste(tile, (0, cap))
            d = ImageDraw.Draw(canvas)
            for k, line in enumerate(lines):
                d.text((6, 1 + k * line_h), line, fill=(120, 255, 120) if i == best else (235, 235, 235), font=font)
            if i == best:
                d.rectangle((0, 0, tw - 1, th + cap - 1), outline=(60, 220, 60), width=3)
            out[t, r * (th + cap):(r + 1) * (th + cap), c * tw:(c + 1) * tw] = np.asarray(canvas)
    return out


@dataclass
class SweepResult:
    grid: Path
    sidecar: Path
    results: list[dict]
    best: int

    def to_json(self) -> dict:
        return {"grid": str(self.grid), "metadata": str(self.sidecar), "best": self.best,
                "best_guidance": self.results[self.best]["guidance_scale"], "results": self.results}


def sweep(studio: Studio, values: list[float], on_progress: Callable[[int, int, float], None] | None = None,
          on_step=None, cancel=None, on_result: Callable[[int, GenerationResult], None] | None = None,
          on_commit: Callable[[list[Path]], None] | None = None, **request_kw) -> SweepResult:
    """Generate one video per guidance value (same picture, prompt and seed) and compare their motion.

    ``on_result(i, result)`` hears of each finished video (the job runner records it as a result of its
    own); ``on_commit`` is told the grid's file names before they are published."""
    seed = request_kw.pop("seed", None)
    base = studio.build_request(**request_kw, seed=seed if seed not in (None, -1) else -1)
    seed = studio.resolve_seed(base.seed)
    results: list[GenerationResult] = []
    for i, g in enumerate(values):
        if cancel is not None:
            cancel.check()
        if on_progress:
            on_progress(i, len(values), g)
        req = studio.build_request(**request_kw, seed=seed, guidance_scale=g)
        results.append(studio.generate(req, on_step=on_step, cancel=cancel))
        if on_result:
            on_result(i, results[-1])
    table = []
    for r in results:
        m = r.metadata["motion"]
        table.append({"guidance_scale": r.metadata["params"]["guidance_scale"], "video": str(r.video),
                      "metadata": str(r.metadata_path), "motion": m["motion"], "motion_norm": m["motion_norm"],
                      "jitter": m["jitter"], "flicker": m["flicker"], "balance": round(balance_score(m), 4)})
    best = int(np.argmax([row["balance"] for row in table]))
    for i, row in enumerate(table):
        row["best"] = i == best
    videos = [read_frames(r.video) for r in results]
    labels = [f"g={row['guidance_scale']:g}  motion {row['motion']:.2f}px  jitter {row['jitter']:.2f}"
              + ("  BEST" if row["best"] else "") for row in table]
    grid = grid_frames(videos, labels, best)
    first = results[0]
    stem = first.video.stem.replace(f"_s{seed}_", f"_sweep_s{seed}_")
    path = first.video.with_name(f"{stem}.mp4")
    meta = {"app": "i2v-studio", "kind": "guidance_sweep", "seed": seed, "values": values, "best": best,
            "results": table, "params": {k: v for k, v in first.metadata["params"].items() if k != "guidance_scale"}}
    comment = json.dumps(meta, ensure_ascii=False)
    sidecar = path.with_suffix(".json")
    commit_files({path: lambda p: mp4_to(p, grid, first.metadata["params"]["fps"], comment),
                  sidecar: lambda p: json_to(p, meta)}, mp4_frames={path: len(grid)}, on_commit=on_commit)
    return SweepResult(path, sidecar, table, best)


# -- batch ---------------------------------------------------------------------------------------

# Keys of a batch-file entry: every setting (or its alias), the picture, preset, size, a count of seeds,
# and what makes it a long video (segments, a storyboard, ...).
BATCH_KEYS = set(NAMES) | set(REQUEST_EXTRAS) | {"count"} | set(LONG_KEYS) | set(TUNE_KEYS)


def load_jobs(path: Path) -> list[dict]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput("job_file_unreadable", path=path, detail=str(exc).splitlines()[0]) from None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if not isinstance(data, list) or not data:
        raise InvalidInput("job_file_empty", path=path)
    entries = []
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise InvalidInput("job_entry_mapping", n=i + 1)
        entry = canonical(raw)
        unknown = sorted(set(entry) - BATCH_KEYS)
        if unknown:
            raise InvalidInput("job_entry_keys", n=i + 1, names=", ".join(unknown))
        if entry.get("image") and not Path(str(entry["image"])).is_absolute():
            entry["image"] = str((Path(path).parent / str(entry["image"])).resolve())
        entries.append(entry)
    return entries


def batch_count(entry: dict, n: int, limit: int) -> int:
    """An entry's ``count`` (1 when absent): a whole number from 1 to ``limit``, else one line naming the entry
    (``.inf``, a 400-digit number or text included), read before anything is expanded."""
    raw = entry.get("count", 1)
    if raw is None:
        return 1
    ok = isinstance(raw, int) and not isinstance(raw, bool) or isinstance(raw, float) and math.isfinite(raw) \
        and raw.is_integer()
    if not ok or not 1 <= raw <= limit:
        raise InvalidInput("job_entry_count", n=n, limit=limit, got=echo(repr(raw), 40))
    return int(raw)


def _expand(entries: list[dict], limit: int) -> list[tuple[str, dict]]:
    """One (key, request) per video: 'count: N' with a fixed seed gives seeds s, s+1, ...  At most ``limit``
    videos in all (``limits.batch_max_videos``), checked from the counts before any entry is expanded."""
    counts = [batch_count(e, i + 1, limit) for i, e in enumerate(entries)]
    if sum(counts) > limit:
        raise InvalidInput("job_file_too_many", total=sum(counts), limit=limit)
    out = []
    for i, (e, count) in enumerate(zip(entries, counts)):
        e = dict(e)
        e.pop("count", None)
        seed = e.get("seed")
        for k in range(count):
            req = dict(e)
            if seed not in (None, -1):
                try:
                    req["seed"] = int(seed) + k
                except (TypeError, ValueError, OverflowError):
                    pass  # (.inf, .nan, text: left for the request's check, which refuses this entry alone)
            key = hashlib.sha1(json.dumps([i, k, req], sort_keys=True, default=str).encode()).hexdigest()[:16]
            out.append((key, req))
    return out


# -- smoothing -----------------------------------------------------------------------------------

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

