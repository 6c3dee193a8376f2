"""Synthetic videos with known motion, made by the tests."""

from __future__ import annotations

import numpy as np


def background(h=192, w=256):
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([80 + 60 * np.sin(x / 23.0), 90 + 50 * np.cos(y / 17.0), 100 + 40 * np.sin((x + y) / 31.0)], -1)


def textured_square(size=48, seed=0):
    rng = np.random.default_rng(seed)
    tex = rng.integers(0, 255, (size // 4, size // 4, 3)).astype(np.float32)
    return np.kron(tex, np.ones((4, 4, 1), np.float32))


def moving_square(n=12, speed=4.0, h=192, w=256):
    """A textured square moving right at ``speed`` px/frame over a static smooth background."""
    bg, sq = background(h, w), textured_square()
    out = []
    for i in range(n):
        f = bg.copy()
        x0 = int(round(20 + speed * i))
        f[70:70 + sq.shape[0], x0:x0 + sq.shape[1]] = sq
        out.append(f)
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def static_scene(n=12, h=192, w=256):
    bg, sq = background(h, w), textured_square()
    f = bg.copy()
    f[70:118, 100:148] = sq
    return np.repeat(np.clip(f, 0, 255).astype(np.uint8)[None], n, axis=0)


def jumping_square(n=12, h=192, w=256, seed=3):
    """The square jumps to a random place every frame (motion without continuity)."""
    rng = np.random.default_rng(seed)
    bg, sq = background(h, w), textured_square()
    out = []
    for _ in range(n):
        f = bg.copy()
        x0, y0 = rng.integers(0, w - 48), rng.integers(0, h - 48)
        f[y0:y0 + 48, x0:x0 + 48] = sq
        out.append(f)
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def flashing_scene(n=12, h=192, w=256):
    """The static scene with its brightness alternating +-40 gray levels."""
    base = static_scene(n, h, w).astype(np.float32)
    for i in range(n):
        base[i] += 40 if i % 2 else -40
    return np.clip(base, 0, 255).astype(np.uint8)


def panning_texture(h=192, w=256, seed=5):
    """A wide textured scene (smooth colour waves and blocks) to pan across: (h, 2w, 3) float32."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:2 * w].astype(np.float32)
    base = np.stack([110 + 50 * np.sin(x / 19.0), 100 + 45 * np.cos(y / 13.0 + x / 41.0),
                     95 + 40 * np.sin((x - y) / 27.0)], -1)
    blocks = np.kron(rng.integers(-35, 35, (h // 16, 2 * w // 16, 3)), np.ones((16, 16, 1))).astype(np.float32)
    return base + blocks


def clip_from(picture: np.ndarray, frames: int, speed: int, bias) -> np.ndarray:
    """A stand-in for the model: a clip that starts with ``picture`` and pans on at ``speed`` px/frame, its
    frames after the first shifted in colour by ``bias`` (RGB), as a chained clip settles into colours of
    its own.  (N, H, W, 3) uint8."""
    pic = picture.astype(np.float32)
    out = [picture.astype(np.uint8)]
    for t in range(1, frames):
        out.append(np.clip(np.roll(pic, -speed * t, axis=1) + np.asarray(bias, np.float32), 0, 255).astype(np.uint8))
    return np.stack(out)
