"""`python -m i2v`: the real command, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from i2v.media.video import probe, read_comment

ROOT = Path(__file__).resolve().parent.parent


def run(*args, timeout=300, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "i2v", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


def files_in(folder: Path) -> list[Path]:
    """Every file but the job store's (its database records the job, also a refused or cancelled one, and
    keeps a cancelled job's picture a day so that it can be re-queued)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("studio.db")
                  and ".inputs" not in p.parts) if folder.exists() else []


@pytest.mark.heavy
def test_generate_preview_json(tmp_path, photo_path):
    out = tmp_path / "outputs"
    r = run("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "a dog jumping over a fence",
            "--preset", "preview", "--json", "--outputs", str(out), "--seed", "42")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1  # one JSON object on one line; progress went to stderr
    rates = [float(x) for x in re.findall(r"([\d.]+)s/step", r.stderr)]  # the engine's own, never tqdm's first-tick
    assert rates and max(rates) < 60 and "step/s" not in r.stderr  # rate (it read 74898.29step/s)
    res = json.loads(lines[0])
    for key in ("video", "metadata", "seed", "frames", "width", "height", "fps", "guidance_scale",
                "num_inference_steps", "seconds"):
        assert key in res
    assert (res["seed"], res["frames"], res["fps"], res["guidance_scale"], res["num_inference_steps"]) == \
        (42, 8, 8, 7.0, 30)
    info = probe(Path(res["video"]))
    assert (info["codec"], info["pix_fmt"], info["frames"]) == ("h264", "yuv420p", 8)
    assert info["fps"] == pytest.approx(8)
    assert (info["width"], info["height"]) == (res["width"], res["height"]) == (256, 192)
    meta = json.loads(Path(res["metadata"]).read_text())
    assert meta["seed"] == 42 and meta["params"]["preset"] == "preview" and meta["demo"] is True
    assert meta["model"]["kind"] == "tiny" and meta["versions"]["diffusers"] == "0.42.1"
    assert set(meta["timings"]) >= {"encode_text", "encode_image", "denoise", "decode", "write", "total"}
    assert any("tiny demo model" in g for g in meta["guard"])
    embedded = json.loads(read_comment(Path(res["video"])))
    assert embedded["params"] == meta["params"] and embedded["seed"] == 42
    assert Path(res["thumbnail"]).exists()
    assert "denoising" in r.stderr and "demo model" in r.stderr


@pytest.mark.heavy
def test_fast_mode_flag_is_recorded_and_bounded(tmp_path, photo_path):
    """--fast N reaches the engine and the metadata (with a note of the steps it reused); a value outside
    the configured range is one line and exit 2, before any work."""
    out = tmp_path / "outputs"
    r = run("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "a dog", "--steps", "5",
            "--frames", "4", "--resolution", "256p", "--fast", "2", "--json", "--outputs", str(out))
    assert r.returncode == 0, r.stderr
    meta = json.loads(Path(json.loads(r.stdout)["metadata"]).read_text())
    assert meta["params"]["fast"] == 2
    assert any("fast mode (approximate): the deep layers ran on 3 of 5 steps" in g for g in meta["guard"]), meta
    bad = run("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "a dog", "--fast", "9",
              "--outputs", str(out))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "fast" in bad.stderr, bad.stderr


def test_invalid_input_exit_2_one_line_no_files(tmp_path, photo_path):
    out = tmp_path / "outputs"
    r = run("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "x", "--guidance", "42",
            "--outputs", str(out))
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --guidance must be between 1 and 20 (got 42.0)"
    assert "Traceback" not in r.stderr and files_in(out) == []
    r = run("submit", "--image", str(photo_path), "--prompt", "x", "--steps", "0", "--outputs", str(out))
    assert r.returncode == 2 and r.stderr.startswith("error: --steps must be between 1 and 150"), r.stderr
    bad = tmp_path / "bad.png"
    bad.write_text("hello")
    r = run("generate", "--image", str(bad), "--prompt", "x", "--outputs", str(out))
    assert r.returncode == 2 and "not a readable image" in r.stderr and "Traceback" not in r.stderr
    r = run("generate", "--image", str(photo_path))
    assert r.returncode == 2 and "--prompt" in r.stderr


@pytest.mark.heavy
def test_ctrl_c_cancels_exit_130_no_files(tmp_path, photo_path):
    out = tmp_path / "outputs"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    p = subprocess.Popen([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo_path),
                          "--prompt", "waves", "--steps", "150", "--frames", "8", "--resolution", "256p",
                          "--outputs", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    deadline = time.time() + 120
    buf = ""
    while "denoising" not in buf and time.time() < deadline:  # wait until the loop runs
        buf += p.stderr.read(1)
    p.send_signal(signal.SIGINT)
    _, rest = p.communicate(timeout=60)
    assert p.returncode == 130, buf + rest
    assert "cancel" in (buf + rest)
    assert files_in(out) == []


def test_presets_json():
    r = run("presets", "--json")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    names = {p["name"]: p for p in data["presets"]}
    assert names["high_motion"]["guidance_scale"] == 11.0 and names["high_motion"]["num_inference_steps"] == 60


@pytest.mark.heavy
def test_calibrate_refuses_an_unknown_part_before_building_the_model():
    r = run("calibrate", "--parts", "unet,nonsense", timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "error: --parts: unknown part nonsense (choose from unet, unet_ff_sliced, vae_decode)"], r.stderr


def _fake_checkout(tmp_path: Path) -> Path:
    """start.sh with the project's files, and a .venv whose python records each call instead of running."""
    for name in ("start.sh", "pyproject.toml", "requirements-nodeps.txt"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    (tmp_path / "start.sh").chmod(0o755)
    bin_ = tmp_path / ".venv" / "bin"
    bin_.mkdir(parents=True)
    fake = bin_ / "python"
    fake.write_text('#!/bin/sh\necho "$*" >> "$(dirname "$0")/../calls.log"\n'
                    '[ "$1 $2" = "-m pip" ] && echo pip chatter && echo more pip chatter >&2\nexit 0\n')
    fake.chmod(0o755)
    (bin_ / "ruff").write_bytes(fake.read_bytes())
    (bin_ / "ruff").chmod(0o755)
    return tmp_path


def test_start_sh_installs_once_and_a_dev_install_serves(tmp_path):
    root = _fake_checkout(tmp_path)
    calls = root / ".venv" / "calls.log"

    def start(*args):
        r = subprocess.run(["bash", "start.sh", *args], cwd=root, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r

    first = start("test", "-q")
    installs = [c for c in calls.read_text().splitlines() if c.startswith("-m pip")]
    assert any("-e .[dev]" in c for c in installs) and "pip chatter" not in first.stdout + first.stderr
    n = len(calls.read_text().splitlines())
    for args in (["cli", "--help"], [], ["test", "-q"], ["lint"]):  # serving after a dev install too
        r = start(*args)
        assert r.stderr == "" and "pip" not in r.stdout, args
    added = calls.read_text().splitlines()[n:]
    assert not [c for c in added if "pip" in c]
    assert len(added) == 4  # one call each: the command itself
