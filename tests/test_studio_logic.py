"""Service pieces behind the UI: jobs, history, restoring settings, templates, languages."""

from __future__ import annotations

import json

import pytest

from i2v.base.config import load_config
from i2v.base.errors import InvalidInput
from i2v.base.i18n import TEXT, pick_lang
from i2v.studio import settings_from_file
from i2v.planning.templates import delete_template, list_templates, save_template

from .conftest import make_photo


def small(studio, **kw):
    args = dict(image=make_photo(), prompt="leaves gently swaying", width=256, height=192, num_frames=4,
                num_inference_steps=kw.pop("steps", 5), seed=3)
    args.update(kw)
    return studio.build_request(**args)


def test_restore_from_sidecar_and_mp4(studio):
    res = studio.generate(small(studio, guidance_scale=7.5, seed=99))
    for source in (res.metadata_path, res.video):
        s, notes = settings_from_file(source, studio.cfg)
        assert notes == []
        assert (s["prompt"], s["guidance_scale"], s["seed"], s["num_frames"]) == \
            ("leaves gently swaying", 7.5, 99, 4)


def test_restore_refuses_foreign_files(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InvalidInput, match="not a settings file"):
        settings_from_file(p, load_config())
    p.write_text("{broken")
    with pytest.raises(InvalidInput):
        settings_from_file(p, load_config())


def test_templates_roundtrip(tmp_path):
    save_template("my walk", {"guidance_scale": 9.5, "num_inference_steps": 55, "resolution": "512p",
                              "prompt": "ignored: prompts are not part of a template"}, load_config(), folder=tmp_path)
    t = list_templates(tmp_path)["my walk"]
    assert t.settings == {"guidance_scale": 9.5, "num_inference_steps": 55, "resolution": "512p"}
    (tmp_path / "broken.yaml").write_text("guidence: 3")  # hand-edited junk is skipped, not fatal
    assert set(list_templates(tmp_path)) == {"my walk"}
    delete_template("my walk", folder=tmp_path)
    assert "my walk" not in list_templates(tmp_path)
    with pytest.raises(InvalidInput, match="not allowed"):
        save_template("../escape", {}, load_config(), folder=tmp_path)


@pytest.mark.parametrize("header,lang", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh;q=0.8", "en"), ("zh-TW", "zh"),
    ("fr-FR,fr;q=0.9", "en"), (None, "en"), ("en;q=0.3,zh-Hans;q=0.7", "zh"),
])
def test_browser_language(header, lang):
    assert pick_lang(header) == lang


def test_every_text_in_both_languages():
    assert all(v.get("en") and v.get("zh") for v in TEXT.values())
