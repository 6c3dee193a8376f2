"""The memory model and the VRAM planner.  Pure (no torch): answers "will this fit my 12 GB card?"
without a GPU.

Predicted peak GPU memory of one generation (bytes, then GiB):

    weights(c)   = params(c) x bytes per element (2 in fp16)
    act_unet     = (k_unet x B x F x h x w + c_unet) x e/4        B = 2 with CFG in one batch, 1 in two passes,
                                                                  h x w the latent size (H/8 x W/8); k, c of the
                                                                  plain UNet or of the one with sliced feed-forward
    act_decode   = (k_vae  x n x H x W     + c_vae)  x e/4        n = frames decoded at once (decode chunk)
                   with VAE tiling, H x W is capped at the VAE's 768 x 768 tile
    peak(none)       = sum of weights + max(act_unet, act_decode)
    peak(model)      = max(weights(unet) + act_unet, weights(vae) + act_decode, weights(text), weights(image))
    peak(sequential) = largest layer + max(act_unet, act_decode)
    card memory      = peak x 1.10 (allocator fragmentation) + 0.6 GiB (CUDA context, cuBLAS/cuDNN workspaces)
    in fp16 (on CUDA), act_decode x 1.47: measured on an H200 (configs/memory-gpu.yaml)

k and c were measured (``python -m i2v calibrate``) on the full-size architecture with random weights
(weights do not change memory) by replaying the tensor allocator's events; ``configs/memory.yaml``
holds them with the fit error and the error on a held-out size.

The planner walks a ladder from fastest to leanest and takes the first rung that fits the free memory
with a safety margin: all on GPU with the requested decode chunk → smaller decode chunks → VAE tiling,
first with guidance in one batch, then in two passes, then in two passes with the feed-forward layers
sliced → model CPU offload → sequential offload → (only with consent) fewer frames, then a lower tier.

``checks`` in configs/memory.yaml are the UNet's activations measured at the sizes users plan for
(MemTracker on fake tensors); tests/test_vram.py holds the model within 10% of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml

from ..base.config import CONFIG_DIR
from ..base.notes import Note, note
from ..base.settings import tier_order

GIB = 2**30
PARAMS = {"unet": 1_420_469_224, "vae": 83_653_863, "text_encoder": 352_984_064, "image_encoder": 632_076_800}
LARGEST_LAYER_PARAMS = 20_000_000     # sequential offload keeps about one layer resident
CONTEXT_GIB = 0.6
FRAGMENTATION = 1.10

def _vae_tile() -> int:
    """diffusers' AutoencoderKL decodes in tiles of its ``sample_size`` (768 px for I2VGen-XL's VAE, not the
    512 of Stable Diffusion's), with a quarter's overlap; a side of at most one tile is decoded whole."""
    import json

    from ..families.i2vgenxl import FAMILY  # this memory model is I2VGen-XL's (Wan's is a later step)

    folder = CONFIG_DIR / FAMILY.default_variant.configs
    return int(json.loads((folder / "vae" / "config.json").read_text())["sample_size"])


VAE_TILE = _vae_tile()
MEMORY_FILE = CONFIG_DIR / "memory.yaml"
GPU_MEMORY_FILE = CONFIG_DIR / "memory-gpu.yaml"  # measured on a card: see its header
OFFLOADS = ("none", "model", "sequential")


@dataclass(frozen=True)
class Coefficients:
    unet_per_voxel: float      # bytes per latent voxel (fp32 elements)
    unet_fixed: float
    vae_per_pixel: float       # bytes per decoded output pixel (fp32 elements)
    vae_fixed: float
    sliced_per_voxel: float    # the UNet with its feed-forward layers sliced
    sliced_fixed: float
    decode_factor_cuda: float = 1.0  # the VAE decode on a CUDA card in fp16 against the CPU replay

    @classmethod
    def load(cls, path: Path = MEMORY_FILE, gpu_path: Path | None = None) -> Coefficients:
        d = yaml.safe_load(Path(path).read_text())
        k = [d[part][key] for part in ("unet", "vae_decode", "unet_ff_sliced")
             for key in ("bytes_per_unit_fp32", "fixed_bytes_fp32")]
        gpu = Path(gpu_path or GPU_MEMORY_FILE)
        factor = yaml.safe_load(gpu.read_text())["decode_factor_cuda"] if gpu.exists() else 1.0
        return cls(*k, decode_factor_cuda=float(factor))


class Rung(NamedTuple):
    """One configuration on the ladder."""
    offload: str               # none | model | sequential
    chunk: int                 # frames the VAE decodes at once
    tiling: bool               # VAE tiling
    split: bool = False        # classifier-free guidance as two UNet passes (halves the UNet's working memory)
    sliced: bool = False       # the UNet's feed-forward layers a slice at a time (halves it again)


@dataclass
class Estimate:
    peak_gib: float            # what the card must have free
    weights_gib: float
    unet_act_gib: float
    decode_act_gib: float
    offload: str
    decode_chunk_size: int
    vae_tiling: bool
    cfg_split: bool = False
    ff_sliced: bool = False
    denoise_gib: float = 0.0   # the card memory each stage needs on its own: an out-of-memory error in a
    decode_gib: float = 0.0    # stage is retried on a rung that lowers that stage's figure


# What the approximate methods keep between steps, in elements per latent voxel of each guidance pass
# (counted on the full architecture, issue 21): DeepCache the feature the second-to-last up-block hands on
# (640 channels), step skipping its indicator (conv_in + transformer_in: 320 channels) and the last residual (4).
KEPT_PER_VOXEL = {"deepcache": 640, "step_skip": 324}


def kept_bytes(width: int, height: int, frames: int, *, cfg: bool = True, fast: int = 1, skip: bool = False,
               bytes_per_elem: int = 2) -> float:
    """Bytes the approximate methods keep from one step to the next (both guidance passes' when guided)."""
    per = (KEPT_PER_VOXEL["deepcache"] if fast > 1 else 0) + (KEPT_PER_VOXEL["step_skip"] if skip else 0)
    return per * (2 if cfg else 1) * frames * (height // 8) * (width // 8) * bytes_per_elem


def estimate(width: int, height: int, frames: int, *, cfg: bool = True, offload: str = "none",
             decode_chunk_size: int = 8, vae_tiling: bool = False, cfg_split: bool = False, ff_sliced: bool = False,
             bytes_per_elem: int = 2, coeffs: Coefficients | None = None, fast: int = 1, skip: bool = False
             ) -> Estimate:
    c = coeffs or Coefficients.load()
    e = bytes_per_elem / 4
    voxels = (2 if cfg and not cfg_split else 1) * frames * (height // 8) * (width // 8)
    k, fixed = (c.sliced_per_voxel, c.sliced_fixed) if ff_sliced else (c.unet_per_voxel, c.unet_fixed)
    act_unet = (k * voxels + fixed) * e + kept_bytes(width, height, frames, cfg=cfg, fast=fast, skip=skip,
                                                     bytes_per_elem=bytes_per_elem)
    chunk = max(1, min(decode_chunk_size, frames))
    dh, dw = (min(height, VAE_TILE), min(width, VAE_TILE)) if vae_tiling else (height, width)
    act_dec = (c.vae_per_pixel * chunk * dh * dw + c.vae_fixed) * e
    if bytes_per_elem == 2:  # fp16 runs on CUDA only; there the decode needs more than the CPU replay shows
        act_dec *= c.decode_factor_cuda
    w = {k: v * bytes_per_elem for k, v in PARAMS.items()}
    if offload == "none":
        denoise, decode = sum(w.values()) + act_unet, sum(w.values()) + act_dec
        peak = max(denoise, decode)
    elif offload == "model":
        denoise, decode = w["unet"] + act_unet, w["vae"] + act_dec
        peak = max(denoise, decode, w["text_encoder"], w["image_encoder"])
    elif offload == "sequential":
        denoise, decode = (LARGEST_LAYER_PARAMS * bytes_per_elem + a for a in (act_unet, act_dec))
        peak = max(denoise, decode)
    else:
        raise ValueError(f"unknown offload mode {offload!r}")

    def card(b: float) -> float:
        return round(b * FRAGMENTATION / GIB + CONTEXT_GIB, 2)
    weights = sum(w.values()) if offload == "none" else (w["unet"] if offload == "model" else
                                                        LARGEST_LAYER_PARAMS * bytes_per_elem)
    return Estimate(card(peak), round(weights / GIB, 2), round(act_unet / GIB, 2), round(act_dec / GIB, 2),
                    offload, chunk, vae_tiling, cfg_split and cfg, ff_sliced, card(denoise), card(decode))


@dataclass
class Plan:
    fits: bool
    offload: str               # none | model | sequential
    decode_chunk_size: int
    vae_tiling: bool
    cfg_split: bool
    ff_sliced: bool
    width: int
    height: int
    frames: int
    resolution: str | None
    predicted_peak_gb: float
    budget_gb: float
    rung: int                  # position on the ladder (0 = fastest)
    notices: list[Note] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        how = {"none": "everything on the GPU", "model": "model CPU offload",
               "sequential": "sequential CPU offload (slow)", "group": "group offload, block by block"}[self.offload]
        tiling = (", VAE tiling" if self.vae_tiling else "") + (", guidance in two passes" if self.cfg_split else "") \
            + (", feed-forward sliced" if self.ff_sliced else "")
        chunk = f", decode {self.decode_chunk_size} frame(s) at a time" if self.decode_chunk_size else ""
        return (f"{self.width}x{self.height}, {self.frames} frames: {how}{chunk}{tiling}; predicted peak "
                f"{self.predicted_peak_gb:.1f} GB of {self.budget_gb:.1f} GB usable")

    def step_text(self) -> str:
        """The rung in a few words (tables)."""
        return ", ".join([self.offload, f"chunk {self.decode_chunk_size}", *(["tiling"] if self.vae_tiling else []),
                          *(["split"] if self.cfg_split else []), *(["FF sliced"] if self.ff_sliced else [])])

    def note(self) -> Note:
        """The plan as a note of the run (shown in the user's language)."""
        return note("memory_plan", width=self.width, height=self.height, frames=self.frames, offload=self.offload,
                    chunk=self.decode_chunk_size, tiling=self.vae_tiling, split=self.cfg_split, sliced=self.ff_sliced,
                    peak=self.predicted_peak_gb, budget=self.budget_gb)

    @property
    def step(self) -> Rung:
        return Rung(self.offload, self.decode_chunk_size, self.vae_tiling, self.cfg_split, self.ff_sliced)


def ladder(decode_chunk_size: int) -> list[Rung]:
    """The rungs from fastest to leanest.  Everything on the GPU first: decoding fewer frames at a time, VAE
    tiling; then the same with guidance in two UNet passes (the UNet's working memory halves, the steps take
    a little longer), then also with the feed-forward layers sliced (it halves again); only then model CPU
    offload and, slowest, sequential offload."""
    chunks = sorted({c for c in (decode_chunk_size, 8, 4, 2, 1) if c <= decode_chunk_size}, reverse=True)
    return [*(Rung("none", c, tiling, split, sliced) for split, sliced in ((False, False), (True, False), (True, True))
              for c, tiling in [*((c, False) for c in chunks), (1, True)]),
            Rung("model", 1, True, True, True), Rung("sequential", 1, True, True, True)]


def lower_for(stage: str, current: Rung, width: int, height: int, frames: int,
              decode_chunk_size: int = 8, **kw) -> Rung | None:
    """After an out-of-memory error in ``stage`` ("denoising" or "decoding") on ``current``: the next rung
    down the ladder that needs less memory for that very stage (None: there is none)."""
    rungs = ladder(decode_chunk_size)
    start = rungs.index(current) + 1 if current in rungs else 0
    key = "denoise_gib" if stage == "denoising" else "decode_gib"

    def need(r: Rung) -> float:
        return getattr(estimate(width, height, frames, offload=r.offload, decode_chunk_size=r.chunk,
                                vae_tiling=r.tiling, cfg_split=r.split, ff_sliced=r.sliced, **kw), key)
    now = need(current)
    return next((r for r in rungs[start:] if need(r) < now), None)


def usable_gb(vram_gb: float, margin: float = 0.08) -> float:
    """Free memory minus a safety margin (8%, at least 0.5 GB)."""
    return max(0.0, vram_gb - max(0.5, vram_gb * margin))


def plan(vram_gb: float, width: int, height: int, frames: int, *, cfg: bool = True, decode_chunk_size: int = 8,
         bytes_per_elem: int = 2, allow_degrade: bool = False, tiers: dict | None = None,
         resolution: str | None = None, coeffs: Coefficients | None = None, start_rung: int = 0, fast: int = 1,
         skip: bool = False) -> Plan:
    """The fastest configuration that fits ``vram_gb`` of free GPU memory (with what fast mode and step
    skipping keep between steps counted)."""
    budget = usable_gb(vram_gb)
    rungs = ladder(decode_chunk_size)
    attempts = [(width, height, frames, resolution, [])]
    if allow_degrade:
        f = frames
        while f > 8:
            f = max(8, f // 2)
            attempts.append((width, height, f, resolution, [note("frames_reduced", old=frames, new=f)]))
        order = tier_order(tiers or {})
        if tiers and resolution in order:
            from .request import size_for_budget

            aspect = width / height
            for lower in reversed(order[:order.index(resolution)]):
                if lower in tiers:
                    w, h = size_for_budget(int(tiers[lower]), aspect)
                    attempts.append((w, h, min(frames, 16), lower,
                                     [note("tier_lowered", old=resolution, new=lower, w=w, h=h)]))
    best = None  # when nothing fits: the leanest rung for the request as asked
    for n, (w, h, f, tier, notes) in enumerate(attempts):
        for i, (off, chunk, tiling, split, sliced) in enumerate(rungs):
            if i < start_rung or (split and not cfg and not sliced):  # two passes of nothing: a duplicate
                continue
            est = estimate(w, h, f, cfg=cfg, offload=off, decode_chunk_size=chunk, vae_tiling=tiling,
                           cfg_split=split, ff_sliced=sliced, bytes_per_elem=bytes_per_elem, coeffs=coeffs,
                           fast=fast, skip=skip)
            p = Plan(est.peak_gib <= budget, off, est.decode_chunk_size, tiling, split and cfg, sliced, w, h, f, tier,
                     est.peak_gib, round(budget, 2), i, list(notes))
            if p.fits:
                if off != "none":
                    p.notices.append(note("offload_slow", offload=off, gb=vram_gb))
                return p
            if n == 0:
                best = p
    assert best is not None
    best.notices.append(note("does_not_fit", gb=vram_gb, degrade=allow_degrade))
    return best


def max_tier(vram_gb: float, tiers: dict, frames: int = 16, aspect: float = 16 / 9) -> str | None:
    """The largest resolution tier that fits the card without offloading (the UI's default cap)."""
    from .request import size_for_budget

    best = None
    for name in tier_order(tiers):
        w, h = size_for_budget(int(tiers[name]), aspect)
        p = plan(vram_gb, w, h, frames)
        if p.fits and p.offload == "none":
            best = name
    return best


def memory_checks(calibration: dict, measured: list[dict]) -> list[dict]:
    """The UNet's activations ``measured`` at the sizes users plan for (the calibrate command measures them
    with fake tensors: policy never runs the engine), each beside what the model fitted in ``calibration``
    predicts (configs/memory.yaml's ``checks``)."""
    k = [calibration[part][key] for part in ("unet", "vae_decode", "unet_ff_sliced")
         for key in ("bytes_per_unit_fp32", "fixed_bytes_fp32")]
    coeffs = Coefficients(*k)
    rows = [dict(r) for r in measured]
    for r in rows:
        est = estimate(r["width"], r["height"], r["frames"], cfg_split=r["batch"] == 1, ff_sliced=r["ff_sliced"],
                       coeffs=coeffs)
        r["predicted_gib"] = round(est.unet_act_gib, 3)
        r["rel_error"] = round((est.unet_act_gib - r["activations_gib"]) / r["activations_gib"], 4)
    return rows
