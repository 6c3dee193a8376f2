"""Shared fixtures: images made by the tests, one tiny model per session, temporary outputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The suite runs in two processes (pyproject's addopts: pytest-xdist) on this 2-core machine: each, and every
# studio, CLI and worker it starts, computes on one thread, so two never fight over both cores (OpenMP threads
# that outnumber the cores wait on each other).  Set before torch is imported, here or in a child.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_photo(w: int = 640, h: int = 480, seed: int = 0) -> Image.Image:
    """A smooth gradient with a few shapes: looks like a picture, not noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w * 200 + 30, y / h * 180 + 40, (x + y) / (w + h) * 120 + 60], -1)
    for _ in range(4):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(20, 80)
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


@pytest.fixture(scope="session")
def photo_path(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("img") / "photo.jpg"
    make_photo().save(p, quality=92)
    return p


@pytest.fixture(scope="session")
def tiny_loaded():
    from i2v.engine import load_model

    return load_model("tiny")


@pytest.fixture(scope="session")
def tiny_engine(tiny_loaded):
    from i2v.engine import Engine

    return Engine(tiny_loaded)


@pytest.fixture
def studio(tmp_path, tiny_engine):
    """A Studio on the shared tiny engine, writing into a fresh folder."""
    from i2v.base.config import load_config
    from i2v.jobs.store import active_files
    from i2v.studio import Studio

    s = Studio(load_config(model="tiny"), outputs=tmp_path / "outputs", log=lambda m: None, owned=active_files)
    s._engine = tiny_engine
    return s


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """One real studio (python app.py, tiny model, --queue-size 4) shared by the API and hardening tests."""
    from .apphelpers import running_app

    tmp = tmp_path_factory.mktemp("app")
    with running_app(tmp, "--queue-size", "4") as proc:
        proc.tmp = tmp
        yield proc


# A page request in each language, for calling the page's handlers directly.
EN = type("R", (), {"headers": {"accept-language": "en-US"}, "session_hash": "en"})()
ZH = type("R", (), {"headers": {"accept-language": "zh-CN"}, "session_hash": "zh"})()


@pytest.fixture
def ui(studio, tmp_path, monkeypatch):
    """The page's handlers on a tiny studio, with templates in a fresh folder."""
    from i2v.jobs import JobService
    from i2v.ui import StudioUI

    monkeypatch.setenv("I2V_HOME", str(tmp_path / "home"))
    page = StudioUI(studio, JobService(studio))
    page.build_blocks()
    return page


# -- the quick tier ------------------------------------------------------------------------------------------
# `./start.sh test -m quick` runs every test but the heavy ones, so a change is checked in minutes; README's
# test command and CI run everything.  Heavy: a real browser, a running studio (the `app` fixture), and the
# tests marked `heavy` where they sit (each measured at several seconds or more on 2 cores: the closing
# notes give the numbers).  A new test is quick unless it says otherwise.
HEAVY_MARKS = ("heavy", "browser", "slow", "gpu")
HEAVY_FIXTURES = {"app"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not any(item.get_closest_marker(m) for m in HEAVY_MARKS) \
                and not HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.quick)
