"""Motion control: what guidance scale a request needs, and how guidance varies over the steps.  Pure.

The numbers are the seed article's:

* guidance zones: <6 weak motion, 7–9 balanced, 10–13 strong, >15 artifacts and flicker;
* by kind of motion: micro 7–8, medium 9–10, strong 11–12, camera 10–11, compound 11–12.5;
* 50 steps with 9.0 is the usual sweet spot; strong motion (the high_motion preset) uses 60.

:func:`recommend` reads the prompt (English and Chinese, with negation and
intensity words) and the picture (how busy it is, how many separate subjects)
and picks a value inside the right range.  :func:`guidance_schedule` expands a
schedule (constant, linear, cosine, strong-early) to one value per step.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np

from ..base.settings import SCHEDULES

# -- the prompt ----------------------------------------------------------------------------------

# English entries are word stems matched at word starts (so "jump" matches jumps/jumping/jumped);
# Chinese entries are substrings.
LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "micro": {
        "en": ("sway", "breath", "breathing", "float", "flutter", "drift", "ripple", "shimmer", "twinkl", "blink",
               "rustl", "glow", "steam", "smoke ris", "hair blow", "blowing in the wind", "gentle breeze", "wisp",
               "trembl", "quiver"),
        "zh": ("摇曳", "飘动", "飘扬", "呼吸", "飘浮", "漂浮", "闪烁", "眨眼", "荡漾", "涟漪", "微风", "飘落", "袅袅",
               "升腾", "颤动", "摆动", "晃动"),
    },
    "medium": {
        "en": ("walk", "turn", "nod", "wave ", "waving", "waves at", "waves goodbye", "waves hello", "smil", "talk", "bloom", "unfold", "open", "rotat", "flow",
               "swim", "pour", "stroll", "look around", "sit down", "stand up", "moving", "move"),
        "zh": ("行走", "走路", "散步", "转头", "回头", "点头", "挥手", "转身", "绽放", "游动", "流动", "说话", "微笑",
               "走动", "移动", "流淌", "展开"),
    },
    "strong": {
        "en": ("jump", "run", "running", "crash", "explod", "danc", "fight", "gallop", "sprint", "spin", "fall",
               "race", "leap", "splash", "kick", "throw", "chas", "flying", "fly", "surf", "punch", "storm"),
        "zh": ("奔跑", "跳跃", "跳", "跑", "爆炸", "跳舞", "飞奔", "冲刺", "撞击", "翻滚", "飞翔", "坠落", "拍打",
               "奔腾", "打斗", "追逐", "旋转", "冲浪", "汹涌"),
    },
    "camera": {
        "en": ("zoom", "pan ", "pans", "panning", "dolly", "orbit", "tilt", "tracking shot", "push in", "pull back",
               "pull out", "crane shot", "camera mov", "camera rotat", "fly-through", "flythrough", "aerial"),
        "zh": ("推进", "拉远", "平移", "环绕", "推镜", "拉镜", "摇镜", "跟拍", "航拍", "俯冲", "拉近", "镜头移动",
               "镜头旋转", "运镜"),
    },
}

NEGATORS_EN = ("not", "no", "without", "don't", "doesn't", "never", "isn't", "aren't", "nor", "stop")
NEGATORS_ZH = ("不要", "不", "没有", "没", "无", "别", "停止")
STATIC_CAMERA = ("static camera", "fixed camera", "locked-off", "still camera", "camera is still",
                 "camera stays", "固定镜头", "镜头不动", "镜头固定", "机位固定")
STILL = ("motionless", "stationary", "standing still", "static scene", "still life", "not moving", "静止", "不动")
LOW = ("slow", "gentl", "slight", "subtl", "soft", "calm", "light", "缓缓", "缓慢", "轻轻", "微微", "慢慢", "轻柔",
       "徐徐", "轻微")
HIGH = ("fast", "quick", "rapid", "violent", "wild", "dramatic", "intense", "vigorous", "powerful", "strong",
        "剧烈", "快速", "猛烈", "迅速", "疯狂", "激烈", "飞快", "猛")

# (low, high) guidance for each class, and the steps that go with it.
RANGES: dict[str, tuple[float, float]] = {
    "still": (6.0, 7.0), "micro": (7.0, 8.0), "medium": (9.0, 10.0), "strong": (11.0, 12.0),
    "camera": (10.0, 11.0), "compound": (11.0, 12.5), "none": (9.0, 9.0),
}
STEPS = {"still": 50, "micro": 50, "medium": 50, "strong": 60, "camera": 50, "compound": 60, "none": 50}
SUBJECT_CLASSES = ("micro", "medium", "strong")
CLASS_NAMES = {
    "still": {"en": "little or no motion", "zh": "几乎静止"},
    "micro": {"en": "micro motion", "zh": "微动作"},
    "medium": {"en": "medium motion", "zh": "中等动作"},
    "strong": {"en": "strong action", "zh": "强动作"},
    "camera": {"en": "camera motion", "zh": "镜头运动"},
    "compound": {"en": "compound motion", "zh": "复合动作"},
    "none": {"en": "no motion words", "zh": "未识别到动作词"},
}


@dataclass
class Match:
    word: str          # as written in the prompt
    cls: str           # micro | medium | strong | camera
    start: int
    negated: bool = False


@dataclass
class PromptMotion:
    motion_class: str
    matched: list[str]             # the motion words that count (not negated)
    negated: list[str]             # motion words the prompt negates
    intensity: str                 # low | normal | high
    classes: list[str]             # distinct classes among the counted words
    camera: bool
    subject: bool
    actions: int = 0               # distinct counted motion words


def _is_cjk(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def _find(text: str, stems: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = []
    for stem in stems:
        if _is_cjk(stem):
            spans += [(m.start(), m.end()) for m in re.finditer(re.escape(stem), text)]
        else:
            pat = r"(?<![a-z])" + re.escape(stem.strip()) + (r"\w*" if not stem.endswith(" ") else r"\b")
            spans += [(m.start(), m.end()) for m in re.finditer(pat, text)]
    return spans


def _negated(text: str, start: int) -> bool:
    """A negator shortly before the word: up to 3 English words, or 2 Chinese characters."""
    before = text[max(0, start - 30):start]
    words = re.findall(r"[a-z']+", before)[-3:]
    if any(w in NEGATORS_EN for w in words):
        return True
    tail = before[-3:]
    return any(n in tail for n in NEGATORS_ZH)


def classify_prompt(prompt: str) -> PromptMotion:
    text = " " + (prompt or "").lower() + " "
    matches: list[Match] = []
    taken: list[tuple[int, int]] = []
    # longer stems first, so "blowing in the wind" wins over "blow", "跳舞" over "跳"
    entries = [(cls, stem) for cls, langs in LEXICON.items() for lang in langs.values() for stem in lang]
    for cls, stem in sorted(entries, key=lambda e: -len(e[1])):
        for s, e in _find(text, (stem,)):
            if any(s < te and ts < e for ts, te in taken):
                continue
            taken.append((s, e))
            matches.append(Match(text[s:e].strip(), cls, s, _negated(text, s)))
    matches.sort(key=lambda m: m.start)
    static_camera = any(k in text for k in STATIC_CAMERA)
    for m in matches:
        if m.cls == "camera" and static_camera:
            m.negated = True
    counted = [m for m in matches if not m.negated]
    negated = [m.word for m in matches if m.negated]
    low = any(_find(text, (w,)) for w in LOW)
    high = any(_find(text, (w,)) for w in HIGH)
    intensity = "high" if high and not low else "low" if low and not high else "normal"
    classes = sorted({m.cls for m in counted}, key=list(LEXICON).index)
    camera = "camera" in classes
    subject = any(m.cls in SUBJECT_CLASSES for m in counted)
    # several motions: the subject plus the camera, or a strong action with another action.
    # (Two medium words often describe one motion, "blooming, petals unfolding": they stay medium.)
    strong = {m.word for m in counted if m.cls == "strong"}
    medium = {m.word for m in counted if m.cls == "medium"}
    if camera and subject or len(strong) >= 2 or strong and medium:
        motion_class = "compound"
    elif counted:
        # the strongest subject class wins; camera alone is its own class
        order = ["strong", "medium", "micro", "camera"]
        motion_class = next(c for c in order if c in classes)
    elif negated or any(k in text for k in STILL):
        motion_class = "still"
    else:
        motion_class = "none"
    return PromptMotion(motion_class, [m.word for m in counted], negated, intensity, classes, camera, subject,
                        len({m.word for m in counted}))


# -- the picture ---------------------------------------------------------------------------------

@dataclass
class ImageComplexity:
    edge_density: float    # fraction of pixels on an edge (Canny) at 160 px
    subjects: int          # separate foreground regions (>= 1.5% of the picture), capped at 5
    score: float           # 0 (one object on a plain background) .. 1 (busy scene)


def image_complexity(image) -> ImageComplexity:
    """How busy the picture is, from the pixels alone (no model weights).

    1. Shrink to 160 px on the long side (noise and JPEG grain stop counting as detail).
    2. Edge density: share of pixels that Canny (50/150, after a 3x3 blur) marks as edges.
    3. Subjects: the background colour is the median of a 6 px border ring; pixels further than 40
       (in Lab units) from it are foreground; after a morphological opening, each connected region
       covering at least 1.5% of the picture counts as one subject.
    4. score = 0.6 * min(1, edge_density / 0.15) + 0.4 * min(1, (subjects - 1) / 4).
    """
    import cv2
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.open(image)
    img = img.convert("RGB")
    scale = 160 / max(img.size)
    small = img.resize((max(8, round(img.width * scale)), max(8, round(img.height * scale))), Image.BILINEAR)
    rgb = np.asarray(small)
    gray = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    edges = cv2.Canny(gray, 50, 150)
    edge_density = float((edges > 0).mean())
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    ring = np.concatenate([lab[:6].reshape(-1, 3), lab[-6:].reshape(-1, 3),
                           lab[:, :6].reshape(-1, 3), lab[:, -6:].reshape(-1, 3)])
    background = np.median(ring, axis=0)
    fg = (np.linalg.norm(lab - background, axis=2) > 40).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    min_area = 0.015 * fg.size
    subjects = int(sum(1 for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area))
    subjects = min(5, max(1, subjects))
    score = 0.6 * min(1.0, edge_density / 0.15) + 0.4 * min(1.0, (subjects - 1) / 4)
    return ImageComplexity(round(edge_density, 4), subjects, round(score, 3))


# -- the recommendation --------------------------------------------------------------------------

@dataclass
class Recommendation:
    guidance_scale: float
    num_inference_steps: int
    motion_class: str
    matched: list[str]
    reason: str
    range: tuple[float, float]
    intensity: str = "normal"
    negated: list[str] = field(default_factory=list)
    complexity: ImageComplexity | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["range"] = list(self.range)
        return d


def _snap(x: float, step: float = 0.5) -> float:
    return round(round(x / step) * step, 2)


def recommend(prompt: str, image=None, lang: str = "en") -> Recommendation:
    motion = classify_prompt(prompt)
    cx = image_complexity(image) if image is not None else None
    lo, hi = RANGES[motion.motion_class]
    pos = {"low": 0.0, "normal": 0.5, "high": 1.0}[motion.intensity]
    if motion.actions >= 2:  # more described motion needs a little more guidance to show all of it
        pos += 0.25
    if cx is not None:  # busier pictures need a firmer hand to keep the motion on the subject
        pos += 0.35 * cx.score
    g = _snap(lo + min(1.0, pos) * (hi - lo))
    steps = STEPS[motion.motion_class] + (10 if cx is not None and cx.score > 0.6 else 0)
    reason = _reason(motion, cx, g, steps, (lo, hi), lang)
    return Recommendation(g, steps, motion.motion_class, motion.matched, reason, (lo, hi), motion.intensity,
                          motion.negated, cx)


def _reason(m: PromptMotion, cx: ImageComplexity | None, g: float, steps: int, rng, lang: str) -> str:
    name = CLASS_NAMES[m.motion_class][lang if lang in ("en", "zh") else "en"]
    words = ", ".join(m.matched[:4])
    span = f"{rng[0]:g}–{rng[1]:g}" if rng[0] != rng[1] else f"{rng[0]:g}"
    if lang == "zh":
        what = f"{name}（{words}）" if words else name
        inten = {"low": "，语气舒缓", "high": "，语气强烈", "normal": ""}[m.intensity]
        pic = "" if cx is None else ("，画面复杂" if cx.score > 0.6 else "，画面简洁" if cx.score < 0.3 else "，画面适中")
        return f"{what}{inten}{pic}：建议引导系数 {g:g}（该类区间 {span}），{steps} 步。"
    what = f"{name} ({words})" if words else name
    inten = {"low": ", asked gently", "high": ", asked forcefully", "normal": ""}[m.intensity]
    pic = "" if cx is None else (" on a busy picture" if cx.score > 0.6 else " on a simple picture"
                                 if cx.score < 0.3 else " on a moderately busy picture")
    return f"{what.capitalize()}{inten}{pic}: guidance {g:g} (range {span} for this kind), {steps} steps."


# -- guidance schedules --------------------------------------------------------------------------

def default_end(start: float) -> float:
    """Where a varying schedule ends when the user gives no end value: 60% of the start, at least 1."""
    return max(1.0, round(start * 0.6, 2))


def guidance_schedule(kind: str, start: float, end: float | None, steps: int) -> list[float]:
    """One guidance value per denoising step.

    * constant: ``start`` at every step (identical to plain guidance).
    * linear: a straight ramp from ``start`` to ``end`` (down or up).
    * cosine: from ``start`` to ``end`` along a half cosine: slow change at both ends.
    * strong-early: ``start`` for the first 40% of the steps (where the motion and layout form),
      then a half-cosine glide down to ``end`` for the details (less flicker, fewer artifacts).
    """
    if kind not in SCHEDULES:
        raise ValueError(f"unknown guidance schedule {kind!r}")
    if kind == "constant" or steps == 1:
        return [float(start)] * steps
    end = default_end(start) if end is None else float(end)
    out = []
    for i in range(steps):
        x = i / (steps - 1)
        if kind == "linear":
            w = x
        elif kind == "cosine":
            w = (1 - math.cos(math.pi * x)) / 2
        else:  # strong-early
            w = 0.0 if x <= 0.4 else (1 - math.cos(math.pi * (x - 0.4) / 0.6)) / 2
        out.append(round(start + (end - start) * w, 4))
    return out


def zone_key(g: float) -> str:
    """The seed article's zone of a guidance value, as a text key (``zone_*`` in i2v.base.i18n)."""
    if g < 6:
        return "zone_weak"
    if g < 7:
        return "zone_gentle"
    if g <= 9:
        return "zone_balanced"
    if g <= 13:
        return "zone_strong"
    if g <= 15:
        return "zone_risky"
    return "zone_artifacts"
