"""The History tab: finished results from the job store, their parameters, Reuse, and restoring settings
from a dropped sidecar JSON or one of our MP4s."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from ..base.errors import I2VError
from ..base.i18n import t
from ..jobs import kind_of
from ..studio import restorable, settings_from_file
from . import models
from .common import control_names, error_text, kept_picture, lang_of, restore_form, warn


def layout(ui) -> None:
    c, i18n = ui.c, ui.i18n
    c.gallery = gr.Gallery(label=i18n("history"), columns=5, allow_preview=False, elem_id="history")
    with gr.Row():
        c.refresh = gr.Button(i18n("refresh"), elem_id="history-refresh")
        c.reuse = gr.Button(i18n("reuse"), variant="primary", elem_id="reuse")
    c.hist_msg = gr.Markdown(elem_id="history-msg")
    with gr.Row():
        c.hist_video = gr.Video(label=t("selected_result"), interactive=False, elem_id="history-video")
        c.hist_params = gr.Code(language="json", interactive=False, elem_id="history-params", label=i18n("params"),
                                buttons=["copy"])
    c.picked = gr.State(None)
    # no file_types: the browser's own refusal of another file is in English on every page ("Invalid file
    # type: …"); the studio's refusal (not_settings_file) is in the page's language
    c.restore = gr.File(label=i18n("restore_file"), type="filepath", elem_id="restore-file")


def settings_of_job(job, cfg, cfg_for=None) -> dict:
    """The restorable settings of a finished result: :func:`i2v.studio.restorable` on its sidecar, as for a
    dropped file (a smoothed video restores its source's, a long video its Length and storyboard); {} for a
    result whose settings cannot be restored."""
    try:
        return restorable((job.result or {}).get("meta") or {}, cfg, cfg_for=cfg_for)[0]
    except I2VError:
        return {}


def _short(name: str, most: int = 60) -> str:
    return name if len(name) <= most else name[:most - 1] + "…"


class HistoryHandlers:
    def __init__(self, ui):
        self.ui, self.c, self.jobs = ui, ui.c, ui.jobs

    def items(self):
        return self.jobs.history()

    def gallery_value(self, lang: str = "en") -> list[tuple[str, str]]:
        out = []
        for job in self.items():
            p = settings_of_job(job, self.ui.cfg)
            r = job.result or {}
            thumb = self.jobs.abs((r.get("summary") or {}).get("thumbnail") or r["video"])
            if not thumb.is_file():
                thumb = self.jobs.abs(r["video"])
            segments = (r.get("summary") or {}).get("segments")
            tag = t("long_tag", lang, n=len(segments)) if segments else ""
            if kind_of(job.kind).restores_source:  # a smoothed video: its own caption (what, from which video)
                meta = r.get("meta") or {}
                loop = t(f"loop_{meta['loop']}", lang) + " · " if meta.get("loop") else ""
                cap = t("smoothed_caption", lang, factor=job.params.get("factor"), fps=meta.get("fps") or 0,
                        loop=loop, name=_short(str(meta.get("source_name") or "")))
            else:
                cap = t("gallery_caption", lang, tag=tag, g=p.get("guidance_scale"),
                        steps=p.get("num_inference_steps"), prompt=str(p.get("prompt", ""))[:40])
            out.append((str(thumb), cap))
        return out

    def refresh(self, request: gr.Request):
        return self.gallery_value(lang_of(request))

    def pick(self, evt: gr.SelectData, request: gr.Request):
        c = self.c
        items = self.items()
        if evt.index is None or evt.index >= len(items):
            return {c.picked: None}
        job = items[evt.index]
        s = settings_of_job(job, self.ui.cfg, self.ui.studio.cfg_for)  # (another model's: named, for Reuse)
        segments = ((job.result or {}).get("summary") or {}).get("segments") or []
        msg = t("long_segments", lang_of(request), names=", ".join(f"`{Path(v).name}`" for v in segments)) \
            if segments else ""
        return {c.hist_video: str(self.jobs.abs(job.result["video"])),
                c.picked: {"settings": s, "job": job.id},
                c.hist_params: json.dumps(s, ensure_ascii=False, indent=2), c.hist_msg: msg}

    def reuse(self, picked, request: gr.Request):
        """Fill the Create tab and go there; the live recommender keeps its hands off these values."""
        c = self.c
        if not picked or not picked.get("settings"):
            return {c.hist_msg: t("pick_first", lang_of(request))}
        msg = t("restored", lang_of(request), name=t("tab_history", lang_of(request)))
        job = self.jobs.get(picked.get("job") or "")
        image = kept_picture(self.jobs, job.params) if job is not None else None
        s = picked["settings"]
        try:
            switched = models.switch(self.ui, s.get("model"), lang_of(request))
            form = restore_form(self.ui, s, image, switched=switched)
        except I2VError as exc:
            return {c.hist_msg: warn(error_text(exc, lang_of(request)))}
        return {**form, c.hist_msg: msg, c.status: msg, c.tabs: gr.Tabs(selected="create")}

    def restore(self, file, request: gr.Request):
        c, lang = self.c, lang_of(request)
        if not file:
            return {}
        try:  # bounded, parsed safely, and checked by the request's schema (clamped values are noted)
            s, notes = settings_from_file(file, self.ui.cfg, self.ui.studio.cfg_for)  # (restorable(), as Reuse)
            form = restore_form(self.ui, s, switched=models.switch(self.ui, s.get("model"), lang))
        except I2VError as exc:
            return {c.hist_msg: warn(error_text(exc, lang))}
        msg = t("restored", lang, name=Path(file).name)
        if notes:
            msg += "\n\n" + "\n".join(f"- {n.text(lang)}" for n in notes)
        return {**form, c.hist_msg: msg, c.status: msg, c.tabs: gr.Tabs(selected="create")}  # as Reuse does


def wire(ui) -> None:
    c, h = ui.c, HistoryHandlers(ui)
    ui.history = h
    controls = c(*control_names())
    c.refresh.click(h.refresh, None, c.gallery, api_name=False)
    c.gallery.select(h.pick, None, [c.hist_video, c.hist_params, c.picked, c.hist_msg], api_name=False)
    form = list(dict.fromkeys([*controls, c.segments, c.storyboard, c.preset, c.restored, c.image, c.manual,
                               *c(*models.OUTPUTS)]))  # restore_form's (a model switch's too)
    c.reuse.click(h.reuse, c.picked, [*form, c.hist_msg, c.status, c.tabs], api_name=False)
    c.restore.upload(h.restore, c.restore, [*form, c.hist_msg, c.status, c.tabs], api_name=False)
