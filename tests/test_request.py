"""Request validation, settings precedence and sizing: pure, no torch."""

from __future__ import annotations

import sys

import pytest

from i2v.base.config import load_config
from i2v.base.errors import InvalidInput
from i2v.planning.presets import get_preset, load_presets, parse_preset
from i2v.planning.request import build_request, size_for_budget

from .conftest import make_photo


@pytest.fixture
def cfg():
    return load_config()


def req(cfg, **kw):
    kw.setdefault("image", make_photo(640, 480))
    kw.setdefault("prompt", "a dog jumping over a fence")
    return build_request(cfg, **kw)


def test_pure_modules_do_not_import_torch():
    import subprocess

    code = ("import sys, i2v.planning.request, i2v.planning.presets, i2v.base.config, i2v.media.images, "
            "i2v.media.video, i2v.studio, i2v.cli; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_defaults_and_sizes_follow_aspect(cfg):
    r = req(cfg)
    assert (r.width, r.height, r.resolution) == (576, 448, "512p")
    assert r.image.size == (576, 448) and r.image.mode == "RGB"
    assert r.guidance_scale == 9.0 and r.num_inference_steps == 50 and r.seed == -1


@pytest.mark.parametrize("tier,aspect,size", [
    ("native", 16 / 9, (1280, 704)), ("512p", 1.0, (512, 512)), ("768p", 1.0, (768, 768)),
    ("512p", 9 / 16, (384, 704)), ("256p", 4 / 3, (256, 192)),
])
def test_tiers_are_pixel_budgets_snapped_to_64(cfg, tier, aspect, size):
    w, h = size_for_budget(cfg.resolution["tiers"][tier], aspect)
    assert (w, h) == size and w % 64 == 0 and h % 64 == 0


def test_preset_fills_and_explicit_values_win(cfg):
    r = req(cfg, preset="high_motion")
    assert (r.num_inference_steps, r.guidance_scale, r.preset) == (60, 11.0, "high_motion")
    r = req(cfg, preset="high_motion", guidance_scale=8.5, num_inference_steps=None)
    assert (r.num_inference_steps, r.guidance_scale) == (60, 8.5)


def test_explicit_size(cfg):
    r = req(cfg, width=320, height=192)
    assert (r.width, r.height, r.resolution) == (320, 192, "custom")
    with pytest.raises(InvalidInput, match="multiple of 64"):
        req(cfg, width=300, height=192)
    with pytest.raises(InvalidInput, match="both width and height"):
        req(cfg, width=320)


@pytest.mark.parametrize("kw,msg", [
    ({"guidance_scale": 25}, "guidance_scale must be between 1 and 20"),
    ({"guidance_scale": "lots"}, "guidance_scale must be a number"),
    ({"guidance_scale": float("nan")}, "guidance_scale must be between"),
    ({"num_inference_steps": 0}, "steps must be between 1 and 150"),
    ({"num_inference_steps": 7.5}, "steps must be a whole number"),
    ({"num_frames": 1}, "frames must be between 2 and 64"),
    ({"num_frames": 65}, "frames must be between 2 and 64"),
    ({"fps": 0}, "fps must be between 1 and 60"),
    ({"seed": -2}, "seed must be between"),
    ({"prompt": "   \n\t "}, "prompt is empty"),
    ({"prompt": "x" * 1001}, "prompt is too long"),
    ({"resolution": "4k"}, "unknown resolution"),
    ({"scheduler": "euler"}, "unknown scheduler"),
    ({"preset": "turbo"}, "unknown preset"),
    ({"image": b"not an image"}, "not a readable image"),
    ({"image": b""}, "empty"),
])
def test_bad_values_get_one_clear_error(cfg, kw, msg):
    with pytest.raises(InvalidInput, match=msg) as e:
        req(cfg, **kw)
    assert "\n" not in str(e.value)


def test_control_characters_and_whitespace_cleaned(cfg):
    r = req(cfg, prompt="  a\x00 dog\x07\n jumping  ")
    assert r.prompt == "a dog jumping"


def test_presets_from_files():
    presets = load_presets()
    assert set(presets) >= {"preview", "standard", "high_motion", "creative"}
    seed_article = {"preview": (30, 7.0), "standard": (50, 9.0), "high_motion": (60, 11.0), "creative": (40, 6.5)}
    for name, (steps, g) in seed_article.items():
        s = presets[name].settings
        assert (s["num_inference_steps"], s["guidance_scale"]) == (steps, g)
        assert {"num_frames", "resolution", "fps"} <= set(s)
    assert get_preset("standard").describe("zh")


def test_preset_unknown_keys_rejected():
    with pytest.raises(InvalidInput, match="unknown key"):
        parse_preset({"name": "x", "guidence_scale": 9}, source="x.yaml")


def test_config_unknown_key_rejected(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model:\n  sorce: tiny\n")
    with pytest.raises(InvalidInput, match="unknown config key 'model.sorce'"):
        load_config(p)


def test_model_override_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("I2V_MODEL", "random-full")
    assert load_config().model["source"] == "random-full"
    assert load_config(model="tiny").model["source"] == "tiny"


@pytest.mark.parametrize("text,key,problem", [
    ("limits:\n  steps: [1, many]\n", "limits.steps", "must be a whole number"),
    ("model:\n  hub_probe_timeout_s: -3\n", "model.hub_probe_timeout_s", "between 0.1 and 120"),
    ("defaults:\n  guidance_scale: 99\n", "defaults.guidance_scale", "between 1 and 20"),
    ("defaults:\n  scheduler: euler\n", "defaults.scheduler", "one of ddim, dpm++"),
    ("resolution:\n  default_tier: 4k\n", "resolution.default_tier", "one of 256p"),
    ("defaults:\n  num_frames: 8.5\n", "defaults.num_frames", "whole number"),
])
def test_config_values_checked_by_type_and_range_naming_file_and_key(tmp_path, text, key, problem):
    p = tmp_path / "studio.yaml"
    p.write_text(text)
    with pytest.raises(InvalidInput) as e:
        load_config(p)
    assert str(p) in str(e.value) and f"'{key}'" in str(e.value) and problem in str(e.value)
    assert e.value.text("zh").startswith(f"配置文件 {p}")


def test_defaults_have_one_source_the_shipped_yaml():
    import yaml

    from i2v.base.config import DEFAULT_CONFIG, Config

    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text())
    assert Config().data == shipped and load_config().defaults == shipped["defaults"]
    assert load_config().defaults["negative_prompt"].startswith("Distorted")  # (the old built-in copy said "")


def test_every_list_of_settings_derives_from_the_schema():
    from i2v import cli, studio
    from i2v.workflows import batch
    from i2v.planning import presets
    from i2v.jobs import service as jobs_service
    from i2v.base.settings import NAMES, PRESET_KEYS, RESTORABLE, SETTINGS

    assert presets.PRESET_SETTINGS == PRESET_KEYS and studio.RESTORABLE == RESTORABLE
    assert set(NAMES) <= batch.BATCH_KEYS and set(NAMES) <= set(jobs_service.GENERATE_KEYS)
    sub = cli.build_parser()._subparsers._group_actions[0].choices["generate"]
    flags = {o for a in sub._actions for o in a.option_strings}
    assert all(s.flag in flags for s in SETTINGS)
    a = sub.parse_args(["--image", "x.png", "--prompt", "p", "--guidance", "7", "--steps", "9"])
    kw = cli.request_kwargs(a)
    assert set(NAMES) <= set(kw) and (kw["guidance_scale"], kw["num_inference_steps"]) == (7.0, 9)


def test_tier_order_follows_the_configured_budgets_not_a_fixed_list(tmp_path):
    from i2v.motion.advisor import troubleshoot
    from i2v.base.settings import tier_order

    tiers = {"tall": 400_000, "tiny": 70_000, "mid": 200_000}
    assert tier_order(tiers) == ("tiny", "mid", "tall")
    low = troubleshoot({"guidance_scale": 7.0, "resolution": "mid"}, "distorted", tiers=tiers)
    assert low.settings["resolution"] == "tiny"
    assert troubleshoot({"num_inference_steps": 80, "resolution": "mid"}, "blurry", tiers=tiers)\
        .settings["resolution"] == "tall"
