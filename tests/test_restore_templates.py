"""Issue 19, security round 3 (S2, S6) and item 14: restoring settings from a dropped file, templates and the
``/job`` endpoint, through the doors a user or an attacker uses: the page's handlers, and raw HTTP against a
running studio.  Each attack here got through on the code before the fix."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client

from i2v.base.settings import CONTROLS, PRESET_KEYS
from i2v.media.video import _ffmpeg_lib, read_comment, write_mp4

from .conftest import EN, ZH
from .test_door import join, upload

TWENTY_MB = 20 * 2**20


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def sidecar(path: Path, **params) -> Path:
    base = {"prompt": "a dog jumping over a fence", "guidance_scale": 9.0, "num_inference_steps": 30, "seed": 5}
    path.write_text(json.dumps({"app": "i2v-studio", "params": {**base, **params}}))
    return path


def mp4_with_comment(folder: Path, comment: str) -> Path:
    """An MP4 whose comment tag is ``comment`` (of any size: through an ffmetadata file, not the command line)."""
    small = folder / "small.mp4"
    write_mp4(np.zeros((2, 64, 64, 3), np.uint8), small, 8)
    meta = folder / "meta.txt"
    escaped = "".join("\\" + ch if ch in "=;#\\\n" else ch for ch in comment)
    meta.write_text(";FFMETADATA1\ncomment=" + escaped + "\n", encoding="utf-8")
    out = folder / "big_comment.mp4"
    subprocess.run([_ffmpeg_lib().get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(small), "-i", str(meta),
                    "-map", "0", "-map_metadata", "1", "-c", "copy", str(out)], check=True)
    return out


def answer_bytes(out: dict) -> int:
    return len(json.dumps({str(k): v for k, v in out.items()}, default=str, ensure_ascii=False))


# -- S2: the History drop zone --------------------------------------------------------------------------------

@pytest.mark.heavy
def test_restoring_a_20_mb_file_is_one_short_line(ui, tmp_path):
    """A 20 MB JSON, and an MP4 whose comment tag holds 20 MB: refused with one line, not sent to the page."""
    huge = json.dumps({"app": "i2v-studio", "params": {"prompt": "waves " * (TWENTY_MB // 6), "guidance_scale": 9}})
    big_json = tmp_path / "big.json"
    big_json.write_text(huge)
    big_mp4 = mp4_with_comment(tmp_path, huge)
    assert len(read_comment(big_mp4, max_bytes=64 * 2**20)) == len(huge)  # the tag really holds it all
    c = ui.c
    for path in (big_json, big_mp4):
        t0 = time.perf_counter()
        out = ui.history.restore(str(path), EN)
        assert time.perf_counter() - t0 < 5
        assert set(out) == {c.hist_msg}, path  # no control filled
        assert out[c.hist_msg] == f"⚠️ {path.name} holds more than 262144 bytes of settings (drop the parameters " \
                                  "JSON or the MP4 of one of this studio's results)"
        assert answer_bytes(out) < 1000
    out = ui.history.restore(str(big_json), ZH)
    assert "中的参数超过 262144 字节" in out[c.hist_msg]


def test_restored_values_go_through_the_request_schema(ui, tmp_path):
    """NaN, "abc", a list, a bool refuse the file with the request's own line; 1e308 and -5 are clamped to the
    limits and the message says so; a prompt over the limit is refused as a request's is."""
    c = ui.c
    for bad, line in ((float("nan"), "guidance_scale must be between 1 and 20 (got nan)"),
                      ("abc", "guidance_scale must be a number (got 'abc') (allowed: 1 to 20)"),
                      ([1, 2], "guidance_scale must be a number (got [1, 2]) (allowed: 1 to 20)"),
                      (True, "guidance_scale must be a number (got True) (allowed: 1 to 20)")):
        out = ui.history.restore(str(sidecar(tmp_path / "bad.json", guidance_scale=bad)), EN)
        assert out == {c.hist_msg: f"⚠️ {line}"}, bad
    for key, value, line in (("scheduler", ["ddim"], "unknown scheduler '['ddim']'"),
                             ("num_frames", 7.5, "frames must be a whole number (got 7.5)"),
                             ("prompt", "x" * 1001, "prompt is too long (1001 characters) (at most 1000)"),
                             ("prompt", 5, "prompt must be text")):
        out = ui.history.restore(str(sidecar(tmp_path / "bad.json", **{key: value})), EN)
        assert set(out) == {c.hist_msg} and out[c.hist_msg].startswith(f"⚠️ {line}"), (key, out)

    out = ui.history.restore(str(sidecar(tmp_path / "clamp.json", guidance_scale=1e308, num_inference_steps=-5,
                                         seed=-5, resolution="1080p-elsewhere")), EN)
    assert (out[c.guidance], out[c.steps]) == (20.0, 1) and c.seed not in out and c.resolution not in out
    assert out[c.manual] is True
    assert out[c.hist_msg] == ("Settings restored from clamp.json.\n\n"
                               "- guidance_scale 1e+308 is outside 1 to 20: set to 20\n"
                               "- steps -5 is outside 1 to 150: set to 1\n"
                               "- resolution '1080p-elsewhere' is not available here: the current one is kept\n"
                               "- seed -5 is outside -1 to 4294967295: set to -1")
    out = ui.history.restore(str(sidecar(tmp_path / "clamp.json", guidance_scale=1e308)), ZH)
    assert "guidance_scale 1e+308 超出 1 到 20 的范围：已设为 20" in out[c.hist_msg]
    # a good file still restores everything, with nothing to say
    out = ui.history.restore(str(sidecar(tmp_path / "good.json", guidance_scale=7.5, guidance_schedule="cosine",
                                         guidance_end=4.0, fast=2, resolution="384p")), EN)
    assert (out[c.guidance], out[c.steps], out[c.schedule], out[c.guidance_end], out[c.fast], out[c.resolution],
            out[c.seed], out[c.random_seed]) == (7.5, 30, "cosine", 4.0, 2, "384p", 5, False)
    assert out[c.hist_msg] == "Settings restored from good.json."


def test_a_json_nested_100000_levels_is_one_line_not_a_traceback(ui, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    nested = tmp_path / "nested.json"  # within the byte bound, deep inside a settings-looking object
    nested.write_text('{"params": {"prompt": "x", "seed": ' + "[" * 60_000 + "]" * 60_000 + "}}")
    for path in (deep, nested):
        out = ui.history.restore(str(path), EN)
        assert out == {ui.c.hist_msg: f"⚠️ {path.name} is not a settings file of this studio"}
    assert "RecursionError" not in capsys.readouterr().err
    brackets = tmp_path / "brackets.json"  # brackets inside a string are text, not nesting
    sidecar(brackets, prompt="[[[[ " * 100 + "a dog")
    assert ui.history.restore(str(brackets), EN)[ui.c.prompt].startswith("[[[[")


@pytest.mark.heavy
def test_a_20_mb_restore_through_the_page_event_answers_little(app):
    """The attacker's door: the file uploaded, then the drop zone's event run through the queue as the browser
    does.  The answer was 20 MB and the studio grew by 188 MB; now one line and no growth to speak of."""
    base = app.url.rstrip("/")
    cfg = httpx.get(base + "/config").json()
    zone = next(c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "restore-file")
    fn = next(d.get("id", i) for i, d in enumerate(cfg["dependencies"])
              if [zone, "upload"] in [list(t) for t in d.get("targets", [])])
    huge = json.dumps({"app": "i2v-studio", "params": {"prompt": "waves " * (TWENTY_MB // 6), "guidance_scale": 9}})
    path = upload(base, "params.json", huge.encode()).json()[0]
    before = rss_mb(app.pid)
    msgs = join(base, fn, [{"path": path, "orig_name": "params.json", "meta": {"_type": "gradio.FileData"}}])
    grown = rss_mb(app.pid) - before
    answer = json.dumps(msgs, ensure_ascii=False)
    assert "params.json holds more than 262144 bytes of settings" in answer, answer[-600:]
    assert len(answer) < 5000, len(answer)
    assert grown < 40, f"the studio grew by {grown:.0f} MB"
    print(f"20 MB restore: answer {len(answer)} bytes, studio memory {before:.0f} -> {before + grown:.0f} MB")


# -- S6: templates and /job -------------------------------------------------------------------------------------

def test_templates_are_capped_in_number_and_size_and_long_names_are_not_echoed(ui):
    from i2v.planning.templates import list_templates

    c, h = ui.c, ui.create
    ui.cfg.limits["templates_max"] = 3

    def save(name, **values):
        v = {c.tpl_name: name, c.preset: "standard", c.negative: "blurry", c.guidance: 9.0, c.steps: 50,
             c.frames: 16, c.fps: 8, c.target_fps: 16, c.resolution: "512p", c.schedule: "constant",
             c.guidance_end: 6.0, c.fast: 1}
        v.update({getattr(c, k): x for k, x in values.items()})
        return h.on_save_template(v, EN)[c.tpl_msg]

    for i in range(3):
        assert save(f"mine {i}") == f"✅ Saved template “mine {i}”."
    assert save("one more") == "⚠️ there are already 3 templates (at most 3) (delete one first)"
    assert "已有 3 个模板（最多 3 个）" in h.on_save_template({c.tpl_name: "再来", c.preset: "standard",
                                                        **{getattr(c, a): None for a in CONTROLS.values()
                                                           if a != "prompt"}}, ZH)[c.tpl_msg]
    assert save("mine 1", steps=60) == "✅ Saved template “mine 1”."  # replacing one is not a new one
    assert sorted(list_templates()) == ["mine 0", "mine 1", "mine 2"]
    h.on_delete_template("★ mine 0", EN)
    ui.cfg.limits["template_max_bytes"] = 1024
    line = save("wordy", negative="blurry, " * 120)
    assert line.startswith("⚠️ template 'wordy' would take ") and line.endswith(" bytes (at most 1024)")
    assert sorted(list_templates()) == ["mine 1", "mine 2"]
    line = save("n" * 10_000)
    assert line == f"⚠️ template name '{'n' * 60}…' is not allowed (1-40 letters, digits, spaces, '-' or '_')"


def test_job_and_cancel_echo_a_bounded_prefix_of_a_long_id(app):
    client = Client(app.url, verbose=False)
    long_id = "a" * 100_000
    answer = client.predict(long_id, api_name="/job")
    assert answer["status"] is None and answer["error"]["code"] == "not_found"
    assert answer["job"] == "a" * 60 + "…" and answer["error"]["message"] == f"no job '{'a' * 60}…'"
    assert len(json.dumps(answer)) < 300
    answer = client.predict(long_id, api_name="/cancel")
    assert answer == {"job": "a" * 60 + "…", "status": None, "cancel_requested": False}


# -- item 14: a template holds every setting a preset can hold -------------------------------------------------

# A value for every preset setting, none of them the default (a new preset setting must be added here).
# (the speed tier "fast" keeps these values as they are: each is at least as approximate as the tier's own)
TEMPLATE_VALUES = {"negative_prompt": "blurry, dark", "guidance_scale": 12.5, "num_inference_steps": 23,
                   "num_frames": 10, "fps": 12, "target_fps": 20, "resolution": "384p", "scheduler": "dpm++",
                   "decode_chunk_size": 4, "guidance_schedule": "cosine", "guidance_end": 4.5, "fast": 3,
                   "skip_threshold": 0.12, "guidance_stop": 0.4, "speed": "fast"}


def test_a_template_saves_and_loads_every_setting_a_preset_can_hold(ui, photo_path):
    from i2v.planning.templates import list_templates, save_template

    assert set(TEMPLATE_VALUES) == set(PRESET_KEYS)
    c, h = ui.c, ui.create
    without_control = {k: v for k, v in TEMPLATE_VALUES.items() if k not in CONTROLS}
    assert without_control == {"scheduler": "dpm++", "decode_chunk_size": 4}
    # the page starts from a template holding what no control shows; the controls hold the rest
    save_template("start", without_control, ui.cfg)
    values = {getattr(c, CONTROLS[k]): v for k, v in TEMPLATE_VALUES.items() if k in CONTROLS}
    out = h.on_save_template({**values, c.tpl_name: "everything", c.preset: "★ start"}, EN)
    assert out[c.tpl_msg] == "✅ Saved template “everything”." and out[c.preset]["value"] == "★ everything"
    assert list_templates()["everything"].settings == TEMPLATE_VALUES
    # loading it (choosing it in the preset list) fills every control with its value ...
    out = h.on_preset("★ everything", "", None, EN)
    assert {k: out[getattr(c, CONTROLS[k])] for k in TEMPLATE_VALUES if k in CONTROLS} == \
        {k: v for k, v in TEMPLATE_VALUES.items() if k in CONTROLS}
    # ... and a job made from it carries the rest
    form = {**{getattr(c, a): None for a in CONTROLS.values()}, **values, c.prompt: "a dog", c.image: str(photo_path),
            c.preset: "★ everything", c.seed: 0, c.random_seed: True, c.count: 1, c.current: []}
    out = h.submit(form, EN)
    assert out.get(c.current), out
    job = ui.jobs.get(out[c.current][0])
    assert {k: job.params[k] for k in TEMPLATE_VALUES} == TEMPLATE_VALUES
    ui.jobs.cancel(job.id)
    # the Compare tab's sweep runs with the same settings (guidance aside, which it sweeps): one source
    out = ui.compare.submit({**form, c.sweep_values: "5, 9"}, EN)
    sweep = ui.jobs.get(out[c.sweep_job][0])
    assert {k: sweep.params[k] for k in TEMPLATE_VALUES if k != "guidance_scale"} == \
        {k: v for k, v in TEMPLATE_VALUES.items() if k != "guidance_scale"} and sweep.params["values"] == [5.0, 9.0]
    ui.jobs.cancel(sweep.id)
    # constant guidance: the end slider's value is not kept
    out = h.on_save_template({**values, c.schedule: "constant", c.tpl_name: "flat", c.preset: "standard"}, EN)
    assert "guidance_end" not in list_templates()["flat"].settings


# -- issue 28, finding 7 (and finding 9's History items): one restore for Reuse and a dropped file -----------

def _run(jobs, job):
    jobs.execute(jobs.store.claim(jobs.worker))
    done = jobs.get(job.id)
    assert done.status == "done", (done.kind, done.error_code, done.error_params)
    return done


def _form(ui, out: dict) -> dict:
    """The Create tab's form in an answer (by component name), without the messages and the picture."""
    from i2v.ui.common import control_names

    names = (*control_names(), "segments", "storyboard", "preset", "manual")
    return {n: out[getattr(ui.c, n)] for n in names if getattr(ui.c, n) in out}


@pytest.mark.heavy
def test_reuse_and_a_dropped_file_give_the_same_form_for_every_kind_of_result(ui, photo_path):
    """A 3-segment video dropped on History restored Length 1 and no storyboard while Reuse kept both; a
    smoothing of a smoothed video was "not a settings file of this studio".  Now both doors take one function
    (i2v.studio.restorable) and one form (i2v.ui.common.restore_form), for each kind of result."""
    from i2v.jobs import AUTOTUNE

    c, jobs = ui.c, ui.jobs
    base = dict(image=str(photo_path), num_inference_steps=2, num_frames=4, resolution="256p", seed=3)
    gen = _run(jobs, jobs.submit_generate(prompt="waves", preset="preview", speed="fast", **base))
    long = _run(jobs, jobs.submit_long(prompt="a boat", segments=3, storyboard="a boat\na wave\na gull",
                                       **{**base, "num_frames": 6}))
    smooth = _run(jobs, jobs.submit_smooth(jobs.abs(gen.result["video"]), factor=2, loop="pingpong"))
    twice = _run(jobs, jobs.submit_smooth(jobs.abs(smooth.result["video"]), factor=2))
    long_smooth = _run(jobs, jobs.submit_smooth(jobs.abs(long.result["video"]), factor=2))
    tuned = _run(jobs, jobs.submit_params(AUTOTUNE, jobs.tune_params(prompt="waves", target_motion="natural",
                                                                     draft_steps=2, draft_frames=4, **base)))
    items = ui.history.items()
    # (Quick look's guidance, but not its steps, frames or size: the preset shown is custom)
    want = {gen.id: ("waves", 1, "", "custom", "fast", 7.0), long.id: ("a boat", 3, "a boat\na wave\na gull",
                                                                      "custom", "exact", 9.0),
            smooth.id: ("waves", 1, "", "custom", "fast", 7.0), twice.id: ("waves", 1, "", "custom", "fast", 7.0),
            long_smooth.id: ("a boat", 3, "a boat\na wave\na gull", "custom", "exact", 9.0)}
    chosen = jobs.metadata(tuned)["params"]["guidance_scale"]
    want[tuned.id] = ("waves", 1, "", "custom", "exact", chosen)
    assert {j.id for j in items} >= set(want)
    for i, job in enumerate(items):
        if job.id not in want:
            continue
        picked = ui.history.pick(type("E", (), {"index": i})(), EN)[c.picked]
        reused = ui.history.reuse(picked, EN)
        form = _form(ui, reused)
        assert (form["prompt"], form["segments"], form["storyboard"], form["preset"], form["speed_tier"],
                form["guidance"]) == want[job.id], job.kind
        assert reused[c.tabs].selected == "create"
        video = jobs.abs(job.result["video"])
        for dropped in (video, video.with_suffix(".json")):
            out = ui.history.restore(str(dropped), EN)
            assert out[c.hist_msg] == f"Settings restored from {dropped.name}.", out[c.hist_msg]
            assert _form(ui, out) == form, (job.kind, dropped.name)
    # the smoothed items have a caption of their own (it read "×2 · g=None · None steps ·")
    captions = dict(zip([j.id for j in items], [cap for _, cap in ui.history.gallery_value("en")]))
    name = jobs.abs(smooth.result["video"]).name
    assert captions[twice.id] == "smoothed ×2 · 32 fps · from " + (name if len(name) <= 60 else name[:59] + "…")
    assert captions[smooth.id] == f"smoothed ×2 · 16 fps · pingpong · from {jobs.abs(gen.result['video']).name}"
    assert "None" not in "".join(captions.values())
    assert dict(zip([j.id for j in items], [cap for _, cap in ui.history.gallery_value("zh")]))[twice.id] \
        .startswith("平滑 ×2")


def test_a_restored_preset_is_shown_only_while_the_values_are_its_own_and_a_job_records_it(ui, photo_path, tmp_path):
    """After Reuse of a Quick look result the preset showed "Balanced default" and later jobs recorded
    "preset": "standard"."""
    c, h = ui.c, ui.create
    quick = sidecar(tmp_path / "quick.json", preset="preview", guidance_scale=7.0, num_inference_steps=30,
                    num_frames=8, resolution="384p", fps=8)
    out = ui.history.restore(str(quick), EN)
    assert out[c.preset] == "preview"
    changed = ui.history.restore(str(sidecar(tmp_path / "mine.json", preset="preview", guidance_scale=12.0)), EN)
    assert changed[c.preset] == "custom"  # Quick look's guidance is 7: these values are not Quick look's
    assert ("自定义（恢复的参数）", "custom") in __import__("i2v.ui.common", fromlist=["choices"]).choices("zh")
    form = {**{getattr(c, a): None for a in CONTROLS.values()}, **{k: v for k, v in changed.items()
                                                                  if k in set(c(*CONTROLS.values()))},
            c.preset: changed[c.preset], c.image: str(photo_path), c.count: 1, c.current: [], c.segments: 1,
            c.storyboard: "", c.target_motion: ""}
    form[c.seed], form[c.random_seed] = 5, False
    job = ui.jobs.get(h.submit(form, EN)[c.current][0])
    assert job.params.get("preset") is None and job.params["guidance_scale"] == 12.0  # not "standard"
    ui.jobs.cancel(job.id)


def test_reuse_and_a_reload_bring_the_picture_back_while_the_studio_keeps_it(ui, photo_path):
    c, jobs = ui.c, ui.jobs
    job = jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=2,
                               resolution="256p")
    kept = jobs.abs(job.params["image"])
    shown = next(iter(ui.create.reconnect([job.id], EN)))  # a reloaded page, while the job waits
    assert shown[c.image] == str(kept) and shown[c.prompt] == "waves" and shown[c.segments] == 1
    _run(jobs, job)
    picked = ui.history.pick(type("E", (), {"index": 0})(), EN)[c.picked]
    assert not kept.is_file() and c.image not in ui.history.reuse(picked, EN)  # removed once its job ended
    again = jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=2,
                                 resolution="256p")  # the same picture, kept again while this job waits
    assert kept.is_file() and ui.history.reuse(picked, EN)[c.image] == str(kept)
    jobs.cancel(again.id)


def test_a_long_videos_file_dropped_through_the_page_event_restores_its_length_and_storyboard(app):
    """Through the door the browser uses (the upload, then the drop zone's event in the queue): a 3-segment
    video's sidecar fills Length 3 and its storyboard, and the preset list shows custom (it was 1 and empty)."""
    base = app.url.rstrip("/")
    cfg = httpx.get(base + "/config").json()
    comps = {c["id"]: c for c in cfg["components"]}
    zone = next(c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "restore-file")
    dep = next(d for d in cfg["dependencies"] if [zone, "upload"] in [list(t) for t in d.get("targets", [])])
    fn = dep.get("id", cfg["dependencies"].index(dep))
    side = {"app": "i2v-studio", "kind": "long_video",
            "params": {"prompt": "a boat", "guidance_scale": 9.5, "num_inference_steps": 20, "num_frames": 8,
                       "segments": 3, "storyboard": ["a boat", "a wave", "a gull"], "speed": "exact"}}
    path = upload(base, "long.json", json.dumps(side).encode()).json()[0]
    msgs = join(base, fn, [{"path": path, "orig_name": "long.json", "meta": {"_type": "gradio.FileData"}}])
    done = next(m for m in msgs if m.get("msg") == "process_completed")
    assert done["success"], json.dumps(done)[-600:]
    by_elem = {}
    for out_id, value in zip(dep["outputs"], done["output"]["data"]):
        elem = comps[out_id].get("props", {}).get("elem_id")
        by_elem[elem] = value.get("value", value) if isinstance(value, dict) and "__type__" in value else value
    assert by_elem["segments"] == 3 and by_elem["storyboard"] == "a boat\na wave\na gull", by_elem
    assert by_elem["guidance"] == 9.5 and by_elem["preset"] == "custom"


@pytest.mark.heavy
def test_reuse_of_a_custom_result_runs_what_it_ran_sampler_included(ui, photo_path, tmp_path):
    """A result that matched no tier (fast's sampler with DeepCache N = 4) records speed custom; restored, the
    preset list says custom and the job runs its sampler too, which no control shows."""
    c, h = ui.c, ui.create
    side = sidecar(tmp_path / "custom.json", speed="custom", scheduler="dpm++", fast=4, num_inference_steps=20,
                   guidance_stop=0.5, decode_chunk_size=4, preset="standard")
    out = ui.history.restore(str(side), EN)
    assert (out[c.speed_tier], out[c.fast], out[c.preset]) == ("custom", 4, "custom")
    assert out[c.restored] == {"scheduler": "dpm++", "decode_chunk_size": 4}
    form = {**{getattr(c, a): None for a in CONTROLS.values()},
            **{k: v for k, v in out.items() if k in set(c(*CONTROLS.values()))}, c.restored: out[c.restored],
            c.preset: out[c.preset], c.image: str(photo_path), c.count: 1, c.current: [], c.segments: 1,
            c.storyboard: "", c.target_motion: "", c.seed: out[c.seed], c.random_seed: False}
    job = ui.jobs.get(h.submit(form, EN)[c.current][0])
    ran = {k: job.params.get(k) for k in ("speed", "scheduler", "fast", "num_inference_steps", "decode_chunk_size",
                                          "preset")}
    assert ran == {"speed": "custom", "scheduler": "dpm++", "fast": 4, "num_inference_steps": 20,
                   "decode_chunk_size": 4, "preset": None}
    ui.jobs.cancel(job.id)
