"""The family registry: each family is declared data, and the rest of the studio asks it instead of naming a
model.  Read from the code: a string outside a family's package that equals one of a family's constants (a
model's name, hub id or revision, a pipeline class, a family or variant name) fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from i2v.families import FAMILIES, DEFAULT, Geometry, find_model, model_names, variant_of_source

PKG = Path(__file__).resolve().parent.parent / "i2v"
# Where a family's own code lives: its package, and i2v/engine/ (I2VGen-XL's engine, the studio's first; it
# moves under i2v/families/i2vgenxl/ with the family interface's later steps).
FAMILY_CODE = ("families", "engine")


def family_constants() -> set[str]:
    """Every constant a family declares that names it.  Kinds of model ("tiny", "random-full") are words every
    family uses, so I2VGen-XL's models of those names are not counted."""
    kinds = {m.kind for f in FAMILIES for m in f.models}
    out = set()
    for f in FAMILIES:
        out |= set(f.pipeline_classes) | {f.name} | set(f.variants)
        out |= {x for m in f.models for x in (m.name, m.hub_id, m.revision) if x}
    return out - kinds


def named_constants(path: Path, constants: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = path.relative_to(PKG.parent) if path.is_relative_to(PKG.parent) else path.name
    return [f"{where}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in constants]


def test_no_module_outside_a_family_names_a_familys_constant():
    constants = family_constants()
    bad = [hit for p in sorted(PKG.rglob("*.py")) if p.relative_to(PKG).parts[0] not in FAMILY_CODE
           for hit in named_constants(p, constants)]
    assert not bad, "ask i2v.families instead:\n" + "\n".join(bad)


def test_the_check_sees_a_model_name_and_a_pipeline_class(tmp_path):
    p = tmp_path / "probe.py"
    p.write_text('if source == "wan-tiny" or cls == "WanImageToVideoPipeline":\n    x = "tiny"\n')
    hits = named_constants(p, family_constants())
    assert [h.rsplit(": ", 1)[1] for h in hits] == ["'wan-tiny'", "'WanImageToVideoPipeline'"]


def test_the_registry():
    assert DEFAULT.name == "i2vgen-xl" and len({f.name for f in FAMILIES}) == len(FAMILIES)
    names = [m.name for f in FAMILIES for m in f.models]
    assert len(names) == len(set(names)), "a model name belongs to one family"
    assert find_model("ali-vilab/i2vgen-xl")[0] is DEFAULT and find_model("nope") is None
    assert "wan-tiny" in model_names() and "ali-vilab/i2vgen-xl" not in model_names()
    for f in FAMILIES:
        for m in f.models:
            assert m.variant in f.variants and (m.kind == "hub") == bool(m.hub_id)
            assert m.kind != "tiny" or (PKG.parent / "configs" / m.tiny_configs).is_dir()
        for v in f.variants.values():
            assert (PKG.parent / "configs" / v.configs).is_dir() and v.knobs.source
            g = v.geometry
            assert g.fits(*g.native) and g.frames_allowed(g.frames_default)
    assert variant_of_source("someone/an-i2vgen-xl-fine-tune")[0] is DEFAULT  # as before families


@pytest.mark.parametrize("n,want", [(1, 5), (5, 5), (6, 5), (7, 5), (8, 9), (9, 9), (119, 117), (120, 121),
                                    (200, 121)])
def test_nearest_4k_plus_1(n, want):
    g = Geometry(multiple=32, native=(1280, 704), frames_default=121, frames_min=5, frames_max=121, frames_step=4)
    assert g.nearest_frames(n) == want and g.frames_allowed(want)


def test_models_lists_every_model_and_sees_a_download_in_the_cache(tmp_path):
    """``python -m i2v models --json`` in a fresh process: every model once; a hub model is "downloaded" once
    its snapshot (at its pinned revision, or main) is in HF_HOME's cache."""
    import json
    import os
    import subprocess
    import sys

    def models() -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        r = subprocess.run([sys.executable, "-m", "i2v", "models", "--json"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120, env={**env, "HF_HOME": str(tmp_path / "hf")})
        assert r.returncode == 0, r.stderr
        return {m["name"]: m for m in json.loads(r.stdout)["models"]}

    before = models()
    assert set(before) == {m.name for f in FAMILIES for m in f.models}
    assert before["wan2.2-ti2v-5b"]["downloaded"] is False and before["wan-tiny"]["downloaded"] is None
    assert before["wan-random-full-a14b"]["card_gb"] == 80.0 and before["ali-vilab/i2vgen-xl"]["default"]
    assert (before["wan-tiny"]["frames_min"], before["wan-tiny"]["frames_max"], before["wan-tiny"]["frames_step"]) \
        == (5, 121, 4)
    repo = tmp_path / "hf" / "hub" / "models--Wan-AI--Wan2.2-TI2V-5B-Diffusers"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("c" * 40)
    (repo / "snapshots" / ("c" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("c" * 40) / "model_index.json").write_text("{}")
    after = models()
    assert after["wan2.2-ti2v-5b"]["downloaded"] is True and after["wan2.2-i2v-a14b"]["downloaded"] is False
