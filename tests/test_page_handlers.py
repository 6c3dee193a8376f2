"""What a newcomer found on the page (issue 19's last round), through the page's own handlers."""

from __future__ import annotations

from i2v.presets import load_presets
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
