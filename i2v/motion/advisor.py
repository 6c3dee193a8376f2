"""After-the-fact help: one-click fixes for a disappointing result, and prompt advice.  Pure.

Troubleshooting follows the seed article's decision tree:

* motion too weak  -> raise guidance (or, when it is already high, steps);
* motion distorted -> lower guidance (or, when it is already moderate, the resolution);
* blurry           -> steps to 60, then 80;
* flickers         -> ask for "smooth motion, natural movement" and ease a high guidance.

Every fix keeps the seed, so the one change is all that differs in the next video.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .guidance import classify_prompt
from ..base.settings import tier_order

PROBLEMS = ("weak", "distorted", "blurry", "flicker")
SMOOTH_EN = "smooth motion, natural movement"
SMOOTH_ZH = "动作平滑自然"


@dataclass
class Fix:
    settings: dict        # the full new settings (seed kept)
    changes: dict         # only what changed: {name: (old, new)}
    explanation: str


def _msg(lang: str, en: str, zh: str) -> str:
    return zh if lang == "zh" else en


def troubleshoot(settings: dict, problem: str, lang: str = "en", tiers: dict | None = None) -> Fix:
    """Apply one step of the decision tree to ``settings`` (generation params, seed included).  ``tiers``:
    the configured resolution tiers (default: those of configs/default.yaml)."""
    if tiers is None:
        from ..base.config import load_config

        tiers = load_config().resolution["tiers"]
    order = tier_order(tiers)
    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}; choose one of {PROBLEMS}")
    s = dict(settings)
    g = float(s.get("guidance_scale", 9.0))
    steps = int(s.get("num_inference_steps", 50))
    res = s.get("resolution") or "512p"
    if problem == "weak":
        if g < 13:
            s["guidance_scale"] = min(13.0, g + 1.5)
            why = _msg(lang, "Motion too weak: guidance raised so the prompt's motion is followed more firmly.",
                       "动作太弱：提高引导系数，让模型更严格地遵循提示词中的动作。")
        else:
            s["num_inference_steps"] = min(80, steps + 10)
            why = _msg(lang, "Motion too weak with guidance already high: more steps instead (higher guidance "
                             "would bring artifacts).", "动作太弱但引导系数已较高：改为增加推理步数（再提高引导系数易出伪影）。")
    elif problem == "distorted":
        if g > 8:
            s["guidance_scale"] = max(7.0, g - 1.5)
            why = _msg(lang, "Motion distorted: guidance lowered; too much guidance exaggerates motion.",
                       "动作失真：降低引导系数；引导过强会夸大动作。")
        elif res in order and order.index(res) > 0:
            s["resolution"] = order[order.index(res) - 1]
            why = _msg(lang, "Motion distorted at moderate guidance: resolution lowered one tier.",
                       "引导系数适中仍失真：分辨率降一档。")
        else:
            s["guidance_scale"] = max(1.0, g - 1.0)
            why = _msg(lang, "Motion distorted: guidance lowered a little more.", "动作失真：再略微降低引导系数。")
    elif problem == "blurry":
        if steps < 60:
            s["num_inference_steps"] = 60
        elif steps < 80:
            s["num_inference_steps"] = 80
        elif res in order and order.index(res) < len(order) - 1:
            s["resolution"] = order[order.index(res) + 1]
        why = _msg(lang, "Blurry: more denoising steps (60-80) refine detail.",
                   "画面模糊：增加推理步数（60–80）以细化细节。")
    else:  # flicker
        prompt = s.get("prompt", "")
        zh_prompt = any("\u4e00" <= ch <= "\u9fff" for ch in prompt)
        add = SMOOTH_ZH if zh_prompt else SMOOTH_EN
        if add.split(",")[0] not in prompt:
            s["prompt"] = f"{prompt.rstrip(' ,，')}{'，' if zh_prompt else ', '}{add}"
        why = _msg(lang, "Flicker: asked for smooth, natural motion in the prompt.", "闪烁：在提示词中加入“动作平滑自然”。")
        if g > 9:
            s["guidance_scale"] = max(9.0, g - 1.0)
            why += _msg(lang, " Guidance eased too: high guidance amplifies frame-to-frame noise.",
                        "同时降低引导系数：高引导会放大帧间噪声。")
    changes = {k: (settings.get(k), v) for k, v in s.items() if settings.get(k) != v}
    return Fix(s, changes, why)


# -- prompt advice -------------------------------------------------------------------------------

@dataclass
class Advice:
    kind: str            # conflict | jitter | too_long
    message: str
    suggestion: str | None = None


def _split_clauses(prompt: str) -> list[str]:
    parts = re.split(r"\s*(?:,|，|;|；|、|\bwhile\b|\bas\b|\band\b|同时|并且)\s*", prompt)
    return [p.strip() for p in parts if p and p.strip()]


def _has_camera(clause: str) -> bool:
    return classify_prompt(clause).camera


# Camera verbs of the lexicon, every form a prompt uses -> the -ing form the rewrite needs.
_CAMERA_VERBS = {
    "zoom": ("zooms", "zoomed", "zooming"), "pan": ("pans", "panned", "panning"),
    "dolly": ("dollies", "dollied", "dollying"), "orbit": ("orbits", "orbited", "orbiting"),
    "tilt": ("tilts", "tilted", "tilting"), "push": ("pushes", "pushed", "pushing"),
    "pull": ("pulls", "pulled", "pulling"), "move": ("moves", "moved", "moving"),
    "rotate": ("rotates", "rotated", "rotating"), "track": ("tracks", "tracked", "tracking"),
    "crane": ("cranes", "craned", "craning"), "fly": ("flies", "flew", "flying"),
    "circle": ("circles", "circled", "circling"), "glide": ("glides", "glided", "gliding"),
    "sweep": ("sweeps", "swept", "sweeping"), "swoop": ("swoops", "swooped", "swooping"),
}
_GERUND = {form: forms[2] for base, forms in _CAMERA_VERBS.items() for form in (base, *forms)}
_NOUN_AFTER = ("shot", "shots", "view", "views", "footage", "movement", "move", "motion")


def _camera_phrase_en(clause: str) -> str:
    """'the camera slowly pans right' -> 'as if the camera is slowly panning right'; a noun phrase
    ('aerial view', 'a slow zoom', 'tracking shot') -> 'seen in a slow aerial view'."""
    slow = any(re.search(r"\b" + w, clause, re.I) for w in ("slow", "gentl", "calm", "soft", "subtl"))
    words = re.sub(r"^(the\s+)?camera\s+(is\s+|was\s+)?", "", clause.strip(), flags=re.I).split()
    verb = next((i for i, w in enumerate(words) if w.lower() in _GERUND), None)
    if verb is not None and all(w.lower().endswith("ly") for w in words[:verb]) and \
            (verb + 1 == len(words) or words[verb + 1].lower() not in _NOUN_AFTER):
        adverbs = words[:verb] or ([] if slow else ["slowly"])
        return "as if the camera is " + " ".join([*adverbs, _GERUND[words[verb].lower()], *words[verb + 1:]])
    noun = re.sub(r"^(the|a|an)\s+", "", clause.strip(), flags=re.I)
    if not slow:
        noun = "slow " + noun
    return f"seen in {'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def rewrite_conflict(prompt: str) -> str | None:
    """'camera zooming in, person waving' -> 'Person waving in close-up, as if the camera is slowly zooming
    in': describe the result on screen instead of two competing motions."""
    clauses = _split_clauses(prompt)
    cam = [c for c in clauses if _has_camera(c)]
    subj = [c for c in clauses if not _has_camera(c)]
    if not cam or not subj:
        return None
    zh = any("\u4e00" <= ch <= "\u9fff" for ch in prompt)
    move = cam[0]
    if zh:
        move = re.sub(r"^(镜头|相机|摄像机)(正在|在)?", "", move).strip()
        move = re.sub(r"(中|着)$", "", move)
        if not any(w in move for w in ("缓", "慢", "轻")):
            move = "缓缓" + move
        return f"{'，'.join(subj)}的画面，仿佛镜头正在{move}"
    subject = ", ".join(subj)  # a phrase or a whole clause ("a girl dances"): both read right before "in close-up"
    return f"{subject[:1].upper()}{subject[1:]} in close-up, {_camera_phrase_en(move)}"


def _clip(text: str, limit: int = 160) -> str:
    """The start of a long ignored part (the page must stay readable for a 5000-character prompt)."""
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def advise(prompt: str, lang: str = "en", jitter: bool = False, tokenizer=None) -> list[Advice]:
    from .tokens import token_report

    out: list[Advice] = []
    m = classify_prompt(prompt)
    if m.camera and m.subject:
        out.append(Advice("conflict", _msg(
            lang, "Camera motion and subject motion in one prompt: the model cannot tell them apart and high "
                  "guidance exaggerates both (faces and bodies deform). Describe the result instead:",
            "提示词同时包含镜头运动和主体动作：模型难以区分，高引导系数会同时放大两者（容易变形）。建议改为描述画面结果："),
            rewrite_conflict(prompt)))
    if jitter:
        zh = any("\u4e00" <= ch <= "\u9fff" for ch in prompt)
        add = SMOOTH_ZH if zh else SMOOTH_EN
        if add.split(",")[0] not in prompt:
            out.append(Advice("jitter", _msg(lang, "For jerky motion, ask for smoothness in the prompt:",
                                             "动作卡顿或抽搐时，可在提示词中加入平滑要求："),
                              f"{prompt.rstrip(' ,，')}{'，' if zh else ', '}{add}"))
    rep = token_report(prompt, tokenizer)
    if rep.truncated:
        est = "" if rep.exact else _msg(lang, " (estimated)", "（估算）")
        out.append(Advice("too_long", _msg(
            lang, f"The prompt is {rep.tokens} tokens{est}; the text encoder reads {rep.limit}. This part is "
                  f"ignored: “{_clip(rep.cut_text)}”",
            f"提示词共 {rep.tokens} 个 token{est}，文本编码器只读取 {rep.limit} 个，以下部分会被忽略：“{_clip(rep.cut_text)}”"),
            rep.kept_text))
    return out



def recommendation_text(prompt: str, picture, lang: str, title: str, limit: int | None = None):
    """(Recommendation, markdown with its reason and the prompt advice), or (None, "") for an empty prompt.
    The same text the CLI's ``recommend`` prints, for the page.  A prompt over ``limit`` characters is
    not analysed at all (the work stays bounded); the text says so."""
    from ..base.errors import InvalidInput
    from .guidance import recommend

    if not (prompt or "").strip():
        return None, ""
    if limit is not None and len(prompt) > limit:
        return None, "⚠️ " + InvalidInput("text_too_long", name="prompt", length=len(prompt), limit=limit).text(lang)
    rec = recommend(prompt, picture, lang)
    lines = [f"**{title}:** {rec.reason}"]
    for a in advise(prompt, lang):
        lines.append(f"- {a.message}" + (f"\n  → `{a.suggestion}`" if a.suggestion else ""))
    return rec, "\n".join(lines)
