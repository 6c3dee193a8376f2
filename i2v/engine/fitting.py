"""How I2VGen-XL prepares its first frame: scale with a box filter until the picture covers the size, crop the
centre; and the bilinear resize of the CLIP crop.  Our own code, not diffusers' private helpers of the same
names (``_center_crop_wide``, ``_resize_bilinear``), which live in its ``deprecated`` package and go when it
drops I2VGen-XL; ``tests/test_fitting.py`` holds them equal, pixel for pixel, while diffusers has them."""

from __future__ import annotations

from PIL import Image


def center_crop_wide(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled (box filter) so that it covers ``size`` = (width, height), then its centre cut out."""
    width, height = size
    scale = min(image.width / width, image.height / height)
    # floor division by a float, then rounding: the original's arithmetic, so sizes match to the pixel
    image = image.resize((round(image.width // scale), round(image.height // scale)), resample=Image.BOX)
    x1, y1 = (image.width - width) // 2, (image.height - height) // 2
    return image.crop((x1, y1, x1 + width, y1 + height))


def resize_bilinear(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image.resize(size, Image.BILINEAR)
