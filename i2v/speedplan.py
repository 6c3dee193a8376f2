"""The planned speed levers for a card (issue 20): ``configs/speed-gpu.yaml`` read and picked from by card
name or compute capability and size.  Pure policy: no torch, no engine.  Rows not measured on a card
carry only levers exact and never slower by construction; a measured row says the card and versions."""

from __future__ import annotations

import re

_NOISE = re.compile(r"^(nvidia|geforce|tesla|quadro|\d+gb|hbm\d*e?|pcie|sxm\d*|nvl|mig.*|\d+g)$")


def card_slug(name: str) -> str:
    """A short file-name slug of a device name: 'NVIDIA H100 80GB HBM3' -> 'h100', 'NVIDIA GeForce RTX 4090'
    -> 'rtx-4090', 'NVIDIA A100-SXM4-80GB' -> 'a100', 'cpu' -> 'cpu'."""
    words = [w for w in re.split(r"[\s\-_/()]+", name.lower()) if w and not _NOISE.match(w)]
    return "-".join(words[:3]) or "gpu"
