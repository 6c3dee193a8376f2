"""The Compare guidance tab: the seed article's experiment as a job (one video per guidance value, a
captioned grid, a table of measured motion with the best balance marked)."""

from __future__ import annotations

import gradio as gr

from ..base.errors import I2VError
from ..base.i18n import t
from .common import check_shown_model, error_text, lang_of, page_request, warn
from .follow import follow_jobs, jobs_ahead, stop_text, unfinished


def layout(ui) -> None:
    c, i18n = ui.c, ui.i18n
    gr.Markdown(i18n("sweep_help"))
    with gr.Row():
        # the model family's values (I2VGen-XL: 5, 7, 9, 11, 14, 18)
        values = ", ".join(f"{g:g}" for g in ui.studio.cfg.family["sweep_values"])
        c.sweep_values = gr.Textbox(values, label=i18n("sweep_values"), scale=3, elem_id="sweep-values")
        c.sweep_go = gr.Button(i18n("sweep_run"), variant="primary", scale=1, elem_id="sweep-run")
        c.sweep_stop = gr.Button(i18n("sweep_stop"), variant="stop", scale=1, elem_id="sweep-stop")
    c.sweep_status = gr.Markdown(elem_id="sweep-status")
    # no label badge: it would cover the first tile's caption
    c.sweep_video = gr.Video(label=t("grid"), show_label=False, interactive=False, elem_id="sweep-video")
    c.sweep_table = gr.Dataframe(interactive=False, elem_id="sweep-table")
    c.sweep_job = gr.State([])


def table_of(summary: dict, lang: str):
    import pandas as pd

    col = {k: t(f"col_{k}", lang) for k in ("guidance", "motion", "jitter", "flicker", "balance", "best")}
    return pd.DataFrame([{col["guidance"]: r["guidance_scale"], col["motion"]: r["motion"], col["jitter"]: r["jitter"],
                          col["flicker"]: r["flicker"], col["balance"]: r["balance"],
                          col["best"]: "★" if r["best"] else ""} for r in summary.get("results", [])],
                        columns=list(col.values()))  # the headers also before a run


class CompareHandlers:
    def __init__(self, ui):
        self.ui, self.c, self.jobs = ui, ui.c, ui.jobs

    def submit(self, values: dict, request: gr.Request):
        c, lang = self.c, lang_of(request)
        active = unfinished(self.jobs, values.get(c.sweep_job))  # (followed on, and stopped by Stop, as Create's)
        if not values[c.image]:
            return {c.sweep_status: warn(t("no_image", lang)), c.sweep_job: active}
        try:
            check_shown_model(self.ui, values)
            # the Create tab's settings, as the CLI's sweep takes them: all but guidance (swept); one seed for all
            kw = {"seed": -1, **page_request(c, values), "image": values[c.image]}
            kw.pop("guidance_scale")
            job = self.jobs.submit_sweep(values[c.sweep_values], client=request.session_hash, **kw)
        except I2VError as exc:
            return {c.sweep_status: warn(error_text(exc, lang)), c.sweep_job: active}
        ids = active + [job.id]
        return {c.sweep_job: ids, c.my_jobs: ids + unfinished(self.jobs, values.get(c.current)),
                c.sweep_status: t("queued", lang, ahead=jobs_ahead(self.jobs, job))}

    def follow(self, ids, request: gr.Request):
        lang, c = lang_of(request), self.c
        # follow_jobs writes its progress into c.status: point it at this tab's status line
        view = type(c)(**{**vars(c), "status": c.sweep_status, "preview": c.sweep_preview_sink})

        def render(job, prefix):
            s = self.jobs.summary(job)
            best = s["results"][s["best"]]["guidance_scale"]
            return {c.sweep_status: t("sweep_done", lang, g=best), c.sweep_video: s["grid"],
                    c.sweep_table: table_of(s, lang), c.gallery: self.ui.gallery_value(lang)}

        yield from follow_jobs(view, self.jobs, list(ids or []), lang, render, follows=self.ui.follows,
                               tab=getattr(request, "session_hash", None), lane="compare")

    def stop(self, ids, request: gr.Request):
        return stop_text(self.jobs, ids, lang_of(request))


def wire(ui) -> None:
    c, h = ui.c, CompareHandlers(ui)
    ui.compare = h
    c.sweep_preview_sink = gr.State(None)  # previews are not shown on this tab
    from .common import control_names

    inputs = {c.sweep_values, c.model, c.image, c.preset, c.restored, c.sweep_job, c.current, *c(*control_names())}
    c.sweep_go.click(h.submit, inputs, [c.sweep_status, c.sweep_job, c.my_jobs], api_name=False,
                     concurrency_limit=None) \
        .then(h.follow, c.sweep_job, [c.sweep_status, c.sweep_video, c.sweep_table, c.gallery, c.sweep_preview_sink],
              api_name=False, concurrency_limit=None, show_progress="hidden", trigger_mode="multiple")  # (as Create's)
    c.sweep_stop.click(h.stop, c.sweep_job, c.sweep_status, api_name=False, queue=False)
