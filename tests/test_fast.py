"""Issue 21's fast tier: FLOPs counted on the full architecture, step skipping, late guidance skipping."""

from __future__ import annotations

import pytest

from i2v.engine import flops


@pytest.mark.heavy
@pytest.mark.parametrize("size,tflop", [((1280, 704), 176.2), ((512, 512), 41.9)])
def test_an_exact_step_counts_the_published_flops_attention_included(size, tflop):
    """Batch 2, 16 frames, the full UNet on fake tensors: 176.2 TFLOP at native, 41.9 at 512x512 (the
    attention cores are in it: without the math backend the CPU counter would miss about a quarter)."""
    counted = flops.step_flops(*size, 16, 2, "full") / 1e12
    assert counted == pytest.approx(tflop, rel=0.01)
    assert flops.step_flops(*size, 16, 1, "full") == pytest.approx(counted * 1e12 / 2, rel=0.01)


@pytest.mark.heavy
def test_a_deepcache_step_counts_the_shallow_branch_only():
    """Counted through the project's DeepCache: at native the shallow branch is close to half a step, so
    no interval passes 2.1x (issue 21's table: N=3 saves 1.54x over 50 steps)."""
    full = flops.step_flops(1280, 704, 16, 2, "full")
    reused = flops.step_flops(1280, 704, 16, 2, "reused")
    assert 0.40 < reused / full < 0.55
    exact = flops.exact_video_flops(1280, 704, 16, 50)
    n3 = flops.video_flops(1280, 704, 16, 50, fast=3)
    assert n3["steps"] == {"full/b2": 17, "reused/b2": 33}
    assert exact / n3["flops"] == pytest.approx(1.54, abs=0.02)


@pytest.mark.heavy
def test_the_step_plan_follows_the_interval_and_the_guidance_stop():
    assert flops.step_plan(7, fast=3) == [("full", 2), ("reused", 2), ("reused", 2)] * 2 + [("full", 2)]
    assert flops.guidance_stop_index(50, 0.8) == 40 and flops.guidance_stop_index(25, 1.0) == 25
    plan = flops.step_plan(10, guidance_stop=0.75)  # ceil(7.5) = 8: steps 8 and 9 at batch 1
    assert [b for _, b in plan] == [2] * 8 + [1] * 2
    assert all(b == 1 for _, b in flops.step_plan(4, cfg=False))
    late = flops.video_flops(512, 512, 16, 10, guidance_stop=0.75)
    assert late["steps"] == {"full/b2": 8, "full/b1": 2}
    assert late["flops"] == 8 * flops.step_flops(512, 512, 16, 2) + 2 * flops.step_flops(512, 512, 16, 1)
    with pytest.raises(ValueError):
        flops.video_flops(512, 512, 16, 10, scheduler="euler")


def test_indicator_candidates_are_counted_up_to_their_module():
    full = flops.step_flops(1280, 704, 16, 2, "full")
    conv_in = flops.front_flops(1280, 704, 16, "conv_in")
    t_in = flops.front_flops(1280, 704, 16, "transformer_in")
    first = flops.front_flops(1280, 704, 16, "down_blocks.0")
    assert 0 < conv_in < t_in < first < full
    assert t_in / full <= 0.10 < first / full


# -- step skipping -------------------------------------------------------------------------------

import numpy as np  # noqa: E402
import torch  # noqa: E402

from i2v.engine.stepskip import MAX_SKIPS, StepSkip  # noqa: E402

from .test_engine import job  # noqa: E402


def _block_calls(engine, j, **kw):
    """Frames, the engine's notes of the job, and per step the number of down/mid/up block calls and of
    indicator (transformer_in) calls, and the 1-based steps where the deep blocks ran."""
    unet = engine.pipe.unet
    per_step, step = [], [-1]

    def on_step(info):
        step[0] = info.step

    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    counts: dict[tuple[int, str], int] = {}

    def count(what):
        def hook(*_):
            key = (step[0], what)
            counts[key] = counts.get(key, 0) + 1
        return hook
    hooks = [b.register_forward_pre_hook(count("blocks")) for b in blocks]
    hooks.append(unet.transformer_in.register_forward_pre_hook(count("indicator")))
    hooks.append(unet.mid_block.resnets[0].register_forward_pre_hook(count("deep")))  # not run on reused steps
    engine.notes.clear()
    try:
        frames = engine.generate(j, on_step=on_step, **kw).frames
    finally:
        for h in hooks:
            h.remove()
    # the step callback runs after a step: calls counted under step s-1 belong to step s (1-based)
    steps = j.num_inference_steps
    for s in range(steps):
        per_step.append((counts.get((s if s else -1, "blocks"), 0), counts.get((s if s else -1, "indicator"), 0)))
    deep = [s + 1 for s in range(steps) if counts.get((s if s else -1, "deep"))]
    return frames, dict(engine.notes), per_step, deep


def test_step_skipping_off_is_the_exact_loop_bit_for_bit(tiny_engine):
    exact = tiny_engine.generate(job(num_inference_steps=5)).frames
    off = tiny_engine.generate(job(num_inference_steps=5, skip_threshold=0.0)).frames
    assert np.array_equal(off, exact)
    assert "forward" not in tiny_engine.pipe.unet.__dict__
    assert "forward" not in tiny_engine.pipe.unet.transformer_in.__dict__


@pytest.mark.heavy
@pytest.mark.parametrize("split", [False, True])
def test_forced_step_skipping_runs_nothing_past_the_indicator_on_skipped_steps(tiny_engine, split):
    """Threshold huge: steps 2..1+MAX_SKIPS skipped (the cap), then a full step, the last always full; a
    skipped step calls the indicator once (the step's other pass, in two passes, calls nothing) and no
    down, mid or up block."""
    steps = MAX_SKIPS + 3
    j = job(num_inference_steps=steps, skip_threshold=1e9, cfg_split=split)
    frames, notes, per_step, _ = _block_calls(tiny_engine, j)
    n_blocks = len(tiny_engine.pipe.unet.down_blocks) * 2 + 1
    passes = 2 if split else 1
    assert per_step[0] == (n_blocks * passes, passes)
    assert per_step[1:1 + MAX_SKIPS] == [(0, 1)] * MAX_SKIPS
    assert per_step[-2:] == [(n_blocks * passes, passes)] * 2
    assert notes["step_skip"] == {"threshold": 1e9, "full": 3, "skipped": MAX_SKIPS, "steps": steps,
                                  "skipped_steps": list(range(2, 2 + MAX_SKIPS))}
    exact = tiny_engine.generate(job(num_inference_steps=steps, cfg_split=split)).frames
    assert np.isfinite(frames).all() and np.abs(frames - exact).max() > 0
    assert "forward" not in tiny_engine.pipe.unet.__dict__


def test_a_skipped_step_predicts_its_input_plus_the_last_full_residual(tiny_engine):
    unet = tiny_engine.pipe.unet
    torch.manual_seed(0)
    b, f, hh, ww = 2, 4, 8, 8
    x0, x1 = torch.randn(b, 4, f, hh, ww), torch.randn(b, 4, f, hh, ww)
    kw = dict(encoder_hidden_states=torch.randn(b, 77, 32), fps=torch.tensor([16, 16]),
              image_latents=torch.randn(b, 4, f, hh, ww), image_embeddings=torch.randn(b, 1, 32), return_dict=False)
    with torch.inference_mode():
        full0 = unet(x0, 500, **kw)[0]
        with StepSkip(unet, 1e9, 3) as skip:
            skip.begin_step(0)
            out0 = unet(x0, 500, **kw)[0]
            skip.begin_step(1)
            out1 = unet(x1, 400, **kw)[0]
            assert skip.decision and len(skip.distances) == 1 and skip.distances[0] > 0
        assert "forward" not in unet.__dict__ and not skip.residual and not skip.reference
    assert torch.equal(out0, full0)
    assert torch.allclose(out1, x1 + (full0 - x0), atol=1e-6)


def test_step_skipping_composes_with_fast_mode(tiny_engine):
    """DeepCache counts the steps the UNet ran: a skipped step takes no place in the interval."""
    steps = MAX_SKIPS + 4  # full: 1, 2..5 skipped (the cap), 6 full, 7 skipped, 8 full (the last)
    _, notes, _, deep = _block_calls(tiny_engine, job(num_inference_steps=steps, fast=2, skip_threshold=1e9))
    assert notes["step_skip"]["skipped_steps"] == [2, 3, 4, 5, 7] and notes["step_skip"]["full"] == 3
    assert notes["fast_mode"] == {"interval": 2, "full": 2, "steps": 3}  # UNet-run steps 1, 6, 8: full, reused, full
    assert deep == [1, 8]
    assert flops.step_plan(steps, fast=2, skipped=[1, 2, 3, 4, 6]) == [
        ("full", 2), *[("skipped", 2)] * 4, ("reused", 2), ("skipped", 2), ("full", 2)]


def test_step_skipping_state_is_freed_after_a_job_and_after_a_cancel(tiny_engine, monkeypatch):
    import i2v.engine.engine as eng
    from i2v.engine import CancelToken
    from i2v.base.errors import Cancelled

    made = []

    class Recorded(StepSkip):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)
    monkeypatch.setattr(eng, "StepSkip", Recorded)
    tiny_engine.generate(job(num_inference_steps=4, skip_threshold=1e9))
    token = CancelToken()

    def on_step(info):
        if info.step == 2:
            assert made[-1].residual and made[-1].reference  # kept while the job runs
            token.cancel()
    with pytest.raises(Cancelled):
        tiny_engine.generate(job(num_inference_steps=6, skip_threshold=1e9), on_step=on_step, cancel=token)
    assert len(made) == 2
    for s in made:
        assert not s.residual and not s.reference and not s._saved
    unet = tiny_engine.pipe.unet
    assert "forward" not in unet.__dict__ and "forward" not in unet.transformer_in.__dict__


def test_a_skipped_step_costs_the_indicator_only():
    full = flops.step_flops(1280, 704, 16, 2, "full")
    skipped = flops.step_flops(1280, 704, 16, 2, "skipped")
    assert skipped == flops.front_flops(1280, 704, 16, "transformer_in")
    assert skipped / full <= 0.10
    v = flops.video_flops(1280, 704, 16, 10, skipped=[2, 3])
    assert v["steps"] == {"full/b2": 8, "skipped/b2": 2}
    assert v["saved_per_skipped_step"]["b2"] == full - skipped
    assert v["flops"] == flops.video_flops(1280, 704, 16, 10)["flops"] - 2 * v["saved_per_skipped_step"]["b2"]


# -- late guidance skipping ----------------------------------------------------------------------

def _unet_calls(engine, j, monkeypatch):
    """Frames, notes, and per UNet call (batch size, DeepCache pass key, whether the prompt is the positive one)."""
    import i2v.engine.engine as eng
    from i2v.engine.deepcache import DeepCache

    made = []

    class Recorded(DeepCache):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)
    monkeypatch.setattr(eng, "DeepCache", Recorded)
    (neg, pos), _ = engine.encode_text(j.prompt, j.negative_prompt)
    calls = []

    def hook(m, args, kw):
        text = kw["encoder_hidden_states"]
        calls.append((args[0].shape[0], made[-1].key, text.shape[0] == 1 and torch.equal(text, pos)))
    h = engine.pipe.unet.register_forward_pre_hook(hook, with_kwargs=True)
    engine.notes.clear()
    try:
        frames = engine.generate(j).frames
    finally:
        h.remove()
    return frames, dict(engine.notes), calls


@pytest.mark.heavy
def test_guidance_stop_one_is_the_exact_loop_bit_for_bit(tiny_engine):
    exact = tiny_engine.generate(job(num_inference_steps=4)).frames
    tiny_engine.notes.clear()
    for stop in (1.0, 0.99):  # ceil(0.99 x 4) = 4: no late step
        assert np.array_equal(tiny_engine.generate(job(num_inference_steps=4, guidance_stop=stop)).frames, exact)
    assert "late_guidance" not in dict(tiny_engine.notes)


@pytest.mark.parametrize("split", [False, True])
def test_after_the_guidance_stop_the_unet_runs_the_conditional_pass_alone(tiny_engine, monkeypatch, split):
    frames, notes, calls = _unet_calls(tiny_engine, job(num_inference_steps=6, guidance_stop=0.5, cfg_split=split),
                                       monkeypatch)
    late = [(1, 1, True)] * 3  # batch 1, DeepCache's conditional key, the positive prompt
    assert calls == ([(1, 0, False), (1, 1, True)] * 3 if split else [(2, 0, False)] * 3) + late
    assert notes["late_guidance"] == {"stop": 0.5, "from_step": 4, "steps": 6}
    exact = tiny_engine.generate(job(num_inference_steps=6, cfg_split=split)).frames
    assert np.isfinite(frames).all() and 0 < np.abs(frames - exact).max()


@pytest.mark.heavy
def test_late_guidance_keeps_the_guidance_with_the_last_difference(tiny_engine):
    """A late step is cond + (g - 1) x the last (cond - uncond): with the same difference at guidance 1 from
    the switch on, the late steps are the conditional prediction alone, which is what a schedule of 1 after
    the switch computes exactly (guidance 1 needs no unconditional pass)."""
    sched = [9.0, 9.0, 9.0, 1.0, 1.0, 1.0]
    late = tiny_engine.generate(job(num_inference_steps=6, guidance_schedule=sched, guidance_stop=0.5)).frames
    both = tiny_engine.generate(job(num_inference_steps=6, guidance_schedule=sched)).frames
    assert np.abs(late - both).max() <= 1e-5
    kept = tiny_engine.generate(job(num_inference_steps=6, guidance_stop=0.5)).frames  # guidance 9 after the switch
    assert np.abs(kept - both).max() > 1e-3


@pytest.mark.parametrize("split", [False, True])
def test_late_guidance_composes_with_fast_mode_and_step_skipping(tiny_engine, monkeypatch, split):
    """DeepCache: the kept deep feature of the conditional pass serves the late steps (in one batch of 2, its
    conditional half); step skipping likewise keeps the conditional pass's indicator and residual."""
    j = job(num_inference_steps=6, guidance_stop=0.5, fast=2, cfg_split=split)
    frames, notes, calls = _unet_calls(tiny_engine, j, monkeypatch)
    assert [c[0] for c in calls][-3:] == [1, 1, 1] and all(c[1:] == (1, True) for c in calls[-3:])
    assert notes["fast_mode"] == {"interval": 2, "full": 3, "steps": 6} and np.isfinite(frames).all()
    j = job(num_inference_steps=7, guidance_stop=0.5, skip_threshold=1e9, cfg_split=split)
    frames, notes, calls = _unet_calls(tiny_engine, j, monkeypatch)
    assert notes["step_skip"]["skipped_steps"] == [2, 3, 4, 5] and np.isfinite(frames).all()
    assert notes["late_guidance"]["from_step"] == 5


# -- the speed tiers -----------------------------------------------------------------------------

def test_the_tiers_are_concrete_settings_and_exact_is_the_reference():
    from i2v.planning import tiers

    assert tiers.NAMES == ("exact", "fast", "fastest")
    for name in tiers.NAMES:
        assert set(tiers.tier(name)) == set(tiers.KEYS)
    assert tiers.tier("exact") == {"scheduler": "ddim", "steps": 50, **tiers.METHODS}
    fast = tiers.settings_for("fast")
    assert fast["num_inference_steps"] == tiers.TIERS["fast"]["steps"] and "steps" not in fast
    assert tiers.settings_for("fast", 10)["num_inference_steps"] == 10  # the tier's steps are a cap
    assert tiers.without_caching(fast) == {**fast, "fast": 1, "skip_threshold": 0.0, "guidance_stop": 1.0}
    with pytest.raises(ValueError, match="unknown speed tier"):
        tiers.tier("ludicrous")


def test_the_benchmark_measures_each_method_of_the_tiers_alone_then_each_tier():
    from i2v.planning import tiers
    from i2v.bench import fast_mode_entries

    entries = fast_mode_entries()
    base = tiers.without_caching(tiers.settings_for("fast"))
    alone = [e for e in entries if e[0].endswith(" alone")]
    for _, settings, against in alone:  # one method on, on the first tier's sampler and steps
        assert against == base and sum(settings[k] != off for k, off in tiers.METHODS.items()) == 1
    used = {k for name in ("fast", "fastest") for k, off in tiers.METHODS.items() if tiers.tier(name)[k] != off}
    assert len(alone) == len(used)
    assert [e[0] for e in entries[len(alone):]] == ["tier fast", "tier fastest"]
    assert [e[0] for e in fast_mode_entries(methods=False)] == ["tier fast", "tier fastest"]
    for name, settings, against in entries[len(alone):]:
        assert against == tiers.without_caching(settings)


@pytest.mark.parametrize("name,target", [("fast", 2.5), ("fastest", 4.0)])
def test_the_tiers_meet_their_flop_targets_at_native_size(name, target):
    """Issue 21's targets, counted: fast >= 2.5x fewer UNet FLOPs than exact at native 16 frames, fastest >= 4x,
    without counting on step skipping to skip anything (what it skips depends on the video)."""
    from i2v.planning import tiers

    t = tiers.tier(name)
    exact = flops.exact_video_flops(1280, 704, 16)
    counted = flops.video_flops(1280, 704, 16, t["steps"], scheduler=t["scheduler"], fast=t["fast"],
                                guidance_stop=t["guidance_stop"])["flops"]
    assert exact / counted >= target


def test_step_skipping_keeps_offload_hooks(tiny_engine):
    """The memory rungs' offload hooks (accelerate's, on the UNet and its modules) still run under step skipping
    and fast mode, and are the UNet's forwards again after the job."""
    from accelerate.hooks import ModelHook, add_hook_to_module, remove_hook_from_module

    class Count(ModelHook):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def pre_forward(self, module, *args, **kwargs):
            self.calls += 1
            return args, kwargs
    unet = tiny_engine.pipe.unet
    on_unet, on_front = Count(), Count()
    add_hook_to_module(unet, on_unet)
    add_hook_to_module(unet.transformer_in, on_front)
    hooked = unet.__dict__["forward"], unet.transformer_in.__dict__["forward"]
    try:
        tiny_engine.notes.clear()
        tiny_engine.generate(job(num_inference_steps=6, skip_threshold=1e9, fast=2))
        assert dict(tiny_engine.notes)["step_skip"]["skipped"] == 4
        assert on_unet.calls == 6 and on_front.calls == 6  # every step: the UNet's hook, then the indicator's
        assert (unet.__dict__["forward"], unet.transformer_in.__dict__["forward"]) == hooked
    finally:
        for m in (unet.transformer_in, unet):
            remove_hook_from_module(m)
            m.__dict__.pop("forward", None)  # accelerate leaves the bound class forward on the instance


def test_the_memory_planner_counts_what_the_methods_keep_between_steps():
    from i2v.planning import vram

    base = vram.estimate(1280, 704, 16)
    kept = vram.estimate(1280, 704, 16, fast=2, skip=True)
    extra = vram.kept_bytes(1280, 704, 16, fast=2, skip=True)
    assert round(extra / 2**20) == round((640 + 324) * 2 * 16 * 88 * 160 * 2 / 2**20)  # ~0.86 GiB in fp16
    assert kept.denoise_gib > base.denoise_gib and kept.unet_act_gib - base.unet_act_gib == pytest.approx(
        extra / 2**30, abs=0.011)
    assert vram.kept_bytes(1280, 704, 16) == 0  # exact keeps nothing


@pytest.mark.heavy
def test_bench_fast_tiers_writes_each_row_as_it_goes(tmp_path):
    """The card's fast-tier stage (scripts/card-check.sh), as a smoke run on the tiny model."""
    import json

    from i2v.bench import bench_fast_tiers

    res = bench_fast_tiers("cpu", out=str(tmp_path), log=lambda m: None)
    rows = [json.loads(x) for x in (tmp_path / "fast-tiers.jsonl").read_text().splitlines()]
    assert [r["tier"] for r in rows] == ["exact", "fast", "fastest"] == [r["tier"] for r in res["rows"]]
    assert rows[0]["speedup_vs_exact"] == 1.0 and rows[0]["engine_notes"] == []
    assert {n["code"] for n in rows[2]["engine_notes"]} >= {"fast_mode", "late_guidance", "step_skip"}


@pytest.mark.heavy
def test_cli_bench_fast_tiers_without_cuda_and_out_file(tmp_path):
    """Issue 28: without CUDA, ``bench --fast-tiers`` (and ``--gpu``) ended in ``internal error: AssertionError:
    Torch not compiled with CUDA enabled``; ``--out FILE`` exited 70 (the file taken for a folder)."""
    import json

    import torch

    from .test_long import cli

    if not torch.cuda.is_available():
        for args in (["--fast-tiers"], ["--gpu"], ["--gpu", "--speed"]):
            r = cli("bench", *args)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 2 and lines[-1].startswith("error: ") and "--device cpu" in lines[-1], r.stderr
            assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    r = cli("bench", "--fast-tiers", "--device", "tpu")
    assert r.returncode == 2 and r.stderr.strip() == "error: --device must be cuda, cuda:N or cpu (got tpu)", r.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    r = cli("bench", "--fast-tiers", "--device", "cpu", "--out", str(blocker / "rows.jsonl"))
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith("error: cannot write the benchmark's rows to rows.jsonl") \
        and str(tmp_path) not in r.stderr, r.stderr
    out = tmp_path / "tiers.json"
    out.write_text("old")  # an existing file: written over, not taken for a folder
    r = cli("bench", "--fast-tiers", "--device", "cpu", "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["tier"] for x in rows] == ["exact", "fast", "fastest"]
    assert json.loads(r.stdout)["fast_tiers"]["file"] == str(out)
