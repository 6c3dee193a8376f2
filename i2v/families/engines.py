"""Which family's engine runs a model, and loading it: the one place that goes from a ``--model`` value to
an engine.  A name or hub id the registry knows picks its family; a local folder picks the family serving the
pipeline its ``model_index.json`` names; any other hub id is taken as the default family's (as before
families existed: a fine-tune of I2VGen-XL, say).  Each family's engine module has ``load_engine``."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from . import DEFAULT, Family, family_of_pipeline, find_model


def family_of_source(source: str) -> Family:
    found = find_model(source)
    if found:
        return found[0]
    index = Path(source).expanduser() / "model_index.json"
    if index.is_file():
        try:
            with index.open("rb") as f:
                name = json.loads(f.read(1 << 20).decode("utf-8")).get("_class_name")
        except (OSError, ValueError, AttributeError):
            name = None
        fam = family_of_pipeline(name)
        if fam is not None:
            return fam
    return DEFAULT


def load_engine(source: str, **kw):
    """The engine of ``source``'s family, with its model loaded (``kw``: revision, fallback, probe_timeout,
    seed, progress, as the studio's model settings give them)."""
    return importlib.import_module(family_of_source(source).engine).load_engine(source, **kw)
