"""Presets: one YAML file per preset under ``presets/``.  Pure (no torch).

A preset fills generation settings; explicit user values override it.  Unknown
keys are rejected so a typo in a preset file never silently does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..base.config import PRESETS_DIR
from ..base.errors import InvalidInput
from ..base.settings import PRESET_KEYS

# Settings a preset may fill (from the settings schema).
PRESET_SETTINGS = PRESET_KEYS
_META = ("name", "label", "description", "order")


@dataclass(frozen=True)
class Preset:
    name: str
    settings: dict
    description: dict = field(default_factory=dict)
    label: dict = field(default_factory=dict)
    order: int = 100              # place in the page's list and `presets` (then by name)

    def title(self, lang: str = "en") -> str:
        """The name shown in the page's preset list, in the user's language."""
        return self.label.get(lang) or self.label.get("en") or self.name

    def describe(self, lang: str = "en") -> str:
        """Its purpose and its numbers (taken from the settings, never repeated in prose)."""
        s = self.settings
        nums = {"en": "{title}: {steps} steps, guidance {g}, {frames} frames at {res}",
                "zh": "{title}：{steps} 步，引导系数 {g}，{res} 下 {frames} 帧"}["zh" if lang == "zh" else "en"]
        text = nums.format(title=self.title(lang), steps=s.get("num_inference_steps", "—"),
                           g=s.get("guidance_scale", "—"), frames=s.get("num_frames", "—"),
                           res=s.get("resolution", "—"))
        purpose = self.description.get(lang) or self.description.get("en")
        return f"{text}{'（' + purpose + '）' if lang == 'zh' else ' (' + purpose + ')'}" if purpose else text

    def to_json(self) -> dict:
        return {"name": self.name, "label": dict(self.label), "description": dict(self.description), **self.settings}


def parse_preset(data: object, *, source: str) -> Preset:
    if not isinstance(data, dict):
        raise InvalidInput("preset_mapping", source=source)
    unknown = sorted(set(data) - set(PRESET_SETTINGS) - set(_META))
    if unknown:
        raise InvalidInput("preset_keys", source=source, names=", ".join(unknown), allowed=", ".join(PRESET_SETTINGS))
    name = data.get("name") or Path(source).stem
    desc, label = data.get("description") or {}, data.get("label") or {}
    desc, label = ({"en": x} if isinstance(x, str) else dict(x) for x in (desc, label))
    settings = {k: data[k] for k in PRESET_SETTINGS if k in data}
    order = data.get("order", 100)
    if isinstance(order, bool) or not isinstance(order, int):
        raise InvalidInput("preset_keys", source=source, names=f"order: {order!r} (a whole number)",
                           allowed=", ".join(PRESET_SETTINGS))
    return Preset(name=str(name), settings=settings, description=desc, label=label, order=order)


def presets_dir(cfg) -> Path:
    """The presets of the configured model's family and variant: presets/ (I2VGen-XL's), or a folder under it
    (Wan's: presets/wan2.2-ti2v-5b/, presets/wan2.2-i2v-a14b/)."""
    return PRESETS_DIR / cfg.family.get("presets", "")


def load_presets(folder: Path | None = None) -> dict[str, Preset]:
    folder = folder or PRESETS_DIR
    presets: dict[str, Preset] = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput("preset_yaml", name=path.name, detail=str(exc).splitlines()[0]) from None
        preset = parse_preset(data, source=path.name)
        presets[preset.name] = preset
    return dict(sorted(presets.items(), key=lambda kv: (kv[1].order, kv[0])))


def get_preset(name: str, folder: Path | None = None) -> Preset:
    presets = load_presets(folder)
    if name not in presets:
        raise InvalidInput("unknown_choice", what="preset", got=name, choices=", ".join(presets))
    return presets[name]
