"""The Queue tab: every job of the store (queued, running, recent) with its progress; cancel and re-queue
by id.  It refreshes itself every two seconds, so jobs submitted from the CLI or another tab show too."""

from __future__ import annotations

import datetime as _dt
import json

import gradio as gr

from ..base.errors import I2VError, InvalidInput, echo
from ..base.i18n import t
from ..jobs import kind_of
from .common import error_text, lang_of, warn
from .follow import end_text, jobs_ahead, preview_array, progress_text

COLUMNS = ["id", "kind", "status", "progress", "prompt", "created", "finished"]


def columns(lang: str) -> list[str]:
    return [t(f"col_{k}", lang) for k in COLUMNS]


WORKER_COLUMNS = ["worker", "node", "device", "state", "job", "done", "seen"]


def worker_columns(lang: str) -> list[str]:
    return [t(f"col_{k}", lang) for k in WORKER_COLUMNS]


def layout(ui) -> None:
    c, i18n = ui.c, ui.i18n
    gr.Markdown(i18n("queue_help"))
    c.queue_table = gr.Dataframe(headers=columns("en"), interactive=False, elem_id="queue-table",
                                 label=i18n("queue_table"), wrap=True)
    with gr.Row():
        c.queue_job = gr.Textbox(label=i18n("job_id"), elem_id="queue-job", scale=2)
        c.queue_cancel = gr.Button(i18n("cancel_job"), variant="stop", elem_id="queue-cancel", scale=1)
        c.queue_requeue = gr.Button(i18n("requeue_job"), elem_id="queue-requeue", scale=1)
    c.queue_msg = gr.Markdown(elem_id="queue-msg")
    with gr.Row():
        c.queue_preview = gr.Image(type="numpy", interactive=False, elem_id="queue-preview", label=i18n("preview_box"))
        c.queue_video = gr.Video(label=t("selected_result"), interactive=False, elem_id="queue-video")
    gr.Markdown(i18n("workers_help"))
    c.workers_table = gr.Dataframe(headers=worker_columns("en"), interactive=False, elem_id="workers-table",
                                   label=i18n("workers_table"), wrap=True)
    c.queue_timer = gr.Timer(2.0)


def _when(ts: float | None) -> str:
    """Today's times as HH:MM:SS, older ones with their date (the table fits a laptop's width)."""
    if not ts:
        return ""
    when = _dt.datetime.fromtimestamp(ts)
    return when.strftime("%H:%M:%S" if when.date() == _dt.date.today() else "%m-%d %H:%M")


def _shown(params: dict) -> str:
    """A job's parameters for a person: the kept input picture is the studio's business, not a path to show."""
    return json.dumps({k: v for k, v in params.items() if k not in ("image", "batch_file", "batch_key")},
                      ensure_ascii=False, indent=1)[:1200]


class QueueHandlers:
    def __init__(self, ui):
        self.ui, self.c, self.jobs = ui, ui.c, ui.jobs

    def rows(self, lang: str):
        import pandas as pd

        rows = []
        for j in self.jobs.store.list(parent=None, limit=50):
            if j.final:
                prog = "" if j.status == "done" else end_text(j, lang)[:80]
            else:
                prog = progress_text(j, jobs_ahead(self.jobs, j), lang)
            p = j.params
            what = kind_of(j.kind).describe(p)
            rows.append([j.id, t(f"kind_{j.kind}", lang), t(f"status_{j.status}", lang), prog, str(what)[:40],
                         _when(j.created_at), _when(j.finished_at)])
        return pd.DataFrame(rows, columns=columns(lang))

    def worker_rows(self, lang: str):
        import pandas as pd

        now = _dt.datetime.now().timestamp()
        rows = [[w["id"], w["node"] or "", w["device"] or "", t(f"wstate_{w['state']}", lang), w["job"] or "",
                 w["jobs_done"], t("seconds_ago", lang, s=max(0.0, now - w["heartbeat"]))]
                for w in self.jobs.store.workers()]
        return pd.DataFrame(rows, columns=worker_columns(lang))

    def refresh(self, request: gr.Request):
        lang = lang_of(request)
        return self.rows(lang), self.worker_rows(lang)

    def pick(self, evt: gr.SelectData, request: gr.Request):
        c = self.c
        row = evt.row_value if evt is not None else None
        if not row:
            return {c.queue_job: ""}
        return {c.queue_job: row[0], **self.detail(row[0], lang_of(request))}

    def detail(self, job_id: str, lang: str) -> dict:
        c = self.c
        job = self.jobs.get(job_id)
        if job is None:
            return {c.queue_msg: ""}
        out = {c.queue_msg: f"`{job.id}` · {t('kind_' + job.kind, lang)} · **{t('status_' + job.status, lang)}**"
                            + (f" · {job.note}" if job.note else "")
                            + (f"\n\n{end_text(job, lang)}" if job.final and job.status != "done" else "")
                            + f"\n\n```json\n{_shown(job.params)}\n```",
               c.queue_preview: preview_array(self.jobs, job.id)}
        if job.status == "done":
            out[c.queue_video] = self.jobs.summary(job).get("video")
        return out

    def cancel(self, job_id, request: gr.Request):
        c, lang = self.c, lang_of(request)
        status = self.jobs.cancel((job_id or "").strip())
        if status is None:
            return {c.queue_msg: warn(error_text(InvalidInput("no_job", id=echo(job_id)), lang))}
        # the store's answer is what it did: a job that had already ended is not "cancelled" by this click
        said = t("job_stopping", lang, id=job_id.strip()) if status == "running" else \
            t("job_cancelled", lang, id=job_id.strip()) if status == "cancelled" else \
            t("job_ended_already", lang, id=job_id.strip(), status=t(f"status_{status}", lang))
        return {c.queue_msg: said, c.queue_table: self.rows(lang)}

    def requeue(self, job_id, request: gr.Request):
        c, lang = self.c, lang_of(request)
        job_id = (job_id or "").strip()
        try:
            ok = self.jobs.requeue(job_id)
        except I2VError as exc:
            return {c.queue_msg: warn(error_text(exc, lang))}
        job = self.jobs.get(job_id)
        if not ok:
            return {c.queue_msg: t("not_requeueable", lang, id=job_id, status=job.status if job else "—")}
        return {c.queue_msg: self.jobs.requeued_text(job_id, lang), c.queue_table: self.rows(lang)}


def wire(ui) -> None:
    c, h = ui.c, QueueHandlers(ui)
    ui.queue_tab = h
    quiet = dict(api_name=False, show_progress="hidden")
    c.queue_timer.tick(h.refresh, None, [c.queue_table, c.workers_table], **quiet)
    c.queue_table.select(h.pick, None, [c.queue_job, c.queue_msg, c.queue_preview, c.queue_video], **quiet)
    c.queue_cancel.click(h.cancel, c.queue_job, [c.queue_msg, c.queue_table], **quiet)
    c.queue_requeue.click(h.requeue, c.queue_job, [c.queue_msg, c.queue_table], **quiet)
