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

What a result records as its ``speed`` is what ran (:func:`describe`, issue 28): ``exact`` when no approximate
method is on; ``fast`` or ``fastest`` when the sampler and the methods are exactly that tier's and the steps
within its cap; else ``custom`` (a tier plus the user's own changes, or approximations chosen one by one).
``custom`` is also a value a request may give: the individual settings as they are, no tier applied (Reuse of
a custom result runs the same settings).

On the page, choosing a tier sets that tier's values on the sliders, all of them (:func:`switch`): what the
tier shown before set and this one does not is undone; a slider moved afterwards is the user's.
"""

from __future__ import annotations

from ..base.settings import SPEEDS

KEYS = ("scheduler", "steps", "fast", "skip_threshold", "guidance_stop")

TIERS: dict[str, dict] = {
    "exact": {"scheduler": "ddim", "steps": 50, "fast": 1, "skip_threshold": 0.0, "guidance_stop": 1.0},
    "fast": {"scheduler": "dpm++", "steps": 25, "fast": 2, "skip_threshold": 0.0, "guidance_stop": 0.5},
    "fastest": {"scheduler": "dpm++", "steps": 20, "fast": 3, "skip_threshold": 0.03, "guidance_stop": 0.5},
}
NAMES = tuple(TIERS)
CUSTOM = "custom"  # no tier: the individual settings as given (what a result that matches no tier records)
assert SPEEDS == (*NAMES, CUSTOM), "i2v.base.settings.SPEEDS names the tiers defined here, and custom"
# What each tier costs and saves: UNet FLOPs of exact over the tier's, counted by i2v.engine.flops at native
# 1280x704 and at 512x512, 16 frames, before any step skipping skips a step (docs/memory-and-speed.md's table;
# tests/test_tiers.py counts them again).  The page's Speed text is made from these and TIERS.
FLOPS_VS_EXACT: dict[str, dict[str, float]] = {
    "exact": {"native": 1.0, "512": 1.0},
    "fast": {"native": 3.50, "512": 3.72},
    "fastest": {"native": 5.00, "512": 5.48},
}
SAMPLERS = {"ddim": "DDIM", "dpm++": "DPM-Solver++"}
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


def describe(settings: dict) -> str:
    """The tier that ``settings`` run (see the module's text): ``exact``, ``fast``, ``fastest`` or ``custom``."""
    methods = {k: settings.get(k) if settings.get(k) is not None else off for k, off in METHODS.items()}
    if all(abs(float(methods[k]) - off) < 1e-9 for k, off in METHODS.items()):
        return "exact"
    for name in NAMES[1:]:
        t = TIERS[name]
        if settings.get("scheduler") == t["scheduler"] and int(settings.get("num_inference_steps") or 0) <= t["steps"] \
                and all(abs(float(methods[k]) - t[k]) < 1e-9 for k in METHODS):
            return name
    return CUSTOM


def apply_tier(settings: dict) -> dict:
    """``settings`` (a request's) with its ``speed`` tier applied (see the module's text), and ``speed`` what
    then runs (:func:`describe`); a new dict."""
    name = settings.get("speed") or "exact"
    s = dict(settings)
    if name in ("exact", CUSTOM):
        if "fast" in s or "skip_threshold" in s or "guidance_stop" in s:
            s["speed"] = describe(s)
        return s
    t = tier(name)
    s["scheduler"] = t["scheduler"]
    s["num_inference_steps"] = min(int(s["num_inference_steps"]), t["steps"])
    s["fast"] = max(int(s.get("fast") or 1), t["fast"])
    s["skip_threshold"] = max(float(s.get("skip_threshold") or 0.0), t["skip_threshold"])
    stop = s.get("guidance_stop")
    s["guidance_stop"] = min(float(stop) if stop is not None else 1.0, t["guidance_stop"])
    s["speed"] = describe(s)
    return s


def shown_tier(values: dict) -> str | None:
    """The approximate tier whose values ``values`` show exactly (its methods, its steps): the one that set
    them, as far as the values tell; None for any other values."""
    for name in NAMES[1:]:
        t = TIERS[name]
        if int(values.get("num_inference_steps") or 0) == t["steps"] and \
                all(values.get(k) is not None and abs(float(values[k]) - t[k]) < 1e-9 for k in METHODS):
            return name
    return None


def switch(name: str, current: dict, base: dict) -> dict:
    """The values of :data:`TIER_KEYS` to show when the user picks tier ``name`` on the page (``current``: the
    sliders' values; ``base``: the preset's over the defaults).

    * ``fast``/``fastest``: the tier's values, all of them (what the tier shown before set and this one does
      not is reset: fastest's step skipping goes when fast is chosen), and the steps capped by the tier's;
      steps that a tier shown before capped are first the ``base`` steps again, so exact → fastest → fast
      shows what exact → fast shows.
    * ``exact``: the approximate methods' ``base`` values, so that the approximations a tier added go away
      with it; the steps stay as they are (going back never makes a job slower than the user saw it).
    * ``custom``: nothing moves (the sliders are the user's)."""
    if name == CUSTOM:
        return {}
    if name == "exact":
        return {k: base[k] for k in TIER_KEYS if k in base and k != "num_inference_steps"}
    t = tier(name)
    steps = int(current.get("num_inference_steps") or base.get("num_inference_steps") or t["steps"])
    before = shown_tier(current)
    if before is not None and before != name and base.get("num_inference_steps") is not None:
        steps = int(base["num_inference_steps"])  # the cap was the other tier's
    return {"num_inference_steps": min(steps, t["steps"]), "fast": t["fast"], "skip_threshold": t["skip_threshold"],
            "guidance_stop": t["guidance_stop"]}


def cost_lines(lang: str = "en") -> list[str]:
    """What each tier costs and saves, one line each, from :data:`TIERS` and :data:`FLOPS_VS_EXACT` (the
    page's text under *Speed*)."""
    from ..base.i18n import t as text

    lines = []
    for name in NAMES:
        s, r = TIERS[name], FLOPS_VS_EXACT[name]
        label = text(f"speed_{name}", lang)
        if name == "exact":
            lines.append(text("speed_cost_exact", lang, sampler=SAMPLERS[s["scheduler"]], steps=s["steps"]))
            continue
        lines.append(text("speed_cost_tier", lang, name=label, sampler=SAMPLERS[s["scheduler"]], steps=s["steps"],
                          fast=s["fast"], skip=s["skip_threshold"], stop=s["guidance_stop"], native=r["native"],
                          r512=r["512"], more=text("speed_cost_more", lang) if s["skip_threshold"] else ""))
    lines.append(text("speed_cost_custom", lang))
    return lines
