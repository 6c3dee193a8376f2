"""The model families the studio serves: one line each in :data:`FAMILIES`.

A family is declared data (i2v/families/spec.py: sources, geometry, knobs, variants) plus one engine.  The
rest of the studio asks the registry (:func:`find_model`, :func:`family_of_pipeline`) and never compares a
model's name; tests/test_families.py reads the code for that.  Pure: no torch, no diffusers.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import i2vgenxl, wan
from .spec import Family, Geometry, Knobs, Model, Variant

FAMILIES: tuple[Family, ...] = (
    i2vgenxl.FAMILY,   # the default: the studio was built around it
    wan.FAMILY,
)
DEFAULT = FAMILIES[0]

__all__ = ["DEFAULT", "FAMILIES", "Family", "Geometry", "Knobs", "Model", "Variant", "family_of_pipeline",
           "family_of_source", "find_model", "model_names", "served_pipelines", "synthetic_models", "variant_of_source"]


def find_model(name: str) -> tuple[Family, Model] | None:
    """The family and model that ``--model NAME`` names: a model's name or its hub id (case as given)."""
    for fam in FAMILIES:
        for m in fam.models:
            if name in (m.name, m.hub_id):
                return fam, m
    return None


def model_names() -> tuple[str, ...]:
    """Every name ``--model`` takes besides hub ids and folders (the hub models' short names included)."""
    return tuple(m.name for fam in FAMILIES for m in fam.models if "/" not in m.name)


def synthetic_models() -> tuple[str, ...]:
    """Names of the random-weight models (tiny and random-full of every family)."""
    return tuple(m.name for fam in FAMILIES for m in fam.models if m.synthetic)


def served_pipelines() -> tuple[str, ...]:
    return tuple(c for fam in FAMILIES for c in fam.pipeline_classes)


def family_of_pipeline(class_name: str | None) -> Family | None:
    """The family serving a diffusers pipeline class (a folder's model_index.json ``_class_name``)."""
    return next((f for f in FAMILIES if class_name in f.pipeline_classes), None)


def _index(source: str) -> dict:
    """A local folder's model_index.json (read bounded), or {}."""
    index = Path(source).expanduser() / "model_index.json"
    try:
        with index.open("rb") as f:
            data = json.loads(f.read(1 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def variant_of_source(source: str) -> tuple[Family, Variant]:
    """The family and variant a ``--model`` value runs: a name or hub id the registry knows; a local folder by
    the pipeline and the values its model_index.json names; any other hub id as the default family's (a
    fine-tune of I2VGen-XL, say, as before there were families)."""
    found = find_model(source)
    if found:
        return found[0], found[0].variant_of(found[1])
    index = _index(source)
    fam = family_of_pipeline(index.get("_class_name"))
    if fam is None:
        return DEFAULT, DEFAULT.default_variant
    return fam, next((v for v in fam.variants.values() if v.matches(index)), fam.default_variant)


def family_of_source(source: str) -> Family:
    return variant_of_source(source)[0]
