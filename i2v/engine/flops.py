"""UNet FLOPs of a whole video, counted (not derived from a formula) on the full architecture.

The real I2VGen-XL UNet is built from its config under :class:`FakeTensorMode`: its weights and every
activation are fake tensors that carry shapes but no data, so a forward pass at native 1280x704x16 runs on a
CPU in about a second and allocates nothing.  :class:`~torch.utils.flop_counter.FlopCounterMode` counts the
matmuls, convolutions and attention cores of that pass.

Two traps, both handled here:

* on the CPU, ``FlopCounterMode`` counts **0** for ``scaled_dot_product_attention`` unless the math backend
  is forced (``sdpa_kernel(SDPBackend.MATH)``): without it the attention cores (about a quarter of a step at
  native size, and all of its quadratic part) would be missing;
* the counter counts only what runs, so every kind of step is counted by running it through the project's
  own code: a DeepCache step that reuses the deep feature through :class:`~.deepcache.DeepCache`, a skipped
  step through :class:`~.stepskip.StepSkip` (the indicator and nothing after it).

A step is one UNet evaluation for the step: batch 2 with classifier-free guidance, batch 1 without it or
after ``guidance_stop``.  Guidance in two passes of batch 1 (``cfg_split``) computes the same arithmetic
as one batch of 2, so it is counted as batch 2.  Both schedulers (DDIM and DPM-Solver++ 2M) evaluate the
UNet once per step; their own arithmetic is elementwise and not counted.

Per-video totals compose the per-step counts along the step schedule, which is deterministic for DeepCache
and ``guidance_stop`` (:func:`step_plan`); which steps step skipping skips depends on the video, so
:func:`video_flops` takes them as an argument (the engine's ``step_skip`` note lists them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import torch

from .engine import guidance_stop_index

SCHEDULERS = ("ddim", "dpm++")  # each: one UNet evaluation per step
NATIVE = (1280, 704)


@lru_cache(maxsize=1)
def _fake():
    """(fake mode, the full-architecture UNet built under it)."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from diffusers.models.unets.unet_i2vgen_xl import I2VGenXLUNet

    from .models import REAL_CONFIG_DIR, _read_json

    mode = FakeTensorMode()
    with mode:
        unet = I2VGenXLUNet.from_config(_read_json(REAL_CONFIG_DIR / "unet" / "config.json")).eval()
    return mode, unet


def _inputs(unet, width: int, height: int, frames: int, batch: int) -> tuple[torch.Tensor, dict]:
    """Fake UNet inputs of one step (call inside the fake mode)."""
    h, w = height // 8, width // 8
    cfg = unet.config
    sample = torch.randn(batch, cfg.in_channels, frames, h, w)
    kw = dict(encoder_hidden_states=torch.randn(batch, 77, cfg.cross_attention_dim), fps=torch.tensor([16] * batch),
              image_latents=torch.randn(batch, cfg.in_channels, frames, h, w),
              image_embeddings=torch.randn(batch, 1, cfg.cross_attention_dim), return_dict=False)
    return sample, kw


def _counted(call) -> int:
    """FLOPs of ``call()`` (attention cores included)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        call()
    return counter.get_total_flops()


@lru_cache(maxsize=64)
def step_flops(width: int, height: int, frames: int, batch: int = 2, kind: str = "full") -> int:
    """FLOPs of one UNet evaluation of ``kind``:

    * ``full``: the whole UNet;
    * ``reused``: a DeepCache step that reuses the deep feature (:class:`~.deepcache.DeepCache`);
    * ``skipped``: a step that step skipping skips: the indicator only (:class:`~.stepskip.StepSkip`).
    """
    mode, unet = _fake()
    with mode, torch.inference_mode():
        x, kw = _inputs(unet, width, height, frames, batch)
        t1, t2 = torch.tensor(500), torch.tensor(480)
        if kind == "full":
            return _counted(lambda: unet(x, t1, **kw))
        if kind == "reused":
            from .deepcache import DeepCache

            with DeepCache(unet, 2) as deep:
                deep.begin_step(0)
                unet(x, t1, **kw)
                deep.begin_step(1)
                assert deep.reuse
                return _counted(lambda: unet(x, t2, **kw))
        if kind == "skipped":
            from .stepskip import StepSkip

            with StepSkip(unet, threshold=math.inf, steps=3) as skip:
                skip.begin_step(0)
                unet(x, t1, **kw)
                skip.begin_step(1)
                flops = _counted(lambda: unet(x, t2, **kw))
                assert skip.skipped_steps == 1
                return flops
    raise ValueError(f"unknown step kind {kind!r}")


def front_flops(width: int, height: int, frames: int, module: str, batch: int = 2) -> int:
    """FLOPs of the UNet up to and including ``module`` (a submodule's name, e.g. ``transformer_in`` or
    ``down_blocks.0``): the cost of an indicator read at that point.  Counted by stopping the forward
    pass right after the module."""

    class _Stop(Exception):
        pass

    def stop(*_):
        raise _Stop

    mode, unet = _fake()
    hook = unet.get_submodule(module).register_forward_hook(stop)
    try:
        with mode, torch.inference_mode():
            x, kw = _inputs(unet, width, height, frames, batch)

            def call():
                try:
                    unet(x, torch.tensor(500), **kw)
                except _Stop:
                    pass
            return _counted(call)
    finally:
        hook.remove()


def step_plan(steps: int, fast: int = 1, guidance_stop: float = 1.0, cfg: bool = True,
              skipped: Iterable[int] = ()) -> list[tuple[str, int]]:
    """(kind, batch) of every step, as the engine runs them: a skipped step (0-based numbers) runs the
    indicator only; the others run the deep blocks on one UNet-run step in ``fast`` (the first always)
    and reuse them on the others; batch 2 under guidance until ``guidance_stop``, then 1."""
    skipped = set(skipped)
    stop = guidance_stop_index(steps, guidance_stop) if cfg else 0
    interval = max(1, int(fast))
    plan, since = [], None  # UNet-run steps since the last full one
    for i in range(steps):
        batch = 2 if cfg and i < stop else 1
        if i in skipped:
            plan.append(("skipped", batch))
            continue
        full = since is None or since + 1 >= interval
        since = 0 if full else since + 1
        plan.append(("full" if full else "reused", batch))
    return plan


def video_flops(width: int, height: int, frames: int, steps: int, *, scheduler: str = "ddim", fast: int = 1,
                guidance_stop: float = 1.0, cfg: bool = True, skipped: Iterable[int] = ()) -> dict:
    """UNet FLOPs of a whole video: the per-step counts composed along :func:`step_plan`.

    Returns ``{"flops": total, "steps": {kind/batch: count}, "per_step": {kind/batch: FLOPs},
    "saved_per_skipped_step": {batch: FLOPs}}``: the last, what skipping one more full step saves (a skipped
    step costs the indicator), for totals with other numbers of skipped steps."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}")
    plan = step_plan(steps, fast, guidance_stop, cfg, skipped)
    counts: dict[str, int] = {}
    per: dict[str, int] = {}
    total = 0
    for kind, batch in plan:
        key = f"{kind}/b{batch}"
        counts[key] = counts.get(key, 0) + 1
        per[key] = step_flops(width, height, frames, batch, kind)
        total += per[key]
    saved = {f"b{b}": step_flops(width, height, frames, b, "full") - step_flops(width, height, frames, b, "skipped")
             for b in ((2, 1) if cfg else (1,))}
    return {"flops": total, "steps": counts, "per_step": per, "saved_per_skipped_step": saved}


def exact_video_flops(width: int, height: int, frames: int, steps: int = 50) -> int:
    """The reference: DDIM, ``steps`` steps, guidance at every step, no caching."""
    return video_flops(width, height, frames, steps)["flops"]
