"""The memory model and VRAM plan of a diffusion-transformer family (Wan 2.2), the counterpart of
:mod:`i2v.planning.vram` (I2VGen-XL's UNet).  Pure (no torch): what a family's ``memory`` file under configs/
holds, measured on the real architecture with fake tensors (``i2v/families/wan/memory.py``).

A generation has four stages, each with its own peak of GPU memory:

    text      the text encoder over its 512 tokens (measured once: it does not depend on the size)
    encode    the VAE encoding the conditioning picture (the A14B: the whole video, the picture and zeros)
    denoise   one transformer pass at a time (the pipeline runs the prompt and the negative as two passes,
              batch 1 each); its activations are linear in the tokens:  k x tokens + c
    decode    the VAE decoding the latents, whole or tiled: a x HW + b x FHW + c  (HW = H x W, FHW = F x H x W)
              Tiled, its peak is either in the work on one tile (at few frames) or in what holds the whole video
              (the tiles' outputs before they are blended: from about 40 M output pixels on), whichever is larger:
                  max(a1 x HW + b1 x FHW + c1,  b2 x FHW + c2)
              Each VAE part takes the one line unless it misses a fit row by more than 2%, then the form that
              fits its fit rows best (the largest relative error).

k, a, b, c are least-squares fits over the small ``fit`` sizes; the ``check`` rows are the sizes users plan for
(native, 832x480), measured the same way and held to the fit within 1% by tests/test_wan_memory.py.

What each stage holds besides its activations (bf16 weights, 2 bytes a parameter), rung by rung:

    none    every component on the card
    model   diffusers' model CPU offload: one component on the card at a time (each moved on when called;
            the one called before it goes back; the VAE, called early for the picture, stays until the
            transformer is done); for the A14B one expert at a time
    group   diffusers' group offloading of the transformer(s) and the text encoder, block by block with a
            CUDA stream (the next block is fetched while one runs: two blocks and what is outside the blocks
            are on the card), the VAE on the card
    card memory = peak x 1.10 (allocator fragmentation) + 0.6 GiB (CUDA context), as for I2VGen-XL

The ladder goes from fastest to leanest: everything on the card → with VAE tiling → model offload (tiled)
→ group offload (tiled).  An out-of-memory error in a stage is retried on the nearest rung that lowers that
stage's figure (:func:`lower_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import yaml

from ..base.config import CONFIG_DIR
from ..base.notes import note
from .vram import CONTEXT_GIB, FRAGMENTATION, GIB, Plan, Rung, usable_gb

WEIGHT_BYTES = 2  # bf16 on CUDA
FEW_FRAMES = 41   # a tiled VAE's first line: its fit rows of up to this many frames
WHOLE_VIDEO_PIXELS = 40e6  # its second: those of this many output pixels (frames x H x W) or more
STAGES = ("text", "encode", "denoise", "decode")
# the studio's two retry stages: its denoising stage is the pipeline's call up to the latents (text, encode and
# the transformer), its decoding stage the VAE's decode
STUDIO_STAGE = {"denoising": ("text", "encode", "denoise"), "decoding": ("decode",)}


@dataclass(frozen=True)
class Fits:
    """The fitted model of one variant (bytes)."""

    params: dict
    experts: int
    spatial: int               # pixels per latent cell (the VAE's scale)
    text: float
    transformer: tuple[float, float]          # (per token, fixed)
    vae: dict                  # "encode" | "encode_tiled" | "decode" | "decode_tiled" -> two (per HW, per FHW, fixed)

    def tokens(self, width: int, height: int, frames: int) -> int:
        return ((frames - 1) // 4 + 1) * (height // self.spatial // 2) * (width // self.spatial // 2)

    def activations(self, stage: str, width: int, height: int, frames: int, tiling: bool = False) -> float:
        if stage == "text":
            return self.text
        if stage == "denoise":
            k, c = self.transformer
            return k * self.tokens(width, height, frames) + c
        hw = width * height
        return max(a * hw + b * frames * hw + c for a, b, c in self.vae[stage + ("_tiled" if tiling else "")])


def _lstsq(xs: list[list[float]], ys: list[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in np.linalg.lstsq(np.asarray(xs, float), np.asarray(ys, float), rcond=None)[0])


def fit(variant: dict, spatial: int) -> Fits:
    """The model fitted to a variant's ``fit`` rows of the memory file."""
    rows = [r for r in variant["rows"] if r["kind"] == "fit"]
    probe = Fits(variant["parameters"], int(variant["experts"]), spatial, 0.0, (0.0, 0.0), {})
    k = _lstsq([[probe.tokens(r["width"], r["height"], r["frames"]), 1.0] for r in rows],
               [r["transformer"] for r in rows])
    def hw(r: dict) -> float:
        return r["width"] * r["height"]

    def linear(part: str, pts: list[dict]) -> tuple[float, float, float]:
        a, b, c = _lstsq([[hw(r), r["frames"] * hw(r), 1.0] for r in pts], [r[part] for r in pts])
        return a, b, c

    def worst(part: str, lines: tuple) -> float:
        return max(abs(max(a * hw(r) + b * r["frames"] * hw(r) + c for a, b, c in lines) - r[part]) / r[part]
                   for r in rows)

    vae = {}
    for part in ("encode", "encode_tiled", "decode", "decode_tiled"):
        forms = [(linear(part, rows),)]
        few = [r for r in rows if r["frames"] <= FEW_FRAMES]
        whole = [r for r in rows if r["frames"] * hw(r) >= WHOLE_VIDEO_PIXELS]
        if len(few) >= 3 and len(whole) >= 2:
            b2, c2 = _lstsq([[r["frames"] * hw(r), 1.0] for r in whole], [r[part] for r in whole])
            forms.append((linear(part, few), (0.0, b2, c2)))
        # the one line unless it misses a fit row by more than 2% (two lines fit any four rows)
        vae[part] = forms[0] if worst(part, forms[0]) <= 0.02 else min(forms, key=lambda lines: worst(part, lines))
    return Fits(variant["parameters"], probe.experts, spatial, float(variant["text"]), k, vae)


@lru_cache(maxsize=4)
def load(memory_file: str, variant_key: str, spatial: int) -> Fits:
    data = yaml.safe_load((CONFIG_DIR / memory_file).read_text())
    return fit(data["variants"][variant_key], spatial)


def _weights(f: Fits, part: str) -> float:
    return f.params[part] * WEIGHT_BYTES


def stage_bytes(f: Fits, stage: str, rung: Rung, width: int, height: int, frames: int) -> float:
    """What the card holds at the peak of ``stage`` on ``rung``: its activations and the weights resident."""
    act = f.activations(stage, width, height, frames, rung.tiling)
    text, vae, expert = _weights(f, "text"), _weights(f, "vae"), _weights(f, "transformer")
    if rung.offload == "none":
        return text + vae + f.experts * expert + act
    if rung.offload == "model":
        return act + {"text": text, "encode": text + vae, "denoise": expert + vae, "decode": vae}[stage]
    if rung.offload == "group":
        def streamed(part: str) -> float:  # two blocks (the one running, the next fetched) and the rest
            return (2 * f.params[f"{part}_block"] + f.params[f"{part}_outside_blocks"]) * WEIGHT_BYTES
        return act + vae + {"text": streamed("text"), "encode": 0.0, "denoise": streamed("transformer"),
                            "decode": 0.0}[stage]
    raise ValueError(f"unknown offload mode {rung.offload!r}")


def card_gib(b: float) -> float:
    return round(b * FRAGMENTATION / GIB + CONTEXT_GIB, 2)


def ladder() -> list[Rung]:
    return [Rung("none", 0, False), Rung("none", 0, True), Rung("model", 0, True), Rung("group", 0, True)]


def estimate(f: Fits, rung: Rung, width: int, height: int, frames: int) -> dict[str, float]:
    """Card GiB per stage, and of the studio's two retry stages and the whole run (``peak``)."""
    out = {s: card_gib(stage_bytes(f, s, rung, width, height, frames)) for s in STAGES}
    for studio_stage, parts in STUDIO_STAGE.items():
        out[studio_stage] = max(out[p] for p in parts)
    out["peak"] = max(out[s] for s in STAGES)
    return out


def plan(f: Fits, vram_gb: float, width: int, height: int, frames: int, *, resolution: str | None = None) -> Plan:
    """The fastest rung whose peak fits ``vram_gb`` of free card memory (or, when none does, the leanest, marked
    as not fitting)."""
    budget = usable_gb(vram_gb)
    p = None
    for i, r in enumerate(ladder()):
        peak = estimate(f, r, width, height, frames)["peak"]
        p = Plan(peak <= budget, r.offload, r.chunk, r.tiling, False, False, width, height, frames, resolution,
                 peak, round(budget, 2), i, [])
        if p.fits:
            if r.offload != "none":
                p.notices.append(note("offload_slow", offload=r.offload, gb=vram_gb))
            return p
    assert p is not None
    p.notices.append(note("does_not_fit", gb=vram_gb, degrade=True))
    return p


def lower_for(f: Fits, stage: str, current: Rung, width: int, height: int, frames: int) -> Rung | None:
    """After an out-of-memory error in the studio's ``stage`` ("denoising" or "decoding") on ``current``: the next
    rung down that needs less card memory for that stage (None: there is none)."""
    rungs = ladder()
    start = rungs.index(current) + 1 if current in rungs else 0
    now = estimate(f, current, width, height, frames)[stage]
    return next((r for r in rungs[start:] if estimate(f, r, width, height, frames)[stage] < now), None)


def card_table(f: Fits, width: int, height: int, frames: int, cards=(8, 12, 16, 24, 48, 80)) -> list[dict]:
    """The plan for each card size at one request (docs/models.md's table)."""
    rows = []
    for gb in cards:
        p = plan(f, gb, width, height, frames)
        rows.append({"card_gb": gb, "fits": p.fits, "offload": p.offload, "vae_tiling": p.vae_tiling,
                     "peak_gb": p.predicted_peak_gb})
    return rows


def max_tier(f: Fits, vram_gb: float, tiers: dict, frames: int, multiple: int, aspect: float = 16 / 9) -> str | None:
    """The largest resolution tier that fits the card with everything on it (the banner's line)."""
    from ..base.settings import tier_order
    from .request import size_for_budget

    best = None
    for name in tier_order(tiers):
        w, h = size_for_budget(int(tiers[name]), aspect, multiple)
        p = plan(f, vram_gb, w, h, frames)
        if p.fits and p.offload == "none":
            best = name
    return best
