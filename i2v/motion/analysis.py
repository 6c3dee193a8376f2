"""Seeing the motion a video got: optical-flow metrics, flow visualisation, frame interpolation.  Pure
(OpenCV + numpy, no torch).

For every pair of consecutive frames, DIS optical flow (OpenCV, "medium" preset) on the luminance:

* **motion**: how fast the moving parts move: mean flow magnitude over the pixels moving at least half
  as fast as the fastest (99th percentile) ones, in pixels per frame at the video's own resolution
  (the flow estimate bleeds a slower halo around moving objects; this keeps it out); ``motion_norm`` is the
  same divided by the frame diagonal
  (resolution-independent, in % of the diagonal per frame); ``moving_area`` the share of moving pixels.
* **jitter**: how abruptly the flow changes from one pair to the next (the seed article's "flow
  vectors jump between frames"): mean |flow(t+1) − flow(t)| over the pixels moving (> 0.25 px/frame)
  in either pair, divided by the
  motion (plus 0.5 px so still videos stay near 0). Smooth motion ≈ 0, random jumps ≳ 1.
* **flicker**: brightness change not explained by motion: frame t+1 is warped back onto frame t with
  the flow, and the change of mean luminance between them is taken (gray levels, 0–255).

Each is reported per frame pair (``per_frame``) and as the mean over the video.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

MOVING_PX = 0.25
ANALYSIS_MAX_SIDE = 512  # flow is computed at most at this size, then scaled back to pixels of the video


@dataclass
class MotionReport:
    motion: float            # px/frame over moving pixels, at the video's resolution
    motion_norm: float       # % of the frame diagonal per frame
    moving_area: float       # share of pixels moving (0..1)
    jitter: float            # relative change of the flow between consecutive pairs
    flicker: float           # motion-compensated mean-luminance change, gray levels
    frames: int
    width: int
    height: int
    per_frame: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> dict:
        d = self.to_json()
        d.pop("per_frame")
        return d


def _gray(frame: np.ndarray, scale: float):
    import cv2

    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        g = cv2.resize(g, (round(g.shape[1] * scale), round(g.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return g


def flows(frames: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Optical flow for each consecutive pair, and the scale it was computed at."""
    import cv2

    h, w = frames.shape[1:3]
    scale = min(1.0, ANALYSIS_MAX_SIDE / max(h, w))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grays = [_gray(f, scale) for f in frames]
    return [dis.calc(a, b, None) for a, b in zip(grays, grays[1:])], scale


def _warp_back(gray_next: np.ndarray, flow: np.ndarray) -> np.ndarray:
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(gray_next, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


class MotionAnalyzer:
    """:func:`analyze_frames`, one frame at a time (:meth:`add`): what it holds is the last frame's gray
    and flow, whatever the length of the video, so a long video is measured without being held."""

    def __init__(self):
        self.n, self.size, self.scale = 0, None, 1.0
        self.per: list[dict] = []
        self._dis = self._gray = self._flow = self._moving = None

    def add(self, frame: np.ndarray) -> None:
        import cv2

        frame = np.asarray(frame)
        if frame.dtype != np.uint8:
            frame = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
        if self.size is None:
            h, w = frame.shape[:2]
            self.size, self.scale = (w, h), min(1.0, ANALYSIS_MAX_SIDE / max(h, w))
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.n += 1
        gray = _gray(frame, self.scale)
        if self._gray is not None:
            self._pair(self._gray, gray)
        self._gray = gray

    def _pair(self, prev: np.ndarray, gray: np.ndarray) -> None:
        f, scale = self._dis.calc(prev, gray, None), self.scale
        mag = np.hypot(f[..., 0], f[..., 1]) / scale  # back to pixels of the video
        mv = mag > MOVING_PX
        fast = mag >= max(MOVING_PX, 0.5 * float(np.percentile(mag, 99)))
        warped = _warp_back(gray.astype(np.float32), f)
        flick = abs(float(warped.mean() - prev.astype(np.float32).mean()))
        p = {"pair": len(self.per), "motion": float(mag[fast].mean()) if fast.any() else 0.0,
             "moving_area": float(mv.mean()), "flicker": flick, "jitter": 0.0}
        if self._flow is not None:
            union = mv | self._moving
            if union.any():
                change = np.hypot(*(f - self._flow).transpose(2, 0, 1)) / scale
                base = max(p["motion"], self.per[-1]["motion"]) + 0.5
                p["jitter"] = float(change[union].mean() / base)
        self.per.append(p)
        self._flow, self._moving = f, mv

    def report(self) -> MotionReport:
        if self.size is None:
            raise ValueError("no frames to analyse")
        (w, h), n, per = self.size, self.n, self.per
        if n < 2:
            return MotionReport(0.0, 0.0, 0.0, 0.0, 0.0, n, w, h, [])
        diag = float(np.hypot(w, h))
        motion = float(np.mean([p["motion"] for p in per]))
        return MotionReport(
            motion=round(motion, 4), motion_norm=round(100 * motion / diag, 4),
            moving_area=round(float(np.mean([p["moving_area"] for p in per])), 4),
            jitter=round(float(np.mean([p["jitter"] for p in per[1:]])) if len(per) > 1 else 0.0, 4),
            flicker=round(float(np.mean([p["flicker"] for p in per])), 4), frames=n, width=w, height=h,
            per_frame=[{k: round(v, 4) if isinstance(v, float) else v for k, v in p.items()} for p in per])


def analyze_frames(frames) -> MotionReport:
    """Metrics for (N, H, W, 3) uint8 frames (or any iterable of (H, W, 3) frames: they are measured one
    at a time)."""
    an = MotionAnalyzer()
    for f in frames:
        an.add(f)
    return an.report()


def flow_visualisation(frames: np.ndarray) -> np.ndarray:
    """HSV colour wheel per frame pair: hue = direction, brightness = speed (shared scale)."""
    import cv2

    fl, scale = flows(np.asarray(frames))
    h, w = frames.shape[1:3]
    top = max(1e-6, max(float(np.percentile(np.hypot(f[..., 0], f[..., 1]), 99)) for f in fl))
    out = []
    for f in fl:
        mag, ang = cv2.cartToPolar(f[..., 0], f[..., 1])
        hsv = np.zeros((*f.shape[:2], 3), np.uint8)
        hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)
        hsv[..., 1] = 255
        hsv[..., 2] = np.clip(mag / top * 255, 0, 255).astype(np.uint8)
        rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if scale != 1.0:
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        out.append(rgb)
    return np.stack(out)


# -- smoothing -----------------------------------------------------------------------------------

def interpolate(frames: np.ndarray, factor: int, check: Callable[[], None] | None = None) -> np.ndarray:
    """Flow-based frame interpolation: ``factor - 1`` new frames between each pair, so N frames become
    factor x (N - 1) + 1.  Each new frame warps both neighbours toward the in-between time along the
    flow (in both directions) and blends them by distance.  ``check`` runs before each pair (a cancel
    token's ``check``: it raises to stop)."""
    import cv2

    if factor < 2:
        return np.asarray(frames)
    frames = np.asarray(frames)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = frames.shape[1:3]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = np.empty((factor * (len(frames) - 1) + 1, *frames.shape[1:]), np.uint8)  # one copy, filled in place
    out[0] = frames[0]
    for i, (a, b) in enumerate(zip(frames, frames[1:])):
        if check is not None:
            check()
        ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        fwd, bwd = dis.calc(ga, gb, None), dis.calc(gb, ga, None)
        for k in range(1, factor):
            s = k / factor
            from_a = cv2.remap(a, gx - s * fwd[..., 0], gy - s * fwd[..., 1], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            from_b = cv2.remap(b, gx - (1 - s) * bwd[..., 0], gy - (1 - s) * bwd[..., 1], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            out[i * factor + k] = np.clip((1 - s) * from_a.astype(np.float32) + s * from_b.astype(np.float32) + 0.5,
                                          0, 255).astype(np.uint8)
        out[(i + 1) * factor] = b
    return out


def make_loop(frames: np.ndarray, mode: str, crossfade: int = 4) -> np.ndarray:
    """'pingpong': forward then backward (no repeated end frames); 'crossfade': the last frames blend into
    the first so the video loops without a jump."""
    frames = np.asarray(frames)
    if mode == "pingpong":
        return np.concatenate([frames, frames[-2:0:-1]]) if len(frames) > 2 else frames
    if mode == "crossfade":
        k = max(1, min(crossfade, len(frames) // 2))
        out = frames.astype(np.float32).copy()
        for i in range(k):
            a = (i + 1) / (k + 1)
            out[len(frames) - k + i] = (1 - a) * out[len(frames) - k + i] + a * frames[0]
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown loop mode {mode!r}")
