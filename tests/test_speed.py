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

from i2v.base.config import load_config
from i2v.engine import Engine, EngineJob
from i2v.engine.models import load_model
from i2v.engine.speed import (FrameMatmul, KernelChoice, SpeedLevers, apply_speed, attention_kind, fp8_refusal,
                              reset_speed, set_temporal_conv)
from i2v.base.errors import InvalidInput
from i2v.media.images import fit_image

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
    SpeedLevers(temporal_conv="matmul"),
    SpeedLevers(memory_format="channels_last", temporal_conv="matmul", fuse_qkv=True),
], ids=["channels_last", "fuse_qkv", "attn-spatial-flash", "attn-temporal-cross-flash", "all", "temporal-matmul",
        "matmul-channels-last-fused"])
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
    temporal = [m for b in unet.modules() if type(b).__name__ == "TemporalConvLayer" for m in b.modules()]
    if levers.temporal_conv == "matmul":
        swapped = [m for m in temporal if isinstance(m, FrameMatmul)]
        assert swapped and done["temporal_convs"] == len(swapped)
        assert not any(isinstance(m, torch.nn.Conv3d) for m in temporal)
    else:
        assert "temporal_convs" not in done and not any(isinstance(m, FrameMatmul) for m in unet.modules())
    choices = {name: m.processor for name, m in unet.named_modules() if isinstance(m.__dict__.get("processor"),
                                                                                     KernelChoice)}
    for kind, backend in levers.attention.items():
        of_kind = [p for name, p in choices.items() if attention_kind(name) == kind]
        if backend == "auto":
            assert not of_kind
        else:
            assert of_kind and all(p.backend == backend for p in of_kind) and sum(p.calls for p in of_kind) > 0


@pytest.mark.parametrize("frames,bias,layout", [(16, True, "contiguous"), (5, False, "contiguous"),
                                                 (2, True, "channels_last_3d"), (1, True, "contiguous")])
def test_frame_matmul_is_the_temporal_conv3d(frames, bias, layout):
    """A random (3, 1, 1) Conv3d at fp32 against its matmul form: the zero padding at both ends included."""
    torch.manual_seed(frames)
    conv = torch.nn.Conv3d(24, 40, (3, 1, 1), padding=(1, 0, 0), bias=bias)
    x = torch.randn(2, 24, frames, 6, 5)
    if layout == "channels_last_3d":
        x = x.contiguous(memory_format=torch.channels_last_3d)
    mm = FrameMatmul(conv)
    with torch.no_grad():
        want, got = conv(x), mm(x)
        back = mm.to_conv()(x)
    assert got.shape == want.shape and float((got - want).abs().max()) < 1e-5
    assert torch.equal(back, want)  # undone: the same weights again
    assert not FrameMatmul.fits(torch.nn.Conv3d(4, 4, (3, 3, 3), padding=1))
    assert not FrameMatmul.fits(torch.nn.Conv3d(4, 4, (3, 1, 1), padding=(0, 0, 0)))


def test_reset_speed_undoes_the_undoable_levers(eager):
    """What the benchmark relies on between rows: after reset, the eager modules and frames again."""
    loaded = load_model("tiny")
    apply_speed(loaded.pipe, SpeedLevers(memory_format="channels_last", fuse_qkv=True, temporal_conv="matmul",
                                         attention=dict.fromkeys(("spatial", "temporal", "cross"), "flash")))
    reset_speed(loaded.pipe)
    unet = loaded.pipe.unet
    assert not any(isinstance(m, FrameMatmul) or getattr(m, "fused_projections", False) or hasattr(m, "to_qkv")
                   or isinstance(m.__dict__.get("processor"), KernelChoice) for m in unet.modules())
    assert set_temporal_conv(unet, "native") == 0
    engine = Engine(loaded)
    job = EngineJob(image=fit_image(make_photo(), 128, 128), prompt="waves crashing", negative_prompt="blur",
                    guidance_scale=9.0, num_inference_steps=3, num_frames=4, width=128, height=128, seed=5)
    assert float(np.abs(engine.generate(job).frames - eager).max()) < 1e-4


@pytest.mark.heavy
def test_fp8_is_refused_at_load_where_the_card_cannot_run_it(tmp_path):
    """On the CPU (or a card below compute capability 8.9): a clear error when the model loads, in both
    languages, before the pipeline is changed; through the CLI, exit code 2 and one line."""
    if torch.cuda.is_available() and fp8_refusal(torch.device("cuda")) is None:
        pytest.skip("this machine can run fp8 (tested by test_fp8_on_a_card)")
    from i2v.studio import Studio

    studio = Studio(load_config(model="tiny", speed={"fp8": "on"}), outputs=tmp_path / "o", log=lambda m: None)
    with pytest.raises(InvalidInput) as exc:
        studio.engine()
    assert exc.value.code == "fp8_unsupported" and "8.9" in exc.value.text("en") and "8.9" in exc.value.text("zh")
    assert "fp8" in exc.value.hint_in("zh")
    photo = tmp_path / "p.png"
    make_photo().save(photo)
    r = subprocess.run([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo),
                        "--prompt", "waves", "--steps", "1", "--frames", "2", "--resolution", "256p",
                        "--outputs", str(tmp_path / "out"), "--fp8"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "compute capability 8.9" in r.stderr, r.stderr


def test_fp8_on_a_card(eager):
    if not torch.cuda.is_available():
        pytest.skip("fp8 linears need a CUDA card (compute capability >= 8.9): run on a card by scripts/card-check.sh")
    refusal = fp8_refusal(torch.device("cuda"))
    if refusal is not None:
        pytest.skip(f"this card cannot run fp8: {refusal.text('en')}")
    loaded = load_model("tiny")
    loaded.pipe.to("cuda")
    done = apply_speed(loaded.pipe, SpeedLevers(fp8="on"))
    linears = [m for m in loaded.pipe.unet.modules() if isinstance(m, torch.nn.Linear)]
    quantized = [m for m in linears if type(m.weight).__name__ != "Parameter" or
                 type(m.weight.data).__name__ != "Tensor"]
    assert done["fp8_linears"] > 0 and len(quantized) == done["fp8_linears"]
    frames = Engine(loaded).generate(EngineJob(image=fit_image(make_photo(), 128, 128), prompt="waves crashing",
                                               negative_prompt="blur", guidance_scale=9.0, num_inference_steps=3,
                                               num_frames=4, width=128, height=128, seed=5)).frames
    assert np.isfinite(frames).all() and float(np.abs(frames - eager).max()) < 0.25  # approximate, not exact


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
    assert load_config(model="tiny", speed={"temporal_conv": "matmul"}).speed["temporal_conv"] == "matmul"
    assert load_config(model="tiny").speed["fp8"] == "off"
    for bad in ({"attention": {"spatial": "fast"}}, {"attention": {"diagonal": "math"}},
                {"memory_format": "nhwc"}, {"temporal_conv": "fft"}, {"fp8": True}):
        with pytest.raises(InvalidInput, match="speed"):
            load_config(model="tiny", speed=bad)


@pytest.mark.heavy
def test_levers_from_the_cli_reach_the_engine_and_the_result(tmp_path):
    """Through the door a user takes: the options of `generate`, then the sidecar says what ran."""
    out = tmp_path / "outputs"
    photo = tmp_path / "p.png"
    make_photo().save(photo)
    r = subprocess.run([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo),
                        "--prompt", "waves", "--steps", "2", "--frames", "2", "--resolution", "256p",
                        "--outputs", str(out), "--memory-format", "channels_last", "--fuse-qkv",
                        "--attention", "spatial=flash,temporal=math", "--temporal-conv", "matmul", "--json"],
                       cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    meta = json.loads(Path(json.loads(r.stdout)["metadata"]).read_text())
    speed = meta["speed"]
    assert speed["levers"] == {"memory_format": "channels_last", "fuse_qkv": True, "compile": "off",
                               "attention": {"spatial": "flash", "temporal": "math", "cross": "auto"},
                               "temporal_conv": "matmul", "fp8": "off"}
    assert speed["temporal_convs"] > 0
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


def test_the_new_levers_travel_to_workers_and_reach_the_studios_engine(tmp_path):
    """The options once (cli.add_speed_args): parsed, passed on to a worker process's argv unchanged, and
    the config they make loads an engine whose UNet has the matmul form (the modules, not the metadata)."""
    from i2v.cli import build_parser, speed_argv, speed_overrides
    from i2v.studio import Studio

    a = build_parser().parse_args(["generate", "--prompt", "x", "--image", "p.png", "--temporal-conv", "matmul",
                                   "--fp8", "off", "--attention", "temporal=math"])
    assert speed_overrides(a) == {"temporal_conv": "matmul", "fp8": "off", "attention": {"temporal": "math"}}
    again = build_parser().parse_args(["worker", *speed_argv(a)])
    assert speed_overrides(again) == speed_overrides(a)
    assert build_parser().parse_args(["generate", "--prompt", "x", "--image", "p", "--fp8"]).fp8 == "on"
    studio = Studio(load_config(model="tiny", speed=speed_overrides(a)), outputs=tmp_path / "o", log=lambda m: None)
    unet = studio.engine().pipe.unet
    assert sum(isinstance(m, FrameMatmul) for m in unet.modules()) == studio.engine().speed["temporal_convs"] > 0
