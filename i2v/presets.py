"""Presets: one YAML file per preset under ``presets/``.  Pure (no torch).

A preset fills generation settings; explicit user values override it.  Unknown
keys are rejected so a typo in a preset file never silently does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config import PRESETS_DIR
from .errors import InvalidInput

# Settings a preset may fill (the same names as GenerationRequest's fields).
PRESET_SETTINGS = (
    "num_inference_steps",
    "guidance_scale",
    "num_frames",
    "resolution",
    "fps",
    "target_fps",
    "negative_prompt",
    "scheduler",
    "decode_chunk_size",
    "guidance_schedule",
    "guidance_end",
)
_META = ("name", "description")


@dataclass(frozen=True)
class Preset:
    name: str
    settings: dict
    description: dict = field(default_factory=dict)

    def describe(self, lang: str = "en") -> str:
        return self.description.get(lang) or self.description.get("en") or ""

    def to_json(self) -> dict:
        return {"name": self.name, "description": dict(self.description), **self.settings}


def parse_preset(data: object, *, source: str) -> Preset:
    if not isinstance(data, dict):
        raise InvalidInput(f"preset {source} must be a mapping")
    unknown = sorted(set(data) - set(PRESET_SETTINGS) - set(_META))
    if unknown:
        raise InvalidInput(
            f"preset {source} has unknown key(s): {', '.join(unknown)}",
            hint=f"allowed: {', '.join(PRESET_SETTINGS)}",
        )
    name = data.get("name") or Path(source).stem
    desc = data.get("description") or {}
    if isinstance(desc, str):
        desc = {"en": desc}
    settings = {k: data[k] for k in PRESET_SETTINGS if k in data}
    return Preset(name=str(name), settings=settings, description=dict(desc))


def load_presets(folder: Path = PRESETS_DIR) -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"preset file {path.name} is not valid YAML: {exc}") from None
        preset = parse_preset(data, source=path.name)
        presets[preset.name] = preset
    return presets


def get_preset(name: str, folder: Path = PRESETS_DIR) -> Preset:
    presets = load_presets(folder)
    if name not in presets:
        raise InvalidInput(f"unknown preset '{name}'", hint=f"choose one of: {', '.join(presets)}")
    return presets[name]
