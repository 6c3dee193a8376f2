"""Generation requests: merging defaults, preset and user values, then validating.  Pure (no torch).

Everything a user can get wrong is caught here, before any model work, with a
message that names the setting and its allowed range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..base.config import Config
from ..base.errors import InvalidInput, echo
from ..motion.guidance import guidance_schedule
from ..media.images import fit_image, open_image
from ..base.notes import Note, note
from .presets import get_preset, load_presets, presets_dir
from ..base.settings import BY_NAME, MAX_SEED, NAMES, SETTINGS, bounds, choices_of
from .tiers import apply_tier

# The model's UNet halves the latent three times and the VAE downsamples by 8: sizes are multiples of 64.
SIZE_MULTIPLE = 64
# Aspect ratios outside this band are center-cropped into it (a 10000x2 strip has no usable video in it).
ASPECT_RANGE = (0.4, 2.5)


@dataclass
class GenerationRequest:
    """A validated request.  ``source`` is the upright RGB input; ``image`` is it fitted to width x height."""

    source: Image.Image
    prompt: str
    negative_prompt: str
    guidance_scale: float
    num_inference_steps: int
    num_frames: int
    fps: int
    target_fps: int
    width: int
    height: int
    resolution: str
    seed: int
    scheduler: str
    decode_chunk_size: int
    preset: str | None = None
    guidance_schedule: str = "constant"
    guidance_end: float | None = None
    fast: int = 1
    skip_threshold: float = 0.0
    guidance_stop: float = 1.0
    speed: str = "exact"
    flow_shift: float | None = None        # Wan: None = the model's shift
    guidance_scale_2: float | None = None  # Wan A14B: None = guidance_scale
    notices: list[str] = field(default_factory=list)
    _fitted: Image.Image | None = field(default=None, repr=False, compare=False)

    @property
    def image(self) -> Image.Image:
        if self._fitted is None or self._fitted.size != (self.width, self.height):
            self._fitted = fit_image(self.source, self.width, self.height)
        return self._fitted

    def guidance_per_step(self) -> list[float] | None:
        """None for constant guidance (the engine's plain path), else one value per step."""
        if self.guidance_schedule == "constant":
            return None
        return guidance_schedule(self.guidance_schedule, self.guidance_scale, self.guidance_end,
                                 self.num_inference_steps)

    def resize(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def params(self) -> dict[str, Any]:
        """Every setting as JSON-able values (no images)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("source", "_fitted", "notices")}
        d["source_size"] = list(self.source.size)
        return d


# -- size -------------------------------------------------------------------------------------

def snap(value: float, multiple: int = SIZE_MULTIPLE) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def size_for_budget(pixels: int, aspect: float, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """Width and height, multiples of ``multiple``, closest to ``aspect`` with an area close to ``pixels``.

    Snapping each side separately can distort small sizes badly (4:3 at 256p would become 320x192, 5:3),
    so nearby candidates are scored on aspect error plus half the area error (both in log terms).
    """
    aspect = min(max(aspect, ASPECT_RANGE[0]), ASPECT_RANGE[1])
    w0 = math.sqrt(pixels * aspect)
    h0 = w0 / aspect
    best, best_score = (snap(w0, multiple), snap(h0, multiple)), float("inf")
    for dw in (-2, -1, 0, 1, 2):
        for dh in (-2, -1, 0, 1, 2):
            w = snap(w0, multiple) + dw * multiple
            h = snap(h0, multiple) + dh * multiple
            if w < multiple or h < multiple:
                continue
            score = abs(math.log(w / h / aspect)) + 0.5 * abs(math.log(w * h / pixels))
            if score < best_score - 1e-12:
                best, best_score = (w, h), score
    return best


def nearest_tier(cfg: Config, width: Any, height: Any) -> str | None:
    """The resolution tier whose pixel budget is nearest (in ratio) to ``width`` x ``height``, for restoring a
    result made at a size of its own; None when the two are not sizes (whole numbers within the limits)."""
    res = cfg.resolution
    lo, hi = res["min_side"], res["max_side"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in (width, height)):
        return None
    pixels = width * height
    return min(res["tiers"], key=lambda k: abs(math.log(int(res["tiers"][k]) / pixels)))


def resolve_size(cfg: Config, resolution: str | None, aspect: float,
                 width: Any = None, height: Any = None) -> tuple[int, int, str]:
    res = cfg.resolution
    mult = int(res.get("multiple", SIZE_MULTIPLE))
    if width not in (None, "") or height not in (None, ""):
        if width in (None, "") or height in (None, ""):
            raise InvalidInput("size_pair")
        w = _integer("width", width, res["min_side"], res["max_side"])
        h = _integer("height", height, res["min_side"], res["max_side"])
        for name, v in (("width", w), ("height", h)):
            if v % mult:
                raise InvalidInput("not_multiple", name=name, multiple=mult, got=v, suggest=snap(v, mult))
        if w * h > res["max_pixels"]:
            raise InvalidInput("too_many_pixels", width=w, height=h, limit=f"{res['max_pixels']:,}")
        return w, h, "custom"
    tier = resolution or res["default_tier"]
    tiers = res["tiers"]
    if tier not in tiers:
        raise InvalidInput("unknown_choice", what="resolution", got=tier, choices=", ".join(tiers))
    w, h = size_for_budget(int(tiers[tier]), aspect, mult)
    return w, h, tier


# -- numbers ----------------------------------------------------------------------------------

def _show(v: float) -> str:
    """A limit as people write it: 4294967295, not 4.29497e+09; 7.5 stays 7.5."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool):
        raise InvalidInput("not_a_number", name=name, got=echo(repr(value)), lo=_show(lo), hi=_show(hi))
    try:
        v = float(value)
    except OverflowError:  # a whole number too big for a float (400 digits): out of range, said as such
        v = math.inf
    except (TypeError, ValueError):
        raise InvalidInput("not_a_number", name=name, got=echo(repr(value)), lo=_show(lo), hi=_show(hi)) from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise InvalidInput("out_of_range", name=name, lo=_show(lo), hi=_show(hi), got=echo(value))
    return v


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    v = _number(name, value, lo, hi)
    if not float(v).is_integer():
        raise InvalidInput("not_whole", name=name, got=value, lo=lo, hi=hi)
    return int(v)


# A raw text may be longer than the limit by its white space and control characters (they are cleaned
# away), but not by more than this factor: beyond it, it is refused before it is even read.
RAW_TEXT_FACTOR = 4
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(name: str, value: Any, max_chars: int, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput("not_text", name=name)
    if len(value) > RAW_TEXT_FACTOR * max_chars:  # refused before any per-character work: bounded cost
        raise InvalidInput("text_too_long", name=name, length=len(value), limit=max_chars)
    # Control characters (other than newline/tab) and bidirectional overrides carry no meaning for the
    # text encoder, and the overrides would disguise the prompt in metadata and file names.
    cleaned = "".join(ch if ch in "\n\t" or ord(ch) >= 32 and ord(ch) != 127 and ch not in BIDI_CONTROLS
                      else " " for ch in value)
    cleaned = " ".join(cleaned.split())
    if required and not cleaned:
        raise InvalidInput("prompt_empty", name=name)
    if len(cleaned) > max_chars:
        raise InvalidInput("text_too_long", name=name, length=len(cleaned), limit=max_chars)
    return cleaned


FAMILY_SETTINGS = ("flow_shift", "guidance_scale_2")  # settings some families take (Config.family["takes"])


def _model(cfg: Config) -> str:
    return cfg.family.get("title", cfg.family["name"])


def check_settings(cfg: Config, s: dict) -> dict:
    """Validate and coerce every setting of a merged settings dict (no image), by the settings schema."""
    lim, tiers = cfg.limits, cfg.resolution["tiers"]
    out = dict(s)
    for setting in SETTINGS:
        value = s.get(setting.name)
        if setting.kind == "text":
            out[setting.name] = clean_text(setting.label, value, lim[setting.limit], required=setting.name == "prompt")
        elif setting.nullable and value in (None, ""):
            out[setting.name] = None
        elif setting.kind == "float":
            out[setting.name] = round(_number(setting.label, value, *bounds(setting, lim)), 4)
        elif setting.kind == "int":
            out[setting.name] = _integer(setting.label, value, *bounds(setting, lim))
        elif setting.name != "resolution":  # a choice (the tier is resolved with the picture's size)
            value = str(value or cfg.defaults.get(setting.name) or "").lower()
            allowed = choices_of(setting, tiers)
            if setting.name == "scheduler" and value in allowed and value not in cfg.family["samplers"]:
                raise InvalidInput("family_sampler", name=setting.label, got=value, model=_model(cfg),
                                   choices=", ".join(cfg.family["samplers"]))
            if value not in allowed:
                raise InvalidInput("unknown_choice", what=setting.label, got=value, choices=", ".join(allowed))
            out[setting.name] = value
    fam = cfg.family
    for name in FAMILY_SETTINGS:
        if out.get(name) is not None and name not in fam.get("takes", ()):
            raise InvalidInput("family_knob", name=BY_NAME[name].label, model=_model(cfg))
    if "approximate" not in fam.get("takes", ()):  # I2VGen-XL's approximate methods and varying guidance
        for name, default in (("speed", "exact"), ("fast", 1), ("skip_threshold", 0.0), ("guidance_stop", 1.0),
                              ("guidance_schedule", "constant")):
            if name == "speed" and (out.get(name) in fam.get("cache_tiers", ()) or out.get(name) == "custom"):
                continue  # the family's own tiers (Wan: diffusers' cache hooks)
            if out.get(name) not in (None, default):
                raise InvalidInput("family_knob", name=BY_NAME[name].label, model=_model(cfg))
    if "target_fps" not in fam.get("takes", ()) and out.get("target_fps") not in (None, cfg.defaults["target_fps"]):
        raise InvalidInput("family_knob", name=BY_NAME["target_fps"].label, model=_model(cfg))
    check_frames_rule(cfg, out.get("num_frames"))
    return out


def check_frames_rule(cfg, frames) -> None:
    """A frame count the model's family makes (Wan: 4k+1), else one line with the nearest to try."""
    fam, lim = cfg.family, cfg.limits
    if isinstance(frames, int) and (frames - fam["frames_min"]) % fam["frames_step"]:
        k = round((frames - fam["frames_min"]) / fam["frames_step"])
        lo, hi = bounds(next(x for x in SETTINGS if x.name == "num_frames"), lim)
        near = sorted({max(lo, min(hi, fam["frames_min"] + (k + d) * fam["frames_step"])) for d in (-1, 0, 1)},
                      key=lambda n: (abs(n - frames), n))[0]
        first, step = fam["frames_min"], fam["frames_step"]
        raise InvalidInput("frames_rule", got=frames, step=step, first=first, second=first + step,
                           third=first + 2 * step, model=_model(cfg), suggest=near)


def check_partial(cfg: Config, s: dict) -> dict:
    """Validate only the settings given (a template's), by the same rules as a request."""
    unknown = sorted(set(s) - set(NAMES))
    if unknown:
        raise InvalidInput("unknown_settings", names=", ".join(unknown))
    checked = check_settings(cfg, {**cfg.defaults, "prompt": "-", **s})
    tiers = cfg.resolution["tiers"]
    if s.get("resolution") is not None and s["resolution"] not in tiers:
        raise InvalidInput("unknown_choice", what="resolution", got=s["resolution"], choices=", ".join(tiers))
    return {k: checked[k] if k != "resolution" else s[k] for k in s}


def restore_values(cfg: Config, s: dict) -> tuple[dict, list[Note]]:
    """Settings restored from a file (a sidecar, an MP4's comment), by the request's schema and limits.

    A finite number outside its range is clamped, and a note says so; a resolution that is not a tier of
    this studio is left out (noted).  Anything else wrong (text where a number belongs, NaN, a list, an
    unknown choice, an over-long prompt) refuses the file with the request's own line.
    """
    lim, tiers = cfg.limits, cfg.resolution["tiers"]
    out: dict = {}
    notes: list[Note] = []
    for setting in SETTINGS:
        if setting.name not in s:
            continue
        name, label, value = setting.name, setting.label, s[setting.name]
        if setting.kind == "text":
            out[name] = clean_text(label, value, lim[setting.limit], required=name == "prompt")
        elif value is None and (setting.nullable or name == "resolution"):
            out[name] = None
        elif name == "resolution":
            if not isinstance(value, str):
                raise InvalidInput("unknown_choice", what=label, got=echo(value), choices=", ".join(tiers))
            if value in tiers:
                out[name] = value
            elif value == "custom":  # a size of its own (an extended video keeps its source's): the nearest tier
                tier = nearest_tier(cfg, s.get("width"), s.get("height"))
                if tier is not None:
                    out[name] = tier
                    w, h = s["width"], s["height"]
                    mult = int(cfg.resolution.get("multiple", SIZE_MULTIPLE))
                    if size_for_budget(int(tiers[tier]), w / h, mult) != (w, h):  # (the tier makes it: no note)
                        notes.append(note("size_as_tier", width=w, height=h, tier=tier))
            else:  # a tier of another studio's config
                notes.append(note("not_here", name=label, got=echo(value)))
        elif setting.kind == "choice":
            allowed = choices_of(setting, tiers)
            if value not in allowed:
                raise InvalidInput("unknown_choice", what=label, got=echo(value), choices=", ".join(allowed))
            out[name] = value
        else:
            lo, hi = bounds(setting, lim)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidInput("not_a_number", name=label, got=echo(repr(value)), lo=_show(lo), hi=_show(hi))
            try:
                v = float(value)
            except OverflowError:  # a 400-digit whole number
                v = math.inf
            if not math.isfinite(v):
                raise InvalidInput("out_of_range", name=label, lo=_show(lo), hi=_show(hi), got=echo(value))
            if setting.kind == "int" and not v.is_integer():
                raise InvalidInput("not_whole", name=label, got=value, lo=_show(lo), hi=_show(hi))
            new = min(max(v, lo), hi)
            if new != v:
                notes.append(note("clamped", name=label, got=f"{v:g}", lo=_show(lo), hi=_show(hi), new=_show(new)))
            out[name] = int(new) if setting.kind == "int" else round(new, 4)
    preset = s.get("preset")
    if isinstance(preset, str) and preset in load_presets(presets_dir(cfg)):
        out["preset"] = preset
    return out, notes


def merge_settings(cfg: Config, preset: str | None, overrides: dict) -> dict:
    """defaults < preset < explicit values (None means 'not given')."""
    s = dict(cfg.defaults)
    s["resolution"] = None
    if preset:
        s.update(get_preset(preset, presets_dir(cfg)).settings)
    s.update({k: v for k, v in overrides.items() if v is not None})
    s["preset"] = preset or None
    return s


def build_request(cfg: Config, *, image: Any, prompt: Any, preset: str | None = None,
                  width: Any = None, height: Any = None, **overrides: Any) -> GenerationRequest:
    """Merge, validate and fit: the only way a request is made."""
    unknown = sorted(set(overrides) - set(NAMES))
    if unknown:
        raise InvalidInput("unknown_settings", names=", ".join(unknown))
    s = check_settings(cfg, merge_settings(cfg, preset, {"prompt": prompt, **overrides}))
    if "approximate" in cfg.family.get("takes", ("approximate",)):  # I2VGen-XL's tiers set its methods
        s = apply_tier(s)
    lim = cfg.limits
    src = open_image(image, max_pixels=lim["image_max_pixels"], max_bytes=lim["image_max_bytes"])
    w, h, tier = resolve_size(cfg, s.get("resolution"), src.width / src.height, width, height)
    return GenerationRequest(source=src, width=w, height=h, resolution=tier, preset=s["preset"],
                             **{k: s[k] for k in NAMES if k != "resolution"})


def expand_seeds(seed: Any, random_seed: bool, count: Any) -> list[int]:
    """Seeds for ``count`` videos of one request: random ones (-1), or seed, seed+1, ..."""
    n = max(1, int(count or 1))
    if random_seed:
        return [-1] * n
    base = _integer("seed", seed if seed not in (None, "") else 0, 0, MAX_SEED)
    return [min(MAX_SEED, base + i) for i in range(n)]
