"""A guidance sweep: the same picture, prompt and seed at several guidance values, side by side in one
labelled grid video, the value whose motion is best marked."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..base.errors import InvalidInput
from ..media.video import commit_files, json_to, mp4_to, read_frames
from ..motion.tuning import balance_score
from ..studio import GenerationResult, Studio

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
