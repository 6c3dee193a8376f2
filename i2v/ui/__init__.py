"""The web studio (Gradio 6 Blocks): a front end over the job service.

One module per tab (:mod:`.create`, :mod:`.compare`, :mod:`.history`, :mod:`.queue`) plus the API
endpoints (:mod:`.api`); each has ``layout(ui)`` (components, named in ``ui.c``) and ``wire(ui)``
(events, whose handlers return ``{component: value}``).  The page holds no generation logic: it submits
jobs and follows them by id, so closing or reloading it never loses a job.
"""

from __future__ import annotations

import gradio as gr

from ..base.i18n import TEXT, i18n_tables, t
from ..base.settings import SCHEDULES, SPEEDS
from ..motion.tuning import TARGETS
from ..jobs import JobService, kind_of
from ..modelload import banner_markdown
from ..studio import Studio
from . import api, compare, create, history, models, queue
from .connections import TABS_JS
from .common import Components, choices, control_names, lang_of, settings_of
from .follow import Follows


class StudioUI:
    def __init__(self, studio: Studio, jobs: JobService, pooled: bool = False):
        self.studio, self.jobs, self.pooled = studio, jobs, pooled
        self.i18n = gr.I18n(**i18n_tables())
        self.c = Components()
        self.follows = Follows()  # the live follow of each tab's result panes
        from ..planning.presets import presets_dir

        self.c.presets = presets_dir(self.cfg)  # the model family's presets (models.form sets them on a switch)
        self.built_for = self.cfg.model["source"]  # the model whose ranges the page's components start with

    @property
    def cfg(self):
        """The config of the model the page offers now (it follows a switch: :mod:`.models`)."""
        return self.studio.cfg

    @property
    def presets(self):
        return self.c.presets

    def gallery_value(self, lang: str = "en"):
        return self.history.gallery_value(lang)

    def banner(self, request: gr.Request):
        lang = lang_of(request)
        st = self.jobs.model_status(self.pooled)
        c = self.c
        # ticks while loading (the download's progress), while a chosen model waits for the running job to end
        # (it then loads: without the tick the banner kept "Chosen: …" and the old model's readiness), and with
        # a pool, whose workers come, go and die
        active = st["state"] == "loading" or bool(st.get("selected")) or (st["state"] == "ready" and self.pooled)
        text = banner_markdown(st, lang)
        # a damaged job store the studio set aside: said above everything, for as long as its copy is kept
        text = "\n\n".join([*(f"⚠️ {n}" for n in self.jobs.store_notices(lang)), text])
        return {c.banner: text, c.timer: gr.update(active=active)}

    def localized(self, lang: str) -> dict:
        """What the page cannot say through gr.I18n: media labels, the preset list (with templates saved
        since the page was built), the placeholder, the guidance zone."""
        from .create import speed_text, zone_text

        c = self.c
        std = settings_of("standard", self.presets)
        return {c.preset: gr.update(choices=choices(lang, self.presets)), c.image: gr.update(label=t("image", lang)),
                c.video: gr.update(label=t("video", lang)), c.sweep_video: gr.update(label=t("grid", lang)),
                c.hist_video: gr.update(label=t("selected_result", lang)),
                c.sweep_table: compare.table_of({}, lang),
                c.queue_video: gr.update(label=t("selected_result", lang)),
                c.prompt: gr.update(placeholder=t("prompt_ph", lang)),
                c.motion_plot: gr.update(x_title=t("plot_frame", lang), y_title=t("plot_value", lang),
                                         color_title=t("plot_metric", lang)),
                c.schedule: gr.update(choices=[(t(f"sched_{k}", lang), k) for k in SCHEDULES]),
                c.loop: gr.update(choices=[(t(f"loop_{k}", lang), k) for k in ("", "pingpong", "crossfade")]),
                c.speed_tier: gr.update(choices=[(t(f"speed_{k}", lang), k) for k in SPEEDS]),
                c.speed_md: speed_text(lang, self.cfg.family),
                c.tune_plot: gr.update(x_title=t("tune_x", lang), y_title=t("tune_y", lang),
                                       color_title=t("tune_series_title", lang)),
                c.storyboard: gr.update(placeholder=t("storyboard_ph", lang)),
                c.tune_gallery: gr.update(label=t("tune_drafts", lang)),
                c.target_motion: gr.update(choices=[(t("target_off", lang), ""),
                                                    *((t(f"target_{k}", lang), k) for k in TARGETS)]),
                c.resolution: gr.update(choices=[(t(f"tier_{k}", lang) if f"tier_{k}" in TEXT else k, k)
                                                 for k in self.cfg.resolution["tiers"]]),
                c.zone: zone_text(float(std.get("guidance_scale", self.cfg.defaults["guidance_scale"])), lang,
                                  self.cfg.family)}

    def on_load(self, ids, request: gr.Request):
        """The page in the user's language, the history, then this browser's jobs again."""
        c = self.c
        out = self.localized(lang_of(request))
        for comp, update in self.models.page(lang_of(request)).items():  # (both may update one component)
            out[comp] = {**out[comp], **update} if isinstance(out.get(comp), dict) and isinstance(update, dict) \
                else update
        yield {**out, c.gallery: self.gallery_value(lang_of(request))}
        jobs = [j for j in (self.jobs.get(i) for i in (ids or [])[:8]) if j is not None]
        by_tab = {tab: [j for j in jobs if kind_of(j.kind).tab == tab] for tab in ("compare", "create")}
        if by_tab["compare"]:
            yield from self.compare.follow([j.id for j in by_tab["compare"] if not j.final], request)
        yield from self.create.reconnect([j.id for j in by_tab["create"]], request)

    def build_blocks(self) -> gr.Blocks:
        c, i18n = self.c, self.i18n
        with gr.Blocks(title="I2V Studio", delete_cache=(3600, 24 * 3600)) as demo:
            gr.Markdown(i18n("title_md"))
            c.banner = gr.Markdown(elem_id="model-banner")
            models.layout(self)
            # shown by TABS_JS when this browser has 5 or more studio tabs open (in the DOM, hidden until then)
            gr.Markdown(i18n("too_many_tabs"), elem_id="tabs-warning", visible="hidden")
            c.timer = gr.Timer(1.0)
            with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as c.tabs:  # a phone sees all four
                with gr.Tab(i18n("tab_create"), id="create"):
                    create.layout(self)
                with gr.Tab(i18n("tab_sweep"), id="compare"):
                    compare.layout(self)
                with gr.Tab(i18n("tab_history"), id="history"):
                    history.layout(self)
                with gr.Tab(i18n("tab_queue"), id="queue"):
                    queue.layout(self)
            history.wire(self)
            create.wire(self)
            compare.wire(self)
            queue.wire(self)
            models.wire(self)
            api.wire(self)
            quiet = dict(api_name=False, show_progress="hidden", concurrency_limit=None)
            c.timer.tick(self.banner, None, [c.banner, c.timer], **quiet)
            demo.load(self.banner, None, [c.banner, c.timer], **quiet)
            demo.load(None, None, None, js=create.GUARD_JS)
            demo.load(None, None, None, js=create.ONE_CLICK_JS)
            demo.load(None, None, None, js=TABS_JS)
            reconnect_out = [c.model, c.model_md, c.guidance_end, c.negative, c.sweep_values, c.timer,  # models.page
                             c.preset, c.image, c.sweep_video, c.hist_video, c.queue_video, c.prompt, c.zone,
                             c.schedule, c.loop, c.speed_tier, c.speed_md, c.resolution, c.motion_plot, c.manual,
                             *c(*control_names()),
                             c.gallery, c.status, c.preview, c.video, c.used_seed, c.params, c.params_file, c.notes,
                             c.last_params, c.last_video, c.motion_md, c.motion_plot, c.current, c.sweep_status,
                             c.sweep_video, c.sweep_table, c.sweep_preview_sink, c.target_motion, c.tune_box,
                             c.tune_md, c.tune_plot, c.tune_gallery, c.segments, c.storyboard, c.restored]
            reconnect_out += c(*models.OUTPUTS)
            demo.load(self.on_load, c.my_jobs, list(dict.fromkeys(reconnect_out)), **quiet)
            demo.load(self.queue_tab.refresh, None, [c.queue_table, c.workers_table], **quiet)
        return demo


def build_ui(studio: Studio, jobs: JobService, pooled: bool = False) -> tuple[gr.Blocks, gr.I18n]:
    """``pooled``: the jobs run in worker processes or Ray actors, not in this process."""
    ui = StudioUI(studio, jobs, pooled)
    return ui.build_blocks(), ui.i18n
