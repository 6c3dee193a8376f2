"""Model sources: tiny and random-full geometry, local folders, hub failures and the fallback."""

from __future__ import annotations


import pytest
import torch

from i2v.engine.models import DEMO_NOTICE, build_random_full, load_model
from i2v.base.errors import ModelUnavailable

# A port nothing listens on: the hub is "unreachable" at once, as on a machine without internet.
DEAD_HUB = "http://127.0.0.1:9"


def test_tiny_has_the_real_geometry(tiny_loaded):
    pipe = tiny_loaded.pipe
    assert pipe.vae_scale_factor == 8
    assert pipe.vae.config.latent_channels == 4 and pipe.vae.config.scaling_factor == 0.18125
    assert pipe.unet.conv_in.in_channels == 8
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.scheduler.config.rescale_betas_zero_snr is True
    assert pipe.text_encoder.config.num_hidden_layers >= 2  # clip_skip=1 needs a penultimate layer
    assert tiny_loaded.info.demo and DEMO_NOTICE in tiny_loaded.info.notices


def test_random_full_is_the_published_architecture():
    pipe = build_random_full(device="meta", dtype=torch.float16)
    counts = {n: sum(p.numel() for p in getattr(pipe, n).parameters())
              for n in ("unet", "vae", "text_encoder", "image_encoder")}
    assert counts == {"unet": 1_420_469_224, "vae": 83_653_863, "text_encoder": 352_984_064,
                      "image_encoder": 632_076_800}


def test_unreachable_hub_fails_fast_with_a_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", DEAD_HUB)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import i2v.engine.models as models

    probes, real_probe = [], models.hub_reachable
    monkeypatch.setattr(models, "hub_reachable", lambda timeout: probes.append(timeout) or real_probe(timeout))
    with pytest.raises(ModelUnavailable, match="hub is unreachable") as e:
        load_model("ali-vilab/i2vgen-xl", revision="39e1979ea27be737b0278c06755e321f2b4360d5", fallback=None)
    # fails at the short TCP probe (the configured 3 s), never inside a download's long retries
    assert probes == [3.0] and e.value.code == "model_unreachable"
    assert "connect to the internet" in str(e.value)


def test_offline_mode_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE"):
        load_model("ali-vilab/i2vgen-xl", fallback=None)


def test_fallback_to_tiny_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_ENDPOINT", DEAD_HUB)
    loaded = load_model("ali-vilab/i2vgen-xl", fallback="tiny")
    assert loaded.info.kind == "tiny" and loaded.info.demo
    assert "Could not load ali-vilab/i2vgen-xl" in loaded.info.notices[0]
    assert DEMO_NOTICE in loaded.info.notices


def test_local_folder_in_diffusers_layout_loads(tmp_path, tiny_loaded):
    folder = tmp_path / "model"
    tiny_loaded.pipe.save_pretrained(folder, safe_serialization=True)
    loaded = load_model(str(folder), fallback=None)
    assert loaded.info.kind == "local" and not loaded.info.demo
    a = dict(loaded.pipe.unet.named_parameters())["conv_in.weight"]
    b = dict(tiny_loaded.pipe.unet.named_parameters())["conv_in.weight"]
    assert torch.equal(a, b)


def test_local_folder_without_safetensors_is_refused(tmp_path, tiny_loaded):
    folder = tmp_path / "model"
    tiny_loaded.pipe.save_pretrained(folder, safe_serialization=False)  # pickled .bin weights only
    with pytest.raises(ModelUnavailable, match="safetensors"):
        load_model(str(folder), fallback=None)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="model_index.json"):
        load_model(str(tmp_path / "nope"), fallback=None)
