"""User templates: named settings saved as YAML in the user's folder (never in ``presets/``).  Pure.

Templates use the preset format (same keys, same validation), so a template is
a preset the user made.  The folder is ``$I2V_HOME/templates`` (default
``~/.i2v-studio/templates``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

from .errors import InvalidInput
from .presets import PRESET_SETTINGS, Preset, parse_preset
from .video import atomic_path

_NAME = re.compile(r"^[\w\- ]{1,40}$", re.UNICODE)


def home_dir() -> Path:
    """The user's studio folder: $I2V_HOME, or ~/.i2v-studio (templates, logs)."""
    return Path(os.environ.get("I2V_HOME") or Path.home() / ".i2v-studio")


def templates_dir() -> Path:
    return home_dir() / "templates"


def _path(name: str, folder: Path | None = None) -> Path:
    name = (name or "").strip()
    if not _NAME.fullmatch(name) or name.startswith((".", "-")):
        raise InvalidInput("template_name", name=name)
    return (folder or templates_dir()) / f"{name}.yaml"


def save_template(name: str, settings: dict, folder: Path | None = None) -> Preset:
    clean = {k: settings[k] for k in PRESET_SETTINGS if settings.get(k) is not None}
    preset = parse_preset({"name": name.strip(), **clean}, source=f"{name}.yaml")
    path = _path(name, folder)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(preset.to_json(), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return preset


def list_templates(folder: Path | None = None) -> dict[str, Preset]:
    folder = folder or templates_dir()
    out: dict[str, Preset] = {}
    for p in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            preset = parse_preset(yaml.safe_load(p.read_text(encoding="utf-8")), source=p.name)
        except (InvalidInput, yaml.YAMLError, OSError):
            continue  # a hand-edited broken file must not break the studio
        out[preset.name] = preset
    return out


def delete_template(name: str, folder: Path | None = None) -> None:
    path = _path(name, folder)
    if not path.exists():
        raise InvalidInput("no_template", name=name)
    path.unlink()
