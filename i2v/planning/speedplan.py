"""The planned speed levers for a card (issue 20): ``configs/speed-gpu.yaml`` read and picked from by card
name or compute capability and size.  Pure policy: no torch, no engine.  Rows not measured on a card
carry only levers exact and never slower by construction; a measured row says the card and versions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..base.config import CONFIG_DIR

SPEED_GPU_FILE = CONFIG_DIR / "speed-gpu.yaml"
_NOISE = re.compile(r"^(nvidia|geforce|tesla|quadro|\d+gb|hbm\d*e?|pcie|sxm\d*|nvl|mig.*|\d+g)$")


def card_slug(name: str) -> str:
    """A short file-name slug of a device name: 'NVIDIA H100 80GB HBM3' -> 'h100', 'NVIDIA GeForce RTX 4090'
    -> 'rtx-4090', 'NVIDIA A100-SXM4-80GB' -> 'a100', 'cpu' -> 'cpu'."""
    words = [w for w in re.split(r"[\s\-_/()]+", name.lower()) if w and not _NOISE.match(w)]
    return "-".join(words[:3]) or "gpu"


@dataclass
class SpeedEntry:
    name: str
    card: str                    # regex on the device name ('.*': any)
    min_capability: float        # compute capability, e.g. 8.9
    max_pixels: int | None       # the entry holds for width*height up to this (None: any)
    speed: dict                  # the levers, as the config's speed: section takes them
    measured: bool
    measured_on: dict | None = None
    reserve_gib: float = 0.0     # memory the levers add (compile's workspace), kept free by the planner
    why: str = ""
    extra: dict = field(default_factory=dict)


def load_speed_table(path: Path | None = None) -> list[SpeedEntry]:
    from ..base.config import CHECKS
    from ..base.errors import InvalidInput

    path = Path(path or SPEED_GPU_FILE)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for row in data.get("entries") or []:
        for key, value in (row.get("speed") or {}).items():  # the levers checked as the config checks them
            check = CHECKS.get(f"speed.{key}")
            problem = "is not a speed lever" if check is None else check(value)
            if problem:
                raise InvalidInput("config_value", path=path, key=f"{row.get('name')}: speed.{key}", problem=problem)
        out.append(SpeedEntry(name=row["name"], card=row.get("card", ".*"),
                              min_capability=float(row.get("min_capability", 0)), max_pixels=row.get("max_pixels"),
                              speed=dict(row.get("speed") or {}), measured=bool(row.get("measured", False)),
                              measured_on=row.get("measured_on"), reserve_gib=float(row.get("reserve_gib", 0)),
                              why=row.get("why", "")))
    return out


def pick(device_name: str, capability: float, width: int, height: int, *, free_gib: float | None = None,
         needed_gib: float = 0.0, table: list[SpeedEntry] | None = None) -> SpeedEntry | None:
    """The first entry whose card pattern matches ``device_name``, whose capability floor the card meets and
    whose size covers ``width`` x ``height``.  With ``free_gib``, an entry whose ``reserve_gib`` does not fit
    beside ``needed_gib`` (the memory plan's predicted peak) is passed over, so the memory targets hold."""
    for e in table if table is not None else load_speed_table():
        if not re.search(e.card, device_name, re.IGNORECASE) or capability < e.min_capability:
            continue
        if e.max_pixels is not None and width * height > e.max_pixels:
            continue
        if free_gib is not None and e.reserve_gib and needed_gib + e.reserve_gib > free_gib:
            continue
        return e
    return None


def planned_speed(user_speed: dict, default_speed: dict, device_name: str | None, capability: float,
                  width: int, height: int, **kw) -> tuple[dict, SpeedEntry | None]:
    """The speed levers to run: the user's when they changed any from the defaults (or there is no card),
    else the picked entry's on top of the defaults."""
    if device_name is None or user_speed != default_speed:
        return user_speed, None
    e = pick(device_name, capability, width, height, **kw)
    if e is None:
        return user_speed, None
    merged = {**default_speed, **{k: v for k, v in e.speed.items() if k != "attention"}}
    merged["attention"] = {**default_speed.get("attention", {}), **(e.speed.get("attention") or {})}
    return merged, e


def default_speed() -> dict:
    """The ``speed:`` section of the shipped configs/default.yaml."""
    from ..base.config import _builtin

    return _builtin()["speed"]


def normalized(speed: dict) -> dict:
    """``speed`` with every lever spelled out (the defaults filled in), to compare two configurations."""
    base = default_speed()
    out = {**base, **{k: v for k, v in speed.items() if k != "attention"}}
    out["attention"] = {**base["attention"], **(speed.get("attention") or {})}
    return out


def plan_vs_measured(rows: list[dict], device_name: str, capability: float, tol: float) -> list[dict]:
    """For each size of a ``bench --gpu --speed`` run: the row the planner would run and the fastest exact
    row measured (``max_abs_diff`` within ``tol``)."""
    out = []
    for size in dict.fromkeys(r["size"] for r in rows):
        w, h = (int(x) for x in size.split("x"))
        here = [r for r in rows if r["size"] == size and "s_per_video" in r and r.get("steps") == rows[0].get("steps")
                and r["config"] != "diffusers stock"]
        e = pick(device_name, capability, w, h)
        want = normalized(e.speed) if e else None
        planned = next((r for r in here if normalized(r.get("speed") or {}) == want), None)
        exact = [r for r in here if (r.get("max_abs_diff") or 0) <= tol]
        fastest = min(exact, key=lambda r: r["s_per_video"]) if exact else None
        out.append({"size": size, "entry": e.name if e else None, "measured": e.measured if e else None,
                    "planned_row": planned["config"] if planned else None,
                    "planned_s": planned["s_per_video"] if planned else None,
                    "fastest_exact_row": fastest["config"] if fastest else None,
                    "fastest_s": fastest["s_per_video"] if fastest else None})
    return out
