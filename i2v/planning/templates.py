"""User templates: named settings saved as YAML in the user's folder (never in ``presets/``).  Pure.

Templates use the preset format (same keys, same validation), so a template is
a preset the user made.  The folder is ``$I2V_HOME/templates`` (default
``~/.i2v-studio/templates``).  Every template joins everyone's preset list, so their number
(``limits.templates_max``) and each file's size (``limits.template_max_bytes``) are capped.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import yaml

from ..base.config import Config
from ..base.errors import InvalidInput, echo
from .presets import PRESET_SETTINGS, Preset, parse_preset
from ..media.video import atomic_path

_NAME = re.compile(r"^[\w\- ]{1,40}$", re.UNICODE)
_SAVING = threading.Lock()  # the count is checked and the file written as one step


def home_dir() -> Path:
    """The user's studio folder: $I2V_HOME, or ~/.i2v-studio (templates, logs)."""
    return Path(os.environ.get("I2V_HOME") or Path.home() / ".i2v-studio")


def templates_dir() -> Path:
    return home_dir() / "templates"


def _path(name: str, folder: Path | None = None) -> Path:
    name = (name or "").strip()
    if not _NAME.fullmatch(name) or name.startswith((".", "-")):
        raise InvalidInput("template_name", name=echo(name))
    return (folder or templates_dir()) / f"{name}.yaml"


def save_template(name: str, settings: dict, cfg: Config, folder: Path | None = None) -> Preset:
    """Save (or replace) the template ``name`` with the preset settings in ``settings`` (others ignored),
    checked by the request's rules.  A new name beyond ``limits.templates_max`` is refused, and so is a
    file over ``limits.template_max_bytes``."""
    from .request import check_partial

    path = _path(name, folder)
    name = (name or "").strip()
    clean = check_partial(cfg, {k: settings[k] for k in PRESET_SETTINGS if settings.get(k) is not None})
    preset = parse_preset({"name": name, **clean}, source=f"{name}.yaml")
    text = yaml.safe_dump(preset.to_json(), allow_unicode=True, sort_keys=False).encode("utf-8")
    lim = cfg.limits
    if len(text) > lim["template_max_bytes"]:
        raise InvalidInput("template_too_big", name=name, size=len(text), limit=lim["template_max_bytes"])
    with _SAVING:
        count = len(list(path.parent.glob("*.yaml"))) if path.parent.is_dir() else 0
        if not path.exists() and count >= lim["templates_max"]:
            raise InvalidInput("template_count", count=count, limit=lim["templates_max"])
        with atomic_path(path) as tmp:
            tmp.write_bytes(text)
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
        raise InvalidInput("no_template", name=echo(name))
    path.unlink()
