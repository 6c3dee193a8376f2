"""Reading user images safely and fitting them to the generation size.  Pure (PIL, no torch).

Whatever a user uploads (phone photos with EXIF rotation, PNGs with alpha,
16-bit scans, palettes, CMYK JPEGs, animated GIFs) comes out as an upright
8-bit RGB image, or as one clear :class:`InvalidInput`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import warnings
from pathlib import Path
from urllib.parse import unquote_to_bytes

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..base.errors import InvalidInput

MIN_SIDE = 16  # smaller images carry no usable content


def _too_big(w: int, h: int, max_pixels: int) -> InvalidInput:
    return InvalidInput("image_too_many_pixels", width=w, height=h, pixels=f"{w * h:,}", limit=f"{max_pixels:,}")


def open_image(src, *, max_pixels: int = 40_000_000, max_bytes: int = 50 * 1024 * 1024) -> Image.Image:
    """Open ``src`` (path, bytes, file object or PIL image) as upright RGB.

    Size is checked from the header before any pixel is decoded, so a
    decompression bomb costs nothing.
    """
    named = {"name": Path(src).name} if isinstance(src, (str, os.PathLike)) else {}
    if isinstance(src, Image.Image):
        img = src
    else:
        if isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if not path.exists():
                raise InvalidInput("image_not_found", path=path)
            if not path.is_file():  # a folder, a FIFO, a device: never opened (a FIFO would block)
                raise InvalidInput("image_not_a_file", path=path)
            size = path.stat().st_size
            if size > max_bytes:
                raise InvalidInput("image_too_big", size=f"{size:,}", limit=f"{max_bytes:,}")
            if size == 0:
                raise InvalidInput("image_empty", name=path.name)
            try:
                data = path.read_bytes()
            except OSError:  # no permission, a vanished file
                raise InvalidInput("image_unreadable_file", path=path) from None
        elif isinstance(src, (bytes, bytearray)):
            data = bytes(src)
        elif hasattr(src, "read"):
            data = src.read(max_bytes + 1)
        else:
            raise InvalidInput("image_missing")
        if not data:
            raise InvalidInput("image_empty")
        if len(data) > max_bytes:
            raise InvalidInput("image_too_big", size=f"{len(data):,}", limit=f"{max_bytes:,}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise InvalidInput("image_bomb", limit=f"{max_pixels:,}") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):  # (the CLI names a path's file)
            raise InvalidInput("image_unreadable", **named) from None

    w, h = img.size
    if w * h > max_pixels:
        raise _too_big(w, h, max_pixels)
    try:
        if getattr(img, "is_animated", False):
            img.seek(0)  # animated GIF/WebP/APNG: the first frame
        img.load()
        img = ImageOps.exif_transpose(img) or img
        rgb = to_rgb(img)
    except InvalidInput:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise InvalidInput("image_damaged", **named) from None
    if min(rgb.size) < MIN_SIDE:
        raise InvalidInput("image_too_small", width=rgb.size[0], height=rgb.size[1], limit=MIN_SIDE)
    return rgb


def save_data_url(url: str, folder: Path, *, max_bytes: int = 50 * 1024 * 1024) -> Path:
    """The bytes of a ``data:`` URL (a pasted picture, an API caller's inline image) saved as a file named by
    their hash, without decoding a single pixel: the length is checked before the base64 is decoded, and
    :func:`open_image` checks the picture's size and pixel count from its header later, as for any upload."""
    head, sep, payload = url.partition(",")
    if not sep or not head.lower().startswith("data:"):
        raise InvalidInput("image_unreadable")
    b64 = head.lower().endswith(";base64")
    approx = len(payload) * 3 // 4 if b64 else len(payload)
    if approx > max_bytes:
        raise InvalidInput("image_too_big", size=f"{approx:,}", limit=f"{max_bytes:,}")
    try:
        data = base64.b64decode(payload) if b64 else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise InvalidInput("image_unreadable") from None
    if not data:
        raise InvalidInput("image_empty")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pasted-{hashlib.sha256(data).hexdigest()[:32]}"
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    return path


def to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB, compositing transparency over white and scaling 16-bit data."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")  # uint8, 2-D: mode L
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max() <= 1.0 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr).convert("RGB")  # uint8, 2-D: mode L
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    # CMYK (Pillow undoes Adobe's inverted JPEG CMYK on open), palette, 1-bit, L, YCbCr...
    return img.convert("RGB")


def fit_image(img: Image.Image, width: int, height: int) -> Image.Image:
    """Center-crop ``img`` to the target aspect ratio, then resize to exactly width x height."""
    return ImageOps.fit(img, (width, height), method=Image.LANCZOS, centering=(0.5, 0.5))
