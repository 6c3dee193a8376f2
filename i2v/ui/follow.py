"""Following jobs from the page: progress text, the latest preview, and a finished job's result.

The page never runs model work itself: it submits jobs to the job service and follows them by id here.
Abandoning a follow (closing or reloading the tab) leaves the job running; the reloaded page follows it
again.  A tab shows one follow at a time (:class:`Follows`).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

import gradio as gr
import numpy as np

from ..base.i18n import t
from ..base.notes import render
from ..jobs import CANCELLED, DONE, INTERRUPTED, QUEUED, JobRecord, JobService, error_of
from ..jobs.service import LOST
from .common import Components, error_text, warn


class Follows:
    """Which follow of each tab is the live one: a new follow (Generate pressed again while a job runs,
    Extend, Smooth) takes over the tab's result from the one before, which ends at its next poll without
    writing anything more.

    Gradio's ``cancels=`` did this before and raced: its client skips a dependency's trigger while the same
    dependency is still pending (trigger mode "once"), and forgets the cancelled follow only after the
    cancel's round trip to the server.  When the second click's job was queued before that, its follow
    was skipped, and the page stayed at "Queued: 1 job(s) ahead" while both jobs finished (a newcomer's
    pass, every time with two clicks 0.3-0.6 s apart).  Now follows start in trigger mode "multiple", nothing
    is cancelled, and each follow asks between polls whether it is still the tab's live one."""

    MAX = 4000  # (tab, lane) pairs kept at once; each is dropped when its live follow ends

    def __init__(self):
        self._live: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, tab: str | None, lane: str) -> tuple[Callable[[], bool], Callable[[], None]]:
        """Make a new follow the live one of ``tab``'s ``lane`` (a tab's result pane); returns ``live()``,
        true while no later follow took over, and ``release()``, for when the follow ends."""
        if not tab:  # (no session: nothing to take over from)
            return (lambda: True), (lambda: None)
        key, token = (tab, lane), object()
        with self._lock:
            self._live[key] = token
            self._live.move_to_end(key)
            while len(self._live) > self.MAX:
                self._live.popitem(last=False)

        def release():
            with self._lock:
                if self._live.get(key) is token:
                    del self._live[key]
        return (lambda: self._live.get(key) is token), release


def unfinished(jobs: JobService, ids) -> list[str]:
    """The jobs of ``ids`` still queued or running: a button pressed while they run follows them on (and Stop
    stops them) with its own job, and the browser keeps them to follow again after a reload."""
    return [job.id for job in (jobs.get(job_id) for job_id in ids or []) if job is not None and not job.final]


def stop_text(jobs: JobService, ids, lang: str):
    """Stop the page's jobs; "stopping" when one of them was queued or running, and no change to the status
    line when none was (a second Stop said "stopping after the current step" under "Stopped")."""
    # ("cancelled" is also what a job ended so answers)
    asked = [jobs.cancel(job_id) for job_id in unfinished(jobs, ids)]
    return t("stopping", lang) if any(a in ("cancelled", "running") for a in asked) else gr.update()


def progress_text(job: JobRecord, ahead: int, lang: str, prefix: str = "") -> str:
    p = job.progress or {}
    if job.note and job.note.startswith(LOST) and not job.final:  # its first worker died: say so
        prefix += t("retry_after_lost", lang) + " · "
    if job.status == QUEUED:
        return prefix + t("queued", lang, ahead=ahead)
    lead = ""
    if p.get("items"):
        lead = t("sweep_progress", lang, i=p["item"], n=p["items"], g=p["guidance"]) + " · "
    elif p.get("drafts"):  # auto-tune: "Draft 2 (up to 4): guidance 9.5 · Step …"
        lead = t("draft_progress", lang, i=p["draft"], n=p["drafts"], g=p["guidance"]) + " · "
    elif p.get("final"):
        lead = t("final_progress", lang, g=p["guidance"]) + " · "
    elif p.get("segments"):  # a long video: "Segment 2/4 · Step 13/50 …", the ETA for the whole video
        lead = t("segment_progress", lang, i=p["segment"], n=p["segments"]) + " · "
    if p.get("stage") == "decoding":
        return prefix + lead + t("decoding", lang)
    if p.get("stage") == "smoothing":
        return prefix + t("smoothing", lang)
    if p.get("total"):
        return prefix + lead + t("step_progress", lang, step=p["step"], total=p["total"], elapsed=p["elapsed"],
                                 eta=p["eta"], g=p["guidance"])
    return prefix + lead + t("starting", lang)


def end_text(job: JobRecord, lang: str, kept: int = 0) -> str:
    """The status line of a job that ended without a result (``kept``: the parts it committed, a long
    video's segments or an auto-tune's drafts, which Re-queue goes on from)."""
    if job.status == CANCELLED:  # the job's own record says what was kept (the same words on every surface)
        return error_of(job).text(lang)
    if job.status == INTERRUPTED:
        return t("job_interrupted", lang)
    return warn(error_text(error_of(job), lang))


def preview_array(jobs: JobService, job_id: str) -> np.ndarray | None:
    data = jobs.store.preview(job_id)
    if not data:
        return None
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def motion_text(m: dict, lang: str, joins: dict | None = None) -> str:
    """The measured motion in words; a long video's seam scores too, each join's number (the chart's line
    alone gave none)."""
    if not m:
        return ""
    text = t("motion_md", lang, motion=m["motion"], norm=m["motion_norm"], area=100 * m["moving_area"],
             jitter=m["jitter"], flicker=m["flicker"])
    seams = (joins or {}).get("seams") or []
    if seams:
        text += t("seams_md", lang, scores=", ".join(f"{s['score']:.2f}" for s in seams))
    return text


def motion_frame(m: dict, lang: str = "en", joins: dict | None = None):
    """The per-frame motion chart: frames are whole numbers, so the x axis is categorical ("1", "2", …) in
    frame order (a numeric axis put ticks at 1.1, 1.2 … for a short video).  A long video's joins are
    marked by a fourth line, its seam score: 0 inside the segments, the join's score across it."""
    import pandas as pd

    pairs = (m or {}).get("per_frame", [])
    rows = [{"frame": str(p["pair"] + 1), "value": p[k], "metric": t(f"metric_{k}", lang)}
            for p in pairs for k in ("motion", "jitter", "flicker")]
    seams = (joins or {}).get("seams") or []
    if seams:
        at = {}
        for s in seams:
            a, b = s["frames"]
            for pair in range(max(0, a - 1), b):  # the pairs (t-1, t) for t in the join's window
                at[pair] = s["score"]
        rows += [{"frame": str(p["pair"] + 1), "value": at.get(p["pair"], 0.0), "metric": t("metric_seam", lang)}
                 for p in pairs]
    order = [str(p["pair"] + 1) for p in pairs]
    frame = pd.DataFrame(rows, columns=["frame", "value", "metric"])
    return gr.update(value=frame, sort=order or None)


def tune_updates(c: Components, jobs: JobService, meta: dict, lang: str) -> dict:
    """An auto-tuned video's reasoning: the choice in words, motion against guidance (the drafts as points,
    the target band, the choice) and the drafts' thumbnails."""
    import pandas as pd

    rec = meta.get("autotune")
    if not rec:
        return {c.tune_box: gr.update(open=False), c.tune_md: "", c.tune_plot: None, c.tune_gallery: None}
    ch, target = rec["choice"], rec["target"]
    drafts = sorted(rec["drafts"], key=lambda d: d["guidance"])
    shown = ch["predicted"] if ch["predicted"] is not None else 0.0
    lines = [t(f"tune_{ch['why']}", lang, g=ch["guidance"], m=shown, t=target),
             t("tune_final", lang, m=(meta.get("motion") or {}).get("motion_norm", 0.0)),
             t("tune_safe_zone", lang)]  # what "safe zone" (in the lines above) means
    if meta.get("demo"):
        lines.append(t("tune_demo", lang))
    gs = [d["guidance"] for d in drafts] + [ch["guidance"]]
    lo, hi = min(gs), max(gs)
    # a scatter chart: each draft one marker; the target band and the choice as dotted lines of small points
    dots = TUNE_DOTS - 1
    rows = [{"guidance": d["guidance"], "motion": d["motion"], "series": t("tune_series_draft", lang)} for d in drafts]
    rows += [{"guidance": lo + (hi - lo) * i / dots, "motion": target * k, "series": t(f"tune_series_{name}", lang)}
             for name, k in (("low", 0.9), ("high", 1.1)) for i in range(TUNE_DOTS)]
    top = max([target * 1.1, *(d["motion"] for d in drafts)])
    rows += [{"guidance": ch["guidance"], "motion": top * i / dots, "series": t("tune_series_choice", lang)}
             for i in range(TUNE_DOTS)]
    thumbs = []
    for d in drafts:  # each draft's thumbnail (its video's path, relative to the outputs folder)
        png = jobs.abs(d.get("video")).with_suffix(".png") if d.get("video") else None
        if png is not None and png.is_file():
            thumbs.append((str(png), t("draft_caption", lang, g=d["guidance"], m=d["motion"])))
    return {c.tune_box: gr.update(open=True), c.tune_md: "\n\n".join(lines),
            c.tune_plot: pd.DataFrame(rows, columns=["guidance", "motion", "series"]),  # (titles: localized())
            c.tune_gallery: thumbs}


TUNE_DOTS = 25  # points along each line of the auto-tune chart (the target band, the choice)


def generation_updates(c: Components, jobs: JobService, job: JobRecord, lang: str, prefix: str = "") -> dict:
    """A finished generate job shown on the Create tab."""
    meta = jobs.metadata(job)
    s = jobs.summary(job)
    # why the model fell back is the banner's (one line, details behind a disclosure), not every result's
    notes = render(meta.get("notes", []), lang) + ([t("demo_note", lang)] if meta.get("demo") else [])
    m = meta.get("motion") or {}
    return {c.status: prefix + t("done", lang, seconds=s.get("seconds", 0.0), name=jobs.abs(job.result["video"]).name),
            c.video: s["video"], c.used_seed: "" if meta.get("seed") is None else str(meta["seed"]),
            c.params: json.dumps(meta.get("params", {}), ensure_ascii=False, indent=2),
            c.params_file: s.get("metadata"),
            c.notes: "\n".join(f"- {n}" for n in notes), c.last_params: meta.get("params"), c.last_video: s["video"],
            c.motion_md: motion_text(m, lang, meta.get("joins")),
            c.motion_plot: motion_frame(m, lang, meta.get("joins")),
            **tune_updates(c, jobs, meta, lang)}


def follow_jobs(c: Components, jobs: JobService, ids: list[str], lang: str, render_done, poll: float = 0.3,
                follows: Follows | None = None, tab: str | None = None, lane: str = "create") -> Iterator[dict]:
    """Stream updates for ``ids`` in order: queue position, steps, previews every few steps, then each
    result (``render_done(job, prefix)``) or why it ended.  With ``follows``, this becomes ``tab``'s live
    follow in ``lane`` and ends, writing nothing more, once a later one takes over."""
    if not ids:  # nothing was queued (the submit step said why): change nothing (a generator that yields
        yield {c.status: gr.skip()}  # nothing would blank every output; an empty dict is not an update)
        return  # (and the follow already showing this tab's jobs goes on)
    is_live, release = follows.claim(tab, lane) if follows is not None else ((lambda: True), (lambda: None))
    updates = _follow(c, jobs, ids, lang, render_done, poll)
    try:
        for upd in updates:
            if not is_live():
                return
            yield upd
    finally:
        updates.close()
        release()


def _follow(c: Components, jobs: JobService, ids: list[str], lang: str, render_done, poll: float) -> Iterator[dict]:
    n = len(ids)
    for i, job_id in enumerate(ids):
        prefix = f"[{i + 1}/{n}] " if n > 1 else ""
        last_preview = None
        job = jobs.get(job_id)
        while job is not None:
            if job.final:
                break
            upd = {c.status: progress_text(job, jobs_ahead(jobs, job), lang, prefix)}
            step = (job.progress or {}).get("step")
            if step is not None and step != last_preview and (step % 5 == 0 or step == job.progress.get("total")):
                arr = preview_array(jobs, job_id)
                if arr is not None:
                    upd[c.preview] = arr
                    last_preview = step
            yield upd
            time.sleep(poll)
            job = jobs.get(job_id)
        if job is None:
            continue
        if job.status == DONE:
            yield render_done(job, prefix)
        else:
            kept = len(jobs.store.list(parent=job.id, status=[DONE], limit=None)) if job.status == CANCELLED else 0
            yield {c.status: prefix + end_text(job, lang, kept)}
            if job.status == CANCELLED:
                return


def jobs_ahead(jobs: JobService, job: JobRecord) -> int:
    """How many queued or running jobs come before ``job`` (0 once it runs)."""
    if job.status != QUEUED:
        return 0
    return sum(1 for j in jobs.store.list(status=["queued", "running"], parent=None, limit=None) if j.seq < job.seq)
