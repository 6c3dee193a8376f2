"""Job kinds are defined once (i2v/jobs/kinds.py): the store, the service, the page and the CLI read them
from there, so a new kind is one row there plus its two labels."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from i2v.base.i18n import TEXT
from i2v.jobs import KINDS, JobStore, kind_of
from i2v.jobs.kinds import HISTORY_KINDS, kind_of_sidecar

PKG = Path(__file__).resolve().parent.parent / "i2v"


def test_every_kind_has_its_labels_and_a_runner():
    for k in KINDS.values():
        assert callable(k.run) and k.tab in ("create", "compare")
        assert TEXT[f"kind_{k.name}"]["en"] and TEXT[f"kind_{k.name}"]["zh"], k.name
    assert set(HISTORY_KINDS) == {k.name for k in KINDS.values() if k.in_history}
    assert kind_of_sidecar({"kind": "smoothed"}).name == "smooth" and kind_of_sidecar({}).name == "generate"
    with pytest.raises(ValueError, match="unknown job kind"):
        kind_of("render")


def test_the_store_takes_only_known_kinds(tmp_path):
    store = JobStore(tmp_path)
    assert store.submit("smooth", {"video": "a.mp4", "factor": 2}).kind == "smooth"
    with pytest.raises(ValueError, match="unknown job kind"):
        store.submit("render", {})


def _kind_literals(path: Path) -> list[str]:
    """Places that test a job's kind against a written-out name (``job.kind == "sweep"``, ``kinds=["…"]``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "kind":
            consts = [e for c in node.comparators for e in ([c] if isinstance(c, ast.Constant) else
                                                            getattr(c, "elts", []))]
            if any(isinstance(e, ast.Constant) and e.value in KINDS for e in consts):
                found.append(f"{path.name}:{node.lineno}")
        if isinstance(node, ast.keyword) and node.arg == "kinds" and isinstance(node.value, (ast.List, ast.Tuple)) \
                and any(isinstance(e, ast.Constant) and e.value in KINDS for e in node.value.elts):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_module_tests_a_job_kind_by_its_written_name():
    hits = [h for p in sorted(PKG.rglob("*.py")) if p.name != "kinds.py" for h in _kind_literals(p)]
    assert not hits, hits
