"""What a newcomer found on the page (issue 19's last round), through the page's own handlers."""

from __future__ import annotations

from i2v.planning.presets import load_presets
from i2v.ui.compare import table_of

from .conftest import EN, ZH


def test_reuse_without_a_pick_says_pick_and_a_restore_opens_create(ui, studio, tmp_path):
    c = ui.c
    assert ui.history.reuse(None, EN) == {c.hist_msg: "Pick a result first."}  # (it said "Generate a video first")
    assert ui.history.reuse(None, ZH) == {c.hist_msg: "请先选择一个结果。"}
    side = tmp_path / "mine.json"
    side.write_text('{"params": {"prompt": "waves", "guidance_scale": 10.5, "num_inference_steps": 40}}')
    out = ui.history.restore(str(side), EN)
    assert out[c.guidance] == 10.5 and out[c.tabs].selected == "create"  # as Reuse does


def test_queue_cancel_says_what_happens_in_the_page_language_and_hides_the_kept_picture(ui, photo_path):
    c, jobs = ui.c, ui.jobs
    job = jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=2)
    detail = ui.queue_tab.detail(job.id, EN)[c.queue_msg]
    assert '"prompt": "waves"' in detail and ".inputs/" not in detail and '"image"' not in detail
    assert ui.queue_tab.cancel(job.id, ZH)[c.queue_msg] == f"任务 {job.id} 已取消。"
    job2 = jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=2)
    jobs.store.claim("someone")  # running now: the cancel is a request
    assert ui.queue_tab.cancel(job2.id, EN)[c.queue_msg] == f"Job {job2.id} stops after its current step."


def test_presets_in_their_order_and_the_comparison_headers_before_a_run():
    assert list(load_presets()) == ["preview", "standard", "high_motion", "creative"]  # not by file name
    assert list(table_of({}, "zh").columns) == ["引导系数", "运动 像素/帧", "抖动", "闪烁", "平衡度", "最佳"]


# -- issue 28, finding 9: the page's small findings ------------------------------------------------------------

def test_smooth_twice_works_on_the_generated_video_and_offers_the_smoothed_results_own_parameters(ui, photo_path):
    """A second Smooth worked on the smoothed copy, and after smoothing "Parameters file" offered the
    source's JSON."""
    import json
    from pathlib import Path

    c, h, jobs = ui.c, ui.create, ui.jobs
    gen = jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=4,
                               resolution="256p")
    jobs.execute(jobs.store.claim(jobs.worker))
    original = str(jobs.abs(jobs.get(gen.id).result["video"]))
    shown = {}
    for _ in range(2):  # Smooth x2, then Smooth x2 again, as the page's buttons send them
        out = h.submit_smooth(2)(original if not shown else shown.get(c.last_video, original), "pingpong", [], [],
                                  EN)
        assert out[c.status] == f"Smoothing the generated video {Path(original).name} (each Smooth starts from " \
                                "it, not from a smoothed copy)…"
        jobs.execute(jobs.store.claim(jobs.worker))
        for upd in h.follow_smooth(out[c.current], EN):
            shown.update(upd)
        assert c.last_video not in shown  # Smooth, Extend and the fixes keep working from the generated video
        smoothed = jobs.get(out[c.current][0])
        assert jobs.abs(smoothed.params["video"]) == Path(original)  # the generated video, both times
        assert shown[c.params_file] == str(jobs.abs(smoothed.result["summary"]["metadata"]))
        own = json.loads(shown[c.params])
        assert own["kind"] == "smoothed" and own["factor"] == 2 and own["loop"] == "pingpong"
        assert "source_metadata" not in own
    zh = h.submit_smooth(4)(original, "", [], [], ZH)[c.status]
    assert zh.startswith("正在平滑生成的视频") and "每次平滑都从它开始" in zh
    jobs.cancel(jobs.store.list(status=["queued"], limit=1)[0].id)


def test_the_zh_page_names_the_auto_tune_chart_explains_the_safe_zone_loop_and_the_english_negative_prompt(ui):
    import gradio as gr

    from i2v.base.i18n import t

    c = ui.c
    zh = ui.localized("zh")
    assert (zh[c.tune_plot]["x_title"], zh[c.tune_plot]["y_title"]) == ("引导系数", "运动（每帧对角线百分比）")
    assert "各档速度" not in zh[c.speed_md] and "比“精确”少 3.50×" in zh[c.speed_md]
    assert isinstance(c.tune_plot, gr.ScatterPlot)  # a marker for each draft (a line plot joined them, unmarked)
    assert c.tune_gallery.height == "auto"  # the captions under the thumbnails are inside the gallery
    assert "安全范围" in t("tune_safe_zone", "zh") and "safe zone" in t("tune_safe_zone", "en")
    assert "English" in t("negative_info", "en") and "英文" in t("negative_info", "zh")
    assert "Smooth" in t("loop_info", "en") and "平滑" in t("loop_info", "zh")


def test_the_auto_tune_reasoning_says_what_the_safe_zone_is_and_draws_the_drafts_as_points(ui):
    from i2v.ui.follow import TUNE_DOTS, tune_updates

    c = ui.c
    meta = {"autotune": {"target": 1.0, "choice": {"guidance": 9.0, "why": "hit", "predicted": 1.02},
                         "drafts": [{"guidance": 6.0, "motion": 0.7}, {"guidance": 9.0, "motion": 1.02}]},
            "motion": {"motion_norm": 1.05}}
    out = tune_updates(c, ui.jobs, meta, "zh")
    assert out[c.tune_md].splitlines()[-1].startswith("“安全范围”指")
    plot = out[c.tune_plot]
    assert (plot["series"] == "草稿（实测）").sum() == 2 and (plot["series"] == "选择").sum() == TUNE_DOTS


def test_a_target_motion_error_on_the_page_uses_the_pages_words(ui, photo_path):
    c = ui.c
    form = {**{getattr(c, a): None for a in ("guidance", "fps", "resolution", "schedule", "fast", "skip_threshold",
                                              "guidance_stop", "speed_tier")},
            c.prompt: "waves", c.image: str(photo_path), c.steps: 2, c.frames: 4, c.seed: 1, c.random_seed: False,
            c.count: 1, c.current: [], c.negative: "", c.target_fps: 16, c.guidance_end: 6.0, c.preset: "standard",
            c.segments: 1, c.storyboard: "", c.target_motion: "wild"}
    en, zh = ui.create.submit(form, EN)[c.status], ui.create.submit(form, ZH)[c.status]
    assert "motion_norm" not in en + zh
    assert '"Measured motion"' in en and "实测运动" in zh


# -- issue 28, the last newcomer pass ----------------------------------------------------------------------------

def test_a_recommendation_shown_as_applied_says_kept_once_the_user_moves_a_slider(ui):
    """It said "applied to the sliders" while the slider showed the user's own value (2 runs in 5): the
    prompt's answer carries both texts for the page to pick, and moving a slider turns "applied" into "kept"."""
    out = ui.create.on_prompt("a dog jumping over a fence", None, False, EN)
    g, steps, applied, kept = out[ui.c.rec_values]
    assert (g, steps) == (11.5, 60) and "applied to the sliders" in applied and "your own values kept" in kept
    assert applied.replace("applied to the sliders", "") == kept.replace(
        "your own values kept; press Recommend to apply", "")  # the same recommendation, the other ending
    assert ui.create.on_touch_text(applied, EN) == kept
    zh = ui.create.on_prompt("一只狗跳过栅栏", None, False, ZH)[ui.c.rec_values]
    assert ui.create.on_touch_text(zh[2], ZH) == zh[3] and "保留了你手动设置的值" in zh[3]
    assert ui.create.on_touch_text(kept, EN) == {"__type__": "update"}  # nothing to change


def test_a_dropped_extended_video_restores_its_size_as_the_nearest_tier_and_says_what_length_is(ui, tmp_path):
    """An extended video records its source's size ("custom", 256x192): dropping it restored the page's
    current Resolution and Length 2 (the part the extension added) without a word."""
    c = ui.c
    side = tmp_path / "ext.json"
    side.write_text('{"kind": "long_video", "extends": "100000_waves_long2_s1_abc123.mp4", "params": {"prompt": '
                    '"waves", "resolution": "custom", "width": 448, "height": 128, "segments": 2, "num_frames": 8}}')
    out = ui.history.restore(str(side), EN)
    assert out[c.resolution] == "256p" and out[c.segments] == 2, out
    assert "448×128" in out[c.hist_msg] and "Length 2 is the part it added" in out[c.hist_msg]
    zh = ui.history.restore(str(side), ZH)[c.hist_msg]
    assert "最接近的档位 256p" in zh and "延长时新增的部分" in zh
    # a size the tier itself makes for that picture's shape (256x192 is 256p at 4:3) restores without a note
    side.write_text(side.read_text().replace("\"width\": 448, \"height\": 128", "\"width\": 256, \"height\": 192"))
    out = ui.history.restore(str(side), EN)
    assert out[c.resolution] == "256p" and "256×192" not in out[c.hist_msg]


def test_a_text_file_dropped_on_history_is_refused_in_the_page_language(ui, tmp_path):
    """The upload box let the browser refuse other files, in English on the Chinese page: the studio's own
    refusal answers now, in the page's language."""
    note = tmp_path / "notapic.txt"
    note.write_text("hello")
    assert "restore-file" == ui.c.restore.elem_id and not ui.c.restore.file_types
    said = ui.history.restore(str(note), ZH)[ui.c.hist_msg]
    assert "notapic.txt" in said and "Invalid file type" not in said and any("\u4e00" <= ch <= "\u9fff" for ch in said)


def test_a_tabs_newer_follow_takes_its_result_over_and_the_older_one_ends_without_writing(ui, photo_path):
    """Generate pressed while the tab follows a job: the new follow (of both jobs) takes over, and the old one
    ends at its next poll with nothing more written; another tab, and the tab's Compare lane, go on.  A follow
    of nothing (a refused click) takes nothing over."""
    import gradio as gr

    c, h, jobs = ui.c, ui.create, ui.jobs
    a, b = (jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=4,
                                 resolution="256p") for _ in range(2))  # (no worker: both stay queued)
    first, other_tab = h.follow([a.id], EN), h.follow([a.id], ZH)
    compare = ui.compare.follow([a.id], EN)
    assert "Queued" in next(first)[c.status] and next(other_tab) and next(compare)
    assert list(h.follow([], EN)) == [{c.status: gr.skip()}]  # (changes nothing)
    assert next(first)[c.status].startswith("Queued")  # still the tab's live follow
    second = h.follow([a.id, b.id], EN)
    assert next(second)[c.status].startswith("[1/2] Queued")
    assert next(first, "ended") == "ended"  # writing nothing more
    assert next(other_tab) and next(compare) and next(second)  # the others go on
    second.close()
    assert ("en", "create") not in ui.follows._live and ("zh", "create") in ui.follows._live
    for job in (a, b):
        jobs.cancel(job.id)


def test_a_button_pressed_while_the_tabs_jobs_run_follows_them_on_and_the_browser_keeps_both_panes_jobs(ui, photo_path):
    """Extend, Smooth and Compare's Run pressed while the tab's jobs are queued or running: the button's pane
    follows them on with its own job (so Stop stops them too; Extend's follow replaced Generate's, and Stop
    cancelled only the waiting Extend), a refused press keeps them, and the browser's list for a reload holds
    both panes' unfinished jobs.  (No worker runs: every job stays queued.)"""
    c, h, jobs = ui.c, ui.create, ui.jobs
    form = {**{getattr(c, a): None for a in ("guidance", "fps", "resolution", "schedule")},
            c.prompt: "waves", c.image: str(photo_path), c.steps: 2, c.frames: 4, c.seed: 1, c.random_seed: False,
            c.count: 1, c.current: [], c.sweep_job: [], c.negative: "", c.target_fps: 8, c.guidance_end: 6.0,
            c.fast: 1, c.preset: "standard", c.segments: 1, c.storyboard: ""}
    gen = h.submit(form, EN)[c.current]
    jobs.execute(jobs.store.claim(jobs.worker))  # (its video is the one shown)
    shown = str(jobs.abs(jobs.get(gen[0]).result["video"]))
    running = h.submit({**form, c.current: gen}, EN)[c.current]  # (the finished one is not followed on)
    assert len(running) == 1 and running != gen
    sweep = ui.compare.submit({**form, c.current: running, c.sweep_values: "5, 9"}, EN)
    assert len(sweep[c.sweep_job]) == 1 and sweep[c.my_jobs] == sweep[c.sweep_job] + running
    ext = h.submit_extend({**form, c.current: running, c.sweep_job: sweep[c.sweep_job], c.last_video: shown}, EN)
    assert ext[c.current][:-1] == running and jobs.get(ext[c.current][-1]).kind == "long"
    assert ext[c.my_jobs] == ext[c.current] + sweep[c.sweep_job]
    sm = h.submit_smooth(2)(shown, "", ext[c.current], sweep[c.sweep_job], EN)
    assert sm[c.current][:-1] == ext[c.current] and jobs.get(sm[c.current][-1]).kind == "smooth"
    assert h.submit_extend({**form, c.current: sm[c.current], c.last_video: None}, EN)[c.current] == sm[c.current]
    assert h.submit_smooth(4)(None, "", sm[c.current], [], EN)[c.current] == sm[c.current]
    again = ui.compare.submit({**form, c.current: [], c.sweep_job: sweep[c.sweep_job], c.sweep_values: "5, 9"}, EN)
    assert again[c.sweep_job][0] == sweep[c.sweep_job][0] and len(again[c.sweep_job]) == 2
    assert h.stop(sm[c.current], EN) and all(jobs.get(j).status == "cancelled" for j in sm[c.current])
    for job_id in again[c.sweep_job]:
        jobs.cancel(job_id)
