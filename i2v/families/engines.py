"""Which family's engine runs a model, and loading it: the one place that goes from a ``--model`` value to
an engine.  A name or hub id the registry knows picks its family; a local folder picks the family serving the
pipeline its ``model_index.json`` names; any other hub id is taken as the default family's (as before
families existed: a fine-tune of I2VGen-XL, say).  Each family's engine module has ``load_engine``."""

from __future__ import annotations

import importlib

from . import family_of_source


def load_engine(source: str, **kw):
    """The engine of ``source``'s family, with its model loaded (``kw``: revision, fallback, probe_timeout,
    seed, progress, as the studio's model settings give them)."""
    return importlib.import_module(family_of_source(source).engine).load_engine(source, **kw)
