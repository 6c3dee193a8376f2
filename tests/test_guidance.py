"""Motion control: the prompt classifier, picture complexity, recommendations, schedules, fixes, advice."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from i2v.motion.advisor import advise, rewrite_conflict, troubleshoot
from i2v.motion.guidance import LEXICON, RANGES, _find, classify_prompt, guidance_schedule, image_complexity, recommend
from i2v.motion.tokens import clip_tokenizer

CASES = [
    # (prompt, class, words that must be matched)
    ("leaves gently swaying", "micro", ["swaying"]),
    ("a woman breathing calmly", "micro", ["breathing"]),
    ("paper lanterns floating in the night sky", "micro", ["floating"]),
    ("hair blowing in the wind", "micro", ["blowing in the wind"]),
    ("candle flame flickering softly", "none", []),
    ("柳枝随风摇曳", "micro", ["摇曳"]),
    ("旗帜在风中飘动", "micro", ["飘动"]),
    ("她在安静地呼吸", "micro", ["呼吸"]),
    ("a person turning head", "medium", ["turning"]),
    ("an old man walking along the beach", "medium", ["walking"]),
    ("a girl waves at the camera", "medium", ["waves at"]),
    ("a rose blooming slowly in sunlight, petals unfolding one by one", "medium", ["blooming", "unfolding"]),
    ("女孩转头微笑", "medium", ["转头", "微笑"]),
    ("一个人在街上行走", "medium", ["行走"]),
    ("a dog jumping over a fence", "strong", ["jumping"]),
    ("a horse galloping across a field", "strong", ["galloping"]),
    ("waves crashing on the rocks", "strong", ["crashing"]),
    ("a child runs to her mother", "strong", ["runs"]),
    ("一只狗跳过栅栏", "strong", ["跳"]),
    ("运动员在赛道上奔跑", "strong", ["奔跑"]),
    ("camera zooming in slowly", "camera", ["zooming"]),
    ("slow dolly shot through the forest", "camera", ["dolly"]),
    ("the camera pans left across the city", "camera", ["pans"]),
    ("aerial orbit around the castle", "camera", ["aerial", "orbit"]),
    ("镜头缓慢推进", "camera", ["推进"]),
    ("镜头环绕雕像", "camera", ["环绕"]),
    ("waves crashing while camera pans right", "compound", ["crashing", "pans"]),
    ("camera zooming in, person waving", "compound", ["zooming", "waving"]),
    ("a horse running and jumping", "compound", ["running", "jumping"]),
    ("海浪剧烈翻滚，镜头向右平移", "compound", ["翻滚", "平移"]),
    ("镜头推进，人物挥手", "compound", ["推进", "挥手"]),
    # negation
    ("the man is not moving", "still", []),
    ("a dog sitting, not jumping", "still", []),
    ("a motionless lake at dawn", "still", []),
    ("static camera, a flag waving in the wind", "medium", ["waving"]),
    ("no camera movement, hair blowing in the wind", "micro", ["blowing in the wind"]),
    ("镜头不动，树叶摇曳", "micro", ["摇曳"]),
    ("不要奔跑，只是呼吸", "micro", ["呼吸"]),
    ("湖面静止", "still", []),
    ("a portrait of a woman", "none", []),
]


@pytest.mark.parametrize("prompt,cls,words", CASES)
def test_classifier(prompt, cls, words):
    m = classify_prompt(prompt)
    assert m.motion_class == cls, (prompt, m)
    assert m.matched == words


@pytest.mark.parametrize("prompt,negated", [
    ("a dog sitting, not jumping", ["jumping"]), ("no camera movement, hair blowing in the wind", ["camera mov"]),
    ("不要奔跑，只是呼吸", ["奔跑"]), ("static camera, slow zoom in, a flag waving", ["zoom"]),
])
def test_negations_are_reported(prompt, negated):
    got = classify_prompt(prompt).negated
    assert [n for n in negated if any(n in g or g in n for g in got)] == negated, got


@pytest.mark.parametrize("prompt,intensity", [
    ("leaves gently swaying", "low"), ("花朵缓缓绽放", "low"), ("waves crashing violently", "high"),
    ("海浪剧烈翻滚", "high"), ("a dog jumping", "normal"),
])
def test_intensity_words(prompt, intensity):
    assert classify_prompt(prompt).intensity == intensity


@pytest.mark.parametrize("prompt,_,__", CASES)
def test_recommendation_inside_the_seed_range(prompt, _, __):
    r = recommend(prompt)
    lo, hi = RANGES[r.motion_class]
    assert lo <= r.guidance_scale <= hi
    assert r.num_inference_steps in (50, 60)
    assert r.reason.endswith("steps.")


def test_intensity_moves_within_the_range():
    gentle = recommend("waves crashing gently").guidance_scale
    normal = recommend("waves crashing").guidance_scale
    wild = recommend("waves crashing violently").guidance_scale
    assert (gentle, wild) == (11.0, 12.0) and gentle <= normal <= wild


def test_reason_in_chinese():
    r = recommend("一只狗跳过栅栏", lang="zh")
    assert r.reason.startswith("强动作（跳）") and "引导系数 11.5" in r.reason


# -- the picture ---------------------------------------------------------------------------------

def one_object():
    img = Image.new("RGB", (640, 480), (235, 235, 230))
    ImageDraw.Draw(img).ellipse((250, 160, 390, 320), fill=(200, 40, 40))
    return img


def three_objects():
    img = Image.new("RGB", (640, 480), (235, 235, 230))
    d = ImageDraw.Draw(img)
    d.ellipse((60, 160, 180, 280), fill=(200, 40, 40))
    d.rectangle((260, 120, 380, 300), fill=(40, 60, 200))
    d.polygon([(470, 330), (590, 330), (530, 180)], fill=(30, 150, 60))
    return img


def busy_scene():
    rng = np.random.default_rng(1)
    img = Image.new("RGB", (640, 480), (120, 140, 110))
    d = ImageDraw.Draw(img)
    for _ in range(300):
        x, y, r = rng.integers(0, 640), rng.integers(0, 480), rng.integers(4, 30)
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    return img


def test_complexity_orders_clearly_different_pictures():
    a, b, c = image_complexity(one_object()), image_complexity(three_objects()), image_complexity(busy_scene())
    assert a.subjects == 1 and b.subjects == 3
    assert a.score < b.score < c.score
    assert a.score < 0.3 and c.score > 0.6


def test_busier_picture_gets_more_guidance_and_steps():
    simple = recommend("a dog jumping over a fence", one_object())
    busy = recommend("a dog jumping over a fence", busy_scene())
    assert simple.guidance_scale < busy.guidance_scale <= 12.0
    assert busy.num_inference_steps > simple.num_inference_steps
    assert "busy picture" in busy.reason


# -- schedules -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["linear", "cosine", "strong-early"])
def test_schedules_run_from_start_to_end(kind):
    s = guidance_schedule(kind, 12.0, 6.0, 50)
    assert len(s) == 50 and s[0] == 12.0 and s[-1] == 6.0
    assert all(a >= b for a, b in zip(s, s[1:]))  # monotone down
    up = guidance_schedule(kind, 6.0, 12.0, 10)
    assert up[0] == 6.0 and up[-1] == 12.0


def test_strong_early_holds_then_glides():
    s = guidance_schedule("strong-early", 12.0, 6.0, 11)
    assert s[:5] == [12.0] * 5 and s[5] < 12.0
    assert guidance_schedule("constant", 9.0, 3.0, 5) == [9.0] * 5
    assert guidance_schedule("linear", 10.0, None, 3) == [10.0, 8.0, 6.0]  # default end: 60%


def test_schedule_reaches_the_engine_and_the_metadata(studio):
    from .conftest import make_photo

    req = studio.build_request(image=make_photo(), prompt="waves", width=256, height=192, num_frames=4,
                               num_inference_steps=5, seed=2, guidance_scale=12, guidance_schedule="linear",
                               guidance_end=8)
    seen = []
    res = studio.generate(req, on_step=lambda i: seen.append(i.guidance))
    assert seen == [12.0, 11.0, 10.0, 9.0, 8.0]
    assert res.metadata["guidance_per_step"] == seen
    assert res.metadata["params"]["guidance_schedule"] == "linear" and res.metadata["params"]["guidance_end"] == 8


# -- troubleshooting -----------------------------------------------------------------------------

BASE = {"prompt": "a dog jumping", "guidance_scale": 9.0, "num_inference_steps": 50, "resolution": "512p",
        "seed": 1234}


@pytest.mark.parametrize("problem,start,changed", [
    ("weak", {}, {"guidance_scale": 10.5}),
    ("weak", {"guidance_scale": 13.0}, {"num_inference_steps": 60}),
    ("distorted", {"guidance_scale": 12.0}, {"guidance_scale": 10.5}),
    ("distorted", {"guidance_scale": 7.5}, {"resolution": "384p"}),
    ("blurry", {}, {"num_inference_steps": 60}),
    ("blurry", {"num_inference_steps": 60}, {"num_inference_steps": 80}),
    ("flicker", {"guidance_scale": 12.0}, {"prompt": "a dog jumping, smooth motion, natural movement",
                                          "guidance_scale": 11.0}),
    ("flicker", {"prompt": "镜头缓慢推进"}, {"prompt": "镜头缓慢推进，动作平滑自然"}),
])
def test_troubleshooting_decision_tree(problem, start, changed):
    before = {**BASE, **start}
    fix = troubleshoot(before, problem)
    assert {k: new for k, (_, new) in fix.changes.items()} == changed
    assert fix.settings["seed"] == 1234  # only the one change differs in the next video
    assert fix.explanation


def test_fix_buttons_in_the_ui_start_from_the_sliders_and_keep_the_seed(studio):
    from i2v.jobs import JobService
    from i2v.ui import StudioUI

    ui = StudioUI(studio, JobService(studio))
    ui.build_blocks()
    c = ui.c
    values = {c.prompt: "a dog", c.negative: "", c.guidance: 9, c.steps: 50, c.frames: 16, c.fps: 8,
              c.target_fps: 16, c.resolution: "512p", c.seed: 0, c.random_seed: True, c.schedule: "constant",
              c.guidance_end: 6, c.last_params: {**BASE, "guidance_scale": 7.0, "fps": 8}}
    out = ui.create.on_fix("weak", values, "en")
    # from the slider (9), not the last result (7); the last result's seed kept; nothing else touched
    assert out[c.guidance] == 10.5 and out[c.seed] == 1234 and out[c.random_seed] is False
    assert c.steps not in out and c.prompt not in out and out[c.manual] is True
    assert "guidance_scale: 9.0 → 10.5" in out[c.status]
    values[c.guidance] = 15
    out = ui.create.on_fix("weak", values, "en")  # already high: more steps instead, guidance left alone
    assert out[c.steps] == 60 and c.guidance not in out
    assert ui.create.on_fix("blurry", values, "en")[c.steps] == 60 and c.guidance not in out


# -- prompt advice -------------------------------------------------------------------------------

def test_conflict_rewrite_describes_the_result():
    assert rewrite_conflict("camera zooming in, person waving") == \
        "Person waving in close-up, as if the camera is slowly zooming in"
    assert rewrite_conflict("镜头推进，人物挥手") == "人物挥手的画面，仿佛镜头正在缓缓推进"
    kinds = [a.kind for a in advise("camera zooming in, person waving")]
    assert kinds == ["conflict"]
    assert advise("a dog jumping") == []


def _camera_phrases_en():
    from i2v.motion.advisor import _CAMERA_VERBS

    verbs = [f"{pre}{form}{post}" for base, forms in _CAMERA_VERBS.items() for form in (base, *forms)
             for pre in ("", "camera ", "the camera ", "the camera is ", "the camera slowly ", "smoothly ")
             for post in ("", " right", " in", " out", " back", " around the statue")]
    nouns = ["aerial view", "an aerial shot", "tracking shot", "a crane shot", "a fly-through", "flythrough",
             "camera movement", "camera rotation", "a slow zoom", "the camera's pan"]
    return [p for p in verbs + nouns if classify_prompt(p).camera]


def test_conflict_rewrite_is_grammatical_for_every_camera_word_of_the_lexicon():
    """Every camera stem of the lexicon, in every verb form a prompt uses, rewrites to '<subject> in
    close-up, as if the camera is [adverb] <verb>-ing …' or '… seen in a/an <noun phrase>'."""
    phrases = _camera_phrases_en()
    for stem in LEXICON["camera"]["en"]:  # the phrases reach the whole English lexicon
        assert any(_find(" " + p.lower() + " ", (stem,)) for p in phrases), stem
    gerund = re.compile(r"^A girl dances in close-up, as if the camera is (?:\w+ly )*\w+ing\b(?: [\w' ]+)?$")
    noun = re.compile(r"^A girl dances in close-up, seen in (a|an) (\w)[\w' -]*$")
    for p in phrases:
        out = rewrite_conflict(f"{p}, a girl dances")
        m = noun.match(out)
        assert gerund.match(out) or (m and (m[1] == "an") == (m[2].lower() in "aeiou")), (p, out)
        assert not re.search(r"\b(\w+) \1\b", out) and out.count("camera") <= 1 + p.count("camera"), (p, out)
        assert ("slow" in out) or re.search(r"\w+ly ", out), (p, out)  # the camera moves gently
    for stem in LEXICON["camera"]["zh"]:
        for p in (stem, f"镜头{stem}", f"镜头正在{stem}", f"镜头缓慢{stem}", f"相机{stem}中"):
            out = rewrite_conflict(f"{p}，一只狗在奔跑")
            head = "一只狗在奔跑的画面，仿佛镜头正在"
            assert out.startswith(head), (p, out)
            move = out[len(head):]
            assert not re.match(r"(镜头|相机|正在|在)", move) and not move.endswith("中"), (p, out)
            assert re.sub(r"^镜头", "", stem) in move and any(w in move for w in "缓慢轻"), (p, out)
            assert "缓缓缓" not in out and "慢缓缓" not in out, (p, out)


def test_jitter_advice_and_long_prompts():
    (a,) = advise("a dog jumping", jitter=True)
    assert a.suggestion == "a dog jumping, smooth motion, natural movement"
    long = "a red fox jumping over a frozen river at dawn while snow falls gently " * 6
    (too_long,) = [x for x in advise(long) if x.kind == "too_long"]
    assert "the text encoder reads 75" in too_long.message and "ignored" in too_long.message
    assert clip_tokenizer().exact  # CLIP's real vocabulary is installed (requirements-nodeps.txt)
    assert clip_tokenizer()("a dog jumping").input_ids == [49406, 320, 1929, 11476, 49407]


def test_cli_recommend_json(photo_path):
    r = subprocess.run([sys.executable, "-m", "i2v", "recommend", "--prompt", "a dog jumping over a fence",
                        "--image", str(photo_path), "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"guidance_scale", "num_inference_steps", "motion_class", "matched", "reason"} <= set(d)
    assert d["motion_class"] == "strong" and d["matched"] == ["jumping"] and 11 <= d["guidance_scale"] <= 12
