"""The GPU tier: ``./start.sh test -m gpu`` on a CUDA machine (skipped elsewhere).

Full I2VGen-XL architecture (random weights: memory and speed are the real model's), fp16, 2 steps, at
512x512 and at native 1280x704, through every rung of the memory ladder: the planner's prediction
against ``torch.cuda.max_memory_allocated``, a finite fp16 decode, memory back at its baseline after a
cancel and after an injected out-of-memory error, and ``bench --gpu --json`` writing its table.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SIZES = [(512, 512), (1280, 704)]
FRAMES = 16


@pytest.fixture(scope="module")
def engine():
    from i2v.engine import Engine
    from i2v.engine.models import LoadedModel, ModelInfo, build_random_full

    pipe = build_random_full(device="cuda", dtype=torch.float16)
    info = ModelInfo("random-full", "random-full", "random-full", None, "cuda", "float16", demo=True)
    e = Engine(LoadedModel(pipe, info))
    yield e
    e.apply_memory_plan("none", False)


def _job(w, h, **kw):
    from PIL import Image

    from i2v.engine import EngineJob

    img = Image.fromarray((np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))
    return EngineJob(image=img, prompt="a dog jumping over a fence", negative_prompt="blurry", guidance_scale=9.0,
                     num_inference_steps=2, num_frames=FRAMES, width=w, height=h, seed=1, **kw)


@pytest.mark.parametrize("w,h", SIZES)
def test_every_rung_predicted_within_ten_percent_and_decodes_finite(engine, w, h):
    from i2v.planning import vram
    from i2v.engine.memory import absolute_peak

    rows = []
    total = torch.cuda.mem_get_info()[1] / 2**30
    for rung in vram.ladder(8):
        est = vram.estimate(w, h, FRAMES, offload=rung.offload, decode_chunk_size=rung.chunk,
                            vae_tiling=rung.tiling, cfg_split=rung.split, ff_sliced=rung.sliced)
        if est.peak_gib > total * 0.95:
            continue  # the card cannot hold this rung at all
        job = _job(w, h)
        job.use_rung(*rung)  # the engine applies the job's rung (offload, tiling, chunk, two passes, slicing)
        engine.free_memory()
        out = {}
        measured = absolute_peak(lambda: out.update(frames=engine.generate(job).frames), "cuda") / 2**30
        predicted = (est.peak_gib - vram.CONTEXT_GIB) / vram.FRAGMENTATION
        rows.append((rung, round(predicted, 2), round(measured, 2)))
        print(f"  {w}x{h} {rung}: predicted {predicted:.2f} GiB, measured {measured:.2f} GiB", flush=True)
        assert np.isfinite(out["frames"]).all(), rung
    engine.apply_memory_plan("none", False)
    print(f"\n{torch.cuda.get_device_name()} {w}x{h}:", *rows, sep="\n  ")
    bad = [r for r in rows if abs(r[1] - r[2]) > 0.10 * r[2]]
    assert rows and not bad, bad


def test_memory_back_at_baseline_after_cancel_and_after_an_injected_oom(engine):
    from i2v.engine import CancelToken
    from i2v.base.errors import Cancelled

    engine.apply_memory_plan("none", False)
    engine.generate(_job(512, 512))  # warm caches
    engine.free_memory()
    base = torch.cuda.memory_allocated()
    token = CancelToken()

    def cancel_after_first(info):
        token.cancel()
    with pytest.raises(Cancelled):
        engine.generate(_job(512, 512), on_step=cancel_after_first, cancel=token)
    engine.free_memory()
    assert torch.cuda.memory_allocated() <= base + 2**20

    unet = engine.pipe.unet
    calls = []

    def boom(module, args, kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
    hook = unet.register_forward_pre_hook(boom, with_kwargs=True)
    try:
        with pytest.raises(torch.OutOfMemoryError):
            engine.generate(_job(512, 512))
    finally:
        hook.remove()
    engine.free_memory()
    assert torch.cuda.memory_allocated() <= base + 2**20


def test_bench_gpu_json_writes_its_table(tmp_path):
    out = subprocess.run([sys.executable, "-m", "i2v", "bench", "--gpu", "--json", "--gpu-steps", "2",
                          "--gpu-frames", "8"], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout)["gpu"]
    assert res["speed"] and res["rungs"] and res["cards"]
    assert all(r["ratio_vs_diffusers"] is not None for r in res["speed"])
    (tmp_path / "bench-gpu.json").write_text(json.dumps(res, indent=1))


@pytest.mark.parametrize("variant", ["ti2v-5b", "i2v-a14b"])
def test_wan_runs_on_every_rung_of_its_ladder_with_the_same_frames(variant):
    """Wan's tiny model on a card, through every rung the planner uses (all on the card, VAE tiling, model
    offload, group offload) and back: each makes a finite video, the offloads the same frames as on the card,
    and the card's memory is back at its baseline after."""
    from i2v.engine import EngineJob
    from i2v.families.wan.engine import WanEngine, load_synthetic
    from i2v.planning import dit_vram
    from PIL import Image

    name = {"ti2v-5b": "wan-tiny", "i2v-a14b": "wan-tiny-a14b"}[variant]
    engine = WanEngine(load_synthetic(name, device=torch.device("cuda")))
    image = Image.new("RGB", (256, 256), (120, 80, 40))
    frames = {}
    for rung in [*dit_vram.ladder(), dit_vram.ladder()[0]]:
        job = EngineJob(image=image, prompt="a dog runs", negative_prompt="", width=256, height=256, num_frames=9,
                        num_inference_steps=2, guidance_scale=4.0, seed=1)
        job.use_rung(*rung)
        out = engine.generate(job).frames
        assert np.isfinite(out).all()
        frames.setdefault(rung.tiling, out)
        if not rung.tiling or rung.offload != "none":
            np.testing.assert_allclose(out, frames[rung.tiling], atol=2e-2)
    torch.cuda.synchronize()
    assert engine._offload == "none"
