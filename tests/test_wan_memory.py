"""Wan 2.2's memory model and VRAM plan (i2v/planning/dit_vram.py), against what fake tensors count on the real
architecture (i2v/families/wan/memory.py, configs/memory-wan.yaml), and the out-of-memory ladder by stage."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from i2v.base.config import CONFIG_DIR, load_config
from i2v.families import wan
from i2v.planning import dit_vram
from i2v.planning.vram import Rung

from .conftest import make_photo

DATA = yaml.safe_load((CONFIG_DIR / wan.FAMILY.memory).read_text())
VARIANTS = list(wan.FAMILY.variants)
PARTS = ("transformer", "encode", "encode_tiled", "decode", "decode_tiled")


def fits(key: str) -> dit_vram.Fits:
    return dit_vram.load(wan.FAMILY.memory, key, wan.FAMILY.variants[key].geometry.multiple // 2)


class Measured(dit_vram.Fits):
    """The fake-tensor counts of one size in place of the fitted model's predictions."""

    def __new__(cls, f: dit_vram.Fits, row: dict):
        self = dit_vram.Fits.__new__(cls)
        object.__setattr__(self, "row", row)
        for name in dit_vram.Fits.__dataclass_fields__:
            object.__setattr__(self, name, getattr(f, name))
        return self

    def __init__(self, f, row):
        pass

    def activations(self, stage, width, height, frames, tiling=False):
        part = {"denoise": "transformer"}.get(stage, stage) + ("_tiled" if tiling and stage in ("encode", "decode")
                                                                else "")
        return self.text if stage == "text" else self.row[part]


@pytest.mark.parametrize("key", VARIANTS)
def test_the_plans_at_the_planned_sizes_are_the_fake_tensor_counts_within_1_percent(key):
    """The check rows (native and 832x480x81) are not in the fit.  On every rung the plan's peak is within 1% of the
    same sum over the fake-tensor counts, and so are the transformer's and the whole VAE's activations.  A tiled
    VAE's peak steps with the number of tiles: within 12% (up to 0.1 GB here), so a tiled stage within 5%."""
    f = fits(key)
    checks = [r for r in DATA["variants"][key]["rows"] if r["kind"] == "check"]
    assert checks
    for r in checks:
        size = (r["width"], r["height"], r["frames"])
        for part in PARTS:
            stage = "denoise" if part == "transformer" else part.removesuffix("_tiled")
            got = f.activations(stage, *size, tiling=part.endswith("_tiled"))
            assert got == pytest.approx(r[part], rel=0.12 if part.endswith("_tiled") else 0.01), (key, size, part)
        counted = Measured(f, r)
        for rung in dit_vram.ladder():
            planned, true = dit_vram.estimate(f, rung, *size), dit_vram.estimate(counted, rung, *size)
            assert planned["peak"] == pytest.approx(true["peak"], rel=0.01), (key, size, rung)
            for k in ("denoising", "decoding"):  # (a tiled stage: its tiles' error, over 1.9 GB or less)
                assert planned[k] == pytest.approx(true[k], rel=0.05 if rung.tiling else 0.01), (key, size, rung, k)


@pytest.mark.parametrize("key", VARIANTS)
def test_the_weights_are_the_published_parameter_counts(key):
    """What the plan counts as weights: the parameters of the real architecture, the registry's published sizes."""
    p = DATA["variants"][key]["parameters"]
    assert p["text"] == 5_680_910_336
    assert p["transformer"] == {"ti2v-5b": 4_999_787_712, "i2v-a14b": 14_288_901_184}[key]
    assert p["vae"] == {"ti2v-5b": 704_688_668, "i2v-a14b": 126_892_531}[key]
    assert DATA["variants"][key]["experts"] == wan.FAMILY.variants[key].experts


def test_the_file_holds_what_fake_tensors_count_now():
    """configs/memory-wan.yaml is not stale: two of its rows counted again (the transformer at 832x480x81 and the
    VAE's whole decode at its smallest fit size) give the same bytes."""
    from i2v.families.wan import memory

    rows = {(r["width"], r["height"], r["frames"]): r for r in DATA["variants"]["ti2v-5b"]["rows"]}
    assert memory.transformer_activations("ti2v-5b", 832, 480, 81) == rows[(832, 480, 81)]["transformer"]
    assert memory.decode_activations("ti2v-5b", 640, 352, 21) == rows[(640, 352, 21)]["decode"]


def test_each_rung_needs_less_and_offload_keeps_one_expert():
    f = fits("i2v-a14b")
    peaks = [dit_vram.estimate(f, r, 1280, 720, 81)["peak"] for r in dit_vram.ladder()]
    assert peaks == sorted(peaks, reverse=True) and len(set(peaks)) == len(peaks)
    expert = f.params["transformer"] * 2
    none, model = (dit_vram.stage_bytes(f, "denoise", Rung(o, 0, True), 1280, 720, 81) for o in ("none", "model"))
    assert none - model == pytest.approx(expert + f.params["text"] * 2)  # the other expert and the text encoder


def test_docs_give_the_plan_and_peak_for_each_card():
    """docs/models.md's table is the planner's answer at each variant's native size for 8 to 80 GB."""
    text = (Path(__file__).parent.parent / "docs" / "models.md").read_text(encoding="utf-8")
    table = text[text.index("| card |"):]
    for key in VARIANTS:
        v = wan.FAMILY.variants[key]
        w, h = v.geometry.native
        for row in dit_vram.card_table(fits(key), w, h, v.geometry.frames_default):
            line = next(ln for ln in table.splitlines() if ln.startswith(f"| {row['card_gb']} GB |"))
            cells = [c.strip() for c in line.strip("|").split("|")]
            cell = cells[1 + VARIANTS.index(key)]
            assert f"{row['peak_gb']:.1f} GB" in cell and (row["offload"] in cell) == row["fits"], (key, line)


def test_a_small_card_plans_group_offload_and_a_large_one_everything_on_it():
    f = fits("ti2v-5b")
    assert dit_vram.plan(f, 80, 1280, 704, 121).offload == "none"
    small = dit_vram.plan(f, 8, 1280, 704, 121)
    assert small.fits and small.offload == "group" and small.vae_tiling
    assert "offload" in small.notices[0].text("en")


@pytest.fixture
def wan_studio(tmp_path):
    from i2v.studio import Studio

    studio = Studio(load_config(model="wan-tiny"), outputs=tmp_path / "out", log=lambda m: None)
    studio.vram_probe = lambda: 80.0  # a fake 80 GB card: the planner runs on this CPU machine too
    return studio


def _request(studio, tmp_path):
    photo = tmp_path / "p.png"
    make_photo(320, 240).save(photo)
    return studio.build_request(image=str(photo), prompt="a dog runs", num_frames=9, num_inference_steps=2,
                                resolution="custom", width=256, height=256, seed=3)


def _oom():
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


@pytest.mark.parametrize("stage", ["denoising", "decoding"])
def test_out_of_memory_in_a_stage_is_retried_on_the_rung_that_lowers_it(wan_studio, tmp_path, monkeypatch, stage):
    """The plan is recorded; an out-of-memory error while denoising retries on model offload (the decode's VAE
    tiling does nothing for it), while decoding on VAE tiling; the video is made and the lock is free."""
    engine = wan_studio.engine()
    target = engine.pipe.transformer if stage == "denoising" else engine.pipe.vae
    name = "forward" if stage == "denoising" else "decode"
    real, calls = getattr(target, name), {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise _oom()
        return real(*a, **k)

    monkeypatch.setattr(target, name, flaky)
    res = wan_studio.generate(_request(wan_studio, tmp_path))
    guard = res.metadata["guard"]
    plan = res.metadata["memory_plan"]
    assert plan["offload"] == "none" and not plan["vae_tiling"]
    assert any(re.match(r"memory plan: 256x256, 9 frames: everything on the GPU; predicted peak", g) for g in guard)
    retry = next(g for g in guard if g.startswith(f"out of memory during {stage}"))
    assert retry.endswith("offload=none, VAE tiling" if stage == "decoding" else "offload=model, VAE tiling"), retry
    assert res.video.exists() and not wan_studio.gpu_lock.locked()


def test_the_banner_of_a_wan_studio_on_a_card_names_its_largest_tier_at_its_frames(wan_studio):
    from i2v.modelload import banner_markdown

    wan_studio.engine()
    st = wan_studio.status()
    assert st["state"] == "ready" and st["max_tier_frames"] == 121 and st["max_tier"] is not None
    assert "(121 frames)" in banner_markdown(st, "en") and "（121 帧）" in banner_markdown(st, "zh")
