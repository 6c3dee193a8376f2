"""The web studio (Gradio 6 Blocks): a front end over :class:`i2v.service.Studio`.

It holds no generation logic: it turns widgets into service calls, service
events into widget updates, and typed errors into ``gr.Error`` in the user's
language (from the browser's Accept-Language).
"""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

import gradio as gr

from .advisor import PROBLEMS, advise, troubleshoot
from .errors import Cancelled, I2VError
from .guidance import SCHEDULES, recommend
from .i18n import i18n_tables, pick_lang, t, translate_error
from .presets import load_presets
from .service import Job, Studio, settings_from_file
from .templates import delete_template, list_templates, save_template

TEMPLATE_PREFIX = "★ "
GPU = "gpu"  # concurrency group shared by every event that runs the model


class UploadImage(gr.Image):
    """gr.Image whose upload reaches us unopened, as a file path.

    gr.Image opens every upload with PIL before our code runs, so a damaged or fake image would fail
    inside Gradio with a generic message.  Our own reader (i2v.images.open_image) checks it instead and
    answers in the user's language.
    """

    @classmethod
    def get_block_name(cls) -> str:
        return "image"

    def preprocess(self, payload):
        if payload is None:
            return None
        if getattr(payload, "path", None):
            return str(payload.path)
        return super().preprocess(payload)  # data: URLs (clipboard paste)


class RawNumber(gr.Number):
    """gr.Number for the API whose value reaches our validation untouched: "abc" or 1e9 then gets our
    clear one-line message (naming the setting and its range) instead of a conversion error in Gradio."""

    @classmethod
    def get_block_name(cls) -> str:
        return "number"

    def preprocess(self, payload):
        return payload


def lang_of(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return pick_lang(headers.get("accept-language"))


def user_error(exc: I2VError, lang: str) -> gr.Error:
    return gr.Error(translate_error(exc.message, exc.hint, lang), print_exception=False)


def guidance_zone(g: float, lang: str) -> str:
    """The seed article's zones for a guidance value."""
    if g < 6:
        key = "zone_weak"
    elif g < 7:
        key = "zone_gentle"
    elif g <= 9:
        key = "zone_balanced"
    elif g <= 13:
        key = "zone_strong"
    elif g <= 15:
        key = "zone_risky"
    else:
        key = "zone_artifacts"
    return f"**{g:.1f}** — {t(key, lang)}"


class StudioUI:
    """Builds the Blocks and keeps the per-session jobs (for Stop and closed tabs)."""

    def __init__(self, studio: Studio):
        self.studio = studio
        self.cfg = studio.cfg
        self.jobs: dict[str, Job] = {}
        self._jobs_lock = threading.Lock()
        self.i18n = gr.I18n(**i18n_tables())

    # -- settings sources ------------------------------------------------------------------
    def choices(self) -> list[str]:
        return list(load_presets()) + [TEMPLATE_PREFIX + n for n in list_templates()]

    def settings_of(self, choice: str) -> dict:
        if choice and choice.startswith(TEMPLATE_PREFIX):
            tpl = list_templates().get(choice[len(TEMPLATE_PREFIX):])
            return dict(tpl.settings) if tpl else {}
        p = load_presets().get(choice or "")
        return dict(p.settings) if p else {}

    def preset_name(self, choice: str) -> str | None:
        return choice if choice in load_presets() else None

    # -- requests --------------------------------------------------------------------------
    def build(self, lang: str, image, prompt, negative, preset, guidance, steps, frames, fps, target_fps,
              resolution, seed, schedule=None, guidance_end=None):
        if image is None:
            raise gr.Error(t("no_image", lang), print_exception=False)
        try:
            return self.studio.build_request(
                image=image, prompt=prompt, negative_prompt=negative, preset=self.preset_name(preset),
                guidance_scale=guidance, num_inference_steps=steps, num_frames=frames, fps=fps,
                target_fps=target_fps, resolution=resolution, seed=seed, guidance_schedule=schedule,
                guidance_end=guidance_end if schedule and schedule != "constant" else None)
        except I2VError as exc:
            raise user_error(exc, lang) from None

    def _track(self, session: str | None, job: Job | None) -> None:
        with self._jobs_lock:
            if job is None:
                self.jobs.pop(session or "", None)
            else:
                self.jobs[session or ""] = job

    def stop(self, request: gr.Request):
        with self._jobs_lock:
            job = self.jobs.get(request.session_hash or "")
        if job is not None:
            job.cancel()
        return t("cancelled", lang_of(request)) if job is not None else gr.update()

    # -- the generate event (streams progress) ---------------------------------------------
    def generate(self, image, prompt, negative, preset, guidance, steps, frames, fps, target_fps, resolution,
                 seed, random_seed, schedule, guidance_end, count, request: gr.Request):
        """Streams dict updates ({component: value}); ``count`` videos, one seed each."""
        lang = lang_of(request)
        c = self.c
        count = max(1, int(count or 1))
        reqs = [self.build(lang, image, prompt, negative, preset, guidance, steps, frames, fps, target_fps,
                           resolution, -1 if random_seed else int(seed) + i, schedule, guidance_end)
                for i in range(count)]  # all validated before the first starts
        for i, req in enumerate(reqs):
            prefix = f"[{i + 1}/{count}] " if count > 1 else ""
            job = Job(self.studio, req).start()
            self._track(request.session_hash, job)
            try:
                while True:
                    try:
                        kind, payload = job.events.get(timeout=0.5)
                    except queue.Empty:
                        if not job.running and job.events.empty():
                            return
                        continue
                    if kind == "queued":
                        yield {c["status"]: prefix + t("queued", lang)}
                    elif kind == "step":
                        text = t("step_progress", lang, step=payload["step"], total=payload["total"],
                                 elapsed=payload["elapsed"], eta=payload["eta"], g=payload["guidance"])
                        upd = {c["status"]: prefix + text}
                        if payload["preview"] is not None:
                            upd[c["preview"]] = payload["preview"]
                        yield upd
                    elif kind == "decoding":
                        yield {c["status"]: prefix + t("decoding", lang)}
                    elif kind == "done":
                        yield self.result_updates(payload, lang, prefix)
                        break
                    elif kind == "error":
                        if isinstance(payload, Cancelled):
                            yield {c["status"]: t("cancelled", lang)}
                            return
                        raise user_error(payload, lang)
            finally:
                job.cancel()  # no-op when finished; stops the worker if this stream was abandoned
                job.thread.join(timeout=60)
                self._track(request.session_hash, None)

    def result_updates(self, res, lang: str, prefix: str = "") -> dict:
        c, meta = self.c, res.metadata
        notes = meta["guard"] + meta["notices"]
        m = meta.get("motion") or {}
        return {c["status"]: prefix + t("done", lang, seconds=res.seconds, name=res.video.name),
                c["video"]: str(res.video), c["used_seed"]: meta["seed"],
                c["params"]: json.dumps(meta["params"], ensure_ascii=False, indent=2),
                c["notes"]: "\n".join(f"- {n}" for n in notes), c["gallery"]: self.gallery_value(),
                c["last_params"]: meta["params"], c["last_video"]: str(res.video),
                c["motion_md"]: self.motion_text(m, lang), c["motion_plot"]: self.motion_frame(m)}

    @staticmethod
    def motion_text(m: dict, lang: str) -> str:
        if not m:
            return ""
        return t("motion_md", lang, motion=m["motion"], norm=m["motion_norm"], area=100 * m["moving_area"],
                 jitter=m["jitter"], flicker=m["flicker"])

    @staticmethod
    def motion_frame(m: dict):
        import pandas as pd

        rows = [{"frame": p["pair"] + 1, "value": p[k], "metric": k} for p in (m or {}).get("per_frame", [])
                for k in ("motion", "jitter", "flicker")]
        return pd.DataFrame(rows or [{"frame": 0, "value": 0.0, "metric": "motion"}])

    def smooth_last(self, video_path, factor: int, loop: str, request: gr.Request):
        from .workflows import smooth

        lang = lang_of(request)
        if not video_path:
            raise gr.Error(t("fix_none", lang), print_exception=False)
        try:
            path, meta = smooth(Path(video_path), factor=int(factor), loop=loop or None)
        except I2VError as exc:
            raise user_error(exc, lang) from None
        return str(path), t("smoothed", lang, frames=meta["frames"], fps=meta["fps"], name=path.name)

    def run_sweep(self, values, image, prompt, negative, frames, fps, target_fps, resolution, steps, seed, random_seed,
                  request: gr.Request):
        import pandas as pd

        from .workflows import parse_guidance_list, sweep

        lang = lang_of(request)
        c = self.c
        if image is None:
            raise gr.Error(t("no_image", lang), print_exception=False)
        try:
            vals = parse_guidance_list(values)
            kw = dict(image=image, prompt=prompt, negative_prompt=negative, num_frames=frames, fps=fps,
                      target_fps=target_fps, resolution=resolution, num_inference_steps=steps,
                      seed=-1 if random_seed else seed)
            self.studio.build_request(**kw, guidance_scale=vals[0])
        except I2VError as exc:
            raise user_error(exc, lang) from None
        events: "queue.Queue" = queue.Queue()
        box: dict = {}

        def work():
            try:
                box["res"] = sweep(self.studio, vals, on_progress=lambda i, n, g: events.put((i, n, g)), **kw)
            except I2VError as exc:
                box["err"] = exc
            events.put(None)

        th = threading.Thread(target=work, daemon=True)
        th.start()
        while True:
            item = events.get()
            if item is None:
                break
            i, n, g = item
            yield {c["sweep_status"]: t("sweep_progress", lang, i=i + 1, n=n, g=g)}
        th.join()
        if "err" in box:
            raise user_error(box["err"], lang)
        res = box["res"]
        table = pd.DataFrame([{"guidance": r["guidance_scale"], "motion px/frame": r["motion"],
                               "jitter": r["jitter"], "flicker": r["flicker"], "balance": r["balance"],
                               "best": "★" if r["best"] else ""} for r in res.results])
        yield {c["sweep_status"]: t("sweep_done", lang, g=res.results[res.best]["guidance_scale"]),
               c["sweep_video"]: str(res.grid), c["sweep_table"]: table, c["gallery"]: self.gallery_value()}

    # -- the API endpoint (plain call, keyword arguments) ----------------------------------
    def api_generate(self, image: str, prompt: str, negative_prompt: str = "", guidance_scale: float = 9.0,
                     num_inference_steps: int = 50, num_frames: int = 16, fps: int = 8, resolution: str = "512p",
                     seed: int = -1, request: gr.Request = None):
        lang = lang_of(request)
        req = self.build(lang, image, prompt, negative_prompt, None, guidance_scale, num_inference_steps,
                         num_frames, fps, None, resolution, seed)
        try:
            res = self.studio.generate(req)
        except I2VError as exc:
            raise user_error(exc, lang) from None
        return str(res.video), {**res.summary(), "params": res.metadata["params"]}

    # -- history, templates, restore -------------------------------------------------------
    def gallery_value(self) -> list[tuple[str, str]]:
        items = []
        for h in self.studio.history():
            p = h["metadata"]["params"]
            cap = f"g={p.get('guidance_scale')} · {p.get('num_inference_steps')} steps · {str(p.get('prompt', ''))[:40]}"
            thumb = h["thumbnail"] if h["thumbnail"].is_file() else h["video"]
            items.append((str(thumb), cap))
        return items

    def history_pick(self, evt: gr.SelectData):
        items = self.studio.history()
        if evt.index is None or evt.index >= len(items):
            return gr.update(), gr.update(), None
        h = items[evt.index]
        return str(h["video"]), json.dumps(h["metadata"]["params"], ensure_ascii=False, indent=2), \
            h["metadata"]["params"]

    def fill(self, settings: dict) -> list:
        """Control updates for: prompt, negative, guidance, steps, frames, fps, target_fps, resolution, seed,
        random-seed toggle, schedule, guidance end (the order of ``controls`` in the layout)."""
        s = settings or {}
        upd = lambda k: gr.update(value=s[k]) if s.get(k) is not None else gr.update()  # noqa: E731
        seed = s.get("seed")
        return [upd("prompt"), upd("negative_prompt"), upd("guidance_scale"), upd("num_inference_steps"),
                upd("num_frames"), upd("fps"), upd("target_fps"),
                gr.update(value=s["resolution"]) if s.get("resolution") in self.cfg.resolution["tiers"]
                else gr.update(),
                gr.update(value=seed) if seed is not None and seed >= 0 else gr.update(),
                gr.update(value=False) if seed is not None and seed >= 0 else gr.update(),
                upd("guidance_schedule"), upd("guidance_end")]

    def recommendation(self, prompt: str, image, lang: str):
        """(Recommendation, markdown with the reason and the prompt advice) or (None, '')."""
        if not (prompt or "").strip():
            return None, ""
        try:
            from .images import open_image

            picture = open_image(image) if image else None
        except I2VError:
            picture = None
        rec = recommend(prompt, picture, lang)
        lines = [f"**{t('recommendation', lang)}:** {rec.reason}"]
        for a in advise(prompt, lang):
            lines.append(f"- {a.message}" + (f"\n  → `{a.suggestion}`" if a.suggestion else ""))
        return rec, "\n".join(lines)

    def on_recommend(self, prompt, image, request: gr.Request):
        lang = lang_of(request)
        rec, text = self.recommendation(prompt, image, lang)
        if rec is None:
            return gr.update(), gr.update(), "", False
        return rec.guidance_scale, rec.num_inference_steps, f"{text}\n\n_{t('rec_applied', lang)}_", False

    def on_prompt(self, prompt, image, manual, request: gr.Request):
        """Refresh the recommendation as the prompt changes; fill the sliders unless the user set them."""
        lang = lang_of(request)
        rec, text = self.recommendation(prompt, image, lang)
        if rec is None:
            return gr.update(), gr.update(), ""
        if manual:
            return gr.update(), gr.update(), f"{text}\n\n_{t('rec_kept', lang)}_"
        return rec.guidance_scale, rec.num_inference_steps, f"{text}\n\n_{t('rec_applied', lang)}_"

    def on_fix(self, problem: str, last: dict | None, lang: str):
        if not last:
            return [gr.update()] * 12 + [t("fix_none", lang)]
        fix = troubleshoot(last, problem, lang)
        changes = ", ".join(f"{k}: {a} → {b}" for k, (a, b) in fix.changes.items()) or "—"
        return [*self.fill(fix.settings), f"{fix.explanation}\n\n`{changes}`"]

    def on_guidance(self, g: float, request: gr.Request):
        return guidance_zone(float(g), lang_of(request))

    def on_preset(self, choice: str):
        s = self.settings_of(choice)
        return self.fill({k: v for k, v in s.items() if k != "seed"})

    def restore_file(self, file, request: gr.Request):
        lang = lang_of(request)
        if not file:
            return [gr.update()] * 13
        try:
            s = settings_from_file(file)
        except I2VError as exc:
            raise user_error(exc, lang) from None
        return [*self.fill(s), t("restored", lang, name=Path(file).name)]

    def on_save_template(self, name, negative, guidance, steps, frames, fps, target_fps, resolution,
                         request: gr.Request):
        lang = lang_of(request)
        try:
            save_template(name, {"negative_prompt": negative, "guidance_scale": guidance,
                                 "num_inference_steps": steps, "num_frames": frames, "fps": fps,
                                 "target_fps": target_fps, "resolution": resolution})
        except I2VError as exc:
            raise user_error(exc, lang) from None
        return gr.update(choices=self.choices(), value=TEMPLATE_PREFIX + name.strip()), \
            t("saved_template", lang, name=name.strip())

    def on_delete_template(self, choice, request: gr.Request):
        lang = lang_of(request)
        if not choice or not choice.startswith(TEMPLATE_PREFIX):
            return gr.update(), ""
        name = choice[len(TEMPLATE_PREFIX):]
        try:
            delete_template(name)
        except I2VError as exc:
            raise user_error(exc, lang) from None
        return gr.update(choices=self.choices(), value="standard"), t("deleted_template", lang, name=name)

    def banner(self, request: gr.Request):
        lang = lang_of(request)
        st = self.studio.status()
        if st["state"] == "loading":
            return t("loading_model", lang), gr.update(active=True)
        if st["state"] == "failed":
            return t("model_failed", lang, error=st["error"]), gr.update(active=False)
        text = t("model_ready", lang, model=st["model"], device=st["device"], dtype=st["dtype"])
        if st.get("vram_gb") is not None:
            text += " " + t("gpu_line", lang, gb=st["vram_gb"], tier=st["max_tier"] or "—")
        if st["demo"]:
            text = t("demo_banner", lang) + "\n\n" + text
        extra = [n for n in st["notices"] if not n.startswith("Demo model")]
        if extra:
            text += "\n\n" + "\n".join(f"- {n}" for n in extra)
        return text, gr.update(active=False)

    # -- layout ----------------------------------------------------------------------------
    def build_blocks(self) -> gr.Blocks:
        i18n, d, lim = self.i18n, self.cfg.defaults, self.cfg.limits
        tiers = list(self.cfg.resolution["tiers"])
        std = self.settings_of("standard")
        with gr.Blocks(title="I2V Studio", delete_cache=(3600, 24 * 3600)) as demo:
            gr.Markdown(i18n("title_md"))
            banner = gr.Markdown(elem_id="model-banner")
            timer = gr.Timer(1.0)
            with gr.Tabs():
                with gr.Tab(i18n("tab_create")):
                    with gr.Row():
                        with gr.Column(scale=5):
                            # Media components show an i18n label as "[object Object]" (Gradio 6.31): plain text.
                            image = UploadImage(label=f"{t('image')} · {t('image', 'zh')}", type="filepath",
                                                sources=["upload", "clipboard"], elem_id="input-image")
                            prompt = gr.Textbox(label=i18n("prompt"), placeholder=t("prompt_ph"), lines=2,
                                                elem_id="prompt")
                            with gr.Row():
                                rec_btn = gr.Button(i18n("recommend"), size="sm", elem_id="recommend")
                            rec_md = gr.Markdown(elem_id="recommendation")
                            manual = gr.State(False)
                            negative = gr.Textbox(label=i18n("negative"), value=d["negative_prompt"], lines=2)
                            preset = gr.Dropdown(self.choices(), value="standard", label=i18n("preset"),
                                                 elem_id="preset")
                            guidance = gr.Slider(*lim["guidance"], value=std.get("guidance_scale", 9.0), step=0.5,
                                                 label=i18n("guidance"), info=i18n("guidance_info"),
                                                 elem_id="guidance")
                            zone = gr.Markdown(guidance_zone(std.get("guidance_scale", 9.0), "en"),
                                               elem_id="guidance-zone")
                            steps = gr.Slider(*lim["steps"], value=std.get("num_inference_steps", 50), step=1,
                                              label=i18n("steps"), info=i18n("steps_info"), elem_id="steps")
                            with gr.Row():
                                frames = gr.Slider(*lim["frames"], value=std.get("num_frames", 16), step=1,
                                                   label=i18n("frames"), elem_id="frames")
                                fps = gr.Slider(*lim["fps"], value=std.get("fps", 8), step=1, label=i18n("fps"))
                            resolution = gr.Dropdown(tiers, value=std.get("resolution", "512p"),
                                                     label=i18n("resolution"), elem_id="resolution")
                            with gr.Accordion(i18n("advanced"), open=False):
                                target_fps = gr.Slider(*lim["target_fps"], value=d["target_fps"], step=1,
                                                       label=i18n("target_fps"))
                                with gr.Row():
                                    seed = gr.Number(value=0, precision=0, minimum=0, label=i18n("seed"))
                                    random_seed = gr.Checkbox(value=True, label=i18n("random_seed"))
                                count = gr.Slider(1, 8, value=1, step=1, label=i18n("count"), elem_id="count")
                                with gr.Row():
                                    schedule = gr.Dropdown(list(SCHEDULES), value="constant", label=i18n("schedule"),
                                                           info=i18n("schedule_info"), elem_id="schedule")
                                    guidance_end = gr.Slider(*lim["guidance"], value=6.0, step=0.5,
                                                             label=i18n("guidance_end"), elem_id="guidance-end")
                            with gr.Row():
                                go = gr.Button(i18n("generate"), variant="primary", elem_id="generate")
                                stop = gr.Button(i18n("stop"), variant="stop", elem_id="stop")
                            with gr.Accordion(i18n("templates"), open=False):
                                tpl_name = gr.Textbox(label=i18n("template_name"))
                                with gr.Row():
                                    tpl_save = gr.Button(i18n("save_template"))
                                    tpl_delete = gr.Button(i18n("delete_template"))
                        with gr.Column(scale=6):
                            status = gr.Markdown(elem_id="status")
                            preview = gr.Image(label=i18n("preview"), type="numpy", interactive=False,
                                               elem_id="preview")
                            video = gr.Video(label=f"{t('video')} · {t('video', 'zh')}", interactive=False,
                                             elem_id="result-video")
                            used_seed = gr.Number(label=i18n("used_seed"), interactive=False, precision=0,
                                                  elem_id="used-seed")
                            motion_md = gr.Markdown(elem_id="motion")
                            motion_plot = gr.LinePlot(x="frame", y="value", color="metric", height=180,
                                                      label=i18n("motion_plot"), elem_id="motion-plot")
                            with gr.Row():
                                smooth2 = gr.Button(i18n("smooth2"), size="sm", elem_id="smooth2")
                                smooth4 = gr.Button(i18n("smooth4"), size="sm")
                                loop = gr.Dropdown(["", "pingpong", "crossfade"], value="", label=i18n("loop"),
                                                   scale=0, min_width=140)
                            last_video = gr.State(None)
                            notes = gr.Markdown(elem_id="notes")
                            gr.Markdown(i18n("fix_title"))
                            with gr.Row():
                                fix_buttons = {p: gr.Button(i18n(f"fix_{p}"), size="sm", elem_id=f"fix-{p}")
                                               for p in PROBLEMS}
                            last_params = gr.State(None)
                            params = gr.Code(label=i18n("params"), language="json", interactive=False,
                                             elem_id="params")
                with gr.Tab(i18n("tab_sweep")):
                    gr.Markdown(i18n("sweep_help"))
                    with gr.Row():
                        sweep_values = gr.Textbox("5, 7, 9, 11, 14, 18", label=i18n("sweep_values"), scale=3,
                                                  elem_id="sweep-values")
                        sweep_go = gr.Button(i18n("sweep_run"), variant="primary", scale=1, elem_id="sweep-run")
                    sweep_status = gr.Markdown(elem_id="sweep-status")
                    sweep_video = gr.Video(label="Grid · 对比", interactive=False, elem_id="sweep-video")
                    sweep_table = gr.Dataframe(interactive=False, elem_id="sweep-table")
                with gr.Tab(i18n("tab_history")):
                    gallery = gr.Gallery(label=i18n("history"), columns=5,
                                         allow_preview=False, elem_id="history")
                    with gr.Row():
                        refresh = gr.Button(i18n("refresh"))
                        reuse = gr.Button(i18n("reuse"), variant="primary")
                    with gr.Row():
                        hist_video = gr.Video(interactive=False)
                        hist_params = gr.Code(language="json", interactive=False)
                    picked = gr.State(None)
                    restore = gr.File(label=i18n("restore_file"), file_types=[".json", ".mp4"], type="filepath")

            controls = [prompt, negative, guidance, steps, frames, fps, target_fps, resolution, seed, random_seed,
                        schedule, guidance_end]
            gen_inputs = [image, prompt, negative, preset, guidance, steps, frames, fps, target_fps, resolution, seed,
                          random_seed, schedule, guidance_end, count]
            self.c = dict(status=status, preview=preview, video=video, used_seed=used_seed, params=params, notes=notes,
                          gallery=gallery, last_params=last_params, last_video=last_video, motion_md=motion_md,
                          motion_plot=motion_plot, sweep_status=sweep_status, sweep_video=sweep_video,
                          sweep_table=sweep_table)
            gen_outputs = [status, preview, video, used_seed, params, notes, gallery, last_params, last_video, motion_md,
                           motion_plot]

            timer.tick(self.banner, None, [banner, timer], show_progress="hidden", api_name=False)
            demo.load(self.banner, None, [banner, timer], show_progress="hidden", api_name=False)
            guidance.change(self.on_guidance, guidance, zone, show_progress="hidden", api_name=False)
            preset.change(self.on_preset, preset, controls, show_progress="hidden", api_name=False)
            rec_btn.click(self.on_recommend, [prompt, image], [guidance, steps, rec_md, manual], api_name=False)
            prompt.change(self.on_prompt, [prompt, image, manual], [guidance, steps, rec_md], api_name=False,
                          trigger_mode="always_last", show_progress="hidden")
            for chosen in (guidance, steps, preset):  # the user's own choice: stop overwriting it
                chosen.input(lambda: True, None, manual, api_name=False, show_progress="hidden")
            for problem, button in fix_buttons.items():
                button.click(self._fixer(problem), last_params, [*controls, status], api_name=False)
            gen = go.click(self.generate, gen_inputs, gen_outputs, concurrency_limit=1, concurrency_id=GPU,
                           api_name="generate_stream")
            stop.click(self.stop, None, status, cancels=[gen], queue=False, api_name=False)
            for btn, factor in ((smooth2, 2), (smooth4, 4)):
                btn.click(self._smoother(factor), [last_video, loop], [video, status], api_name=False)
            sweep_go.click(self.run_sweep, [sweep_values, image, prompt, negative, frames, fps, target_fps, resolution,
                                            steps, seed, random_seed],
                           [sweep_status, sweep_video, sweep_table, gallery], concurrency_limit=1, concurrency_id=GPU,
                           api_name=False)
            demo.unload(self._on_unload)
            demo.load(self.gallery_value, None, gallery, api_name=False)
            refresh.click(self.gallery_value, None, gallery, api_name=False)
            gallery.select(self.history_pick, None, [hist_video, hist_params, picked], api_name=False)
            reuse.click(lambda s: self.fill(s), picked, controls, api_name=False)
            restore.upload(self.restore_file, restore, [*controls, status], api_name=False)
            tpl_save.click(self.on_save_template,
                           [tpl_name, negative, guidance, steps, frames, fps, target_fps, resolution],
                           [preset, status], api_name=False)
            tpl_delete.click(self.on_delete_template, preset, [preset, status], api_name=False)

            # API: named endpoint 'generate' with keyword arguments; invisible inputs, same GPU queue.
            with gr.Row(visible=False):
                a_in = [gr.File(type="filepath"), gr.Textbox(), gr.Textbox(), RawNumber(), RawNumber(precision=0),
                        RawNumber(precision=0), RawNumber(precision=0), gr.Textbox(), RawNumber(precision=0)]
                a_out = [gr.Video(), gr.JSON()]
                a_btn = gr.Button()
            a_btn.click(self.api_generate, a_in, a_out, concurrency_limit=1, concurrency_id=GPU,
                        api_name="generate")
        return demo

    def _smoother(self, factor: int):
        def run(video_path, loop, request: gr.Request):
            return self.smooth_last(video_path, factor, loop, request)
        return run

    def _fixer(self, problem: str):
        def fix(last, request: gr.Request):
            return self.on_fix(problem, last, lang_of(request))
        return fix

    def _on_unload(self, request: gr.Request):
        """A closed tab stops its job."""
        with self._jobs_lock:
            job = self.jobs.get(request.session_hash or "")
        if job is not None:
            job.cancel()


def build_ui(studio: Studio) -> tuple[gr.Blocks, gr.I18n]:
    ui = StudioUI(studio)
    return ui.build_blocks(), ui.i18n
