"""Dependencies run one way: app.py -> i2v/ui -> i2v/jobs -> workflows -> the studio service -> pure policy
modules -> i2v/engine.  Read from the source (every import, also those inside functions), so a lazy import
against the direction fails here too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "i2v"
POLICY = ("settings", "presets", "guidance", "advisor", "vram", "analysis", "notes", "errors", "config", "tokens",
          "request", "i18n", "modelload", "images", "video", "templates", "cancel", "speedplan", "tiers", "joins",
          "tuning")
# what each layer may not import (its own layer and those below are fine)
FORBIDDEN = {
    **{m: ("engine", "studio", "workflows", "jobs", "ui", "torch", "diffusers", "gradio") for m in POLICY},
    "studio": ("workflows", "jobs", "ui", "gradio"),  # the studio service
    "workflows": ("jobs", "ui", "gradio"),
    "jobs": ("ui", "gradio"),
}


def imports(path: Path) -> set[str]:
    """The top name of every module ``path`` imports, relative ones resolved inside i2v."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add((node.module or "").split(".")[0])
            else:  # from .x import y / from ..x import y: the first name below i2v
                inside = path.relative_to(PKG).parts[:-1][:max(0, len(path.relative_to(PKG).parts) - node.level)]
                parts = [*inside, *(node.module or "").split(".")] if node.module else [*inside]
                names.add(parts[0] if parts else "")
                if not node.module:
                    names |= {a.name for a in node.names}
    return names


def layer_files(layer: str) -> list[Path]:
    folder = PKG / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PKG / f"{layer}.py"]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_import_against_the_direction(layer):
    for path in layer_files(layer):
        bad = imports(path) & set(FORBIDDEN[layer])
        assert not bad, f"{path.relative_to(PKG.parent)} imports {sorted(bad)}"
