"""Closing the motion loop: which guidance gives the motion asked for.  Pure (no torch, no numpy needed).

Auto-tune renders cheap *drafts* (the same picture, prompt and seed, small and short) at a few guidance
values, measures each one's motion, jitter and flicker (:mod:`i2v.motion.analysis`), and picks the guidance whose
motion hits the target.  This module is the policy: what to try next and what to choose.

* **The target** is in the unit ``analyze`` reports as ``motion_norm``: % of the frame's diagonal per frame,
  the same at every size, so drafts at a small size predict the final video.  Words map to numbers:
  subtle 0.4, natural 0.9, strong 1.8.
* **The prior** is the seed article's: motion grows with guidance; <6 moves little, 7–9 is balanced,
  10–13 strong, and above 15 artifacts and flicker set in.  So guidance stays in the safe zone 4–15, and
  a draft whose jitter or flicker is over its limit caps the guidance below it.
* **The fit** is monotone: the drafts sorted by guidance, their motions made non-decreasing (pool adjacent
  violators), then linear between them.  The next draft is where the fit reaches the target; outside the
  drafts' range, the nearest segment's slope extends it (the prior slope when there is only one draft or
  the segment is flat).
* **Stopping**: a draft well within the tolerance (±5%, half of the ±10% the final must land in: a draft's
  measurement is noisy) is the choice; after at most 4 drafts the fit's
  guidance for the target is.  A target outside what the safe zone reaches is said to be unreachable, and
  the allowed draft nearest the target is chosen (allowed: inside the safe zone, at or below the ceiling that
  drafts over a limit set, itself within the limits).  Never a guidance above that ceiling, whatever a draft
  above it measured; when the ceiling falls below the safe zone, the decision says that none is allowed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..base.errors import InvalidInput, echo

TARGETS = {"subtle": 0.4, "natural": 0.9, "strong": 1.8}  # motion_norm, % of the diagonal per frame
TARGET_RANGE = (0.05, 10.0)
SAFE = (4.0, 15.0)          # I2VGen-XL's: the guidance auto-tune may choose (the seed article's zones); a
#                             family declares its own (i2v/families: Knobs.safe_zone), which decide() takes
JITTER_MAX = 0.8            # analysis' jitter: ~0 smooth, >= 1 motion without continuity
FLICKER_MAX = 8.0           # analysis' flicker: gray levels of motion-compensated brightness change
TOLERANCE = 0.10
MAX_DRAFTS = 4
PRIOR_SLOPE = 0.15          # motion_norm per unit of guidance, when the drafts cannot tell
STEP = 0.25                 # guidance is chosen on this grid
MIN_GAP = 0.5               # two drafts closer than this in guidance say nothing new
HIT_SHARE = 0.5             # a draft is taken as it is when it is within this share of the tolerance


def resolve_target(value) -> float:
    """``subtle``/``natural``/``strong`` or a number (motion_norm) to the target; anything else is one line."""
    if isinstance(value, str) and len(value) > 40:  # a word or a number: refused unread beyond that
        value = value[:40] + "…"
    if isinstance(value, str) and value.strip().lower() in TARGETS:
        return TARGETS[value.strip().lower()]
    try:
        v = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError, OverflowError):  # (OverflowError: a 400-digit whole number)
        v = float("nan")
    lo, hi = TARGET_RANGE
    if not lo <= v <= hi:  # (NaN fails too)
        raise InvalidInput("target_motion", got=echo(value), choices=", ".join(TARGETS), lo=lo, hi=hi)
    return round(v, 4)


@dataclass(frozen=True)
class Draft:
    guidance: float
    motion: float      # motion_norm
    jitter: float
    flicker: float

    @property
    def within_limits(self) -> bool:
        return self.jitter <= JITTER_MAX and self.flicker <= FLICKER_MAX


@dataclass
class Decision:
    """What to do after the drafts so far: another draft at ``guidance``, or (``done``) the final video at
    ``guidance``.  ``why``: a code (``hit``, ``predicted``, ``unreachable_high``, ``unreachable_low``,
    ``next``, ``none_allowed``: no guidance is within the limits, ``guidance`` is None), ``predicted``: the
    fit's motion at ``guidance``."""

    guidance: float | None
    done: bool
    why: str
    predicted: float | None = None
    fit: list[list[float]] = field(default_factory=list)  # [guidance, motion] of the monotone fit
    ceiling: float = SAFE[1]

    def to_json(self) -> dict:
        return asdict(self)


def _snap(g: float) -> float:
    return round(round(g / STEP) * STEP, 2)


def monotone_fit(drafts: list[Draft]) -> list[tuple[float, float]]:
    """(guidance, motion) points, non-decreasing in motion (pool adjacent violators; equal guidance pooled)."""
    pts = sorted((d.guidance, d.motion) for d in drafts)
    blocks: list[list[float]] = []  # [sum g, sum m, count]
    for g, m in pts:
        blocks.append([g, m, 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] > blocks[-1][1] / blocks[-1][2]:
            g2, m2, n2 = blocks.pop()
            blocks[-1] = [blocks[-1][0] + g2, blocks[-1][1] + m2, blocks[-1][2] + n2]
    out = [(b[0] / b[2], b[1] / b[2]) for b in blocks]
    return out


def _slope(a: tuple[float, float], b: tuple[float, float]) -> float:
    return (b[1] - a[1]) / (b[0] - a[0]) if b[0] != a[0] else 0.0


def invert(fit: list[tuple[float, float]], target: float) -> float:
    """The guidance where the fit reaches ``target`` (extended past its ends by the nearest slope, or the
    prior's when that is flat or there is one point)."""
    if len(fit) == 1:
        g, m = fit[0]
        return g + (target - m) / PRIOR_SLOPE
    for a, b in zip(fit, fit[1:]):
        if a[1] <= target <= b[1] and b[1] > a[1]:
            return a[0] + (target - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
    if target < fit[0][1]:
        s = _slope(fit[0], fit[1])
        return fit[0][0] + (target - fit[0][1]) / (s if s > 1e-6 else PRIOR_SLOPE)
    s = _slope(fit[-2], fit[-1])
    return fit[-1][0] + (target - fit[-1][1]) / (s if s > 1e-6 else PRIOR_SLOPE)


def predict(fit: list[tuple[float, float]], g: float) -> float:
    """The fit's motion at ``g`` (extended like :func:`invert`)."""
    if len(fit) == 1:
        return fit[0][1] + (g - fit[0][0]) * PRIOR_SLOPE
    if g <= fit[0][0]:
        s = _slope(fit[0], fit[1])
        return fit[0][1] + (g - fit[0][0]) * (s if s > 1e-6 else PRIOR_SLOPE)
    for a, b in zip(fit, fit[1:]):
        if a[0] <= g <= b[0]:
            return a[1] + _slope(a, b) * (g - a[0])
    s = _slope(fit[-2], fit[-1])
    return fit[-1][1] + (g - fit[-1][0]) * (s if s > 1e-6 else PRIOR_SLOPE)


def _on_grid(g: float, lo: float, ceiling: float) -> float:
    """``g`` on the guidance grid, inside ``[lo, ceiling]`` (rounded down where rounding would pass the ceiling)."""
    g = _snap(min(max(g, lo), ceiling))
    if g > ceiling + 1e-9:
        g = round(math.floor(ceiling / STEP + 1e-9) * STEP, 2)
    return max(g, lo) if lo <= ceiling + 1e-9 else g


def decide(drafts: list[Draft], target: float, start: float, max_drafts: int = MAX_DRAFTS,
           tolerance: float = TOLERANCE, safe: tuple[float, float] = SAFE) -> Decision:
    """The next draft, or the choice.  ``start``: the first draft's guidance (the recommendation).

    The choice is always *allowed*: inside the safe zone and at or below the ceiling (the safe zone's top, or
    ``MIN_GAP`` below the lowest draft over a jitter or flicker limit), and, where it is a draft's guidance,
    that draft within the limits.  When the ceiling falls below the safe zone's floor no guidance is allowed:
    the decision says so (``none_allowed``, guidance ``None``) instead of choosing one.  ``safe``: the model
    family's safe zone (I2VGen-XL's by default)."""
    lo, hi = safe
    if not drafts:
        return Decision(_snap(min(max(start, lo), hi)), False, "next")
    # a draft over a limit caps the guidance below it (flicker and jitter grow with guidance)
    over = [d.guidance for d in drafts if not d.within_limits]
    ceiling = min([hi, *(g - MIN_GAP for g in over)])
    usable = [d for d in drafts if d.within_limits] or [min(drafts, key=lambda d: d.guidance)]
    fit = monotone_fit(usable)
    fit_json = [[round(g, 3), round(m, 4)] for g, m in fit]
    if ceiling < lo - 1e-9:  # every guidance of the safe zone is at or above a draft over a limit
        return Decision(None, True, "none_allowed", None, fit_json, ceiling)
    # the drafts the choice may fall on (a draft above the ceiling is not, however it measured)
    allowed = [d for d in drafts if d.within_limits and lo - 1e-9 <= d.guidance <= ceiling + 1e-9]
    # a draft counts as a hit well inside the tolerance: its measurement is noisy, and the final video must
    # land inside the tolerance too
    hits = [d for d in allowed if abs(d.motion - target) <= HIT_SHARE * tolerance * target]
    if hits:
        best = min(hits, key=lambda d: abs(d.motion - target))
        return Decision(best.guidance, True, "hit", best.motion, fit_json, ceiling)
    raw = invert(fit, target)
    last = len(drafts) >= max_drafts
    # the fit needs a guidance past the allowed range's edge, and that edge was drafted (or no draft is left):
    # the target is out of reach; the allowed draft nearest the target is chosen
    nearest = min(allowed, key=lambda d: (abs(d.motion - target), d.guidance)) if allowed else None
    if nearest is not None and raw > ceiling + 1e-9 and (last or any(d.guidance >= ceiling - MIN_GAP
                                                                      for d in allowed)):
        return Decision(nearest.guidance, True, "unreachable_high", nearest.motion, fit_json, ceiling)
    if nearest is not None and raw < lo - 1e-9 and (last or any(d.guidance <= lo + MIN_GAP for d in allowed)):
        return Decision(nearest.guidance, True, "unreachable_low", nearest.motion, fit_json, ceiling)
    g = _on_grid(raw, lo, ceiling)
    if last:  # no more drafts: the fit's value inside the allowed range
        return Decision(g, True, "predicted", round(predict(fit, g), 4), fit_json, ceiling)
    if any(abs(d.guidance - g) < MIN_GAP for d in drafts):  # nothing new to learn there: step past it
        near = min(drafts, key=lambda d: abs(d.guidance - g))
        step = _on_grid(near.guidance + (MIN_GAP if target > near.motion else -MIN_GAP), lo, ceiling)
        if any(abs(d.guidance - step) < MIN_GAP / 2 for d in drafts):
            pick = near.guidance if near in allowed else g
            return Decision(pick, True, "predicted", round(predict(fit, pick), 4), fit_json, ceiling)
        g = step
    return Decision(g, False, "next", round(predict(fit, g), 4), fit_json, ceiling)


def balance_score(m: dict) -> float:
    """Motion gained per unit of jitter and flicker: more movement is better until it tears apart (the
    sweep's 'best balance')."""
    return m["motion_norm"] / (1.0 + 3.0 * m["jitter"] + m["flicker"] / 10.0)


__all__ = ["TARGETS", "SAFE", "JITTER_MAX", "FLICKER_MAX", "TOLERANCE", "MAX_DRAFTS", "Draft", "Decision",
           "resolve_target", "monotone_fit", "invert", "predict", "decide", "balance_score"]
