"""Synthetic motion sources for auto-tune: motion (motion_norm) as a function of guidance, monotone, with
measurement noise, and one with a plateau; jitter and flicker that grow past a guidance of their own."""

from __future__ import annotations

import math

import numpy as np


class MotionSource:
    """``measure(g)`` is one draft's (motion, jitter, flicker), noisy; ``true(g)`` the noiseless motion."""

    def __init__(self, rng: np.random.Generator, shape: str, noise: float = 0.03):
        self.rng, self.shape, self.noise = rng, shape, noise
        self.a = rng.uniform(0.05, 0.4)            # motion at guidance 4
        self.b = rng.uniform(0.06, 0.3)            # growth per unit of guidance
        self.p = rng.uniform(1.0, 1.8)             # curvature (power)
        self.plateau = rng.uniform(9.0, 12.0)      # where the plateau shape stops growing
        self.flicker_from = rng.uniform(12.5, 16.0)  # flicker grows past this guidance

    def true(self, g: float) -> float:
        x = max(0.0, g - 4.0)
        if self.shape == "linear":
            return self.a + self.b * x
        if self.shape == "power":
            return self.a + self.b * x ** self.p / 4.0 ** (self.p - 1)
        if self.shape == "saturating":
            return self.a + 2.5 * self.b * 4.0 * (1 - math.exp(-x / 4.0))
        if self.shape == "plateau":
            return self.a + self.b * min(x, self.plateau - 4.0)
        raise ValueError(self.shape)

    def measure(self, g: float) -> tuple[float, float, float]:
        m = self.true(g) * (1 + self.rng.normal(0, self.noise))
        flicker = 2.0 + max(0.0, g - self.flicker_from) * 6.0 + abs(self.rng.normal(0, 0.3))
        jitter = 0.2 + max(0.0, g - self.flicker_from - 1) * 0.3
        return max(m, 0.0), jitter, flicker
