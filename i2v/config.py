"""Studio configuration: ``configs/default.yaml`` plus overrides.  Pure (no torch)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "configs"
PRESETS_DIR = ROOT / "presets"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"

# What default.yaml says when the file or a key is missing; the file documents each key.
_BUILTIN: dict[str, Any] = {
    "model": {
        "source": "ali-vilab/i2vgen-xl",
        "revision": "39e1979ea27be737b0278c06755e321f2b4360d5",
        "fallback": "tiny",
        "hub_probe_timeout_s": 3,
        "random_weights_seed": 0,
    },
    "outputs_dir": "outputs",
    "retention": {"max_age_days": None, "max_total_gb": None},
    "resolution": {
        "tiers": {"256p": 65536, "384p": 147456, "512p": 262144, "768p": 589824, "native": 901120},
        "default_tier": "512p",
        "multiple": 64,
        "min_side": 128,
        "max_side": 1536,
        "max_pixels": 1179648,
    },
    "limits": {
        "prompt_max_chars": 1000,
        "guidance": [1.0, 20.0],
        "steps": [1, 150],
        "frames": [2, 64],
        "fps": [1, 60],
        "target_fps": [1, 60],
        "decode_chunk_size": [1, 64],
        "image_max_pixels": 40_000_000,
        "image_max_bytes": 50 * 1024 * 1024,
    },
    "defaults": {
        "negative_prompt": "",
        "guidance_scale": 9.0,
        "num_inference_steps": 50,
        "num_frames": 16,
        "fps": 8,
        "target_fps": 16,
        "decode_chunk_size": 8,
        "scheduler": "ddim",
        "seed": -1,
        "guidance_schedule": "constant",
        "guidance_end": None,
    },
}


def _merge(base: dict, over: dict, where: str = "") -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if key not in base:
            raise InvalidInput(f"unknown config key '{where}{key}'", hint=f"allowed: {', '.join(sorted(base))}")
        if isinstance(base[key], dict) and key != "tiers":
            if not isinstance(value, dict):
                raise InvalidInput(f"config key '{where}{key}' must be a mapping")
            out[key] = _merge(base[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


@dataclass
class Config:
    data: dict = field(default_factory=lambda: copy.deepcopy(_BUILTIN))
    root: Path = ROOT

    # -- accessors used across the code base ---------------------------------
    @property
    def model(self) -> dict:
        return self.data["model"]

    @property
    def limits(self) -> dict:
        return self.data["limits"]

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


def load_config(path: str | os.PathLike | None = None, *, model: str | None = None) -> Config:
    """Read the YAML config (``I2V_CONFIG`` or configs/default.yaml) and apply overrides.

    Precedence for the model source: explicit ``model`` argument > ``I2V_MODEL`` > file.
    """
    path = Path(path or os.environ.get("I2V_CONFIG") or DEFAULT_CONFIG)
    raw: dict = {}
    if path.exists():
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InvalidInput(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise InvalidInput(f"config file {path} must hold a mapping")
    cfg = Config(_merge(_BUILTIN, raw))
    source = model or os.environ.get("I2V_MODEL")
    if source:
        cfg.data["model"]["source"] = source
    return cfg
