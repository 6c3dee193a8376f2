"""Joining chained clips into one long video, and measuring the joins.  Pure (OpenCV + numpy, no torch).

A long video is made of segments: segment k+1 is generated from a frame near the end of segment k.
Three things make a join visible, and each has its remedy here:

* **the repeated frame**: the model's first frame reproduces its conditioning picture, which is already in
  the video: it is dropped;
* **a colour jump**: each clip settles into colours of its own.  :func:`match_colour` moves a segment's
  colours to the first segment's, by the LAB mean and standard deviation of each channel (Reinhard's
  transfer) or by each channel's histogram, with a strength from 0 (off) to 1;
* **a weak tail**: the last frames of a clip are often its worst.  With ``overlap`` frames, the next
  segment starts from the frame ``overlap`` before the end, and the frames after it are cross-faded into
  the new segment's first ones, which show the same moments (:func:`join`).

:func:`seam_scores` measures each join: the colour jump (the distance between the mean LAB colours of the
two frames) and the flow magnitude across it, each divided by the median of the same number between the
ordinary neighbouring frames inside the segments.  1 is a join no worse than an ordinary frame change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..base.config import COLOUR_METHODS
# floors under the medians (a still, evenly lit video has ~0 of both): a just noticeable colour
# difference (ΔE ~ 1) and a tenth of a pixel of motion per frame
COLOUR_FLOOR, FLOW_FLOOR = 1.0, 0.1


def to_lab(frames: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB to float32 CIE LAB (L in 0..100)."""
    import cv2

    f = np.asarray(frames, np.float32) / 255.0
    flat = f.reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB).reshape(f.shape)


def from_lab(lab: np.ndarray) -> np.ndarray:
    import cv2

    flat = np.asarray(lab, np.float32).reshape(-1, 1, 3)
    rgb = cv2.cvtColor(flat, cv2.COLOR_LAB2RGB).reshape(lab.shape)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class ColourReference:
    """What colours are matched to: the LAB mean and spread of each channel, and each RGB channel's
    cumulative histogram (256 levels)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cdf: tuple[tuple[float, ...], ...]

    @classmethod
    def of(cls, frames: np.ndarray) -> ColourReference:
        frames = np.asarray(frames, np.uint8)
        lab = to_lab(frames).reshape(-1, 3)
        cdfs = []
        for ch in range(3):
            hist = np.bincount(frames[..., ch].ravel(), minlength=256).astype(np.float64)
            cdfs.append(tuple(np.cumsum(hist) / hist.sum()))
        return cls(tuple(float(v) for v in lab.mean(0)), tuple(float(v) for v in lab.std(0)), tuple(cdfs))

    def to_json(self) -> dict:
        return {"lab_mean": [round(v, 3) for v in self.mean], "lab_std": [round(v, 3) for v in self.std]}


class ColourTally:
    """:meth:`ColourReference.of`, one frame at a time (:meth:`add`): running sums of the LAB channels and
    of their squares, and each RGB channel's histogram, so a whole video's colours are taken without
    holding it.  :meth:`lab_means` are the frames' own mean LAB colours (what :func:`seam_scores` compares)."""

    def __init__(self):
        self.count = 0
        self.sum, self.sumsq = np.zeros(3), np.zeros(3)
        self.hist = np.zeros((3, 256))
        self.lab_means: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, np.uint8)
        lab = to_lab(frame).reshape(-1, 3).astype(np.float64)
        self.count += len(lab)
        self.sum += lab.sum(0)
        self.sumsq += (lab * lab).sum(0)
        self.lab_means.append(lab.mean(0))
        for ch in range(3):
            self.hist[ch] += np.bincount(frame[..., ch].ravel(), minlength=256)

    def reference(self) -> ColourReference:
        if not self.count:
            raise ValueError("no frames to take colours from")
        mean = self.sum / self.count
        std = np.sqrt(np.maximum(self.sumsq / self.count - mean * mean, 0.0))
        cdfs = tuple(tuple(np.cumsum(h) / h.sum()) for h in self.hist)
        return ColourReference(tuple(float(v) for v in mean), tuple(float(v) for v in std), cdfs)


def match_colour(frames: np.ndarray, ref: ColourReference, method: str = "lab", strength: float = 1.0) -> np.ndarray:
    """``frames`` (N, H, W, 3) uint8 with their colours moved towards ``ref`` (one transfer for the whole
    segment, so its own changes over time are kept); ``strength`` 0 leaves them, 1 matches fully."""
    frames = np.asarray(frames, np.uint8)
    if method == "off" or strength <= 0:
        return frames.copy()
    if method == "lab":
        lab = to_lab(frames)
        mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0)
        moved = (lab - mean) * (np.asarray(ref.std) / np.maximum(std, 1e-3)) + np.asarray(ref.mean)
        out = from_lab(moved).astype(np.float32)
    elif method == "histogram":
        out = np.empty(frames.shape, np.float32)
        levels = np.arange(256, dtype=np.float64)
        for ch in range(3):
            hist = np.bincount(frames[..., ch].ravel(), minlength=256).astype(np.float64)
            cdf = np.cumsum(hist) / hist.sum()
            lut = np.interp(cdf, np.asarray(ref.cdf[ch]), levels)  # each level to the reference's at that rank
            out[..., ch] = lut[frames[..., ch]]
    else:
        raise ValueError(f"unknown colour method {method!r}")
    s = min(1.0, float(strength))
    return np.clip(np.rint((1 - s) * frames + s * out), 0, 255).astype(np.uint8)


def next_picture_index(frames: int, overlap: int) -> int:
    """The frame of a segment the next one starts from: ``overlap`` frames before its last."""
    return frames - 1 - overlap


def join(video: np.ndarray, segment: np.ndarray, overlap: int) -> np.ndarray:
    """``video`` continued by ``segment``, which was generated from ``video``'s frame ``overlap`` before
    its end: the segment's first frame (that picture again) is dropped, and ``video``'s last ``overlap``
    frames are cross-faded into the segment's frames that show the same moments."""
    video, segment = np.asarray(video, np.uint8), np.asarray(segment, np.uint8)
    k = max(0, min(overlap, len(segment) - 2, len(video) - 1))
    if k == 0:
        return np.concatenate([video, segment[1:]])
    blend = []
    for j in range(1, k + 1):  # video[c + j] and segment[j] show the same moment (c: the picture's frame)
        w = j / (k + 1)
        a, b = video[len(video) - k + j - 1].astype(np.float32), segment[j].astype(np.float32)
        blend.append(np.clip(np.rint((1 - w) * a + w * b), 0, 255).astype(np.uint8))
    return np.concatenate([video[:len(video) - k], np.stack(blend), segment[k + 1:]])


def joined_length(frames: int, segments: int, overlap: int) -> int:
    """Frames of a long video of ``segments`` segments of ``frames`` frames each."""
    return frames + (segments - 1) * (frames - 1 - overlap)


def join_windows(frames: int, segments: int, overlap: int) -> list[tuple[int, int]]:
    """For each join, the pairs of neighbouring frames (t-1, t) of the joined video it covers, as the
    range [first t, last t]: the cross-fade and the step into the new segment."""
    out, end = [], frames
    for _ in range(segments - 1):
        start = end - overlap  # the first frame that is no longer the previous segment's own
        out.append((start, start + overlap))
        end = end - overlap + frames - 1
    return out


def lab_means(frames) -> list[np.ndarray]:
    """Each frame's mean LAB colour (frames one at a time: an iterable will do)."""
    return [to_lab(np.asarray(f, np.uint8)).reshape(-1, 3).mean(0) for f in frames]


def seam_scores(frames: np.ndarray | None, windows: list[tuple[int, int]], motion: list[float] | None = None,
                means: list | None = None) -> list[dict]:
    """One score per join window (see :func:`join_windows`): the colour jump (the distance between the two
    frames' mean LAB colours) and the flow across the join (the motion analysis' per pair: px/frame over the
    moving pixels), each over the median of the pairs outside every window (floored), and ``score``, the
    larger ratio.  ``motion``: the per-pair motion of :func:`i2v.motion.analysis.analyze_frames` when the caller has
    it already (the optical flow is the costly part; it is computed once).  ``means``: each frame's mean LAB
    colour (:func:`lab_means`) with ``motion``, instead of the frames (a video measured as it streamed by)."""
    if not windows:
        return []
    if means is None:
        frames = np.asarray(frames, np.uint8)
        means = lab_means(frames)
    if len(means) < 3:
        return []
    if motion is None:
        from ..motion.analysis import analyze_frames

        motion = [p["motion"] for p in analyze_frames(frames).per_frame]
    means = np.stack(means)
    colour = np.linalg.norm(np.diff(means, axis=0), axis=1)
    flow = np.asarray(motion, np.float64)
    in_join = np.zeros(len(colour), bool)
    for a, b in windows:
        in_join[max(0, a - 1):min(len(colour), b)] = True  # pair index t-1 is the pair (t-1, t)
    inside = ~in_join if (~in_join).any() else np.ones_like(in_join)
    med_c = max(float(np.median(colour[inside])), COLOUR_FLOOR)
    med_f = max(float(np.median(flow[inside])), FLOW_FLOOR)
    out = []
    for a, b in windows:
        pairs = slice(max(0, a - 1), min(len(colour), b))
        c, f = float(colour[pairs].max()), float(flow[pairs].max())
        out.append({"frames": [a, b], "colour_jump": round(c, 3), "flow": round(f, 3),
                    "colour_ratio": round(c / med_c, 3), "flow_ratio": round(f / med_f, 3),
                    "score": round(max(c / med_c, f / med_f), 3)})
    return out


__all__ = ["COLOUR_METHODS", "ColourReference", "ColourTally", "lab_means", "match_colour",
           "join", "joined_length", "join_windows",
           "next_picture_index", "seam_scores", "to_lab", "from_lab"]
