"""The Create tab: picture, prompt, preset, the motion controls, Generate/Stop, the result with its
measured motion, one-click fixes and smoothing.  Every handler returns ``{component: value}``."""

from __future__ import annotations

import json
import time
from collections import OrderedDict

import gradio as gr

from ..motion.advisor import PROBLEMS, recommendation_text, troubleshoot
from ..base.errors import I2VError
from ..motion.guidance import SCHEDULES, zone_key
from ..base.i18n import t
from ..media.joins import joined_length
from ..planning.longplan import long_wanted
from ..jobs import AUTOTUNE, LONG, SMOOTH, kind_of
from ..planning.request import expand_seeds
from ..base.settings import PRESET_KEYS, SPEEDS
from ..planning.templates import delete_template, save_template
from ..planning.tiers import cost_lines, switch
from ..motion.tuning import TARGETS
from .common import (CONTROLS, LOOP_CONTROLS, TEMPLATE_PREFIX, Dropdown, Radio, check_shown_model, choices,
                     control_names, control_values, error_text, fill, kept_picture, lang_of, page_request,
                     restore_form, settings_of, warn)
from .follow import follow_jobs, generation_updates, jobs_ahead, stop_text, unfinished

RECENT_S = 3600  # a reloaded page shows the result of a job that finished this recently


def zone_text(g: float, lang: str, family: dict | None = None) -> str:
    """Under the guidance slider: the zone ``g`` falls in (I2VGen-XL's, from the seed article), or, for a model
    family whose zones are not published (Wan), the zone the studio assumes around the authors' default."""
    if family is not None and not family.get("recommender", True):
        lo, hi = family["safe_zone"]
        return f"**{g:.1f}** — " + t("zone_unpublished", lang, lo=f"{lo:g}", hi=f"{hi:g}",
                                     default=f"{family['guidance_default']:g}", model=family.get("title", ""))
    return f"**{g:.1f}** — {t(zone_key(g), lang)}"


def speed_text(lang: str, family: dict | None = None) -> str:
    """Under *Speed*: what each tier costs and saves (i2v.planning.tiers' table, one source); for a family with
    tiers of its own (Wan: a cache hook), its tiers from its declaration."""
    if family is not None and "approximate" not in family.get("takes", ("approximate",)):
        lines = [t("speed_cost_exact_family", lang)] + [
            t("speed_cost_cache", lang, name=t(f"speed_{name}", lang), interval=tier["cache_interval"],
              warmup=tier["disable_cache_before_step"], ratio=family["cache_flop_ratio"][name])
            for name, tier in family.get("cache_tier_settings", {}).items()]
        return "\n".join(f"- {line}" for line in lines)
    return "\n".join(f"- {line}" for line in cost_lines(lang))


def layout(ui) -> None:
    c, i18n, d, lim = ui.c, ui.i18n, ui.cfg.defaults, ui.cfg.limits
    std = settings_of("standard", ui.presets)
    takes = ui.cfg.family.get("takes", ())  # (the page's notes in its language come with the first load)
    with gr.Row():
        with gr.Column(scale=5):
            # Media components show an i18n label as "[object Object]" (Gradio 6.31): plain text.
            from .common import UploadImage

            c.image = UploadImage(label=t("image"), type="filepath",
                                  sources=["upload", "clipboard"], elem_id="input-image")
            c.image.max_bytes = lim["image_max_bytes"]
            c.image_msg = gr.Markdown(elem_id="image-msg")
            c.prompt = gr.Textbox(label=i18n("prompt"), placeholder=t("prompt_ph"), lines=2, elem_id="prompt")
            with gr.Row():
                c.rec_btn = gr.Button(i18n("recommend"), size="sm", elem_id="recommend")
            c.rec_md = gr.Markdown(elem_id="recommendation")
            c.manual = gr.State(False)
            # the live recommendation's values, put on the sliders by the browser (see wire)
            c.rec_values = gr.JSON(visible=False, elem_id="rec-values")
            # (English in every language: the model's text encoder reads English; the info says so)
            c.negative = gr.Textbox(label=i18n("negative"), value=d["negative_prompt"], lines=2,
                                    info=i18n("negative_info"), elem_id="negative")
            c.preset = Dropdown(choices(folder=ui.presets), value="standard", label=i18n("preset"), elem_id="preset")
            c.restored = gr.State({})  # a restored result's settings without a control, used while it says custom
            c.guidance = gr.Slider(*lim["guidance"], value=std.get("guidance_scale", 9.0), step=0.5,
                                   label=i18n("guidance"), info=i18n("guidance_info"), elem_id="guidance")
            c.zone = gr.Markdown(zone_text(std.get("guidance_scale", d["guidance_scale"]), "en", ui.cfg.family),
                                 elem_id="guidance-zone")
            c.steps = gr.Slider(*lim["steps"], value=std.get("num_inference_steps", 50), step=1,
                                label=i18n("steps"), info=i18n("steps_info"), elem_id="steps")
            with gr.Row():
                # the counts the model makes: every one (I2VGen-XL), or 5, 9, 13, ... (Wan: 4k+1)
                c.frames = gr.Slider(*lim["frames"], value=std.get("num_frames", d["num_frames"]),
                                     step=ui.cfg.family["frames_step"], label=i18n("frames"),
                                     elem_id="frames")
                c.fps = gr.Slider(*lim["fps"], value=std.get("fps", 8), step=1, label=i18n("fps"), elem_id="fps")
            c.speed_tier = Radio(list(SPEEDS), value=d["speed"], label=i18n("speed_tier"),
                                    info=i18n("speed_tier_info"), elem_id="speed-tier")
            with gr.Accordion(i18n("speed_costs"), open=False):
                c.speed_md = gr.Markdown(speed_text("en", ui.cfg.family), elem_id="speed-costs")
            c.fast = gr.Slider(*lim["fast"], value=d["fast"], step=1, label=i18n("fast"), info=i18n("fast_info"),
                               elem_id="fast", visible=LOOP_CONTROLS["fast"] in takes)
            c.resolution = Dropdown(list(ui.cfg.resolution["tiers"]), value=std.get("resolution", "512p"),
                                       label=i18n("resolution"), elem_id="resolution")
            c.segments = gr.Slider(1, ui.cfg.data["long"]["max_segments"], value=1, step=1, label=i18n("segments"),
                                   info=i18n("segments_info"), elem_id="segments")
            c.length_md = gr.Markdown(elem_id="length")
            with gr.Accordion(i18n("storyboard"), open=False):
                c.storyboard = gr.Textbox(lines=4, label=i18n("storyboard"), placeholder=t("storyboard_ph"),
                                          max_length=ui.cfg.data["long"]["storyboard_max_chars"], elem_id="storyboard")
            with gr.Accordion(i18n("advanced"), open=False):
                c.target_fps = gr.Slider(*lim["target_fps"], value=d["target_fps"], step=1, label=i18n("target_fps"),
                                         visible=LOOP_CONTROLS["target_fps"] in takes)
                with gr.Row():
                    c.seed = gr.Number(value=0, precision=0, minimum=0, label=i18n("seed"), elem_id="seed")
                    c.random_seed = gr.Checkbox(value=True, label=i18n("random_seed"), elem_id="random-seed")
                c.count = gr.Slider(1, 8, value=1, step=1, label=i18n("count"), elem_id="count")
                with gr.Row():
                    c.schedule = Dropdown(list(SCHEDULES), value="constant", label=i18n("schedule"),
                                             info=i18n("schedule_info"), elem_id="schedule",
                                             visible=LOOP_CONTROLS["schedule"] in takes)
                    c.guidance_end = gr.Slider(*lim["guidance"], value=6.0, step=0.5, label=i18n("guidance_end"),
                                               elem_id="guidance-end", visible=LOOP_CONTROLS["guidance_end"] in takes)
                with gr.Row():
                    c.skip_threshold = gr.Slider(*lim["skip_threshold"], value=d["skip_threshold"], step=0.01,
                                                 label=i18n("skip_threshold"), info=i18n("skip_threshold_info"),
                                                 elem_id="skip-threshold",
                                                 visible=LOOP_CONTROLS["skip_threshold"] in takes)
                    c.guidance_stop = gr.Slider(*lim["guidance_stop"], value=d["guidance_stop"], step=0.05,
                                                label=i18n("guidance_stop"), info=i18n("guidance_stop_info"),
                                                elem_id="guidance-stop",
                                                visible=LOOP_CONTROLS["guidance_stop"] in takes)
            with gr.Row():
                c.go = gr.Button(i18n("generate"), variant="primary", elem_id="generate")
                c.stop = gr.Button(i18n("stop"), variant="stop", elem_id="stop")
            c.target_motion = Dropdown([("off", ""), *((k, k) for k in TARGETS)], value="",
                                          allow_custom_value=True, label=i18n("target_motion"),
                                          info=i18n("target_motion_info"), elem_id="target-motion")
            with gr.Accordion(i18n("templates"), open=False):
                c.tpl_name = gr.Textbox(label=i18n("template_name"), elem_id="template-name")
                with gr.Row():
                    c.tpl_save = gr.Button(i18n("save_template"), size="sm", elem_id="template-save")
                    c.tpl_delete = gr.Button(i18n("delete_template"), size="sm", elem_id="template-delete")
                c.tpl_msg = gr.Markdown(elem_id="template-msg")  # said where the user clicked
        with gr.Column(scale=6):
            c.status = gr.Markdown(elem_id="status")
            c.preview = gr.Image(label=i18n("preview_box"), type="numpy", interactive=False, elem_id="preview")
            c.video = gr.Video(label=t("video"), interactive=False, elem_id="result-video")
            # text, empty until a result exists (a Number showed 0, which reads like a real seed)
            c.used_seed = gr.Textbox("", label=i18n("used_seed"), interactive=False, max_lines=1,
                                     elem_id="used-seed")
            c.motion_md = gr.Markdown(elem_id="motion")
            c.motion_plot = gr.LinePlot(x="frame", y="value", color="metric", label=i18n("motion_plot"),
                                        elem_id="motion-plot")
            with gr.Row():
                c.smooth2 = gr.Button(i18n("smooth2"), size="sm", elem_id="smooth2")
                c.smooth4 = gr.Button(i18n("smooth4"), size="sm", elem_id="smooth4")
                # a choice that Smooth applies (not a button of its own): its info says so, as README does
                c.loop = Dropdown(["", "pingpong", "crossfade"], value="", label=i18n("loop"), scale=0,
                                     min_width=140, info=i18n("loop_info"), elem_id="loop")
                c.extend = gr.Button(i18n("extend"), size="sm", elem_id="extend")
            c.last_video = gr.State(None)
            c.notes = gr.Markdown(elem_id="notes")
            with gr.Accordion(i18n("tune_box"), open=False, elem_id="tune-box") as c.tune_box:
                c.tune_md = gr.Markdown(elem_id="tune-md")
                # points: each draft a marker; the target band and the choice drawn as dotted lines
                c.tune_plot = gr.ScatterPlot(x="guidance", y="motion", color="series", label=i18n("tune_plot"),
                                             x_title=t("tune_x"), y_title=t("tune_y"),
                                             color_title=t("tune_series_title"), elem_id="tune-plot")
                # tall enough for a row of thumbnails with their captions (guidance, motion) under them
                c.tune_gallery = gr.Gallery(label=t("tune_drafts"), columns=4, height="auto", allow_preview=False,
                                            elem_id="tune-drafts")
            gr.Markdown(i18n("fix_title"))
            with gr.Row():
                c.fix_buttons = {p: gr.Button(i18n(f"fix_{p}"), size="sm", elem_id=f"fix-{p}") for p in PROBLEMS}
            c.last_params = gr.State(None)
            c.params = gr.Code(label=i18n("params"), language="json", interactive=False, elem_id="params",
                               buttons=["copy"])
            # the sidecar itself, so the download carries the result's name (Code's button saved file.json)
            c.params_file = gr.File(label=i18n("params_file"), interactive=False, elem_id="params-file")
    c.current = gr.State([])  # ids of the jobs this tab follows (Stop cancels them)
    # The same ids in the browser's localStorage: a reloaded page follows them again.
    c.my_jobs = gr.BrowserState([], storage_key="i2v-studio-jobs")


def template_controls() -> tuple[str, ...]:
    """The components showing a setting a preset (and so a template) can hold, from the settings schema."""
    return tuple(CONTROLS[k] for k in PRESET_KEYS if k in CONTROLS)


TOUCHED = "window.i2vSlidersTouched"  # set in the browser the moment the user moves guidance or steps
# Run once when the page loads: reaching for guidance or steps (a click, a tap, the cursor in its box)
# counts as moving it, so a recommendation landing while the user types there cannot change it.
GUARD_JS = ("() => { for (const ev of ['pointerdown', 'focusin', 'keydown']) document.addEventListener(ev, e => {"
            f" if (e.target.closest && e.target.closest('#guidance, #steps')) {TOUCHED} = true; }}, true); }}")

# Every button that queues a job, and each one-click fix (which moves the form's knobs from where they are),
# counts a double-click once: the browser numbers the clicks of a multi-click (``MouseEvent.detail``, 2 for
# the second click within the system's double-click time and distance), and a click numbered 2 or more never
# reaches Gradio (a double-click on Generate queued the same job twice, a newcomer's pass).  Its answer would
# carry the page's state from before the first click's answer, so the server cannot tell it from a second
# request.  A fixed time window was wrong: it swallowed a Generate clicked 0.56 s after the first click's
# "upload an image first" and an upload (CI's failure of the bad-upload and Chinese-page journeys).
# Keyboard activation numbers its click 0 and always goes through.
QUEUES_JOB = "#generate, #extend, #smooth2, #smooth4, #sweep-run, [id^=fix-]"
ONE_CLICK_JS = ("() => { document.addEventListener('click', e => {"
                f" if (e.detail > 1 && e.target.closest && e.target.closest('{QUEUES_JOB}')) {{"
                " e.stopPropagation(); e.preventDefault(); } }, true); }")


# Generate sits at the bottom of the form, its answer (progress, preview, an error) at the top of the result
# column: on a screen that shows only one of them, the answer is scrolled into view.
SHOW_STATUS_JS = ("() => { const s = document.querySelector('#status'); if (!s) return;"
                  " const r = s.getBoundingClientRect();"
                  " if (r.top < 0 || r.bottom > window.innerHeight) s.scrollIntoView({block: 'start'}); }")


class CreateHandlers:
    TOUCHED_MAX = 2000  # sessions remembered as having moved a slider themselves

    def __init__(self, ui):
        self.ui, self.c, self.jobs = ui, ui.c, ui.jobs
        # Sessions whose user moved guidance or steps: kept here, on the server, because a recommendation
        # triggered by the prompt carries the page's state from when it was triggered; a slider moved
        # while it waited in the queue would otherwise be overwritten when it ran.
        self.touched: OrderedDict[str, bool] = OrderedDict()

    def on_touch(self, request: gr.Request):
        """The user moved guidance or steps: the live recommendation no longer fills them."""
        key = getattr(request, "session_hash", None)
        if key:
            self.touched[key] = True
            self.touched.move_to_end(key)
            while len(self.touched) > self.TOUCHED_MAX:
                self.touched.popitem(last=False)
        return True

    @property
    def controls(self) -> list:
        return self.c(*control_names())

    def tiers(self):
        return self.ui.cfg.resolution["tiers"]

    # -- picture ----------------------------------------------------------------------------------
    def on_upload(self, image, request: gr.Request):
        """Check the picture as soon as it arrives: a bad one is removed with one clear line."""
        from ..media.images import open_image

        c, lang = self.c, lang_of(request)
        if not image:
            return {c.image_msg: ""}
        lim = self.ui.cfg.limits
        try:
            open_image(image, max_pixels=lim["image_max_pixels"], max_bytes=lim["image_max_bytes"])
        except I2VError as exc:
            return {c.image: None, c.image_msg: warn(error_text(exc, lang))}
        return {c.image_msg: ""}

    # -- recommendation and presets ---------------------------------------------------------------
    def recommendation(self, prompt: str, image, lang: str):
        from ..media.images import open_image

        fam = self.ui.cfg.family
        if not fam["recommender"]:  # fitted to I2VGen-XL's zones: another family gets its default, said
            lo, hi = fam["safe_zone"]
            return None, t("rec_other_family", lang, model=fam.get("title", ""), lo=f"{lo:g}", hi=f"{hi:g}",
                           default=f"{fam['guidance_default']:g}")

        try:
            picture = open_image(image) if image else None
        except I2VError:
            picture = None
        return recommendation_text(prompt, picture, lang, t("recommendation", lang),
                                   limit=self.ui.cfg.limits["prompt_max_chars"])

    def on_recommend(self, prompt, image, request: gr.Request):
        c, lang = self.c, lang_of(request)
        self.touched.pop(getattr(request, "session_hash", None) or "", None)  # asked for: fill again
        rec, text = self.recommendation(prompt, image, lang)
        if rec is None:
            return {c.rec_md: text, c.manual: False}
        return {c.guidance: rec.guidance_scale, c.steps: rec.num_inference_steps,
                c.rec_md: f"{text}\n\n_{t('rec_applied', lang)}_", c.manual: False}

    def on_prompt(self, prompt, image, manual, request: gr.Request):
        """Refresh the recommendation as the prompt changes; fill the sliders unless the user (or a preset,
        a restore, a reuse, a fix) set them."""
        c, lang = self.c, lang_of(request)
        rec, text = self.recommendation(prompt, image, lang)
        if rec is None:
            return {c.rec_md: text, c.rec_values: None}
        if manual or self.touched.get(getattr(request, "session_hash", None) or ""):
            return {c.rec_md: f"{text}\n\n_{t('rec_kept', lang)}_", c.rec_values: None}
        # the page applies the values, and says so, only if the user has not moved a slider meanwhile
        # (the browser knows that first): else it shows the second text
        applied, kept = f"{text}\n\n_{t('rec_applied', lang)}_", f"{text}\n\n_{t('rec_kept', lang)}_"
        return {c.rec_values: [rec.guidance_scale, rec.num_inference_steps, applied, kept], c.rec_md: applied}

    def on_touch_text(self, text, request: gr.Request):
        """The user moved guidance or steps: a recommendation shown as applied now says the values are theirs."""
        lang = lang_of(request)
        applied = f"_{t('rec_applied', lang)}_"
        if not isinstance(text, str) or applied not in text:
            return gr.update()
        return text.replace(applied, f"_{t('rec_kept', lang)}_")

    def on_preset(self, choice, prompt, image, request: gr.Request):
        c, lang = self.c, lang_of(request)
        s = {k: v for k, v in settings_of(choice, self.ui.presets).items() if k != "seed"}
        _, text = self.recommendation(prompt, image, lang)
        return {**fill(c, s, self.tiers()), c.manual: True,
                c.rec_md: f"{text}\n\n_{t('rec_kept', lang)}_" if text else ""}

    def on_fix(self, problem: str, values: dict, lang: str) -> dict:
        """One step of the decision tree from the *current* controls, keeping the last result's seed; only
        what it changes is touched."""
        c = self.c
        last = values.get(c.last_params)
        if not last:
            return {c.status: t("fix_none", lang)}
        current = control_values(c, values)
        current["seed"] = last.get("seed")
        fix = troubleshoot(current, problem, lang, self.tiers())
        changed = {k: new for k, (_, new) in fix.changes.items()}
        changes = ", ".join(f"{k}: {a} → {b}" for k, (a, b) in fix.changes.items()) or "—"
        return {**fill(c, {**changed, "seed": last.get("seed")}, self.tiers()), c.manual: True,
                c.status: f"{fix.explanation}\n\n`{changes}`"}

    def on_speed(self, values: dict) -> dict:
        """Picking a speed tier shows on the sliders what it will run (fewer steps, the approximations it
        turns on); back to exact, the preset's values return (:func:`i2v.planning.tiers.switch`)."""
        c = self.c
        if "approximate" not in self.ui.cfg.family.get("takes", ()):
            return {}  # a family's own tiers (Wan: a cache hook) move no slider: the tier itself is the setting
        current = control_values(c, values)
        base = {**self.ui.cfg.defaults, **settings_of(values.get(c.preset), self.ui.presets)}
        return fill(c, switch(values[c.speed_tier], current, base), self.tiers())

    # -- templates --------------------------------------------------------------------------------
    def on_save_template(self, values: dict, request: gr.Request):
        """Save every setting a preset can hold (the registry's preset keys): the page's controls, and for the
        settings without one (sampler, decode chunk) the values of the preset or template it started from."""
        c, lang = self.c, lang_of(request)
        s = page_request(c, values)
        name = values[c.tpl_name]
        try:
            save_template(name, s, self.ui.cfg)
        except I2VError as exc:
            return {c.tpl_msg: warn(error_text(exc, lang))}
        return {c.preset: gr.update(choices=choices(lang, self.ui.presets), value=TEMPLATE_PREFIX + name.strip()),
                c.tpl_msg: "✅ " + t("saved_template", lang, name=name.strip())}

    def on_delete_template(self, choice, request: gr.Request):
        c, lang = self.c, lang_of(request)
        if not choice or not choice.startswith(TEMPLATE_PREFIX):
            return {c.tpl_msg: ""}
        name = choice[len(TEMPLATE_PREFIX):]
        try:
            delete_template(name)
        except I2VError as exc:
            return {c.tpl_msg: warn(error_text(exc, lang))}
        return {c.preset: gr.update(choices=choices(lang, self.ui.presets), value="standard"),
                c.tpl_msg: t("deleted_template", lang, name=name)}

    # -- generate, follow, stop -------------------------------------------------------------------
    def submit(self, values: dict, request: gr.Request):
        """Validate and queue one job per video; the page then follows them.  Errors are one line in the
        status (no error badges left on the result components)."""
        c, lang = self.c, lang_of(request)
        # jobs of this tab still running: followed on (the earlier follow is replaced by the next one)
        active = unfinished(self.jobs, values.get(c.current))
        image = values[c.image]
        if not image:
            return {c.status: warn(t("no_image", lang)), c.current: active}
        try:
            check_shown_model(self.ui, values)
            seeds = expand_seeds(values[c.seed], values[c.random_seed], values[c.count])
            long = long_request(c, values)
            target = (values.get(c.target_motion) or "").strip()
            if target:  # auto-tune, one per seed, each checked before any is queued
                params = [self.jobs.tune_params(image=image, target_motion=target, long=long,
                                                **{**page_request(c, values), "seed": sd}) for sd in seeds]
                new = [self.jobs.submit_params(AUTOTUNE, p, client=request.session_hash) for p in params]
            elif long is None:
                new = self.jobs.submit_seeds(seeds, client=request.session_hash, image=image,  # all or none
                                             **page_request(c, values))
            else:  # a long video per seed, each checked before any is queued
                params = [self.jobs.long_params(image=image, **long, **{**page_request(c, values), "seed": sd})
                          for sd in seeds]
                new = [self.jobs.submit_long_params(p, client=request.session_hash) for p in params]
        except I2VError as exc:
            return {c.status: warn(error_text(exc, lang)), c.current: active}
        ids = active + [j.id for j in new]
        return {c.current: ids, c.my_jobs: ids + unfinished(self.jobs, values.get(c.sweep_job)),
                c.status: t("queued", lang, ahead=jobs_ahead(self.jobs, new[0]))}

    def submit_extend(self, values: dict, request: gr.Request):
        """Extend: the video shown continues, with the form's prompt (or storyboard) and settings, by the
        Length's segments."""
        c, lang = self.c, lang_of(request)
        active = unfinished(self.jobs, values.get(c.current))  # (followed on, and stopped by Stop, as Generate's)
        video = values.get(c.last_video)
        if not video:
            return {c.status: t("extend_none", lang), c.current: active}
        try:
            check_shown_model(self.ui, values)
            s = page_request(c, values)
            s.pop("resolution", None)  # the video's own size
            long = long_request(c, values, extend=True)
            job = self.jobs.submit_long(client=request.session_hash, extend=video, **long, **s)
        except I2VError as exc:
            return {c.status: warn(error_text(exc, lang)), c.current: active}
        ids = active + [job.id]
        return {c.current: ids, c.my_jobs: ids + unfinished(self.jobs, values.get(c.sweep_job)),
                c.status: t("queued", lang, ahead=jobs_ahead(self.jobs, job))}

    def follow(self, ids, request: gr.Request):
        lang = lang_of(request)
        yield from follow_jobs(self.c, self.jobs, list(ids or []), lang, self._render_done(lang), **self._tab(request))

    def _tab(self, request: gr.Request) -> dict:
        """This tab's result pane, for :func:`follow_jobs`: the latest follow (Generate, Extend, Smooth, a
        reload's) takes it over."""
        return {"follows": self.ui.follows, "tab": getattr(request, "session_hash", None), "lane": "create"}

    def _render_done(self, lang):
        def render(job, prefix):
            upd = generation_updates(self.c, self.jobs, job, lang, prefix)
            upd[self.ui.c.gallery] = self.ui.gallery_value(lang)
            return upd
        return render

    def reconnect(self, ids, request: gr.Request):
        """On page load: follow this browser's jobs again, or show the result of one that just finished."""
        lang = lang_of(request)
        jobs = [j for j in (self.jobs.get(i) for i in (ids or [])[:8]) if j is not None]
        active = [j.id for j in jobs if not j.final]

        c = self.c
        if active:
            # the form shows the settings of the job on screen again (the fixes work from them), as Reuse
            # shows a result's, with its picture while the studio keeps it
            first = self.jobs.get(active[0])
            form = restore_form(self.ui, first.params, kept_picture(self.jobs, first.params)) \
                if kind_of(first.kind).generation or first.kind == LONG else {c.manual: True}
            yield {**form, c.current: active, c.status: t("reconnected", lang, id=active[0])}
            yield from follow_jobs(c, self.jobs, active, lang, self._render_done(lang), **self._tab(request))
            return
        done = [j for j in jobs if j.status == "done" and (kind_of(j.kind).generation or j.kind == LONG)
                and time.time() - (j.finished_at or 0) < RECENT_S]
        if done:
            params = self.jobs.metadata(done[-1]).get("params") or {}
            yield {**restore_form(self.ui, params, kept_picture(self.jobs, done[-1].params)),
                   **self._render_done(lang)(done[-1], "")}

    def stop(self, ids, request: gr.Request):
        return {self.c.status: stop_text(self.jobs, ids, lang_of(request))}

    # -- smoothing --------------------------------------------------------------------------------
    def submit_smooth(self, factor: int):
        """Smooth ×2 / ×4 with the Loop chosen: always the generated video (``last_video``, which a smoothing
        leaves as it is), never a smoothed copy of it; the status line names it."""
        def run(video, loop, current, sweeps, request: gr.Request):
            c, lang = self.c, lang_of(request)
            active = unfinished(self.jobs, current)  # (followed on, and stopped by Stop, as Generate's)
            if not video:
                return {c.status: t("fix_none", lang), c.current: active}
            try:
                job = self.jobs.submit_smooth(video, factor=factor, loop=loop or None, client=request.session_hash)
            except I2VError as exc:
                return {c.status: warn(error_text(exc, lang)), c.current: active}
            from pathlib import Path

            ids = active + [job.id]
            return {c.current: ids, c.my_jobs: ids + unfinished(self.jobs, sweeps),
                    c.status: t("smooths_original", lang, name=Path(str(video)).name)}
        return run

    def follow_smooth(self, ids, request: gr.Request):
        """A smoothing's result: its video, and its own sidecar as the parameters (file); the generated video
        stays the one Smooth, Extend and the fixes work from."""
        lang = lang_of(request)
        c = self.c
        generation = self._render_done(lang)  # (a job of the tab's that was running when Smooth was pressed)

        def render(job, prefix):
            if job.kind != SMOOTH:
                return generation(job, prefix)
            s = self.jobs.summary(job)
            own = {k: v for k, v in self.jobs.metadata(job).items() if k != "source_metadata"}
            return {c.video: s["video"], c.params: json.dumps(own, ensure_ascii=False, indent=2),
                    c.params_file: s.get("metadata"),
                    c.status: prefix + t("smoothed", lang, frames=s["frames"], fps=s["fps"],
                                name=self.jobs.abs(job.result["video"]).name), c.gallery: self.ui.gallery_value(lang)}

        yield from follow_jobs(c, self.jobs, list(ids or []), lang, render, **self._tab(request))


def long_request(c, values: dict, extend: bool = False) -> dict | None:
    """The Length and storyboard of the form, for a long job (None: one segment, no storyboard: a plain
    video; Extend always adds at least one segment)."""
    segments, board = int(values.get(c.segments) or 1), values.get(c.storyboard) or ""
    if extend:
        return {"segments": segments, "storyboard": board.strip() or None}
    return long_wanted(segments, board)


def length_text(segments, frames, fps, lang: str, overlap: int, storyboard: str | None = None) -> str:
    """The Length's line: seconds and frames of the whole video (a storyboard with the Length at 1: one
    segment per line)."""
    try:
        lines = sum(1 for x in (storyboard or "").splitlines() if x.strip())
        n_seg = int(segments) if int(segments) > 1 or not lines else lines
        n = joined_length(int(frames), max(1, n_seg), min(overlap, max(0, int(frames) - 3)))
        return t("length_md", lang, seconds=n / max(1, int(fps)), frames=n)
    except (TypeError, ValueError):
        return ""


def on_guidance(g, request: gr.Request, family: dict | None = None):
    return zone_text(float(g), lang_of(request), family)


def fixer(h: CreateHandlers, problem: str):
    def fix(values: dict, request: gr.Request):
        return h.on_fix(problem, values, lang_of(request))
    return fix


def wire(ui) -> None:
    c, h = ui.c, CreateHandlers(ui)
    ui.create = h
    controls = h.controls
    fill_outputs = [*controls, c.manual, c.status]
    gen_outputs = [c.status, c.preview, c.video, c.used_seed, c.params, c.params_file, c.notes, c.gallery,
                   c.last_params,
                   c.last_video, c.motion_md, c.motion_plot, c.current, c.tune_box, c.tune_md, c.tune_plot,
                   c.tune_gallery]
    quick = dict(api_name=False, show_progress="hidden", queue=False)
    # A follow is a .then of its button's event, and Gradio's client skips a dependency's trigger while the
    # same dependency is pending ("once"): Generate pressed while its last follow ran queued the job but
    # never followed it.  "multiple" lets the new follow start; the old one then ends (follow.Follows).
    follow = dict(api_name=False, concurrency_limit=None, show_progress="hidden", trigger_mode="multiple")

    c.image.upload(h.on_upload, c.image, [c.image, c.image_msg], **quick)
    def guidance_zone(g, request: gr.Request):  # (gradio gives the request by this annotation)
        return on_guidance(g, request, ui.cfg.family)  # (the page's model now: it follows a switch)

    c.guidance.change(guidance_zone, c.guidance, c.zone, **quick)
    c.preset.input(h.on_preset, [c.preset, c.prompt, c.image], [*controls, c.manual, c.rec_md], api_name=False,
                   show_progress="hidden")
    overlap = ui.cfg.data["long"]["overlap"]

    def on_length(n, f, r, board, request: gr.Request):
        return length_text(n, f, r, lang_of(request), overlap, board)
    for src in (c.segments, c.frames, c.fps, c.storyboard):
        src.change(on_length, [c.segments, c.frames, c.fps, c.storyboard], c.length_md, **quick)
    c.speed_tier.input(h.on_speed, {*controls, c.preset}, controls, **quick)
    c.rec_btn.click(h.on_recommend, [c.prompt, c.image], [c.guidance, c.steps, c.rec_md, c.manual], api_name=False,
                    js=f"(p, i) => {{ {TOUCHED} = false; return [p, i]; }}")
    # The prompt's recommendation reaches the sliders in the browser, and only if the user has not moved
    # them meanwhile: the server answers from the state the page had when the prompt changed, so a slider
    # moved while that answer was on its way would otherwise be overwritten.
    c.prompt.change(h.on_prompt, [c.prompt, c.image, c.manual], [c.rec_values, c.rec_md], api_name=False,
                    trigger_mode="always_last", show_progress="hidden").then(
        None, [c.rec_values, c.guidance, c.steps, c.rec_md], [c.guidance, c.steps, c.rec_md], api_name=False,
        show_progress="hidden",
        js=f"(rec, g, s, md) => !Array.isArray(rec) ? [g, s, md] : (!{TOUCHED} ? [rec[0], rec[1], rec[2]]"
           " : [g, s, rec[3]])")
    for chosen in (c.guidance, c.steps):  # the user's own choice: stop overwriting it
        chosen.input(h.on_touch, None, c.manual, js=f"() => {{ {TOUCHED} = true; }}", **quick)
        chosen.input(h.on_touch_text, c.rec_md, c.rec_md, **quick)
    fix_inputs = {*controls, c.last_params}
    for problem, button in c.fix_buttons.items():
        button.click(fixer(h, problem), fix_inputs, fill_outputs, api_name=False)
    gen_inputs = {*controls, c.model, c.image, c.preset, c.restored, c.count, c.current, c.segments, c.storyboard,
                  c.target_motion, c.sweep_job}
    submitted = c.go.click(h.submit, gen_inputs, [c.status, c.current, c.my_jobs], api_name=False,
                           concurrency_limit=None)
    submitted.then(h.follow, c.current, gen_outputs, **follow)  # (it takes the tab's result over: Follows)
    # the progress or the error, where Generate's answer appears, brought into view
    c.go.click(None, None, None, js=SHOW_STATUS_JS, queue=False, api_name=False)
    c.stop.click(h.stop, c.current, c.status, **quick)
    c.extend.click(h.submit_extend, {*controls, c.model, c.preset, c.restored, c.last_video, c.segments,
                                     c.storyboard, c.current, c.sweep_job},
                   [c.status, c.current, c.my_jobs], api_name=False, concurrency_limit=None).then(
        h.follow, c.current, gen_outputs, **follow)
    for btn, factor in ((c.smooth2, 2), (c.smooth4, 4)):
        btn.click(h.submit_smooth(factor), [c.last_video, c.loop, c.current, c.sweep_job],
                  [c.status, c.current, c.my_jobs], api_name=False,
                  concurrency_limit=None).then(h.follow_smooth, c.current, gen_outputs, **follow)
    c.tpl_save.click(h.on_save_template, {c.tpl_name, c.preset, c.restored, *c(*template_controls())},
                     [c.preset, c.tpl_msg],
                     api_name=False)
    c.tpl_delete.click(h.on_delete_template, c.preset, [c.preset, c.tpl_msg], api_name=False)
