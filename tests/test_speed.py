"""Speed levers (issue 20, step 1): each one set in the config or on the command line reaches the engine,
and none changes what the UNet computes (held to the eager result on this CPU; kernels that exist only
for CUDA are skipped here and measured by the GPU tier)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from i2v.config import load_config
from i2v.engine import Engine, EngineJob
from i2v.engine.models import load_model
from i2v.engine.speed import KernelChoice, SpeedLevers, apply_speed, attention_kind
from i2v.errors import InvalidInput
from i2v.images import fit_image

from .conftest import ROOT, make_photo

CUDA_ONLY = ("efficient", "cudnn")


def frames_with(levers: SpeedLevers | None):
    """A fresh tiny pipeline (levers change it for good), the levers on it, one short job."""
    loaded = load_model("tiny")
    done = apply_speed(loaded.pipe, levers) if levers is not None else None
    engine = Engine(loaded)
    job = EngineJob(image=fit_image(make_photo(), 128, 128), prompt="waves crashing", negative_prompt="blur",
                    guidance_scale=9.0, num_inference_steps=3, num_frames=4, width=128, height=128, seed=5)
    return engine.generate(job).frames, done, loaded.pipe


@pytest.fixture(scope="module")
def eager():
    return frames_with(None)[0]


def test_the_attention_kinds_of_the_unet():
    assert attention_kind("down_blocks.0.attentions.0.transformer_blocks.0.attn1") == "spatial"
    assert attention_kind("down_blocks.0.attentions.0.transformer_blocks.0.attn2") == "cross"
    assert attention_kind("up_blocks.1.temp_attentions.2.transformer_blocks.0.attn2") == "temporal"
    assert attention_kind("transformer_in.transformer_blocks.0.attn1") == "temporal"
    assert attention_kind("image_latents_temporal_encoder.attn1") == "temporal"


@pytest.mark.parametrize("levers", [
    SpeedLevers(memory_format="channels_last"),
    SpeedLevers(fuse_qkv=True),
    SpeedLevers(attention={"spatial": "flash", "temporal": "math", "cross": "math"}),
    SpeedLevers(attention={"spatial": "math", "temporal": "flash", "cross": "flash"}),
    SpeedLevers(memory_format="channels_last", fuse_qkv=True, attention=dict.fromkeys(("spatial", "temporal", "cross"),
                                                                                        "flash")),
], ids=["channels_last", "fuse_qkv", "attn-spatial-flash", "attn-temporal-cross-flash", "all"])
def test_each_lever_is_exact_and_is_what_ran(eager, levers):
    frames, done, pipe = frames_with(levers)
    assert float(np.abs(frames - eager).max()) < 1e-4
    unet = pipe.unet
    # what the engine ran, not only what was asked
    if levers.memory_format == "channels_last":
        convs = [m for m in unet.modules() if isinstance(m, torch.nn.Conv2d)]
        assert done["convolutions"] > 0 and all(m.weight.is_contiguous(memory_format=torch.channels_last)
                                                for m in convs if m.weight.shape[-1] > 1 or m.weight.shape[-2] > 1)
    if levers.fuse_qkv:
        fused = [m for m in unet.modules() if getattr(m, "fused_projections", False)]
        assert fused and done["fused_attention"] == len(fused) and all(hasattr(m, "to_qkv") or hasattr(m, "to_kv")
                                                                       for m in fused)
    choices = {name: m.processor for name, m in unet.named_modules() if isinstance(m.__dict__.get("processor"),
                                                                                     KernelChoice)}
    for kind, backend in levers.attention.items():
        of_kind = [p for name, p in choices.items() if attention_kind(name) == kind]
        if backend == "auto":
            assert not of_kind
        else:
            assert of_kind and all(p.backend == backend for p in of_kind) and sum(p.calls for p in of_kind) > 0


@pytest.mark.parametrize("backend", CUDA_ONLY)
def test_kernels_that_need_cuda(backend):
    if not torch.cuda.is_available():
        pytest.skip(f"the {backend} attention kernel exists for CUDA only (measured by the GPU tier)")
    frames, _, _ = frames_with(SpeedLevers(attention=dict.fromkeys(("spatial", "temporal", "cross"), backend)))
    assert np.isfinite(frames).all()


def test_the_levers_are_checked_once_in_the_config_and_the_command_line():
    cfg = load_config(model="tiny", compile=True, speed={"attention": {"temporal": "math"}, "fuse_qkv": True})
    assert cfg.speed["compile"] == "full" and cfg.speed["fuse_qkv"] is True
    assert cfg.speed["attention"] == {"spatial": "auto", "temporal": "math", "cross": "auto"}
    assert load_config(model="tiny", compile="regional").speed["compile"] == "regional"
    for bad in ({"attention": {"spatial": "fast"}}, {"attention": {"diagonal": "math"}},
                {"memory_format": "nhwc"}):
        with pytest.raises(InvalidInput, match="speed"):
            load_config(model="tiny", speed=bad)


def test_levers_from_the_cli_reach_the_engine_and_the_result(tmp_path):
    """Through the door a user takes: the options of `generate`, then the sidecar says what ran."""
    out = tmp_path / "outputs"
    photo = tmp_path / "p.png"
    make_photo().save(photo)
    r = subprocess.run([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo),
                        "--prompt", "waves", "--steps", "2", "--frames", "2", "--resolution", "256p",
                        "--outputs", str(out), "--memory-format", "channels_last", "--fuse-qkv",
                        "--attention", "spatial=flash,temporal=math", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    meta = json.loads(Path(json.loads(r.stdout)["metadata"]).read_text())
    speed = meta["speed"]
    assert speed["levers"] == {"memory_format": "channels_last", "fuse_qkv": True, "compile": "off",
                               "attention": {"spatial": "flash", "temporal": "math", "cross": "auto"}}
    assert speed["forced_kernels"]["spatial"] > 0 and speed["forced_kernels"]["temporal"] > 0
    assert speed["forced_kernels"]["cross"] == 0 and speed["fused_attention"] > 0 and speed["convolutions"] > 0
    bad = subprocess.run([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo),
                          "--prompt", "waves", "--attention", "spatial=fast"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "KIND=KERNEL" in bad.stderr


@pytest.mark.slow
def test_regional_compile_is_exact_and_a_second_job_of_the_size_compiles_nothing(eager):
    """Minutes on this CPU (inductor; 257 s with the rest of the suite running): the repeated blocks compiled
    one by one, within 1e-5 of eager; the second job of the same size adds no graph (dynamo's unique-graph
    counter)."""
    from i2v.engine.speed import recompiles

    loaded = load_model("tiny")
    done = apply_speed(loaded.pipe, SpeedLevers(compile="regional"))
    assert done["compiled_blocks"] > 0
    engine = Engine(loaded)
    job = EngineJob(image=fit_image(make_photo(), 128, 128), prompt="waves crashing", negative_prompt="blur",
                    guidance_scale=9.0, num_inference_steps=3, num_frames=4, width=128, height=128, seed=5)
    first = engine.generate(job).frames
    graphs = recompiles()
    second = engine.generate(job).frames
    assert recompiles() == graphs > 0
    assert float(np.abs(first - eager).max()) < 1e-4 and float(np.abs(second - eager).max()) < 1e-4
