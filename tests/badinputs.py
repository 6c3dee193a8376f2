"""Files a careless or hostile user might upload, made by the tests.  Each case: (name, maker, expected),
where expected is either an error substring or a check function on the opened RGB image."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import make_photo


def _png_with_size(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels (the data is tiny: opening must not decode it)."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", w, h)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _exif_rotated() -> bytes:
    img = Image.new("RGB", (80, 40), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, 40, 40))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    return _save(img, "JPEG", exif=exif, quality=95)


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (64, 64), c) for c in ((220, 20, 20), (20, 20, 220), (20, 220, 20))]
    return _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _rgba() -> bytes:
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # fully transparent black
    img.paste((255, 0, 0, 255), (0, 0, 32, 64))
    return _save(img, "PNG")


def _gray16() -> bytes:
    arr = np.full((64, 64), 32768, np.uint16)  # mid gray in 16 bits
    return _save(Image.fromarray(arr), "PNG")  # uint16, 2-D: mode I;16


def _palette_transparent() -> bytes:
    img = Image.new("P", (64, 64), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 32, 64))
    return _save(img, "PNG", transparency=0)


def _half(data: bytes) -> bytes:
    return data[:len(data) // 2]


def mean_rgb(img):
    return np.asarray(img, np.float32).reshape(-1, 3).mean(0)


def _near(color, tol=25):
    return lambda img: np.abs(mean_rgb(img) - np.array(color)).max() <= tol


BAD = [
    ("empty.png", lambda: b"", "empty"),
    ("random.png", lambda: np.random.default_rng(0).bytes(4096), "not a readable image"),
    ("text.png", lambda: b"hello, I am not a picture\n" * 20, "not a readable image"),
    ("drawing.svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                            b'<rect width="64" height="64" fill="red"/></svg>', "not a readable image"),
    ("truncated.png", lambda: _half(_save(make_photo(200, 150), "PNG")), "damaged or truncated"),
    ("truncated.jpg", lambda: _half(_save(make_photo(200, 150), "JPEG")), "damaged or truncated"),
    ("tiny.png", lambda: _save(Image.new("RGB", (1, 1)), "PNG"), "too small"),
    ("strip.png", lambda: _save(Image.new("RGB", (10000, 2), (90, 90, 90)), "PNG"), "too small"),
    ("bomb_error.png", lambda: _png_with_size(100_000, 100_000), "too large"),
    ("bomb_warning.png", lambda: _png_with_size(10_000, 9_000), "too large"),
    ("too_many_pixels.png", lambda: _png_with_size(8_000, 6_000), "too large"),
]

GOOD = [
    ("cmyk.jpg", lambda: _save(Image.new("RGB", (64, 64), (30, 120, 200)).convert("CMYK"), "JPEG", quality=95),
     _near((30, 120, 200))),
    ("palette.png", lambda: _save(make_photo(120, 90).convert("P"), "PNG"), lambda im: im.size == (120, 90)),
    ("palette_transparent.png", _palette_transparent, _near(((255 + 255) / 2, 127, 127), 10)),
    ("onebit.png", lambda: _save(make_photo(120, 90).convert("1"), "PNG"), lambda im: im.mode == "RGB"),
    ("gray.png", lambda: _save(make_photo(120, 90).convert("L"), "PNG"), lambda im: im.mode == "RGB"),
    ("gray16.png", _gray16, _near((128, 128, 128), 2)),           # must not turn white
    ("rgba.png", _rgba, _near((255, 127, 127), 5)),               # transparency over white, not black
    ("rotated.jpg", _exif_rotated, lambda im: im.size == (40, 80)
     and mean_rgb(im.crop((0, 0, 40, 40)))[2] > 150),            # shown upright: the blue half on top
    ("animated.gif", lambda: _animated("GIF"), _near((220, 20, 20), 30)),   # first frame
    ("animated.webp", lambda: _animated("WEBP"), _near((220, 20, 20), 30)),
    ("photo1080.jpg", lambda: _save(make_photo(1920, 1080), "JPEG", quality=90),
     lambda im: im.size == (1920, 1080)),
]


def write_case(folder: Path, name: str, maker) -> Path:
    p = folder / name
    p.write_bytes(maker())
    return p
