"""Forwards replaced for one job and put back (DeepCache's and step skipping's skips).  A module may carry
a forward of its own instance already (an accelerate offload hook's): it is what the new forward calls, and
what comes back afterwards."""

from __future__ import annotations

from collections.abc import Callable

import torch


class ForwardPatches:
    def __init__(self) -> None:
        self._saved: list[tuple[torch.nn.Module, Callable | None]] = []

    def __len__(self) -> int:
        return len(self._saved)

    def patch(self, module: torch.nn.Module, make: Callable[[Callable], Callable]) -> None:
        """``module.forward = make(inner)``, ``inner`` being the forward it had (a hook's, if any)."""
        own = module.__dict__.get("forward")
        self._saved.append((module, own))
        module.forward = make(own or module.forward)

    def restore(self) -> None:
        for module, own in reversed(self._saved):
            if own is None:
                del module.forward
            else:
                module.forward = own
        self._saved.clear()
