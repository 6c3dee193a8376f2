"""Speed tiers (issue 21): ``exact``, ``fast``, ``fastest``, each a set of concrete engine settings.  Pure policy.

* ``scheduler`` and ``steps``: the sampler, and the most steps the tier runs (a request with fewer keeps its
  own number);
* ``fast``: DeepCache's interval (1 = off);
* ``skip_threshold``: step skipping's threshold on the indicator's relative L1 change (0 = off);
* ``guidance_stop``: the fraction of the steps after which guidance reuses its last difference (1 = never).

``exact`` is the reference every ratio is taken against: DDIM, 50 steps, guidance at every step, no caching.
The values of ``fast`` and ``fastest`` were chosen by measurement (``python -m i2v bench --json``, its
``fast_mode`` object; docs/memory-and-speed.md holds the numbers): UNet FLOPs counted at native
1280x704x16, and wall-clock and drift on the full architecture with random weights at 64x64.

A user picks a tier in one click (the page's *Speed*, ``--speed``, ``speed:`` in a batch file).  It does not
replace the individual settings: :func:`apply_tier` moves each of them at least as far as the tier asks,
towards fewer UNet evaluations, so applying a tier twice changes nothing (Reuse of a fast result runs the
same settings), and a setting the user made more approximate than the tier stays as they set it.
Choosing ``exact`` changes nothing.
"""

from __future__ import annotations

KEYS = ("scheduler", "steps", "fast", "skip_threshold", "guidance_stop")

TIERS: dict[str, dict] = {
    "exact": {"scheduler": "ddim", "steps": 50, "fast": 1, "skip_threshold": 0.0, "guidance_stop": 1.0},
    "fast": {"scheduler": "dpm++", "steps": 25, "fast": 2, "skip_threshold": 0.0, "guidance_stop": 0.5},
    "fastest": {"scheduler": "dpm++", "steps": 20, "fast": 3, "skip_threshold": 0.03, "guidance_stop": 0.5},
}
NAMES = SPEEDS = tuple(TIERS)
# the approximate methods, by their setting, and the value that turns each off (bit-exact)
METHODS = {"fast": 1, "skip_threshold": 0.0, "guidance_stop": 1.0}
# the settings a tier moves on the page (besides the sampler, which no control shows)
TIER_KEYS = ("num_inference_steps", "fast", "skip_threshold", "guidance_stop")


def tier(name: str) -> dict:
    """A copy of the tier's settings."""
    if name not in TIERS:
        raise ValueError(f"unknown speed tier {name!r} (one of {', '.join(NAMES)})")
    return dict(TIERS[name])


def settings_for(name: str, steps: int | None = None) -> dict:
    """The engine settings of tier ``name`` for a request of ``steps`` steps (the tier's cap if fewer).
    ``num_inference_steps`` names the steps as the request does."""
    s = tier(name)
    cap = s.pop("steps")
    s["num_inference_steps"] = cap if steps is None else min(int(steps), cap)
    return s


def without_caching(settings: dict) -> dict:
    """The same sampler and steps with every approximate method off: what a tier's drift is measured
    against (a change of sampler or step count is not a drift)."""
    return {**settings, **METHODS}


def apply_tier(settings: dict) -> dict:
    """``settings`` (a request's) with its ``speed`` tier applied (see the module's text); a new dict."""
    name = settings.get("speed") or "exact"
    s = dict(settings)
    if name == "exact":
        return s
    t = tier(name)
    s["scheduler"] = t["scheduler"]
    s["num_inference_steps"] = min(int(s["num_inference_steps"]), t["steps"])
    s["fast"] = max(int(s.get("fast") or 1), t["fast"])
    s["skip_threshold"] = max(float(s.get("skip_threshold") or 0.0), t["skip_threshold"])
    stop = s.get("guidance_stop")
    s["guidance_stop"] = min(float(stop) if stop is not None else 1.0, t["guidance_stop"])
    return s


def switch(name: str, current: dict, base: dict) -> dict:
    """The values of :data:`TIER_KEYS` to show when the user picks tier ``name``: what the tier runs, from
    the ``current`` values; back to ``exact``, the approximate methods' ``base`` values (the preset's over
    the defaults), so that the approximations the tier added go away with it; the steps stay as they are
    (going back never makes a job slower than the user saw it)."""
    if name == "exact":
        return {k: base[k] for k in TIER_KEYS if k in base and k != "num_inference_steps"}
    return {k: v for k, v in apply_tier({**current, "speed": name}).items() if k in TIER_KEYS}
