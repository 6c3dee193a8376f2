"""Every kind of job, defined once.

A :class:`JobKind` says what the store, the job service, the page and the command line need to know about
one kind of job: its name (in the store, ``jobs --json``, and the page's label ``kind_<name>``), how its
work runs, whether it is a generation (a result with a generation's sidecar: the Create tab shows it, a
crash between its renames and its commit is recovered from its files), whether History lists its video,
which tab follows it, how a sidecar marks a result of this kind, and how a person is told what it works
on.  A new kind of job is one row of :data:`KINDS` (and its two labels in :mod:`i2v.base.i18n`).

The runners are functions of the job service (they call the studio and the workflows through it); they
import what they use when they run, so the store can read this table without importing the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

# A runner: (the job service, the job's record, its reporter, its cancel token, on_progress) -> (result, files).
# This table imports nothing of the service nor the store (they both read it): a runner is handed them.
Runner = Callable[[Any, Any, Any, Any, Any], "tuple[dict, list[str]]"]
JobService = JobRecord = Any  # (what the runners' first two arguments are: i2v.jobs.service, i2v.jobs.store)


def _run_generate(jobs: JobService, job: JobRecord, reporter, token, on_progress):
    req = jobs.studio.build_request(**jobs.request_kw(job.params))
    res = jobs.studio.generate(req, on_step=reporter.step, cancel=token, want_latents=True,
                               on_commit=reporter.commit)
    return jobs.result_of(res)


def _run_sweep(jobs: JobService, job: JobRecord, reporter, token, on_progress):
    from ..workflows.sweep import sweep

    kw = jobs.request_kw(job.params)
    values = job.params["values"]

    def child_done(i, res):
        result, files = jobs.result_of(res)
        jobs.store.add_done(GENERATE, {**job.params, "guidance_scale": values[i], "seed": res.metadata["seed"]},
                            result, files, parent=job.id, client=job.client, worker=jobs.worker)

    def progress(i, n, g):
        reporter.item = {"item": i + 1, "items": n, "guidance": g}
        reporter.write({"stage": "queued_item", **reporter.item})
        if on_progress:
            on_progress(i, n, g)

    res = sweep(jobs.studio, values, on_progress=progress, on_step=reporter.step, cancel=token,
                on_result=child_done, on_commit=reporter.commit, **kw)
    summary = {**res.to_json(), "grid": jobs.rel(res.grid), "metadata": jobs.rel(res.sidecar)}
    summary["video"] = summary["grid"]
    for row in summary["results"]:
        row["video"], row["metadata"] = jobs.rel(row["video"]), jobs.rel(row["metadata"])
    return {"video": summary["grid"], "summary": summary}, [jobs.rel(res.grid), jobs.rel(res.sidecar)]


def _run_smooth(jobs: JobService, job: JobRecord, reporter, token, on_progress):
    from ..workflows.smooth import smooth

    p = job.params
    src = jobs.abs(p["video"])
    reporter.write({"stage": "smoothing"})
    path, meta = smooth(src, factor=int(p["factor"]), method=p.get("method") or "flow", loop=p.get("loop"),
                        outputs=jobs.outputs, on_commit=reporter.commit, limits=jobs.studio.cfg.limits,
                        cancel=token)
    side = path.with_suffix(".json")
    # the source relative to the outputs folder, or not at all (a CLI run's file elsewhere: by name)
    summary = {"video": jobs.rel(path), "metadata": jobs.rel(side), "frames": meta["frames"], "fps": meta["fps"],
               "source": meta["source"], "source_name": meta["source_name"]}
    return {"video": summary["video"], "summary": summary, "meta": meta}, [jobs.rel(path), jobs.rel(side)]


def _run_long(jobs: JobService, job: JobRecord, reporter, token, on_progress):
    """A long video: its segments in order, each committed as a child (kind ``segment``) as soon as it is
    made; a re-queued job takes the committed ones as they are and goes on from the next."""
    import dataclasses
    import time

    from ..workflows.longvideo import Segment, long_video, next_picture_path

    p = job.params
    plan = jobs.long_plan(p)
    done: list[Segment] = []
    kids = {c.params.get("segment"): c for c in jobs.store.list(parent=job.id, kinds=[SEGMENT], status=["done"],
                                                                limit=None, newest_first=False)}
    for i in range(plan.segments):  # the committed prefix, each with its files still there
        child = kids.get(i)
        video = jobs.abs((child.result or {}).get("video")) if child else None
        if video is None or not video.is_file() or not next_picture_path(video).is_file():
            break
        done.append(Segment(i, video, next_picture_path(video), int(child.params["seed"])))
    protected = {s.video.with_suffix(".json") for s in done}
    jobs.studio.protected |= protected
    times: list[float] = []
    t0 = time.monotonic()

    def progress(i, n):
        times.append(time.monotonic())
        reporter.item = {"segment": i + 1, "segments": n}
        reporter.write({"stage": "queued_segment", **reporter.item})
        if on_progress:
            on_progress(i, n, None)

    def step(info):  # the ETA of the whole video: this segment's, plus the segments after it at its pace
        i, n = reporter.item["segment"], reporter.item["segments"]
        per = info.elapsed / max(info.step, 1) * info.total + 1.0  # (+ decoding and writing, roughly)
        if len(times) > 1:
            per = (times[-1] - times[0]) / (len(times) - 1)
        reporter.step(dataclasses.replace(info, eta=info.eta + (n - i) * per))

    def segment_done(seg, res):
        result, files = jobs.result_of(res)
        files.append(jobs.rel(seg.next_picture))
        result["summary"]["next_picture"] = jobs.rel(seg.next_picture)
        side = seg.video.with_suffix(".json")
        protected.add(side)
        jobs.studio.protected.add(side)
        kw = {k: v for k, v in p.items() if k not in LONG_PARAMS}
        # the row, and the hand-over of the files from the long job's planned ones, in one transaction
        jobs.store.add_child(SEGMENT, {**kw, "prompt": plan.prompts[seg.index], "seed": seg.seed,
                                       "segment": seg.index, "segments": plan.segments}, result, files,
                             parent=job.id, client=job.client, worker=jobs.worker)
        planned.clear()

    planned: list = []

    def commit(finals):  # a segment's files, then its next picture: all planned until its row holds them
        planned.extend(finals)
        reporter.commit(planned)

    try:
        res = long_video(jobs.studio, plan, done=done, extend=jobs.abs(p.get("video")), on_segment=segment_done,
                         on_progress=progress, on_step=step, cancel=token, on_commit=commit,
                         part_of={"job": job.id}, **jobs.request_kw(p))
    finally:
        jobs.studio.protected -= protected
    summary = {"video": jobs.rel(res.video), "metadata": jobs.rel(res.sidecar), "thumbnail": jobs.rel(res.thumbnail),
               "segments": [jobs.rel(p) for p in res.prior] + [jobs.rel(s.video) for s in res.segments],
               "frames": res.metadata["frames"],
               "seams": res.metadata["joins"]["seams"], "made": res.made, "seed": res.metadata["seed"],
               "seconds": round(time.monotonic() - t0, 2),
               "motion": {k: v for k, v in res.metadata["motion"].items() if k != "per_frame"}}
    return ({"video": summary["video"], "summary": summary, "meta": res.metadata},
            [jobs.rel(res.video), jobs.rel(res.sidecar), jobs.rel(res.thumbnail)])


def _run_autotune(jobs: JobService, job: JobRecord, reporter, token, on_progress):
    """Drafts (each committed as a child, kind ``draft``), then the final video; a re-queued job keeps the
    drafts it has."""
    import time

    from ..workflows.autotune import autotune
    from ..motion.tuning import MAX_DRAFTS, resolve_target

    t0 = time.monotonic()
    p = job.params
    kids = jobs.store.list(parent=job.id, kinds=[DRAFT], status=["done"], limit=None, newest_first=False)
    done = [{"draft": k.params["tune_draft"], "seed": k.params["seed"],
             "video": (k.result or {}).get("video")} for k in kids if k.params.get("tune_draft")]

    def progress(stage, i, g):
        reporter.item = {"draft": i + 1, "drafts": MAX_DRAFTS, "guidance": g} if stage == "draft" else \
            {"final": True, "guidance": g}
        reporter.write({"stage": "queued_item", **reporter.item})
        if on_progress:  # (the final video: i == n)
            on_progress(i if stage == "draft" else MAX_DRAFTS, MAX_DRAFTS, g)

    def draft_done(i, draft, res):
        result, files = jobs.result_of(res)
        # the row, and the hand-over of the files from the job's planned ones, in one transaction
        jobs.store.add_child(DRAFT, {**{k: v for k, v in p.items() if k not in TUNE_PARAMS},
                                     **res.metadata["params"], "seed": draft["seed"], "tune_draft": draft["draft"],
                                     "image": p.get("image")},
                             result, files, parent=job.id, client=job.client, worker=jobs.worker)

    res = autotune(jobs.studio, resolve_target(p["target_motion"]), done=done, draft_steps=p.get("draft_steps"),
                   draft_frames=p.get("draft_frames"), on_draft=draft_done, on_progress=progress,
                   on_step=reporter.step, cancel=token, on_commit=reporter.commit, part_of={"job": job.id},
                   **jobs.request_kw(p))
    result, files = jobs.result_of(res.final)
    result["summary"]["autotune"] = res.record
    result["summary"]["drafts_made"] = res.made
    result["summary"]["seconds"] = round(time.monotonic() - t0, 2)  # the whole auto-tune, drafts included
    return result, files


def _prompt(params: dict) -> str:
    return str(params.get("prompt") or "")


def _smoothed(params: dict) -> str:
    """A smoothing's source by file name (a CLI run's may lie outside the outputs folder: no server path)."""
    return f"{PurePosixPath(str(params.get('video') or '')).name} ×{params.get('factor')}"


def _long(params: dict) -> str:
    return f"{params.get('segments')}× {_prompt(params)}"


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Runner
    generation: bool = False     # its result is one generation (MP4 + generation sidecar + thumbnail)
    in_history: bool = False     # History lists its video
    tab: str = "create"          # the page's tab that follows it (and shows its result)
    sidecar_kind: str | None = None  # the sidecar's "kind" for a result of this kind (None: a generation's)
    describe: Callable[[dict], str] = _prompt  # what it works on, for the Queue and `jobs`
    restores_source: bool = False  # Reuse brings back the settings of the video it was made from


GENERATE, SWEEP, SMOOTH, BATCH_ENTRY, LONG, SEGMENT = "generate", "sweep", "smooth", "batch_entry", "long", "segment"
AUTOTUNE, DRAFT = "autotune", "draft"
# an auto-tune job's own parameters, besides a generation's
TUNE_PARAMS = ("target_motion", "draft_steps", "draft_frames")
# a long job's own parameters, besides a generation's (``video``: the video it extends, if any)
LONG_PARAMS = ("segments", "storyboard", "overlap", "colour", "colour_strength", "video")

KINDS: dict[str, JobKind] = {k.name: k for k in (
    JobKind(GENERATE, _run_generate, generation=True, in_history=True),
    JobKind(SWEEP, _run_sweep, tab="compare", sidecar_kind="guidance_sweep"),
    JobKind(SMOOTH, _run_smooth, in_history=True, sidecar_kind="smoothed", describe=_smoothed,
            restores_source=True),
    JobKind(BATCH_ENTRY, _run_generate, generation=True, in_history=True),  # a batch file's entry
    JobKind(LONG, _run_long, in_history=True, sidecar_kind="long_video", describe=_long),
    # a long job's segment: born finished (its parent made it), a generation kept for inspection
    JobKind(SEGMENT, _run_generate, generation=True),
    # auto-tune: drafts (born finished, kept for the chart), then the final video, its result
    JobKind(AUTOTUNE, _run_autotune, generation=True, in_history=True),
    JobKind(DRAFT, _run_generate, generation=True),
)}

HISTORY_KINDS = tuple(k.name for k in KINDS.values() if k.in_history)


def kind_of(name: str) -> JobKind:
    """The kind called ``name`` (a job of a kind this version does not know is refused by the store)."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown job kind {name!r}") from None


def kind_of_sidecar(meta: dict) -> JobKind:
    """The kind of job a result on disk came from, by its sidecar's ``kind`` (none: a generation)."""
    marked = meta.get("kind")
    return next((k for k in KINDS.values() if k.sidecar_kind is not None and k.sidecar_kind == marked),
                KINDS[GENERATE])
