"""The model families the studio serves: one line each in :data:`FAMILIES`.

A family is declared data (i2v/families/spec.py: sources, geometry, knobs, variants) plus one engine.  The
rest of the studio asks the registry (:func:`find_model`, :func:`family_of_pipeline`) and never compares a
model's name; tests/test_families.py reads the code for that.  Pure: no torch, no diffusers.
"""

from __future__ import annotations

from . import i2vgenxl, wan
from .spec import Family, Geometry, Knobs, Model, Variant

FAMILIES: tuple[Family, ...] = (
    i2vgenxl.FAMILY,   # the default: the studio was built around it
    wan.FAMILY,
)
DEFAULT = FAMILIES[0]

__all__ = ["DEFAULT", "FAMILIES", "Family", "Geometry", "Knobs", "Model", "Variant", "family_of_pipeline",
           "find_model", "served_pipelines", "synthetic_models"]


def find_model(name: str) -> tuple[Family, Model] | None:
    """The family and model that ``--model NAME`` names: a model's name or its hub id (case as given)."""
    for fam in FAMILIES:
        for m in fam.models:
            if name in (m.name, m.hub_id):
                return fam, m
    return None


def synthetic_models() -> tuple[str, ...]:
    """Names of the random-weight models (tiny and random-full of every family)."""
    return tuple(m.name for fam in FAMILIES for m in fam.models if m.synthetic)


def served_pipelines() -> tuple[str, ...]:
    return tuple(c for fam in FAMILIES for c in fam.pipeline_classes)


def family_of_pipeline(class_name: str | None) -> Family | None:
    """The family serving a diffusers pipeline class (a folder's model_index.json ``_class_name``)."""
    return next((f for f in FAMILIES if class_name in f.pipeline_classes), None)
