"""A long video's plan, checked before any model work: one prompt per segment (from Length, seconds or a
storyboard) and the join settings.  Pure policy: the studio service checks a restored long video's settings
with it, the jobs and the page read a request's long-video wish with it, and :mod:`i2v.workflows.longvideo` (a
workflow) makes the video it describes."""

from __future__ import annotations

from dataclasses import dataclass

from ..base.config import COLOUR_METHODS, Config
from ..base.errors import InvalidInput, echo
from ..media.joins import joined_length
from .request import clean_text

# what a request may add to make a long video (the CLI's options, a batch entry's keys, the API's values)
LONG_KEYS = ("segments", "seconds", "storyboard", "overlap", "colour", "colour_strength")


@dataclass(frozen=True)
class LongPlan:
    """What a long video is made of, checked: one prompt per segment and the join settings."""

    prompts: tuple[str, ...]
    overlap: int
    colour: str
    colour_strength: float

    @property
    def segments(self) -> int:
        return len(self.prompts)

    def to_json(self) -> dict:
        return {"segments": self.segments, "storyboard": list(self.prompts), "overlap": self.overlap,
                "colour": self.colour, "colour_strength": self.colour_strength}


def long_wanted(segments, storyboard) -> dict | None:
    """What a form's or an API call's Length (1 unless changed) and storyboard ask for: None for a plain
    video, else the long job's ``segments`` (None with a storyboard at Length 1: its lines) and storyboard."""
    board = storyboard.strip() if isinstance(storyboard, str) else storyboard
    one = segments in (None, "", 1, 1.0)
    if one and not board:
        return None
    return {"segments": None if one else segments, "storyboard": board or None}


def storyboard_lines(text: str | list | None, cfg: Config) -> list[str]:
    """A storyboard's prompts: a text (one line per segment, blank lines skipped) or a list; each cleaned
    and bounded like a prompt, the whole bounded before it is split."""
    if text is None or text == "" or text == []:
        return []
    limit = int(cfg.data["long"]["storyboard_max_chars"])
    if isinstance(text, str):
        if len(text) > limit:
            raise InvalidInput("text_too_long", name="storyboard", length=len(text), limit=limit)
        raw = text.splitlines()
    elif isinstance(text, list) and all(isinstance(x, str) for x in text):
        if sum(len(x) for x in text) > limit:
            raise InvalidInput("text_too_long", name="storyboard", length=sum(len(x) for x in text), limit=limit)
        raw = list(text)
    else:
        raise InvalidInput("not_text", name="storyboard")
    lines = [x for x in raw if x.strip()]
    return [clean_text("storyboard", x, cfg.limits["prompt_max_chars"], required=True) for x in lines]


def plan_long(cfg: Config, *, prompt: str, frames: int, segments=None, storyboard=None, overlap=None, colour=None,
              colour_strength=None) -> LongPlan:
    """Check a long video's settings (before any model work).  ``segments`` defaults to the storyboard's
    line count, else 1; a storyboard with more lines than segments is refused; the join settings default
    to the config's ``long:``."""
    lc = cfg.data["long"]
    hi = int(lc["max_segments"])
    lines = storyboard_lines(storyboard, cfg)
    if segments in (None, ""):
        n = len(lines) or 1
        if n > hi:
            raise InvalidInput("storyboard_too_many", lines=n, hi=hi)
    else:
        if isinstance(segments, bool) or not isinstance(segments, (int, float, str)):
            raise InvalidInput("long_segments", hi=hi, got=echo(segments))
        try:
            n = int(str(segments).strip()) if isinstance(segments, str) else segments
        except ValueError:
            raise InvalidInput("long_segments", hi=hi, got=echo(segments)) from None
        if isinstance(n, float) and not n.is_integer():  # (inf and NaN too; a 400-digit int stays an int)
            raise InvalidInput("long_segments", hi=hi, got=echo(segments))
        n = int(n)
    if not 1 <= n <= hi:
        raise InvalidInput("long_segments", hi=hi, got=echo(segments if segments is not None else n))
    if len(lines) > n:
        raise InvalidInput("storyboard_lines", lines=len(lines), segments=n)
    prompts = lines + [lines[-1] if lines else prompt] * (n - len(lines))
    most = max(0, frames - 3)  # a segment must add at least one frame of its own after the cross-fade
    k = min(lc["overlap"], most) if overlap in (None, "") else overlap  # (the default fits short segments)
    if isinstance(k, bool) or not isinstance(k, (int, float)) or (isinstance(k, float) and not k.is_integer()) \
            or not 0 <= k <= min(most, 8):
        raise InvalidInput("long_overlap", hi=min(most, 8), frames=frames, got=echo(k))
    method = lc["colour"] if colour in (None, "") else colour
    strength = lc["colour_strength"] if colour_strength in (None, "") else colour_strength
    if method not in COLOUR_METHODS or isinstance(strength, bool) or not isinstance(strength, (int, float)) \
            or not 0 <= strength <= 1:
        raise InvalidInput("long_colour", choices=", ".join(COLOUR_METHODS), got=echo(f"{method} {strength}"))
    return LongPlan(tuple(prompts), int(k), method, round(float(strength), 3))


def segments_for(seconds, frames: int, fps: int, overlap: int, cfg: Config) -> int:
    """The fewest segments of ``frames`` frames that last at least ``seconds`` at ``fps`` (at most the
    configured number: a longer wish is refused with the range that fits)."""
    hi = int(cfg.data["long"]["max_segments"])
    longest = joined_length(frames, hi, overlap) / fps
    try:
        s = float(seconds)
    except (TypeError, ValueError, OverflowError):  # (OverflowError: a 400-digit whole number)
        s = float("nan")
    if isinstance(seconds, bool) or not (0 < s <= longest + 1e-9):
        raise InvalidInput("long_seconds", hi=f"{longest:.1f}", segments=hi, got=echo(seconds))
    n = 1
    while joined_length(frames, n, overlap) / fps < s - 1e-9:
        n += 1
    return n
