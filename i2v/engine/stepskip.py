"""Step skipping: whole UNet evaluations replaced by the last full step's residual.  Approximate, off by default.

The method of TeaCache (Liu et al., 2024) and First Block Cache, written for I2VGen-XL's UNet (diffusers'
``apply_first_block_cache`` needs a top-level list of transformer blocks; this UNet has down/up blocks).  On
every step the front of the UNet runs and its output, the *indicator*, is compared with the indicator of
the last step that ran in full:

    distance = mean |indicator - indicator_at_last_full_step| / mean |indicator_at_last_full_step|

(relative L1, measured against the last full step directly as First Block Cache does, not accumulated step
by step as TeaCache does: one kept tensor instead of two, and the distance cannot drift from the reference
it is compared to).  Below ``threshold`` the rest of the UNet does not run: the step's prediction is the
step's input plus the residual (UNet output minus UNet input) kept from the last full step.  The first
and the last step always run in full, and at most :data:`MAX_SKIPS` steps in a row are skipped (the cap
AdaptiveDiffusion uses for I2VGen-XL).

**The indicator is the output of** ``conv_in`` **+** ``transformer_in``.  The candidates, counted with
:mod:`.flops` on the full architecture (batch 2, 16 frames, share of a full step):

=====================================  =========  =========  ==========
front of the UNet up to and with       64x64      512x512    1280x704
=====================================  =========  =========  ==========
``conv_in`` (the input, TeaCache-like)  0.04%      0.02%      0.01%
``transformer_in``                      2.81%      3.53%      2.88% (5.07 TFLOP of 176.2)
``down_blocks[0]``                      11.8%      16.4%      19.9%
=====================================  =========  =========  ==========

The first down-block is over the 10% budget at native size.  ``conv_in`` is nearly free but sees only the
noisy latents (this UNet adds the timestep embedding inside its ResNet blocks, so there is no "timestep-
modulated input" as in TeaCache's transformers); ``transformer_in`` adds a temporal attention over the
frames for under 3% of a step, so it is the indicator.

Guidance as one batch of 2 is one UNet pass per step (pass key 0); in two passes (``cfg_split``) each pass
keeps its own indicator and residual (keys 0 and 1).  The decision is made once per step, by the step's
first pass, and the step's other pass follows it (a following pass that skips calls nothing at all).

Installed as a context manager around one job: on exit (the job's end, an error or a cancel) the
UNet's forwards are restored and every kept tensor is dropped.  Offload hooks are kept: the wrappers call
the module's own (hooked) forward, as :class:`~.deepcache.DeepCache` does.
"""

from __future__ import annotations

import math

import torch

from .patches import ForwardPatches

MAX_SKIPS = 4  # steps skipped in a row at most (AdaptiveDiffusion's cap for I2VGen-XL)
INDICATOR = "transformer_in"


class _Skip(Exception):
    """Raised by the indicator's wrapper to end the UNet's forward pass right after the indicator."""


class StepSkip:
    """Installed on ``unet`` for one job of ``steps`` steps; the engine calls :meth:`begin_step` before each
    step and sets :attr:`key` to the pass (0 or 1) before each UNet call.  ``threshold`` 0 installs
    nothing; ``math.inf`` skips every step it may without measuring (for counting its cost)."""

    def __init__(self, unet, threshold: float, steps: int, max_skips: int = MAX_SKIPS):
        self.unet = unet
        self.threshold = float(threshold)
        self.steps = int(steps)
        self.max_skips = int(max_skips)
        self.key = 0
        self.reference: dict[int, torch.Tensor] = {}   # the indicator at the last full step, per pass
        self.residual: dict[int, torch.Tensor] = {}    # UNet output - input at the last full step, per pass
        self.full_steps = self.skipped_steps = 0
        self.skipped: list[int] = []                   # 0-based numbers of the skipped steps
        self.distances: list[float] = []               # the distance measured on each step that may skip
        self.step = -1
        self.decision: bool | None = None              # this step: skip (True), full (False), undecided
        self._run = 0                                  # skipped in a row so far
        self._saved = ForwardPatches()

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def begin_step(self, i: int) -> None:
        self.step, self.decision = i, None

    def _may_skip(self) -> bool:
        return 0 < self.step < self.steps - 1 and self._run < self.max_skips and self.key in self.residual

    def _decide(self, indicator: torch.Tensor) -> bool:
        ref = self.reference.get(self.key)
        if not self._may_skip() or ref is None or ref.shape != indicator.shape:
            return False
        if math.isinf(self.threshold):
            return True
        distance = (torch.mean((indicator - ref).abs(), dtype=torch.float32) /
                    torch.mean(ref.abs(), dtype=torch.float32).clamp_min(1e-12)).item()
        self.distances.append(round(distance, 5))
        return distance < self.threshold

    def _decided(self, skip: bool) -> None:
        self.decision = skip
        if skip:
            self.skipped_steps += 1
            self.skipped.append(self.step)
            self._run += 1
        else:
            self.full_steps += 1
            self._run = 0

    def adopt_conditional(self) -> None:
        """Guidance stops (the conditional pass alone from now on, key 1): when guidance ran as one batch of
        2 (key 0), the conditional half of what key 0 kept becomes key 1's (batch-major, unconditional
        first, so the second half along the first dimension in both the indicator and the residual)."""
        for kept in (self.reference, self.residual):
            if 0 in kept and 1 not in kept:
                kept[1] = kept.pop(0).chunk(2)[1]

    # -- installing ----------------------------------------------------------------------------
    def __enter__(self) -> StepSkip:
        if not self.enabled:
            return self

        def indicator(inner):
            def forward(*args, **kwargs):
                out = inner(*args, **kwargs)
                if self.decision is None:
                    self._decided(self._decide(out[0]))
                if self.decision:
                    raise _Skip
                self.reference[self.key] = out[0]
                return out
            return forward

        def unet(inner):
            def forward(*args, **kwargs):
                sample = kwargs["sample"] if "sample" in kwargs else args[0]
                if not self.decision:  # undecided (the step's first pass) or a full step
                    try:
                        out = inner(*args, **kwargs)
                    except _Skip:
                        pass
                    else:
                        pred = out[0] if isinstance(out, tuple) else out.sample
                        self.residual[self.key] = pred - sample
                        return out
                pred = sample + self.residual[self.key]
                if kwargs.get("return_dict", True) is False:
                    return (pred,)
                from diffusers.models.unets.unet_3d_condition import UNet3DConditionOutput

                return UNet3DConditionOutput(sample=pred)
            return forward

        self._saved.patch(self.unet.get_submodule(INDICATOR), indicator)
        self._saved.patch(self.unet, unet)
        return self

    def __exit__(self, *exc) -> None:
        self._saved.restore()
        self.reference.clear()
        self.residual.clear()

    def summary(self) -> dict:
        """What the engine's notes record."""
        return {"threshold": self.threshold, "full": self.full_steps, "skipped": self.skipped_steps,
                "steps": self.full_steps + self.skipped_steps, "skipped_steps": [i + 1 for i in self.skipped]}
