"""Wan 2.2's transformer FLOPs per denoising step, counted (not derived from a formula) on the real
architecture, as i2v/engine/flops.py does for I2VGen-XL's UNet.

The transformer is built from configs/wan2.2-*/ under :class:`FakeTensorMode`: shapes, no data, nothing
allocated, so a forward pass at native size (1280 x 704 x 121 frames: 31 latent frames of 40 x 22 patches,
27,280 tokens, for the 5B) runs on a CPU in seconds.  :class:`FlopCounterMode` counts its matmuls and
attention cores; on the CPU the attention cores count only under ``sdpa_kernel(SDPBackend.MATH)`` (0
otherwise).  With guidance the pipeline runs the transformer twice per step (the prompt, then the negative
prompt: ``guided=True``); the A14B runs one of its two experts per step, both of the same architecture.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from . import FAMILY

TEXT_TOKENS = 512  # the pipeline's max_sequence_length: UMT5's output is padded to it


@lru_cache(maxsize=2)
def _fake(variant_key: str):
    from diffusers import WanTransformer3DModel
    from torch._subclasses.fake_tensor import FakeTensorMode

    from ...base.config import CONFIG_DIR
    from .engine import _read_json

    mode = FakeTensorMode()
    with mode:
        folder = CONFIG_DIR / FAMILY.variants[variant_key].configs
        model = WanTransformer3DModel.from_config(_read_json(folder / "transformer" / "config.json")).eval()
    return mode, model


def latent_shape(variant_key: str, width: int, height: int, frames: int) -> tuple[int, int, int]:
    """(latent frames, latent height, latent width): the VAE's 4x in time (4k+1 frames -> k+1) and its
    spatial scale (16 for the 5B's VAE, 8 for the A14B's: the size multiple over the patch's 2)."""
    spatial = FAMILY.variants[variant_key].geometry.multiple // 2
    return (frames - 1) // 4 + 1, height // spatial, width // spatial


@lru_cache(maxsize=32)
def step_flops(variant_key: str, width: int, height: int, frames: int, guided: bool = True) -> int:
    """FLOPs of the transformer work of one step: one forward pass of batch 1, two with guidance."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    mode, model = _fake(variant_key)
    f, h, w = latent_shape(variant_key, width, height, frames)
    cfg = model.config
    with mode, torch.inference_mode():
        x = torch.randn(1, cfg.in_channels, f, h, w)
        text = torch.randn(1, TEXT_TOKENS, cfg.text_dim)
        t = torch.tensor([500])
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(hidden_states=x, timestep=t, encoder_hidden_states=text, return_dict=False)
    return counter.get_total_flops() * (2 if guided else 1)


@lru_cache(maxsize=8)
def full_steps(tier: tuple, steps: int) -> tuple[bool, ...]:
    """Which of ``steps`` denoising steps run the transformer blocks in full under a cache tier (``tier``: the
    hook's settings as sorted items).  Observed, not derived: diffusers' own TaylorSeer hook on the tiny Wan
    transformer, a block's attention counting the calls that really compute."""
    from .engine import build_tiny, cache_config

    model = build_tiny("ti2v-5b").transformer
    ran: list[int] = []
    handle = model.blocks[0].attn1.register_forward_hook(lambda *_: ran.append(1))
    model.enable_cache(cache_config(dict(tier)))
    out = []
    try:
        x = torch.randn(1, model.config.in_channels, 1, 4, 4)
        text = torch.randn(1, 4, model.config.text_dim)
        with torch.inference_mode(), model.cache_context("cond"):
            for i in range(steps):
                before = len(ran)
                model(hidden_states=x, timestep=torch.tensor([999 - i]), encoder_hidden_states=text,
                      return_dict=False)
                out.append(len(ran) > before)
    finally:
        model.disable_cache()
        handle.remove()
    return tuple(out)


@lru_cache(maxsize=16)
def predicted_step_flops(variant_key: str, width: int, height: int, frames: int, tier: tuple) -> int:
    """FLOPs of one forward pass whose blocks the cache predicts (embeddings, the output projection and the
    Taylor arithmetic, the last elementwise and so not counted), on the real architecture with fake tensors."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from .engine import cache_config

    mode, model = _fake(variant_key)
    f, h, w = latent_shape(variant_key, width, height, frames)
    schedule = full_steps(tier, 32)
    first_predicted = schedule.index(False)
    cfg = model.config
    model.enable_cache(cache_config(dict(tier)))
    try:
        with mode, torch.inference_mode(), model.cache_context("cond"):
            x = torch.randn(1, cfg.in_channels, f, h, w)
            text = torch.randn(1, TEXT_TOKENS, cfg.text_dim)
            for i in range(first_predicted):
                model(hidden_states=x, timestep=torch.tensor([999 - i]), encoder_hidden_states=text,
                      return_dict=False)
            with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
                model(hidden_states=x, timestep=torch.tensor([999 - first_predicted]), encoder_hidden_states=text,
                      return_dict=False)
    finally:
        model.disable_cache()
    return counter.get_total_flops()


def video_flops(variant_key: str, width: int, height: int, frames: int, steps: int, speed: str = "exact",
                guided: bool = True) -> int:
    """Transformer FLOPs of a whole video: each step full or predicted by the tier's schedule (two passes a
    step with guidance; the cache keeps the two passes' states apart, so each follows the schedule)."""
    full = step_flops(variant_key, width, height, frames, guided=False)
    tier = FAMILY.variants[variant_key].knobs.cache_tiers.get(speed)
    if tier is None:
        total = full * steps
    else:
        key = tuple(sorted(tier.items()))
        cheap = predicted_step_flops(variant_key, width, height, frames, key)
        total = sum(full if run else cheap for run in full_steps(key, steps))
    return total * (2 if guided else 1)
