"""A batch file (YAML): its entries checked and expanded into the jobs it asks for."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import yaml

from ..base.errors import InvalidInput, echo
from ..base.settings import NAMES, REQUEST_EXTRAS, canonical
from ..planning.longplan import LONG_KEYS
from .autotune import TUNE_KEYS

# Keys of a batch-file entry: every setting (or its alias), the picture, preset, size, a count of seeds,
# and what makes it a long video (segments, a storyboard, ...).
BATCH_KEYS = set(NAMES) | set(REQUEST_EXTRAS) | {"count"} | set(LONG_KEYS) | set(TUNE_KEYS)


def load_jobs(path: Path) -> list[dict]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput("job_file_unreadable", path=path, detail=str(exc).splitlines()[0]) from None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    if not isinstance(data, list) or not data:
        raise InvalidInput("job_file_empty", path=path)
    entries = []
    for i, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise InvalidInput("job_entry_mapping", n=i + 1)
        entry = canonical(raw)
        unknown = sorted(set(entry) - BATCH_KEYS)
        if unknown:
            raise InvalidInput("job_entry_keys", n=i + 1, names=", ".join(unknown))
        if entry.get("image") and not Path(str(entry["image"])).is_absolute():
            entry["image"] = str((Path(path).parent / str(entry["image"])).resolve())
        entries.append(entry)
    return entries


def batch_count(entry: dict, n: int, limit: int) -> int:
    """An entry's ``count`` (1 when absent): a whole number from 1 to ``limit``, else one line naming the entry
    (``.inf``, a 400-digit number or text included), read before anything is expanded."""
    raw = entry.get("count", 1)
    if raw is None:
        return 1
    ok = isinstance(raw, int) and not isinstance(raw, bool) or isinstance(raw, float) and math.isfinite(raw) \
        and raw.is_integer()
    if not ok or not 1 <= raw <= limit:
        raise InvalidInput("job_entry_count", n=n, limit=limit, got=echo(repr(raw), 40))
    return int(raw)


def _expand(entries: list[dict], limit: int) -> list[tuple[str, dict]]:
    """One (key, request) per video: 'count: N' with a fixed seed gives seeds s, s+1, ...  At most ``limit``
    videos in all (``limits.batch_max_videos``), checked from the counts before any entry is expanded."""
    counts = [batch_count(e, i + 1, limit) for i, e in enumerate(entries)]
    if sum(counts) > limit:
        raise InvalidInput("job_file_too_many", total=sum(counts), limit=limit)
    out = []
    for i, (e, count) in enumerate(zip(entries, counts)):
        e = dict(e)
        e.pop("count", None)
        seed = e.get("seed")
        for k in range(count):
            req = dict(e)
            if seed not in (None, -1):
                try:
                    req["seed"] = int(seed) + k
                except (TypeError, ValueError, OverflowError):
                    pass  # (.inf, .nan, text: left for the request's check, which refuses this entry alone)
            key = hashlib.sha1(json.dumps([i, k, req], sort_keys=True, default=str).encode()).hexdigest()[:16]
            out.append((key, req))
    return out


# -- smoothing -----------------------------------------------------------------------------------
