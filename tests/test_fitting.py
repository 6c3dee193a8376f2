"""The first frame's preparation is our own code (i2v/engine/fitting.py), equal pixel for pixel to diffusers'
helpers of I2VGen-XL while diffusers still has them; and nothing of ours imports from a ``deprecated``
module of any library."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest
from i2v.engine.fitting import center_crop_wide, resize_bilinear

from .conftest import make_photo

ROOT = Path(__file__).resolve().parent.parent


def _theirs():
    try:
        return importlib.import_module("diffusers.pipelines.deprecated.i2vgen_xl.pipeline_i2vgen_xl")
    except ImportError:
        pytest.skip("diffusers no longer has I2VGen-XL's helpers: nothing left to compare with")


@pytest.mark.parametrize("src", [(640, 480), (480, 640), (1000, 300), (257, 511), (64, 64), (1280, 704)])
@pytest.mark.parametrize("size", [(256, 256), (320, 256), (1280, 704), (704, 1280), (224, 224), (63, 17)])
def test_center_crop_and_resize_equal_diffusers(src, size):
    theirs = _theirs()
    img = make_photo(*src, seed=src[0])
    for mode in ("RGB", "RGBA", "L"):
        im = img.convert(mode)
        ours, ref = center_crop_wide(im, size), theirs._center_crop_wide(im, size)
        assert ours.size == ref.size == size and np.array_equal(np.asarray(ours), np.asarray(ref))
        ours, ref = resize_bilinear(im, (224, 224)), theirs._resize_bilinear(im, (224, 224))
        assert np.array_equal(np.asarray(ours), np.asarray(ref))


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _home(dotted: str) -> str:
    """The module a name imported from a library really lives in: ``diffusers.I2VGenXLPipeline`` is
    re-exported at diffusers' top level from ``diffusers.pipelines.deprecated.i2vgen_xl``."""
    module, _, attr = dotted.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return dotted
    return getattr(obj, "__name__", dotted) if isinstance(obj, type(importlib)) else \
        getattr(obj, "__module__", None) or dotted


def _deprecated_imports(paths) -> list[str]:
    bad = []
    for path in paths:
        for line, name in _imported_modules(path):
            if name.split(".")[0] in ("diffusers", "transformers"):
                name = f"{name} (from {_home(name)})"
            if "deprecated" in name.replace("(", ".").replace(")", ".").replace(" ", ".").split("."):
                bad.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{line}: {name}")
    return bad


def test_nothing_is_imported_from_a_deprecated_module():
    """Every import of the studio's code (at the top or inside a function) names no ``deprecated`` module of
    any library, and no name that a library re-exports from one: diffusers moved I2VGen-XL's pipeline
    there, and a generation must not break at import when the module goes."""
    bad = _deprecated_imports([ROOT / "app.py", *sorted((ROOT / "i2v").rglob("*.py"))])
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_deprecated_import(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("def f():\n    from diffusers.pipelines.deprecated.i2vgen_xl import x\n")
    assert any("deprecated" in n.split(".") for _, n in _imported_modules(p))
    assert len(_deprecated_imports([p])) == 2  # the module, and the name in it


def test_the_check_sees_a_deprecated_class_taken_from_a_library_top_level(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("from diffusers import AutoencoderKL, I2VGenXLPipeline\n")
    if not hasattr(importlib.import_module("diffusers"), "I2VGenXLPipeline"):
        pytest.skip("diffusers no longer has I2VGenXLPipeline")
    assert [b.rsplit(": ", 1)[1] for b in _deprecated_imports([p])] == \
        ["diffusers.I2VGenXLPipeline (from diffusers.pipelines.deprecated.i2vgen_xl.pipeline_i2vgen_xl)"]

