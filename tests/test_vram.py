"""Memory model, planner and out-of-memory recovery (fake GPU memory probe, injected OOM)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from i2v.planning import vram
from i2v.base.errors import OutOfResources
from i2v.base.settings import tier_order

from .conftest import make_photo

CARDS = [8, 12, 16, 24, 80]
SIZES = [(512, 512, 16), (1280, 704, 16), (768, 768, 16), (576, 448, 24)]


@pytest.mark.parametrize("w,h,f", SIZES)
def test_plans_fit_and_are_monotone_in_card_size(w, h, f):
    plans = [vram.plan(gb, w, h, f) for gb in CARDS]
    for gb, p in zip(CARDS, plans):
        if p.fits:
            assert p.predicted_peak_gb <= vram.usable_gb(gb) < gb
    rungs = [p.rung for p in plans]
    assert rungs == sorted(rungs, reverse=True)  # a bigger card never gets a leaner (slower) rung
    fits = [p.fits for p in plans]
    assert fits == sorted(fits)  # once it fits, it fits on every bigger card
    assert plans[-1].offload == "none" and plans[-1].fits  # 80 GB: everything on the GPU


def test_ladder_order_and_more_work_needs_more_memory():
    e = lambda **kw: vram.estimate(512, 512, 16, **kw).peak_gib  # noqa: E731
    assert e(offload="none") > e(offload="model") > e(offload="sequential")
    assert e(decode_chunk_size=8) > e(decode_chunk_size=1)
    assert vram.estimate(1280, 704, 16).peak_gib > vram.estimate(512, 512, 16).peak_gib
    assert vram.estimate(512, 512, 16, cfg=False).unet_act_gib < vram.estimate(512, 512, 16).unet_act_gib
    assert vram.estimate(512, 512, 16, bytes_per_elem=4).weights_gib == pytest.approx(
        2 * vram.estimate(512, 512, 16).weights_gib, rel=0.01)


def test_small_card_offloads_and_degrades_only_with_consent():
    p = vram.plan(8, 1280, 704, 16)
    assert p.offload in ("model", "sequential") or not p.fits
    tiers = {"512p": 262144, "768p": 589824, "native": 901120}
    q = vram.plan(4, 1280, 704, 32, allow_degrade=True, tiers=tiers, resolution="native")
    assert q.fits and (q.frames < 32 or q.resolution != "native")
    assert any("reduced" in n.text() or "lowered" in n.text() for n in q.notices)
    assert not vram.plan(4, 1280, 704, 32).fits  # without consent: no silent change


def test_max_tier_grows_with_the_card():
    tiers = {"256p": 65536, "384p": 147456, "512p": 262144, "768p": 589824, "native": 901120}
    order = [tier_order(tiers).index(vram.max_tier(gb, tiers) or "256p") for gb in CARDS]
    assert order == sorted(order) and vram.max_tier(80, tiers) == "native"


def test_cli_plan_json():
    r = subprocess.run([sys.executable, "-m", "i2v", "plan", "--vram-gb", "12", "--resolution", "512p",
                        "--frames", "16", "--json"], capture_output=True, text=True, timeout=60)
    d = json.loads(r.stdout)
    assert {"fits", "predicted_peak_gb", "offload", "decode_chunk_size", "width", "height", "frames",
            "notices"} <= set(d)
    assert r.returncode == (0 if d["fits"] else 3)
    assert (d["width"], d["height"], d["frames"]) == (704, 384, 16)


# -- out-of-memory recovery ----------------------------------------------------------------------

def fake_oom():
    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")


def small(studio, **kw):
    return studio.build_request(image=make_photo(), prompt="waves crashing", width=256, height=192, num_frames=4,
                                num_inference_steps=kw.pop("steps", 4), seed=5, **kw)


@pytest.fixture
def planned_studio(studio):
    studio.vram_probe = lambda: 24.0  # a fake 24 GB card: the planner runs on this CPU machine too
    yield studio
    studio.vram_probe = None


@pytest.mark.heavy
def test_oom_during_denoise_retries_one_rung_down(planned_studio, monkeypatch):
    from i2v.engine.memory import live_tensor_bytes

    engine = planned_studio.engine()
    planned_studio.generate(small(planned_studio))  # warm caches so the baseline is steady
    baseline = live_tensor_bytes()
    unet, calls = engine.pipe.unet, {"n": 0}
    real = unet.forward

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the 3rd UNet call: step 3 of the first attempt
            raise fake_oom()
        return real(*a, **k)

    monkeypatch.setattr(unet, "forward", flaky)
    res = planned_studio.generate(small(planned_studio))
    guard = res.metadata["guard"]
    assert any(g.startswith("memory plan:") for g in guard)
    # the rung that lowers denoising memory: guidance in two passes, the decode chunk kept
    retry = next(g for g in guard if g.startswith("out of memory during denoising"))
    assert retry.endswith("guidance in two passes") and "offload=none" in retry, retry
    assert f"decode chunk {res.metadata['memory_plan']['decode_chunk_size']}," in retry
    assert res.metadata["memory_plan"]["offload"] == "none"
    assert res.video.exists() and not planned_studio.gpu_lock.locked()
    monkeypatch.setattr(unet, "forward", real)
    assert abs(live_tensor_bytes() - baseline) < 1_000_000


def test_oom_during_decode_retries_decode_only(planned_studio, monkeypatch):
    engine = planned_studio.engine()
    vae, calls = engine.pipe.vae, {"n": 0}
    real = vae.decode

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 1:
            raise fake_oom()
        return real(*a, **k)

    steps = []
    monkeypatch.setattr(vae, "decode", flaky)
    res = planned_studio.generate(small(planned_studio), on_step=lambda i: steps.append(i.step))
    assert steps == [1, 2, 3, 4]  # the denoising ran once: only the decode was redone
    retry = next(g for g in res.metadata["guard"] if g.startswith("out of memory during decoding: retried"))
    assert "two passes" not in retry  # a rung for decoding: fewer frames at a time


@pytest.mark.heavy
def test_second_oom_is_a_clear_error_and_memory_returns(planned_studio, monkeypatch):
    from i2v.engine.memory import live_tensor_bytes

    engine = planned_studio.engine()
    planned_studio.generate(small(planned_studio))
    baseline = live_tensor_bytes()
    real = engine.pipe.unet.forward

    def always(*a, **k):
        raise fake_oom()

    monkeypatch.setattr(engine.pipe.unet, "forward", always)
    with pytest.raises(OutOfResources, match="out of GPU memory, also after retrying"):
        planned_studio.generate(small(planned_studio))
    monkeypatch.setattr(engine.pipe.unet, "forward", real)
    assert not planned_studio.gpu_lock.locked()
    assert abs(live_tensor_bytes() - baseline) < 1_000_000
    assert list(planned_studio.outputs.rglob("*.mp4")) != []  # earlier results untouched
    assert planned_studio.generate(small(planned_studio)).video.exists()  # and the next job works


def test_impossible_request_refused_before_any_work(studio):
    studio.vram_probe = lambda: 2.0
    try:
        with pytest.raises(OutOfResources, match="needs about"):
            studio.generate(studio.build_request(image=make_photo(), prompt="x", width=1280, height=704,
                                                 num_frames=64))
    finally:
        studio.vram_probe = None


@pytest.mark.heavy
def test_gpu_benchmark_code_runs_as_a_cpu_smoke_test():
    """The GPU benchmark's own code path (plan, ours vs diffusers, rungs, capped cards) on the tiny model."""
    from i2v.bench import bench_gpu

    res = bench_gpu(device="cpu", model="tiny", steps=2, frames=4, sizes=((256, 256),), cards=(8,), log=lambda m: None)
    configs = [r["config"] for r in res["speed"]]
    assert len(configs) == 3 and configs[0] == "diffusers, all on GPU" and configs[2].startswith("ours, planned")
    assert all(r["s_per_video"] > 0 and r["peak_gib"] > 0 for r in res["speed"])
    assert res["speed"][0]["ratio_vs_diffusers"] == 1.0  # every row timed over the same scope, as a ratio
    assert [r["rung"] for r in res["rungs"]] == list(range(len(vram.ladder(8))))
    assert res["cards"][0]["card_gb"] == 8


def test_status_reports_card_and_tier_cap(planned_studio):
    from i2v.ui import StudioUI

    st = planned_studio.status()
    # a 24 GB card (RTX 3090/4090) runs the native 1280x704 tier without offloading (README's table)
    assert st["vram_gb"] == 24.0 and st["max_tier"] == "native"
    from i2v.jobs import JobService

    ui = StudioUI(planned_studio, JobService(planned_studio))
    ui.build_blocks()
    text = ui.banner(type("R", (), {"headers": {"accept-language": "en"}})())[ui.c.banner]
    assert "largest tier without offloading" in text and st["max_tier"] in text


def test_vae_tiles_are_the_vaes_own_768_pixels():
    """diffusers tiles at the VAE's sample_size (768), so tiling cannot help at 768p or below and at native
    a tile is 704x768 per frame, 2.06x what a 512 tile would predict."""
    from i2v.planning.vram import VAE_TILE, estimate

    assert VAE_TILE == 768
    for w, h in ((768, 768), (512, 512)):
        assert estimate(w, h, 16, vae_tiling=True).decode_act_gib == estimate(w, h, 16).decode_act_gib
    tiled = estimate(1280, 704, 16, vae_tiling=True).decode_act_gib
    assert tiled < estimate(1280, 704, 16).decode_act_gib
    assert tiled > 1.5 * estimate(512, 512, 16).decode_act_gib  # not the 512 x 512 tile


@pytest.mark.heavy
@pytest.mark.parametrize("stage,key", [("denoising", "denoise_gib"), ("decoding", "decode_gib")])
def test_every_retry_lowers_the_memory_of_the_stage_that_failed(stage, key):
    """From every rung: an out-of-memory error while denoising moves to a rung that needs less memory for
    denoising (a smaller decode chunk never counts), one while decoding to one that needs less for decoding;
    and each retry is the nearest such rung down the ladder."""
    from i2v.planning.vram import estimate, ladder, lower_for

    def need(r):
        return getattr(estimate(1280, 704, 16, offload=r.offload, decode_chunk_size=r.chunk, vae_tiling=r.tiling,
                                cfg_split=r.split, ff_sliced=r.sliced), key)
    rungs = ladder(8)
    for i, rung in enumerate(rungs):
        nxt = lower_for(stage, rung, 1280, 704, 16, 8)
        lower = [r for r in rungs[i + 1:] if need(r) < need(rung)]
        assert nxt == (lower[0] if lower else None), (rung, nxt)
        if nxt is not None and stage == "denoising":
            assert (nxt.split, nxt.sliced, nxt.offload) != (rung.split, rung.sliced, rung.offload)  # not decode
    assert lower_for("denoising", rungs[0], 1280, 704, 16, 8).split  # the first help for the UNet: two passes


def test_the_card_targets_for_native_video():
    """Native 1280x704, 16 frames, fp16: a 12 GB card without any offload, an 8 GB card without sequential
    offload (the UNet's working memory sliced), a 6 GB card on some rung."""
    from i2v.planning.vram import plan

    p12 = plan(12, 1280, 704, 16)
    assert p12.fits and p12.offload == "none" and p12.cfg_split, p12.describe()
    p8 = plan(8, 1280, 704, 16)
    assert p8.fits and p8.offload in ("none", "model") and p8.ff_sliced, p8.describe()
    assert plan(24, 1280, 704, 16).cfg_split is False  # the fastest rung when it fits
    assert plan(6, 1280, 704, 16).fits  # on some rung


def test_planner_within_ten_percent_of_the_measurements_at_user_sizes():
    """configs/memory.yaml's ``checks``: the UNet's activations measured with MemTracker on fake tensors at
    768p and native, 16 and 32 frames, for one batch of 2, two passes, and two passes with the
    feed-forward sliced.  The memory model (fitted at small sizes) stays within 10% of each, and within
    10% of the allocator-replay measurement at the held-out size."""
    import yaml

    d = yaml.safe_load(vram.MEMORY_FILE.read_text())
    checks = d["checks"]
    assert {(r["width"], r["height"], r["frames"]) for r in checks} >= {(1280, 704, 16), (1280, 704, 32),
                                                                         (768, 768, 16), (768, 768, 32)}
    assert {(r["batch"], r["ff_sliced"]) for r in checks} == {(2, False), (1, False), (1, True)}
    for r in checks:
        est = vram.estimate(r["width"], r["height"], r["frames"], cfg_split=r["batch"] == 1, ff_sliced=r["ff_sliced"])
        assert abs(est.unet_act_gib - r["activations_gib"]) <= 0.10 * r["activations_gib"], r
    for part in ("unet", "unet_ff_sliced", "vae_decode"):
        assert abs(d[part]["held_out_rel_error"]) <= 0.10, part


def test_planner_within_ten_percent_of_every_rung_measured_on_a_card():
    """configs/memory-gpu.yaml: every rung of the ladder at 512x512 and native, measured with
    torch.cuda.max_memory_allocated on an H200 (tests/test_gpu.py).  Without the card's decode factor the
    decode-bound rungs were 14 to 22% low (an out-of-memory error on the card the plan promised); with
    it, every row is within 10%, and none of the decode-bound rows is predicted low by more than 5%."""
    import yaml

    d = yaml.safe_load(vram.GPU_MEMORY_FILE.read_text())
    rows = d["rows"]
    assert len(rows) == 2 * len(vram.ladder(8)) and "H200" in d["card"]
    plain = vram.Coefficients(*[getattr(vram.Coefficients.load(), f) for f in (
        "unet_per_voxel", "unet_fixed", "vae_per_pixel", "vae_fixed", "sliced_per_voxel", "sliced_fixed")])

    def predicted(r, coeffs=None):
        est = vram.estimate(r["width"], r["height"], 16, offload=r["offload"], decode_chunk_size=r["chunk"],
                            vae_tiling=r["tiling"], cfg_split=r["cfg_split"], ff_sliced=r["ff_sliced"], coeffs=coeffs)
        return (est.peak_gib - vram.CONTEXT_GIB) / vram.FRAGMENTATION
    errors = [(predicted(r) - r["measured_gib"]) / r["measured_gib"] for r in rows]
    assert max(abs(e) for e in errors) <= 0.10, list(zip(errors, rows))
    assert min(errors) >= -0.05
    assert min((predicted(r, plain) - r["measured_gib"]) / r["measured_gib"] for r in rows) < -0.13


@pytest.mark.heavy
def test_a_stored_measurement_is_what_memtracker_measures_now():
    """The stored checks are measurements, not numbers typed in: one is measured again here (768x768, 16
    frames, one batch of 2: about 20 s on a CPU, no GPU, no memory)."""
    import yaml

    from i2v.engine.memory import fake_unet_activations

    stored = next(r for r in yaml.safe_load(vram.MEMORY_FILE.read_text())["checks"]
                  if (r["width"], r["height"], r["frames"], r["batch"], r["ff_sliced"]) == (768, 768, 16, 2, False))
    now = fake_unet_activations([((768, 768, 16), (2, False))], log=lambda m: None)[0]
    assert now["activations_gib"] == pytest.approx(stored["activations_gib"], rel=0.01)
