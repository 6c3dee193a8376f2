"""Fast mode: DeepCache's method, written for I2VGen-XL's UNet.  Approximate, off by default.

Between neighbouring denoising steps the UNet's deep features change little.  DeepCache (Ma et al.,
CVPR 2024) computes the whole UNet on one step in N and keeps what the deep branch hands to the last
up-block; on the other steps it runs only the shallow branch: the embeddings, ``conv_in`` and
``transformer_in``, the first down-block (its outputs are the last up-block's skip connections), the
last up-block, with the kept deep feature in place of everything deeper, and the output layers.  The
DeepCache package supports only SD, SDXL and SVD pipelines, so this installs the same skip on
I2VGen-XL's blocks:

* the deeper down-blocks, the mid-block and all up-blocks but the last return at once on a reused step
  (the skipped down-blocks hand back placeholders in the skip-connection tuple; the up-blocks that
  would have consumed them are skipped too);
* the second-to-last up-block returns the feature it computed on the last full step.

With interval 1 nothing is skipped and the result is the exact one.  A feature is kept per UNet pass, so
guidance in two passes (``EngineJob.cfg_split``) keeps one for each; after late guidance skipping's switch
the conditional pass (key 1) runs alone and uses its own (in one batch of 2, the conditional half of key
0's).  A step that step skipping skips runs no deep block and takes no place in the interval.
"""

from __future__ import annotations

import torch

from .patches import ForwardPatches


class DeepCache:
    """Installed on ``unet`` for one job (a context manager); the engine calls :meth:`begin_step` before
    each step and sets :attr:`key` to the pass (0 or 1) before each UNet call."""

    def __init__(self, unet, interval: int):
        self.unet = unet
        self.interval = max(1, int(interval))
        self.key = 0
        self.reuse = False
        self.features: dict[int, torch.Tensor] = {}
        self.full_steps = self.reused_steps = 0
        self._since = self._before = 0  # UNet-run steps since the last full one
        self._saved = ForwardPatches()

    def begin_step(self, i: int) -> None:
        """Step ``i`` (0-based) reuses the kept features unless ``interval`` UNet-run steps have passed since
        the last full one (without step skipping: unless ``i`` is a multiple of the interval)."""
        self.reuse = bool(self.features) and self._since + 1 < self.interval
        if self.reuse:
            self.reused_steps += 1
        else:
            self.full_steps += 1
        self._before, self._since = self._since, self._since + 1 if self.reuse else 0

    def step_skipped(self) -> None:
        """Step skipping skipped the step that :meth:`begin_step` began: no deep block ran, so the step does
        not count, and the next UNet-run step takes its place in the interval."""
        if self.reuse:
            self.reused_steps -= 1
        else:
            self.full_steps -= 1
        self._since = self._before

    def adopt_conditional(self) -> None:
        """Guidance stops (the conditional pass alone from now on, key 1): when guidance ran as one batch of 2
        (key 0), the conditional half of the kept feature becomes key 1's (batch-major, unconditional first)."""
        if 0 in self.features and 1 not in self.features:
            self.features[1] = self.features.pop(0).chunk(2)[1]

    # -- installing the skip -----------------------------------------------------------------
    def _wrap(self, block: torch.nn.Module, skipped) -> None:
        def make(inner):
            def forward(*args, **kwargs):
                return skipped(args, kwargs) if self.reuse else inner(*args, **kwargs)
            return forward
        self._saved.patch(block, make)

    def __enter__(self) -> DeepCache:
        unet = self.unet
        if self.interval == 1:
            return self

        def hidden(args, kwargs):
            return kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]

        for block in unet.down_blocks[1:]:
            n = len(block.resnets) + (1 if getattr(block, "downsamplers", None) else 0)
            self._wrap(block, lambda a, k, n=n: (hidden(a, k), (hidden(a, k),) * n))
        if unet.mid_block is not None:
            self._wrap(unet.mid_block, hidden)
        for block in unet.up_blocks[:-2]:
            self._wrap(block, hidden)
        def keeper(inner):
            def keep(*args, **kwargs):
                if self.reuse:
                    return self.features[self.key]
                out = inner(*args, **kwargs)
                self.features[self.key] = out
                return out
            return keep
        self._saved.patch(unet.up_blocks[-2], keeper)
        return self

    def __exit__(self, *exc) -> None:
        self._saved.restore()
        self.features.clear()
