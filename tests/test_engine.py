"""The engine's own loop equals diffusers' I2VGenXLPipeline.__call__, and adds control."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from i2v.engine import CancelToken, EngineJob
from i2v.engine.engine import IMAGE_LATENT_SEED
from i2v.engine.models import REFERENCE_GONE, reference_pipeline
from i2v.base.errors import Cancelled
from i2v.media.images import fit_image

from .conftest import make_photo


def job(w=256, h=256, seed=1, **kw):
    kw.setdefault("num_inference_steps", 4)
    kw.setdefault("num_frames", 6)
    return EngineJob(image=fit_image(make_photo(), w, h), prompt=kw.pop("prompt", "a dog jumping over a fence"),
                     negative_prompt=kw.pop("negative_prompt", "blurry, static"),
                     guidance_scale=kw.pop("guidance_scale", 9.0), width=w, height=h, seed=seed, **kw)


def diffusers_frames(engine, j: EngineJob) -> np.ndarray:
    """The same work through the bare pipeline, with the engine's clip_skip=1 embeddings handed in
    (diffusers' own clip_skip path crashes on transformers 5)."""
    ref = reference_pipeline(engine.pipe)
    if ref is None:
        pytest.skip(REFERENCE_GONE)
    (neg, pos), _ = engine.encode_text(j.prompt, j.negative_prompt)
    torch.manual_seed(IMAGE_LATENT_SEED)  # the pipeline samples the VAE posterior from the global RNG
    out = ref(image=j.image, prompt_embeds=pos, negative_prompt_embeds=neg, height=j.height,
              width=j.width, target_fps=j.target_fps, num_frames=j.num_frames,
              num_inference_steps=j.num_inference_steps, guidance_scale=j.guidance_scale,
              decode_chunk_size=j.decode_chunk_size, generator=torch.Generator().manual_seed(j.seed),
              output_type="np")
    return out.frames[0]


@pytest.mark.parametrize("w,h", [(256, 256), (320, 192)])
@pytest.mark.parametrize("seed", [1, 1234])
def test_engine_equals_diffusers_call(tiny_engine, w, h, seed):
    j = job(w, h, seed)
    ours = tiny_engine.generate(j).frames
    ref = diffusers_frames(tiny_engine, j)
    assert ours.shape == ref.shape == (6, h, w, 3)
    assert np.abs(ours - ref).max() <= 1e-4


def test_engine_equals_diffusers_without_cfg_and_other_fps(tiny_engine):
    j = job(seed=5, guidance_scale=1.0, target_fps=8, decode_chunk_size=2)
    assert np.abs(tiny_engine.generate(j).frames - diffusers_frames(tiny_engine, j)).max() <= 1e-4


@pytest.mark.parametrize("seed", [1, 77])
def test_guidance_in_two_passes_equals_diffusers_call(tiny_engine, seed):
    """The memory rung that runs the unconditional and conditional predictions one at a time computes the
    same video as diffusers' batch of 2, within float rounding (a different batch size may pick different
    kernels, so not bit for bit)."""
    j = job(320, 192, seed, cfg_split=True)
    ref = diffusers_frames(tiny_engine, j)
    split = tiny_engine.generate(j).frames
    assert np.abs(split - ref).max() <= 1e-4
    calls = []
    unet = tiny_engine.pipe.unet
    hook = unet.register_forward_pre_hook(lambda m, args, kw: calls.append(args[0].shape[0]), with_kwargs=True)
    try:
        tiny_engine.generate(job(320, 192, seed, cfg_split=True, num_inference_steps=2))
    finally:
        hook.remove()
    assert calls == [1, 1, 1, 1]  # two passes of batch 1 per step, never a batch of 2


@pytest.mark.heavy
def test_sliced_feed_forward_equals_diffusers_call(tiny_engine):
    """The memory rung that runs the UNet's feed-forward layers in slices of token rows computes the same
    video as diffusers' call within float rounding, in one batch and in two passes; it is undone for the
    next job (bit-identical to the plain engine again)."""
    from diffusers.models.attention import FeedForward

    from i2v.engine.chunking import SlicedFeedForward

    j = job(320, 192, 3)
    ref = diffusers_frames(tiny_engine, j)
    plain = tiny_engine.generate(j).frames
    seen = []
    ffs = [m for m in tiny_engine.pipe.unet.modules() if isinstance(m, FeedForward)]
    assert ffs
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.append(type(m))) for m in ffs]
    try:
        for split in (False, True):
            sliced = tiny_engine.generate(job(320, 192, 3, ff_sliced=True, cfg_split=split)).frames
            assert np.abs(sliced - ref).max() <= 1e-4
    finally:
        for h in hooks:
            h.remove()
    assert seen and set(seen) == {SlicedFeedForward}
    assert np.array_equal(tiny_engine.generate(j).frames, plain)
    assert not any(isinstance(m, SlicedFeedForward) for m in tiny_engine.pipe.unet.modules())


def test_sliced_feed_forward_slices_uneven_rows():
    """Any number of rows (the temporal blocks hold B x h x w rows): the slices cover each row once."""
    from diffusers.models.attention import FeedForward

    from i2v.engine.chunking import set_ff_slicing

    torch.manual_seed(0)
    ff = FeedForward(8, mult=4, activation_fn="geglu")
    x = torch.randn(3, 37, 8)
    with torch.inference_mode():
        whole = ff(x)
        set_ff_slicing(ff, 16)
        calls = []
        h = ff.net[0].register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
        sliced = ff(x)
        h.remove()
    assert sum(calls) == 3 * 37 and len(calls) == 16 and max(calls) == 7
    assert torch.allclose(sliced, whole, atol=1e-6)


def _deep_calls(engine, j):
    """Frames and, per UNet call, whether the deep blocks ran."""
    unet = engine.pipe.unet
    runs, deep = [], []
    h1 = unet.register_forward_pre_hook(lambda m, a, k: deep.append(0), with_kwargs=True)
    h2 = unet.mid_block.resnets[0].register_forward_pre_hook(lambda m, a: deep.__setitem__(-1, 1))
    try:
        frames = engine.generate(j).frames
    finally:
        h1.remove()
        h2.remove()
    runs.extend(deep)
    return frames, runs


@pytest.mark.heavy
def test_fast_mode_runs_the_deep_blocks_every_nth_step_and_interval_one_is_exact(tiny_engine):
    """Fast mode (DeepCache's method): with interval 3 the deep blocks run on steps 1, 4, 7 only (per
    pass with guidance in two passes); the result is close to but not the exact one; interval 1 is the
    exact result bit for bit, and the next exact job is unaffected (the skip is removed)."""
    exact, runs = _deep_calls(tiny_engine, job(256, 256, 5, num_inference_steps=7))
    assert runs == [1] * 7
    assert np.array_equal(tiny_engine.generate(job(256, 256, 5, num_inference_steps=7, fast=1)).frames, exact)
    fast, runs = _deep_calls(tiny_engine, job(256, 256, 5, num_inference_steps=7, fast=3))
    assert runs == [1, 0, 0, 1, 0, 0, 1]
    assert np.isfinite(fast).all() and 0 < np.abs(fast - exact).max()
    _, runs = _deep_calls(tiny_engine, job(256, 256, 5, num_inference_steps=4, fast=2, cfg_split=True))
    assert runs == [1, 1, 0, 0, 1, 1, 0, 0]
    again, runs = _deep_calls(tiny_engine, job(256, 256, 5, num_inference_steps=7))
    assert runs == [1] * 7 and np.array_equal(again, exact)
    assert tiny_engine.generate(job(256, 256, 5, num_inference_steps=7, fast=3)).cache_hits["deep_features"] == 4


def test_fast_mode_on_a_reused_step_is_the_full_unet_with_the_kept_deep_feature(tiny_engine):
    """What a reused step computes, checked against the full UNet itself: run the whole UNet with the
    second-to-last up-block's output replaced by the one kept on the previous step; the shallow branch's
    output must be identical."""
    from i2v.engine.deepcache import DeepCache

    unet = tiny_engine.pipe.unet
    torch.manual_seed(0)
    b, f, hh, ww = 2, 4, 8, 8
    x, x2 = torch.randn(b, 4, f, hh, ww), torch.randn(b, 4, f, hh, ww)
    kw = dict(encoder_hidden_states=torch.randn(b, 77, 32), fps=torch.tensor([16, 16]),
              image_latents=torch.randn(b, 4, f, hh, ww), image_embeddings=torch.randn(b, 1, 32), return_dict=False)
    with torch.inference_mode():
        with DeepCache(unet, 2) as deep:
            deep.begin_step(0)
            unet(x, 500, **kw)
            kept = deep.features[0].clone()
            deep.begin_step(1)
            reused = unet(x2, 400, **kw)[0]
        h = unet.up_blocks[-2].register_forward_hook(lambda m, a, out: kept)
        try:
            reference = unet(x2, 400, **kw)[0]
        finally:
            h.remove()
    assert torch.equal(reused, reference)


def test_determinism(tiny_engine):
    a = tiny_engine.generate(job(seed=3)).frames
    b = tiny_engine.generate(job(seed=3)).frames
    c = tiny_engine.generate(job(seed=4)).frames
    assert np.array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_step_callback_reports_progress_and_eta(tiny_engine):
    seen = []
    r = tiny_engine.generate(job(num_inference_steps=5), on_step=seen.append, want_latents=True)
    assert [s.step for s in seen] == [1, 2, 3, 4, 5] and all(s.total == 5 for s in seen)
    assert all(s.elapsed > 0 and s.eta >= 0 for s in seen) and seen[-1].eta == 0
    assert seen[0].latents.shape == seen[0].denoised.shape == (1, 4, 6, 32, 32)
    assert r.guidance_per_step == [9.0] * 5


def test_cancel_between_steps(tiny_engine):
    token, seen = CancelToken(), []

    def on_step(info):
        seen.append(info.step)
        if info.step == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        tiny_engine.generate(job(num_inference_steps=6), on_step=on_step, cancel=token)
    assert seen == [1, 2]


@pytest.mark.heavy
def test_encodings_cached_across_seeds(tiny_engine):
    tiny_engine.generate(job(seed=10, prompt="waves crashing"))
    r = tiny_engine.generate(job(seed=11, prompt="waves crashing"))
    assert r.cache_hits == {"text": True, "image": True}
    r = tiny_engine.generate(job(seed=11, prompt="waves crashing slowly"))
    assert r.cache_hits == {"text": False, "image": True}


@pytest.mark.heavy
def test_guidance_schedule_applied_per_step(tiny_engine):
    seen = []
    sched = [12.0, 10.0, 8.0, 6.0]
    r = tiny_engine.generate(job(guidance_schedule=sched), on_step=lambda i: seen.append(i.guidance))
    assert seen == sched and r.guidance_per_step == sched
    const = tiny_engine.generate(job(guidance_schedule=[9.0] * 4)).frames
    plain = tiny_engine.generate(job()).frames
    assert np.array_equal(const, plain)


def test_dpm_solver_option_runs(tiny_engine):
    r = tiny_engine.generate(job(scheduler="dpm++"))
    assert np.isfinite(r.frames).all() and r.frames.std() > 0


def test_clip_skip_one_is_penultimate_layer_plus_final_norm(tiny_engine):
    enc, tok = tiny_engine.pipe.text_encoder, tiny_engine.pipe.tokenizer
    ids = tok("a dog", padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        hs = enc(ids, output_hidden_states=True).hidden_states
        expected = enc.final_layer_norm(hs[-2])
        last = enc(ids).last_hidden_state
    (_, pos), _ = tiny_engine.encode_text("a dog", "")
    assert torch.equal(pos, expected)
    assert not torch.allclose(pos, last)  # really skips the last layer


@pytest.mark.heavy
def test_fast_mode_benchmark_reports_speed_drift_and_flop_ratios():
    """``bench``'s fast_mode object, on the tiny model with the steps capped (the real run uses the full
    architecture): every approximate method of the fast tier alone and each tier, against the same sampler and
    steps without them; FLOP ratios against exact from the counter."""
    from i2v.bench import bench_fast_mode, fast_mode_entries
    from i2v.engine import flops
    from i2v.planning.tiers import TIERS

    r = bench_fast_mode(size=64, frames=4, steps=4, repeats=1, model="tiny", flop_sizes=((1280, 704),))
    names = [e[0] for e in fast_mode_entries()]
    assert [row["entry"] for row in r["entries"]] == names and {"tier fast", "tier fastest"} <= set(names)
    for row in r["entries"]:
        assert row["base_s"] > 0 and row["s"] > 0
        assert row["speedup"] == pytest.approx(row["base_s"] / row["s"], rel=0.02)
        assert 0 <= row["mean_abs_diff"] <= row["max_abs_diff"] <= 1 and row["num_inference_steps"] <= 4
    fastest = next(row for row in r["entries"] if row["entry"] == "tier fastest")
    t = TIERS["fastest"]
    expected = flops.exact_video_flops(1280, 704, 16) / flops.video_flops(
        1280, 704, 16, 4, scheduler=t["scheduler"], fast=t["fast"], guidance_stop=t["guidance_stop"],
        skipped=[i - 1 for i in fastest["skipped_at"]])["flops"]
    assert r["native_flop_ratio"]["fastest"] == fastest["native_flop_ratio"] == pytest.approx(expected, rel=1e-3)
    assert r["native_flop_ratio"]["exact"] == 1.0
    assert fastest["native_flop_ratio"] > 50 / 4  # 4 steps against 50, and less work per step


def test_every_request_setting_reaches_the_engine_or_is_the_studios(studio, monkeypatch):
    """A setting is either passed to the engine's job by name (with the request's value) or one the studio
    applies itself; a new one that is neither stops the job instead of vanishing on the way."""
    import dataclasses

    import i2v.studio
    from i2v.base.errors import InternalError
    from i2v.base.settings import NAMES

    req = studio.build_request(image=make_photo(), prompt="waves", negative_prompt="blur", guidance_scale=11.5,
                               num_inference_steps=7, num_frames=6, target_fps=12, resolution="256p", seed=77,
                               scheduler="dpm++", decode_chunk_size=3, fast=2, guidance_schedule="linear",
                               guidance_end=6.0)
    job = studio.engine_job(req, 77)
    fields = {f.name for f in dataclasses.fields(job)}
    for name in NAMES:
        if name in i2v.studio.STUDIO_SETTINGS:
            continue
        assert name in fields, name
        if name == "guidance_schedule":
            assert list(job.guidance_schedule) == req.guidance_per_step() and job.guidance_schedule[0] == 11.5
        else:
            assert getattr(job, name) == getattr(req, name), name
    assert (job.width, job.height) == (req.width, req.height)
    monkeypatch.setattr(i2v.studio, "NAMES", (*NAMES, "new_lever"))
    with pytest.raises(InternalError, match="never receives: new_lever"):
        studio.engine_job(req, 77)


def test_the_memory_rung_on_the_job_is_what_the_engine_runs(tiny_engine):
    """The rung travels on EngineJob and the engine applies it (feed-forward slicing, two passes, chunk)."""
    from i2v.engine.chunking import SLICES, SlicedFeedForward

    job = EngineJob(image=fit_image(make_photo(), 64, 64), prompt="waves", negative_prompt="", guidance_scale=9.0,
                    num_inference_steps=1, num_frames=2, width=64, height=64, seed=1)
    job.use_rung("none", 1, False, True, True)
    assert job.rung() == ("none", 1, False, True, True)
    calls = []
    unet = tiny_engine.pipe.unet
    real = unet.forward
    unet.forward = lambda *a, **k: calls.append(a[0].shape[0]) or real(*a, **k)
    try:
        tiny_engine.generate(job)
        ff = [m for m in unet.modules() if isinstance(m, SlicedFeedForward)]
        assert calls == [1, 1]  # guidance in two passes of batch 1
        assert tiny_engine._ff_sliced and ff and all(m.slices == SLICES for m in ff)
    finally:
        del unet.forward  # (not `= real`: the bound method left as an attribute outlived the test)
        job.use_rung("none", 8, False)
        tiny_engine.use(job)
    assert not tiny_engine._ff_sliced and not any(isinstance(m, SlicedFeedForward) for m in unet.modules())
