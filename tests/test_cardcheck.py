"""scripts/card-check.sh (issue 24): the prepared run for a card, checked here in its --smoke mode (the same
stages on the CPU with the tiny model) and with a Python that fails every stage (each recorded, the next
one still run)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .conftest import ROOT

SCRIPT = ROOT / "scripts" / "card-check.sh"


def stages(out) -> dict:
    return {s["stage"]: s for s in map(json.loads, (out / "stages.jsonl").read_text().splitlines())}


def test_a_failing_stage_is_recorded_and_the_next_one_runs(tmp_path):
    r = subprocess.run([str(SCRIPT), "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHON": "false"})
    assert r.returncode == 1
    got = stages(tmp_path)
    assert [got[s]["status"] for s in ("gpu-tests", "speed-tests", "profile", "speed", "wan", "wan-tiers")] == \
        ["failed"] * 6
    assert got["fast-tiers"]["status"] == "skipped"
    log = (tmp_path / "card-check.log").read_text()
    assert "6 stage(s) failed" in log and log.startswith("[20")  # every line stamped with its time


@pytest.mark.slow
def test_smoke_runs_every_stage_on_the_cpu(tmp_path):
    """About a minute here (longer with another job on the CPU)."""
    r = subprocess.run([str(SCRIPT), "--smoke", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    got = stages(tmp_path)
    assert {got[s]["status"] for s in ("gpu-tests", "profile", "speed", "wan")} == {"ok"}
    assert got["wan-tiers"]["status"] == "skipped"  # random-full on a CPU: 40 minutes, not a smoke run
    assert len((tmp_path / "bench-wan-cpu.jsonl").read_text().splitlines()) == 2
    assert got["fast-tiers"]["status"] in ("ok", "skipped")
    assert "needs a CUDA GPU" in (tmp_path / "gpu-tests.out").read_text()  # the tier ran and skipped here
    profile = json.loads((tmp_path / "profile-cpu.json").read_text())
    assert profile["groups"] and profile["top_kernels"]
    speed = json.loads((tmp_path / "speed.out").read_text())["speed"]
    assert speed["written"] == str(tmp_path / "bench-gpu-cpu.json") and (tmp_path / "bench-gpu-cpu.jsonl").is_file()
    assert json.loads((tmp_path / "env.json").read_text())["torch"]
