"""Cheap previews of the forming video: latents to RGB by a fixed linear map, no VAE.

The 4 latent channels of the Stable-Diffusion-family VAE (which I2VGen-XL uses)
map roughly linearly to RGB.  The coefficients below are a least-squares fit of
that map, widely used for live previews; the result is blurry and 8x smaller
but shows composition and motion as they form, at a cost of microseconds.
"""

from __future__ import annotations

import numpy as np
import torch

_LATENT_TO_RGB = torch.tensor([
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
])


def latents_to_rgb(latents: torch.Tensor, max_frames: int = 4, scale: int = 2) -> np.ndarray:
    """(1, C, F, h, w) latents -> one uint8 strip of up to ``max_frames`` evenly spaced frames.

    C = 4 (I2VGen-XL's VAE): the fitted map above.  Other VAEs (Wan's 16 or 48 channels) have no published
    fit: the channels are split into three groups whose means, each stretched to [0, 1] over the strip, give
    red, green and blue: composition and motion show, colours do not."""
    lat = latents[0].float().cpu()  # (C, F, h, w)
    frames = lat.shape[1]
    picks = sorted({round(i * (frames - 1) / max(1, max_frames - 1)) for i in range(min(max_frames, frames))})
    if lat.shape[0] == _LATENT_TO_RGB.shape[0]:
        rgb = ((torch.einsum("cfhw,cr->fhwr", lat[:, picks], _LATENT_TO_RGB) + 1.0) / 2.0).clamp(0, 1)
    else:
        groups = torch.stack([g.mean(0) for g in lat[:, picks].tensor_split(3)], dim=-1)  # (f, h, w, 3)
        lo = groups.amin(dim=(0, 1, 2), keepdim=True)
        rgb = (groups - lo) / (groups.amax(dim=(0, 1, 2), keepdim=True) - lo).clamp_min(1e-6)
    if scale > 1:
        rgb = rgb.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
    strip = torch.cat(list(rgb), dim=1)  # side by side
    return (strip.numpy() * 255).round().astype(np.uint8)
