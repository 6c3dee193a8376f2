"""Studio configuration: ``configs/default.yaml`` plus overrides.  Pure (no torch)."""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..families import find_model, model_names, served_pipelines, synthetic_models, variant_of_source
from .errors import InvalidInput, echo

# The speed levers' values (their meaning: i2v/engine/speed.py)
ATTENTION_KINDS = ("spatial", "temporal", "cross")
BACKENDS = ("auto", "math", "flash", "efficient", "cudnn")
MEMORY_FORMATS = ("contiguous", "channels_last")
COMPILE_MODES = ("off", "regional", "full")
TEMPORAL_CONVS = ("native", "matmul")
FP8_MODES = ("off", "on")
# How a long video's segments are matched in colour (their meaning: i2v/media/joins.py)
COLOUR_METHODS = ("lab", "histogram", "off")

ROOT = Path(__file__).resolve().parent.parent.parent  # (i2v/base/config.py)
CONFIG_DIR = ROOT / "configs"
PRESETS_DIR = ROOT / "presets"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"


def _builtin() -> dict[str, Any]:
    """The shipped configs/default.yaml: the one source of every default (it documents each key)."""
    try:
        data = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput("config_yaml", path=DEFAULT_CONFIG, detail=str(exc).splitlines()[0]) from None
    if not isinstance(data, dict):
        raise InvalidInput("config_not_mapping", path=DEFAULT_CONFIG)
    return data


# -- checking values: type and range, with the file and key in the message ---------------------------

def _num(lo: float | None = None, hi: float | None = None, *, integer: bool = False, none: bool = False):
    def check(v) -> str | None:
        if v is None:
            return None if none else "must be set"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and (
                not math.isfinite(v) or (integer and not v.is_integer()))):  # NaN and inf too (.nan, .inf)
            return f"must be {'a whole number' if integer else 'a finite number'} (got {echo(repr(v), 40)})"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"must be between {lo:g} and {hi:g} (got {echo(repr(v), 40)})" if hi is not None else \
                f"must be at least {lo:g} (got {echo(repr(v), 40)})"
        return None
    return check


def _text(*, none: bool = False, choices: tuple[str, ...] | None = None):
    def check(v) -> str | None:
        if v is None:
            return None if none else "must be set"
        if not isinstance(v, str):
            return f"must be text (got {v!r})"
        if choices is not None and v not in choices:
            return f"must be one of {', '.join(choices)} (got {v!r})"
        return None
    return check


def _flag(v) -> str | None:
    return None if isinstance(v, bool) else f"must be true or false (got {v!r})"


def _pair(lo: float, hi: float, *, integer: bool = False):
    one = _num(lo, hi, integer=integer)

    def check(v) -> str | None:
        if not (isinstance(v, list) and len(v) == 2):
            return f"must be a pair [low, high] (got {v!r})"
        bad = one(v[0]) or one(v[1])
        if bad:
            return bad
        return None if v[0] <= v[1] else f"low must not exceed high (got {v!r})"
    return check


def _attention(v) -> str | None:
    if not isinstance(v, dict) or set(v) - set(ATTENTION_KINDS):
        return f"must map {', '.join(ATTENTION_KINDS)} to a kernel (got {v!r})"
    bad = {k: b for k, b in v.items() if b not in BACKENDS}
    return f"kernels are {', '.join(BACKENDS)} (got {bad!r})" if bad else None


def _tiers(v) -> str | None:
    if not isinstance(v, dict) or not v:
        return "must map tier names to pixel budgets"
    for name, pixels in v.items():
        if not isinstance(name, str) or _num(64 * 64, 4096 * 4096, integer=True)(pixels):
            return f"tier {name!r} must be a pixel budget between 4096 and 16777216 (got {pixels!r})"
    return None


CHECKS: dict[str, Any] = {
    "model.source": _text(), "model.revision": _text(none=True), "model.fallback": _text(none=True),
    "model.hub_probe_timeout_s": _num(0.1, 120), "model.random_weights_seed": _num(0, 2**32 - 1, integer=True),
    "model.compile": _flag, "model.switch": _flag, "model.switch_patience_s": _num(0, 86400),
    "speed.memory_format": _text(choices=MEMORY_FORMATS), "speed.fuse_qkv": _flag, "speed.attention": _attention,
    "speed.compile": _text(choices=COMPILE_MODES), "speed.temporal_conv": _text(choices=TEMPORAL_CONVS),
    "speed.fp8": _text(choices=FP8_MODES),
    "outputs_dir": _text(),
    "retention.max_age_days": _num(0.001, None, none=True), "retention.max_total_gb": _num(0.001, None, none=True),
    "retention.upload_cache_max_age_h": _num(0.01, None), "retention.upload_cache_max_mb": _num(1, None),
    "retention.min_free_mb": _num(0, None),
    "long.max_segments": _num(1, 64, integer=True), "long.overlap": _num(0, 8, integer=True),
    "long.colour": _text(choices=COLOUR_METHODS), "long.colour_strength": _num(0, 1),
    "long.storyboard_max_chars": _num(1, 1_000_000, integer=True),
    "autotune.draft_frames": _num(2, 64, integer=True), "autotune.draft_steps": _num(1, 150, integer=True),
    "resolution.tiers": _tiers, "resolution.default_tier": _text(),
    "resolution.multiple": _num(8, 512, integer=True), "resolution.min_side": _num(64, 4096, integer=True),
    "resolution.max_side": _num(64, 8192, integer=True), "resolution.max_pixels": _num(4096, 2**26, integer=True),
    "limits.prompt_max_chars": _num(1, 100_000, integer=True), "limits.guidance": _pair(0, 100),
    "limits.steps": _pair(1, 1000, integer=True), "limits.frames": _pair(1, 512, integer=True),
    "limits.fps": _pair(1, 240, integer=True), "limits.target_fps": _pair(1, 240, integer=True),
    "limits.decode_chunk_size": _pair(1, 512, integer=True), "limits.fast": _pair(1, 50, integer=True),
    "limits.skip_threshold": _pair(0, 1), "limits.guidance_stop": _pair(0, 1),
    "limits.image_max_pixels": _num(1, 2**31, integer=True), "limits.image_max_bytes": _num(1, 2**40, integer=True),
    "limits.video_max_pixels": _num(1, 2**31, integer=True), "limits.video_max_seconds": _num(0.1, 86400),
    "limits.smooth_max_frames": _num(2, 100_000, integer=True),
    "limits.restore_max_bytes": _num(1024, 2**26, integer=True), "limits.templates_max": _num(1, 10_000, integer=True),
    "limits.template_max_bytes": _num(1024, 2**20, integer=True),
    "limits.batch_max_videos": _num(1, 1_000_000, integer=True),
}


def _validate(data: dict, path: Path) -> None:
    def bad(key: str, problem: str):
        return InvalidInput("config_value", path=path, key=key, problem=problem)

    for key, check in CHECKS.items():
        section, _, name = key.partition(".")
        value = data[section][name] if name else data[section]
        problem = check(value)
        if problem:
            raise bad(key, problem)
    res = data["resolution"]
    if res["default_tier"] not in res["tiers"]:
        raise bad("resolution.default_tier", f"must be one of {', '.join(res['tiers'])} (got {res['default_tier']!r})")
    if res["min_side"] > res["max_side"]:
        raise bad("resolution.min_side", "must not exceed resolution.max_side")
    from .settings import check_defaults  # the generation defaults, by the settings schema

    problem = check_defaults(data["defaults"], data["limits"], res["tiers"])
    if problem:
        raise bad(f"defaults.{problem[0]}", problem[1])


def _merge(base: dict, over: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if key not in base:
            raise InvalidInput("config_key", key=f"{where}{key}", allowed=", ".join(sorted(base)))
        if isinstance(base[key], dict) and key != "tiers":  # tiers: replaced whole
            if not isinstance(value, dict):
                raise InvalidInput("config_mapping", key=f"{where}{key}")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


@dataclass
class Config:
    data: dict = field(default_factory=_builtin)
    root: Path = ROOT
    # the settings as read and checked, before a model's family filled in its defaults (:meth:`for_model`)
    plain: dict | None = field(default=None, repr=False, compare=False)

    def for_model(self, source: str) -> Config:
        """The same settings for another model: that model's family fills what the user's config left at the
        shipped defaults, as at the start (the speed options given on the command line are kept).  A model
        named here that cannot be loaded is an error, never the demo model, unless it is the configured one."""
        check_model_source(source)
        plain = self.plain if self.plain is not None else _builtin()
        data = copy.deepcopy(plain)
        if source != data["model"]["source"]:
            data["model"]["source"], data["model"]["fallback"] = source, None
        data["speed"] = copy.deepcopy(self.data["speed"])
        data["model"]["compile"] = False
        cfg = Config(data, self.root, plain)
        apply_family(cfg)
        return cfg

    # -- accessors used across the code base ---------------------------------
    @property
    def model(self) -> dict:
        return self.data["model"]

    @property
    def family(self) -> dict:
        """The model's family and variant (:func:`apply_family`, run by load_config or on first use)."""
        if "family" not in self.data:
            apply_family(self)
        return self.data["family"]

    @property
    def limits(self) -> dict:
        return self.data["limits"]

    @property
    def speed(self) -> dict:
        return self.data["speed"]

    @property
    def defaults(self) -> dict:
        return self.data["defaults"]

    @property
    def resolution(self) -> dict:
        return self.data["resolution"]

    @property
    def outputs_dir(self) -> Path:
        p = Path(os.environ.get("I2V_OUTPUTS") or self.data["outputs_dir"])
        return p if p.is_absolute() else self.root / p


def load_config(path: str | os.PathLike | None = None, *, model: str | None = None,
                compile: bool | str | None = None, speed: dict | None = None, fallback: str | None = None) -> Config:
    """Read the YAML config (``I2V_CONFIG`` or configs/default.yaml) and apply overrides.

    Precedence for the model source: explicit ``model`` argument > ``I2V_MODEL`` > file.  ``compile``
    (``--compile [MODE]``; True is ``full``) and ``speed`` (the other speed options given, by key) override
    the file's ``speed:`` and are checked the same way.  ``model.compile: true`` is the old spelling of
    ``speed.compile: full``.

    A model the user named (``model`` or ``I2V_MODEL``) that cannot be loaded is an error: the config's
    ``model.fallback`` (the demo model, for the default model offline) applies to it only when ``fallback``
    asks for it (``--fallback tiny``).
    """
    path = Path(path or os.environ.get("I2V_CONFIG") or DEFAULT_CONFIG)
    raw: dict = {}
    if path.resolve() != DEFAULT_CONFIG.resolve():
        if not path.is_file():
            raise InvalidInput("config_missing", path=path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput("config_yaml", path=path, detail=str(exc).splitlines()[0]) from None
        if not isinstance(raw, dict):
            raise InvalidInput("config_not_mapping", path=path)
    cfg = Config(_merge(_builtin(), raw))
    _validate(cfg.data, path)
    source = model or os.environ.get("I2V_MODEL")
    if source and source != cfg.data["model"]["source"]:
        cfg.data["model"]["source"] = source
        cfg.data["model"]["fallback"] = None
    if fallback not in (None, ""):
        if fallback not in SYNTHETIC_MODELS:
            raise InvalidInput("unknown_choice", what="fallback model", got=fallback,
                               choices=", ".join(SYNTHETIC_MODELS))
        cfg.data["model"]["fallback"] = fallback
    check_model_source(cfg.data["model"]["source"], folder_checked=not cfg.data["model"]["fallback"])
    cfg.plain = copy.deepcopy(cfg.data)
    apply_family(cfg)
    sp = cfg.data["speed"]
    if cfg.data["model"]["compile"] and sp["compile"] == "off":
        sp["compile"] = "full"
    cfg.data["model"]["compile"] = False  # one source from here on: speed.compile
    over = {**(speed or {}), **({"compile": "full" if compile is True else compile} if compile else {})}
    if over:
        sp.update({k: v for k, v in over.items() if k != "attention"})
        sp["attention"] = {**sp["attention"], **(over.get("attention") or {})}
        for key in [k for k in CHECKS if k.startswith("speed.")]:
            problem = CHECKS[key](sp[key.split(".")[1]])
            if problem:
                raise InvalidInput("config_value", path="the command line", key=key, problem=problem)
    return cfg


SYNTHETIC_MODELS = synthetic_models()  # every family's tiny and random-full models


def apply_family(cfg: Config) -> None:
    """The model's family (i2v/families/) decides what the shipped defaults leave open: the shipped file's
    defaults are I2VGen-XL's, so a value the user's config left at the shipped one becomes the family's own
    (frames, MP4 fps, steps, guidance, sampler, the authors' negative prompt, the size multiple, the frame
    range).  ``cfg.family`` records the family and variant for the checks and the metadata."""
    fam, var = variant_of_source(cfg.data["model"]["source"])
    geo, knobs, shipped = var.geometry, var.knobs, _builtin()
    own = {"num_frames": geo.frames_default, "fps": geo.fps, "num_inference_steps": knobs.steps_default,
           "guidance_scale": knobs.guidance_default, "scheduler": knobs.samplers[0]}
    if knobs.negative_default:
        own["negative_prompt"] = knobs.negative_default
    d = cfg.data["defaults"]
    for key, value in own.items():
        if d.get(key) == shipped["defaults"].get(key):
            d[key] = value
    m = cfg.data["model"]
    found = find_model(m["source"])
    if found and m.get("revision") == shipped["model"]["revision"] and found[1].hub_id != shipped["model"]["source"]:
        m["revision"] = found[1].revision  # the shipped pin is the default model's, not this one's
    res, lim = cfg.data["resolution"], cfg.data["limits"]
    if res.get("multiple") == shipped["resolution"].get("multiple"):
        res["multiple"] = geo.multiple
    if list(lim["frames"]) == list(shipped["limits"]["frames"]):
        lim["frames"] = [geo.frames_min, geo.frames_max]
    if list(lim["guidance"]) == list(shipped["limits"]["guidance"]):
        lim["guidance"] = list(knobs.guidance_range)
    cfg.data["family"] = {"name": fam.name, "title": var.title, "variant": var.key, "samplers": list(knobs.samplers),
                          "frames_min": geo.frames_min, "frames_step": geo.frames_step, "fps": geo.fps,
                          "knobs_source": knobs.source, "guidance_default": knobs.guidance_default,
                          "safe_zone": list(knobs.safe_zone), "sweep_values": list(knobs.sweep_values),
                          "recommender": knobs.recommender, "zones_source": knobs.zones_source,
                          "presets": var.presets, "memory": fam.memory, "latent_scale": geo.multiple // 2,
                          "native": list(geo.native),
                          # the settings of some families only that this one takes
                          "takes": [k for k, default in (("flow_shift", knobs.shift_default),
                                                         ("guidance_scale_2", knobs.guidance_2_default))
                                    if default is not None]
                          # I2VGen-XL's own loop: its approximate methods and a guidance varying step by step
                          + (["approximate", "guidance_schedule"] if knobs.approximate else [])
                          + (["target_fps"] if knobs.fps_conditioning else [])
                          + (["speed"] if knobs.cache_tiers else []),
                          "cache_tiers": sorted(knobs.cache_tiers), "cache_tier_settings": dict(knobs.cache_tiers),
                          "cache_flop_ratio": dict(knobs.cache_flop_ratio)}


MODEL_SOURCE_MAX = 1024  # characters of a --model value (a path or a hub id), checked before the file system sees it


def check_model_source(source: str, folder_checked: bool = True) -> None:
    """A bare word that is neither a built-in model nor a folder here is a typo, not a hub id (those are
    owner/name): say so at once instead of falling back to the noise model.  A folder with no fallback to
    take its place is checked for a pipeline the studio serves."""
    if not isinstance(source, str) or not source.strip() or len(source) > MODEL_SOURCE_MAX:
        raise InvalidInput("model_unknown", source=echo(str(source), 80), names=", ".join(model_names()))
    folder = Path(source).expanduser()
    try:
        is_dir = folder.is_dir()
    except (OSError, ValueError):  # a name the file system refuses (too long, a NUL): no such folder
        is_dir = False
    if is_dir:
        if folder_checked:
            check_model_folder(folder)
        return
    if find_model(source):
        return
    if source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1:
        # a path (a hub id is owner/name): the folder must be there
        raise InvalidInput("model_folder_missing", path=echo(source, 120))
    if "/" in source:
        return
    raise InvalidInput("model_unknown", source=echo(source, 80), names=", ".join(model_names()))


# The pipelines whose diffusers-layout folders the studio serves (a folder's model_index.json names one).
SERVED_PIPELINES = served_pipelines()


def check_model_folder(folder: Path) -> None:
    """A local folder names its pipeline in ``model_index.json`` (read bounded, before any weight): a folder of
    another pipeline, or none, is one line at once, not a load that fails later (or a silent demo model)."""
    index = folder / "model_index.json"
    if not index.is_file():
        raise InvalidInput("model_folder_no_index", path=folder.name)
    try:
        with index.open("rb") as f:
            data = json.loads(f.read(1 << 20).decode("utf-8"))
        name = data.get("_class_name") if isinstance(data, dict) else None
    except (OSError, ValueError):
        name = None
    if name not in SERVED_PIPELINES:
        raise InvalidInput("model_pipeline", path=folder.name, got=str(name)[:60],
                           served=", ".join(SERVED_PIPELINES))
