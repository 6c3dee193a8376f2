"""Speed tiers: exact, fast and fastest, each a set of concrete settings.  Pure (no torch).

A tier is what a user picks in one click (the page's *Speed* choice, ``--speed``, ``speed:`` in a batch
file).  It does not replace the individual settings: it moves each of them at least as far as the tier
asks, towards fewer UNet evaluations:

* ``scheduler``: DPM-Solver++ reaches at 20-25 steps what DDIM reaches at 50;
* ``max_steps``: the number of steps is capped there (fewer steps are kept);
* ``fast``: DeepCache's interval (the deep blocks run on one step in N), at least this;
* ``skip_threshold``: step skipping (the last step's residual reused while the UNet's input changes less
  than this), at least this;
* ``guidance_stop``: late guidance skipping (the conditional pass alone after this fraction of the
  steps), at most this.

So applying a tier twice changes nothing (Reuse of a fast result runs the same settings), and a setting
the user made more approximate than the tier stays as they set it.  ``exact`` changes nothing.

The values, their FLOP counts at native size and their drift on the full architecture are in
docs/memory-and-speed.md (``python -m i2v bench --json``, ``fast_mode``).
"""

from __future__ import annotations

TIERS: dict[str, dict] = {
    "exact": {},
    "fast": {"scheduler": "dpm++", "max_steps": 25, "fast": 2, "skip_threshold": 0.0, "guidance_stop": 0.8},
    "fastest": {"scheduler": "dpm++", "max_steps": 20, "fast": 3, "skip_threshold": 0.0, "guidance_stop": 0.6},
}
SPEEDS = tuple(TIERS)


def apply_tier(settings: dict) -> dict:
    """``settings`` with its ``speed`` tier applied (see the module's text); a new dict."""
    tier = TIERS[settings.get("speed") or "exact"]
    s = dict(settings)
    if not tier:
        return s
    s["scheduler"] = tier["scheduler"]
    s["num_inference_steps"] = min(int(s["num_inference_steps"]), tier["max_steps"])
    s["fast"] = max(int(s.get("fast") or 1), tier["fast"])
    s["skip_threshold"] = max(float(s.get("skip_threshold") or 0.0), tier["skip_threshold"])
    s["guidance_stop"] = min(float(s.get("guidance_stop") if s.get("guidance_stop") is not None else 1.0),
                             tier["guidance_stop"])
    return s


# the settings a tier moves (besides the sampler, which no control of the page shows)
TIER_KEYS = ("num_inference_steps", "fast", "skip_threshold", "guidance_stop")


def switch(tier: str, current: dict, base: dict) -> dict:
    """The values of :data:`TIER_KEYS` to show when the user picks ``tier``: what the tier runs, from the
    ``current`` values; back to ``exact``, the ``base`` ones (the preset's over the defaults), so that the
    approximations the tier added go away with it."""
    if not TIERS[tier]:
        return {k: base[k] for k in TIER_KEYS if k in base}
    return {k: v for k, v in apply_tier({**current, "speed": tier}).items() if k in TIER_KEYS}
