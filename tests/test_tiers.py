"""Speed tiers (issue 21): what each tier sets, from the request, the page's handler and the CLI."""

from __future__ import annotations

import pytest

from i2v.base.config import load_config
from i2v.planning.request import build_request
from i2v.base.settings import BY_NAME
from i2v.planning.tiers import FLOPS_VS_EXACT, SPEEDS, TIER_KEYS, TIERS, apply_tier, describe, switch

from .conftest import make_photo

BASE = {"scheduler": "ddim", "num_inference_steps": 50, "fast": 1, "skip_threshold": 0.0, "guidance_stop": 1.0}


def test_exact_changes_nothing_and_the_tiers_are_the_settings_choices():
    assert SPEEDS == ("exact", "fast", "fastest", "custom") and BY_NAME["speed"].choices == SPEEDS
    assert apply_tier({**BASE, "speed": "exact"}) == {**BASE, "speed": "exact"}
    assert apply_tier({**BASE, "speed": "custom"}) == {**BASE, "speed": "exact"}  # no tier, nothing approximate


@pytest.mark.parametrize("tier", ["fast", "fastest"])
def test_a_tier_moves_each_setting_at_least_as_far_as_it_asks_and_twice_is_once(tier):
    t = TIERS[tier]
    once = apply_tier({**BASE, "speed": tier})
    assert once["scheduler"] == t["scheduler"] and once["num_inference_steps"] == t["steps"]
    assert (once["fast"], once["skip_threshold"], once["guidance_stop"]) == \
        (t["fast"], t["skip_threshold"], t["guidance_stop"])
    assert apply_tier(once) == once  # Reuse of a fast result runs the same settings
    # what the user made more approximate than the tier stays as they set it; fewer steps are kept
    mine = apply_tier({**BASE, "speed": tier, "num_inference_steps": 8, "fast": 5, "skip_threshold": 0.4,
                       "guidance_stop": 0.2})
    assert (mine["num_inference_steps"], mine["fast"], mine["skip_threshold"], mine["guidance_stop"]) == \
        (8, 5, 0.4, 0.2)
    assert mine["speed"] == "custom" and apply_tier(mine) == mine  # not the tier's values: recorded as custom


def test_a_result_records_the_tier_that_ran_else_custom():
    """Issue 28, finding 4: ``speed`` describes what ran.  The tier's own values (fewer steps allowed) are the
    tier; anything more approximate, or an approximation with exact, is custom; custom runs as given."""
    cfg = load_config(model="tiny")

    def ran(**kw):
        p = build_request(cfg, image=make_photo(), prompt="a dog", **kw).params()
        return p["speed"], p["scheduler"], p["num_inference_steps"], p["fast"], p["skip_threshold"]
    assert ran(speed="fast", num_inference_steps=10) == ("fast", "dpm++", 10, 2, 0.0)
    # the old page's exact -> fastest -> fast left fastest's DeepCache and step skipping: that is not "fast"
    assert ran(speed="fast", fast=3, skip_threshold=0.03) == ("custom", "dpm++", 25, 3, 0.03)
    assert ran(speed="exact", fast=2) == ("custom", "ddim", 50, 2, 0.0)
    assert ran(speed="custom", fast=2, scheduler="dpm++", num_inference_steps=30) == ("custom", "dpm++", 30, 2, 0.0)
    assert ran(speed="custom") == ("exact", "ddim", 50, 1, 0.0)  # nothing approximate: exact, whatever was asked
    assert ran(speed="fastest", guidance_stop=1.0) == ("fastest", "dpm++", 20, 3, 0.03)  # the tier moves it
    assert describe({**TIERS["fastest"], "num_inference_steps": 20}) == "fastest"


def test_fastest_is_at_least_as_approximate_as_fast():
    f, ff = TIERS["fast"], TIERS["fastest"]
    assert ff["steps"] <= f["steps"] and ff["fast"] >= f["fast"]
    assert ff["skip_threshold"] >= f["skip_threshold"] and ff["guidance_stop"] <= f["guidance_stop"]


def test_the_request_runs_the_tier_and_records_it():
    cfg = load_config(model="tiny")
    req = build_request(cfg, image=make_photo(), prompt="a dog", speed="fast", num_inference_steps=40)
    assert req.speed == "fast" and req.scheduler == "dpm++" and req.num_inference_steps == TIERS["fast"]["steps"]
    assert req.params()["speed"] == "fast" and req.params()["fast"] == TIERS["fast"]["fast"]
    exact = build_request(cfg, image=make_photo(), prompt="a dog", num_inference_steps=40)
    assert (exact.speed, exact.scheduler, exact.num_inference_steps, exact.fast, exact.guidance_stop) == \
        ("exact", "ddim", 40, 1, 1.0)


def test_switch_shows_what_the_tier_runs_and_exact_brings_the_base_back():
    current = {**BASE, "num_inference_steps": 30}
    shown = switch("fastest", current, BASE)
    assert set(shown) == set(TIER_KEYS) and shown["num_inference_steps"] == TIERS["fastest"]["steps"]
    # back to exact: the methods off again, the steps as they were shown (never slower than what the user saw)
    assert switch("exact", shown, BASE) == {k: BASE[k] for k in TIER_KEYS if k != "num_inference_steps"}
    assert switch("custom", shown, BASE) == {}  # the sliders are the user's


@pytest.mark.parametrize("start", [50, 30, 12])
def test_choosing_a_tier_sets_all_its_values_whatever_tier_was_shown_before(start):
    """Issue 28, finding 4: exact -> fastest -> fast left Fast N 3 and step skipping 0.03 (fastest's)."""
    base = {**BASE, "num_inference_steps": start}
    direct = switch("fast", base, base)
    assert direct == {"num_inference_steps": min(start, 25), "fast": 2, "skip_threshold": 0.0, "guidance_stop": 0.5}
    for path in (("fastest", "fast"), ("fast", "fastest", "fast"), ("fastest", "exact", "fast")):
        values = dict(base)
        for name in path:
            values.update(switch(name, values, base))
        # (back to exact keeps the steps shown, so fast after it starts from fastest's 20 steps: the steps the
        # user last saw, never more)
        want = {**direct, "num_inference_steps": min(start, 20)} if path[1] == "exact" else direct
        assert {k: values[k] for k in TIER_KEYS} == want, path
    via_fast = dict(base)
    for name in ("fast", "fastest"):
        via_fast.update(switch(name, via_fast, base))
    assert {k: via_fast[k] for k in TIER_KEYS} == switch("fastest", base, base)


@pytest.mark.heavy
def test_the_page_switching_tiers_runs_and_records_the_last_one_and_a_later_change_is_custom(ui, photo_path):
    """Through the page's handlers, as the walk did: exact -> fastest -> fast, then Generate."""
    from .conftest import EN

    c, h = ui.c, ui.create
    form = {c.speed_tier: "exact", c.preset: "standard", c.steps: 50, c.fast: 1, c.skip_threshold: 0.0,
            c.guidance_stop: 1.0}
    for name in ("fastest", "fast"):
        form.update(h.on_speed({**form, c.speed_tier: name}))
        form[c.speed_tier] = name
    assert (form[c.steps], form[c.fast], form[c.skip_threshold], form[c.guidance_stop]) == (25, 2, 0.0, 0.5)
    values = {**{getattr(c, a): None for a in ("guidance", "frames", "fps", "resolution", "schedule")}, **form,
              c.prompt: "a dog", c.image: str(photo_path), c.seed: 0, c.random_seed: True, c.count: 1,
              c.current: [], c.negative: "", c.target_fps: 16, c.guidance_end: 6.0}
    job = ui.jobs.get(h.submit(values, EN)[c.current][0])
    assert {k: job.params[k] for k in ("speed", "fast", "skip_threshold", "guidance_stop")} == \
        {"speed": "fast", "fast": 2, "skip_threshold": 0.0, "guidance_stop": 0.5}
    ui.jobs.cancel(job.id)
    # the user's own change after choosing the tier is theirs, and the job says it is not the tier
    job = ui.jobs.get(h.submit({**values, c.fast: 4}, EN)[c.current][0])
    assert (job.params["fast"], job.params["speed"]) == (4, "fast")  # asked: the tier, with fast 4
    ui.jobs.execute(ui.jobs.store.claim(ui.jobs.worker))
    meta = ui.jobs.metadata(ui.jobs.get(job.id))
    assert (meta["params"]["speed"], meta["params"]["fast"]) == ("custom", 4)  # what ran


def test_the_page_says_what_each_tier_costs_from_the_tier_table():
    from i2v.ui.create import speed_text

    en, zh = speed_text("en"), speed_text("zh")
    for name in ("fast", "fastest"):
        r = FLOPS_VS_EXACT[name]
        assert f"{r['native']:.2f}× fewer UNet FLOPs than exact" in en and f"({r['512']:.2f}× at 512²)" in en
        assert f"比“精确”少 {r['native']:.2f}×" in zh
    assert "**fast (approximate)**: switches to DPM-Solver++, at most 25 steps, DeepCache N = 2" in en
    assert "**exact**: DDIM, up to 50 steps" in en and "**custom**" in en and "**自定义**" in zh
    assert en.count("\n") == 3 and zh.count("\n") == 3


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["fast", "fastest"])
def test_the_flop_ratios_shown_are_the_ones_counted(name):
    from i2v.engine import flops

    t = TIERS[name]
    for key, (w, h) in (("native", (1280, 704)), ("512", (512, 512))):
        counted = flops.exact_video_flops(w, h, 16) / flops.video_flops(
            w, h, 16, t["steps"], scheduler=t["scheduler"], fast=t["fast"], guidance_stop=t["guidance_stop"])["flops"]
        assert counted == pytest.approx(FLOPS_VS_EXACT[name][key], abs=0.005)


def test_the_page_speed_choice_moves_the_sliders_and_the_job_carries_the_tier(ui, photo_path):
    from .conftest import EN

    c, h = ui.c, ui.create
    form = {c.speed_tier: "fast", c.preset: "standard", c.steps: 50, c.fast: 1, c.skip_threshold: 0.0,
            c.guidance_stop: 1.0}
    out = h.on_speed(form)
    assert out[c.steps] == TIERS["fast"]["steps"] and out[c.fast] == TIERS["fast"]["fast"]
    assert out[c.guidance_stop] == TIERS["fast"]["guidance_stop"]
    back = h.on_speed({**form, **out, c.speed_tier: "exact"})
    assert c.steps not in back and back[c.fast] == 1 and back[c.guidance_stop] == 1.0
    values = {**{getattr(c, a): None for a in ("guidance", "frames", "fps", "resolution", "schedule")}, **form,
              **out, c.prompt: "a dog", c.image: str(photo_path), c.seed: 0, c.random_seed: True, c.count: 1,
              c.current: [], c.negative: "", c.target_fps: 16, c.guidance_end: 6.0}
    submitted = h.submit(values, EN)
    job = ui.jobs.get(submitted[c.current][0])
    assert job.params["speed"] == "fast" and job.params["num_inference_steps"] == TIERS["fast"]["steps"]
    ui.jobs.cancel(job.id)


def _ran(meta: dict) -> dict:
    """What the engine ran, from its own counters (its notes), by note code."""
    return {n["code"]: n["params"] for n in meta["notes"]}


@pytest.mark.heavy
def test_each_tier_reaches_the_engine_from_the_cli_and_a_batch_file(tmp_path, photo_path):
    import json
    import subprocess
    import sys

    import yaml

    from .conftest import ROOT

    out = tmp_path / "outputs"
    r = subprocess.run([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo_path),
                        "--prompt", "waves", "--steps", "30", "--frames", "4", "--resolution", "256p", "--speed",
                        "fastest", "--outputs", str(out), "--json"], cwd=ROOT, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    meta = json.loads(open(json.loads(r.stdout)["metadata"]).read())
    p, ran = meta["params"], _ran(meta)
    assert (p["speed"], p["scheduler"], p["num_inference_steps"]) == ("fastest", "dpm++", 20)
    assert ran["fast_mode"]["interval"] == 3 and ran["late_guidance"]["from_step"] == 11
    assert ran["step_skip"]["steps"] == 20 and ran["step_skip"]["threshold"] == TIERS["fastest"]["skip_threshold"]
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(yaml.safe_dump([{"image": str(photo_path), "prompt": "waves", "steps": 12, "frames": 4,
                                     "resolution": "256p", "speed": "fast"}]), encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "i2v", "batch", str(jobs), "--model", "tiny", "--outputs", str(out),
                        "--json"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    video = json.loads(r.stdout)["done"][0]["video"]
    meta = json.loads(open(video.replace(".mp4", ".json")).read())
    ran = _ran(meta)
    assert meta["params"]["speed"] == "fast" and ran["fast_mode"]["interval"] == 2
    assert ran["late_guidance"]["from_step"] == 7 and "step_skip" not in ran  # fast: no step skipping


def test_the_page_tier_reaches_the_engine(ui, photo_path):
    from .conftest import EN

    c, h = ui.c, ui.create
    values = {**{getattr(c, a): None for a in ("guidance", "frames", "fps", "resolution", "schedule")},
              c.speed_tier: "fast", c.preset: "standard", c.steps: 10, c.fast: 1, c.skip_threshold: 0.0,
              c.guidance_stop: 1.0, c.frames: 2, c.prompt: "a dog", c.image: str(photo_path), c.seed: 0,
              c.random_seed: True, c.count: 1, c.current: [], c.negative: "", c.target_fps: 16, c.guidance_end: 6.0}
    job = ui.jobs.get(h.submit(values, EN)[c.current][0])
    ui.jobs.execute(ui.jobs.store.claim(ui.jobs.worker))
    meta = ui.jobs.metadata(ui.jobs.get(job.id))
    ran = _ran(meta)
    assert meta["params"]["scheduler"] == "dpm++" and ran["fast_mode"]["interval"] == 2
    assert ran["late_guidance"]["from_step"] == 6
