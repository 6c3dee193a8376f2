"""Long videos: a chain of segments, each generated from a frame near the end of the one before, joined
into one MP4 (a workflow over the studio service, like the sweep).

1. Segment 1 starts from the user's picture (or, to *extend* a video, from that video's last frame).
2. Segment k+1 starts from segment k's frame ``overlap`` frames before its last, taken from the frames in
   memory (colour-matched, full quality), never from the MP4: re-reading the encoded video would add a
   generation of compression loss at every join.  That picture is also kept as a lossless PNG beside the
   segment (``<segment>.next.png``), so a resumed job starts the next segment from the same picture.
3. Each segment has its own prompt (a storyboard: one line per segment; the last line repeats when there
   are fewer lines than segments) and seed: the first segment's seed plus its index, so Reuse repeats it.
4. The joins (see :mod:`i2v.media.joins`): the repeated picture is dropped, colours are matched to the first
   segment, the overlapping frames are cross-faded.  Each join gets a seam score, stored in the sidecar.

Every finished segment is a committed result (the job store records it as a child of the long job): a long
job that is stopped, interrupted or killed resumes from its last committed segment.  A resumed job reads
the committed segments back from their MP4s for the final join (their pictures for the next segment come
from the lossless PNGs).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable

import numpy as np
from PIL import Image

from ..motion.analysis import MotionAnalyzer, analyze_frames
from ..base.errors import InvalidInput
from ..media.joins import (ColourReference, ColourTally, join, join_windows, joined_length, lab_means, match_colour,
                           next_picture_index, seam_scores)
from ..planning.longplan import LongPlan
from ..base.settings import MAX_SEED
from ..studio import APP_NAME, APP_VERSION, GenerationResult, Studio, slug
from ..media.video import (COMMENT_MAX_BYTES, check_video_input, commit_files, iter_frames, json_to, mp4_stream_to,
                           mp4_to, png_to, read_comment, read_frames, read_tail)

LONG_KIND = "long_video"  # the sidecar's kind
@dataclass
class Segment:
    """A committed segment: its result files, and the picture the next segment starts from."""

    index: int
    video: Path
    next_picture: Path
    seed: int
    frames: np.ndarray | None = field(default=None, repr=False)  # full quality, when made in this run

    def load(self) -> np.ndarray:
        return self.frames if self.frames is not None else read_frames(self.video)


@dataclass
class LongResult:
    video: Path
    sidecar: Path
    thumbnail: Path
    metadata: dict
    segments: list[Segment]
    made: int  # segments generated in this run (the others were committed before)
    prior: list[Path] = field(default_factory=list)  # an extended long video's own segments, before these


RECORD_MAX_ROWS = 10_000  # segments or joins a long video's record may list (ours: at most long.max_segments)
SEGMENT_ROW_KEYS = ("video", "seed", "prompt", "params")


def source_meta(video: Path) -> dict | None:
    """A video's own record: its MP4's comment tag (read with a bound), else its sidecar; None when it has
    none that is a JSON object."""
    video = Path(video)
    try:
        text = read_comment(video)
    except (ValueError, OSError):
        text = None
    side = video.with_suffix(".json")
    if text is None and side.is_file() and side.stat().st_size <= COMMENT_MAX_BYTES:
        try:
            text = side.read_text(encoding="utf-8")
        except (OSError, ValueError):
            text = None
    try:
        meta = json.loads(text) if text else None
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def long_record(meta: dict | None, name: str) -> dict | None:
    """A long video's segments and joins from its record, checked like any input (the record of a file
    may have been written by anyone): None for a video that is not a long video, else ``segments`` (rows
    of ``SEGMENT_ROW_KEYS``, ``video`` a file name) and ``windows`` (pairs of whole numbers 1 <= a <= b);
    anything else is refused with one line naming the field."""
    if not isinstance(meta, dict) or meta.get("kind") != LONG_KIND:
        return None

    def bad(what: str):
        return InvalidInput("video_record_bad", name=name, field=what)

    rows = meta.get("segments")
    if not isinstance(rows, list) or not rows or len(rows) > RECORD_MAX_ROWS:
        raise bad("segments")
    out_rows = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("video"), str) or not Path(r["video"]).name:
            raise bad(f"segments[{i}]")
        row = {"index": i, **{k: r[k] for k in SEGMENT_ROW_KEYS if k in r}}
        row["video"] = Path(r["video"]).name
        out_rows.append(row)
    joins = meta.get("joins")
    if joins is None:
        joins = {}
    if not isinstance(joins, dict):
        raise bad("joins")
    windows = joins.get("windows")
    if windows is None:
        windows = []
    if not isinstance(windows, list) or len(windows) > RECORD_MAX_ROWS:
        raise bad("joins.windows")
    out_windows = []
    for i, w in enumerate(windows):
        if not (isinstance(w, (list, tuple)) and len(w) == 2 and all(type(x) is int for x in w)
                and 1 <= w[0] <= w[1]):
            raise bad(f"joins.windows[{i}]")
        out_windows.append((w[0], w[1]))
    return {"segments": out_rows, "windows": out_windows}


@dataclass
class ExtendSource:
    """What extending a video needs of it, read once, one frame at a time (:func:`read_extend_source`):
    never the whole video at once.  The result's MP4 reads the frames before the tail again as it is
    written."""

    path: Path
    frames: int                # how many it has
    first: np.ndarray          # its first frame (the result's thumbnail)
    tail: np.ndarray           # its last overlap + 1 frames: the next picture and the cross-fade
    ref: ColourReference       # its colours: every new segment's are matched to them
    motion: MotionAnalyzer     # fed the frames before the tail: the result's motion goes on from there
    means: list                # those frames' mean LAB colours (for the seam scores)
    meta: dict | None          # its own record (a result of this studio has one)
    record: dict | None        # its segments and joins, when it is a long video (:func:`long_record`)

    @property
    def head(self) -> int:
        """The frames before the tail: the result holds them unchanged."""
        return self.frames - len(self.tail)

    def picture(self, overlap: int) -> np.ndarray:
        """The frame the first new segment starts from: ``overlap`` before the last (the last, if shorter)."""
        return self.tail[-1 - overlap] if self.frames > overlap + 1 else self.tail[-1]

    def prior_rows(self) -> list[dict]:
        """The segments it is made of: a long video's own, else the video itself as one segment."""
        if self.record is not None:
            return [dict(r) for r in self.record["segments"]]
        m = self.meta or {}
        row = {"index": 0, "video": self.path.name}
        for key in ("seed", "params"):
            if key in m:
                row[key] = m[key]
        if isinstance(m.get("params"), dict) and "prompt" in m["params"]:
            row["prompt"] = m["params"]["prompt"]
        return [row]


def read_extend_source(video: Path, overlap: int, limits: dict) -> ExtendSource:
    """Check a video to extend (pixels, seconds and frames from its header, before a frame is decoded:
    :func:`i2v.media.video.check_video_input`), then read it once, holding ``overlap`` + 2 frames at most: its
    colours, its motion and its frames' mean colours are taken as the frames go by, and its last
    ``overlap`` + 1 frames are kept."""
    video = Path(video)
    info = check_video_input(video, limits, "extend")
    motion, tally, first = MotionAnalyzer(), ColourTally(), []

    def each(frame):
        if not first:
            first.append(frame)
        motion.add(frame)
        tally.add(frame)

    try:
        tail, n = read_tail(video, overlap + 1, max_frames=info["frames"], each=each)
    except (ValueError, OSError, RuntimeError):
        raise InvalidInput("video_unreadable", name=video.name) from None
    means = list(tally.lab_means)
    for frame in tail:  # (the colours are the whole video's)
        tally.add(frame)
    meta = source_meta(video)
    return ExtendSource(video, n, first[0] if first else tail[0], tail, tally.reference(), motion, means, meta,
                        long_record(meta, video.name))


def next_picture_path(video: Path) -> Path:
    return video.with_suffix(".next.png")


def long_video(studio: Studio, plan: LongPlan, *, done: list[Segment] | None = None, extend: Path | None = None,
               on_segment: Callable[[Segment, GenerationResult], None] | None = None,
               on_progress: Callable[[int, int], None] | None = None, on_step=None, cancel=None,
               on_commit: Callable[[list[Path]], None] | None = None, part_of: dict | None = None,
               **request_kw) -> LongResult:
    """Make (or finish) a long video.  ``done``: the segments committed by an earlier run of the same job,
    in order (each must still have its files); ``extend``: a video of this studio to continue (its last
    frame is the first segment's picture, and it comes first in the result).  ``on_segment`` hears of each
    new segment once its files are committed.  ``part_of``: the job the segments belong to (``{"job": id}``),
    written into each segment's sidecar, so a segment found on disk without its row is known as one."""
    done = list(done or [])
    request_kw = dict(request_kw)
    request_kw.pop("prompt", None)  # each segment's is the plan's
    seed = request_kw.pop("seed", None)
    source = None
    if extend is not None:
        source = read_extend_source(extend, plan.overlap, studio.cfg.limits)
        request_kw["image"] = Image.fromarray(source.picture(plan.overlap))
    base = studio.build_request(**request_kw, prompt=plan.prompts[0], seed=seed if seed not in (None, -1) else -1)
    first_seed = done[0].seed if done else studio.resolve_seed(base.seed)
    size = {"width": base.width, "height": base.height}
    segments: list[Segment] = []
    ref = source.ref if source is not None else None  # the colours every segment is matched to
    picture: np.ndarray | None = None
    for k in range(plan.segments):
        if k < len(done):  # committed by an earlier run: not made again
            seg = done[k]
            segments.append(seg)
            if ref is None:
                ref = ColourReference.of(seg.load()[1:])
            picture = np.asarray(Image.open(seg.next_picture).convert("RGB"))
            continue
        if cancel is not None:
            cancel.check()
        if on_progress:
            on_progress(k, plan.segments)
        kw = dict(request_kw)
        if picture is not None:
            kw["image"] = Image.fromarray(picture)
        req = studio.build_request(**{**kw, **size}, prompt=plan.prompts[k], seed=(first_seed + k) % (MAX_SEED + 1))
        mark = {"part_of": {**part_of, "kind": "segment", "segment": k, "segments": plan.segments}} \
            if part_of else None
        res = studio.generate(req, on_step=on_step, cancel=cancel, on_commit=on_commit, extra=mark)
        frames = res.frames
        if ref is None:
            ref = ColourReference.of(frames[1:])
        else:
            frames = match_colour(frames, ref, plan.colour, plan.colour_strength)
        picture = frames[next_picture_index(len(frames), plan.overlap)]
        nxt = next_picture_path(res.video)
        commit_files({nxt: lambda p, pic=picture: png_to(p, pic)}, on_commit=on_commit)
        seg = Segment(k, res.video, nxt, res.metadata["seed"], frames)
        segments.append(seg)
        if on_segment:
            on_segment(seg, res)
    if cancel is not None:
        cancel.check()
    # the user's size choice (each segment ran at the first one's size, given as width and height)
    return _assemble(studio, plan, segments, source, ref, len(segments) - len(done[:plan.segments]), extend,
                     on_commit, {"resolution": base.resolution, "requested_seed": base.seed})


def _assemble(studio: Studio, plan: LongPlan, segments: list[Segment], source: ExtendSource | None, ref, made: int,
              extend: Path | None, on_commit, base_params: dict) -> LongResult:
    """Join the segments (colour-matched already when made in this run; matched here when read back).
    Extending: the source's tail is joined to them, the source's own frames before it go to the MP4 as it is
    written (read again, one at a time), and its measures go on from where reading it left them."""
    clips = []
    for i, seg in enumerate(segments):
        frames = seg.load()
        if seg.frames is None and (i > 0 or source is not None):  # read back: its MP4 holds it as generated
            frames = match_colour(frames, ref, plan.colour, plan.colour_strength)
        clips.append(frames)
    video = source.tail if source is not None else clips[0]
    for clip in (clips if source is not None else clips[1:]):
        video = join(video, clip, plan.overlap)
    n_clip = len(clips[0])
    if source is None:
        windows = join_windows(n_clip, len(clips), plan.overlap)
        assert len(video) == joined_length(n_clip, len(clips), plan.overlap)
        report = analyze_frames(video)  # (the seam scores take its flow: computed once)
        seams = seam_scores(video, windows, [p["motion"] for p in report.per_frame])
        total_frames, first_frame, head = len(video), video[0], 0
    else:  # the source's own length comes first, and its own joins (a long video's) before the new ones
        windows, end = [w for w in (source.record or {}).get("windows", []) if w[1] < source.frames], source.frames
        for _ in clips:
            start = end - plan.overlap
            windows.append((start, start + plan.overlap))
            end = end - plan.overlap + n_clip - 1
        for frame in video:
            source.motion.add(frame)
        report = source.motion.report()
        seams = seam_scores(None, windows, [p["motion"] for p in report.per_frame], source.means + lab_means(video))
        total_frames, first_frame, head = source.head + len(video), source.first, source.head
    metas = [json.loads(s.video.with_suffix(".json").read_text(encoding="utf-8")) for s in segments]
    prior_rows = source.prior_rows() if source is not None else []  # extending: its segments come first
    prior = [extend.parent / r["video"] for r in prior_rows]
    first = metas[0]
    params = {**first["params"], **base_params, "prompt": plan.prompts[0], "seed": segments[0].seed, **plan.to_json()}
    fps = int(params["fps"])
    now = _dt.datetime.now()
    folder = studio.outputs / now.strftime("%Y-%m-%d")
    total = len(prior_rows) + len(segments)  # (an extended video counts its source's segments too)
    stem = f"{now.strftime('%H%M%S')}_{slug(plan.prompts[0])}_long{total}_s{segments[0].seed}_{secrets.token_hex(3)}"
    path, sidecar, thumb = (folder / f"{stem}{ext}" for ext in (".mp4", ".json", ".png"))
    meta = {"app": APP_NAME, "app_version": APP_VERSION, "kind": LONG_KIND,
            "created": now.isoformat(timespec="seconds"), "video": path.name, "thumbnail": thumb.name,
            "seed": segments[0].seed, "params": params, "frames": total_frames, "fps": fps,
            "duration_s": round(total_frames / fps, 3), "extends": extend.name if extend is not None else None,
            "segments": prior_rows + [{"index": len(prior_rows) + s.index, "video": s.video.name, "seed": s.seed,
                                       "prompt": plan.prompts[s.index], "params": m["params"]}
                                      for s, m in zip(segments, metas)],
            "joins": {"overlap": plan.overlap, "colour": plan.colour, "colour_strength": plan.colour_strength,
                      "reference": ref.to_json() if ref is not None else None, "windows": [list(w) for w in windows],
                      "seams": seams},
            "made_in_last_run": made, "model": first.get("model"), "demo": first.get("demo"),
            "notices": first.get("notices", [])}
    meta["motion"] = report.to_json()
    comment = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))

    def write_mp4(p: Path) -> None:
        if source is None:
            mp4_to(p, video, fps, comment)
        else:  # the source's frames before its tail, read again one at a time, then the joined rest
            h, w = video.shape[1:3]
            mp4_stream_to(p, itertools.chain(iter_frames(source.path, head), video), (w, h), fps, comment)

    commit_files({path: write_mp4, thumb: lambda p: png_to(p, first_frame),
                  sidecar: lambda p: json_to(p, meta)}, mp4_frames={path: total_frames}, on_commit=on_commit)
    return LongResult(path, sidecar, thumb, meta, segments, made, prior)


__all__ = ["Segment", "LongResult", "ExtendSource", "read_extend_source", "long_record", "source_meta", "long_video",
           "next_picture_path", "LONG_KIND"]
