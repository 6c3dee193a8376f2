"""Long videos (issue 22): joins measured on synthetic clips whose right answer is known, the long job
through the job service (segments committed, resumed, protected from retention), and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2v.base.config import load_config
from i2v.base.errors import InvalidInput
from i2v.media.joins import (ColourReference, join, join_windows, joined_length, match_colour, next_picture_index,
                             seam_scores)
from i2v.planning.longplan import plan_long, segments_for

from .conftest import ROOT
from .synthetic import clip_from, panning_texture

BIAS = (14, -6, -12)  # each synthetic clip settles into colours this far (RGB) from its picture
SPEED = 3  # px/frame


def scene() -> np.ndarray:
    return np.clip(panning_texture(), 0, 255).astype(np.uint8)[:, :256]


def chain(method: str, strength: float, overlap: int, segments: int = 4, frames: int = 16) -> np.ndarray:
    first = clip_from(scene(), frames, SPEED, BIAS)
    ref = ColourReference.of(first[1:])
    video = first
    for _ in range(segments - 1):
        nxt = match_colour(clip_from(video[next_picture_index(len(video), overlap)], frames, SPEED, BIAS), ref,
                           method, strength)
        video = join(video, nxt, overlap)
    return video


@pytest.mark.parametrize("method", ["lab", "histogram"])
def test_matched_and_blended_joins_score_as_ordinary_frame_changes(method):
    video = chain(method, 1.0, overlap=2)
    assert len(video) == joined_length(16, 4, 2)
    seams = seam_scores(video, join_windows(16, 4, 2))
    assert len(seams) == 3 and all(s["score"] <= 1.5 for s in seams), seams


def test_without_matching_the_drift_shows_at_every_join():
    seams = seam_scores(chain("off", 0.0, overlap=0), join_windows(16, 4, 0))
    assert all(s["score"] > 3 and s["colour_ratio"] > 3 for s in seams), seams
    half = seam_scores(chain("lab", 0.5, overlap=0), join_windows(16, 4, 0))
    assert all(h["score"] < o["score"] for h, o in zip(half, seams)) and half[0]["score"] > 1.5, half  # a dial


def test_join_drops_the_repeated_picture_and_cross_fades_the_overlap():
    a = np.stack([np.full((4, 4, 3), 10 * i, np.uint8) for i in range(8)])  # frame i is gray 10 i
    b = np.stack([np.full((4, 4, 3), 10 * (5 + i) + 3, np.uint8) for i in range(8)])  # from a's frame 5, +3
    out = join(a, b, 2)
    assert len(out) == joined_length(8, 2, 2) == 13
    assert out[:6, 0, 0, 0].tolist() == [0, 10, 20, 30, 40, 50]  # a up to the picture, which b does not repeat
    assert out[6, 0, 0, 0] == round(60 * 2 / 3 + 63 / 3) and out[7, 0, 0, 0] == round(70 / 3 + 73 * 2 / 3)
    assert out[8:, 0, 0, 0].tolist() == [83, 93, 103, 113, 123]
    assert join_windows(8, 2, 2) == [(6, 8)]


def test_plan_checks_everything_before_work():
    cfg = load_config(model="tiny")
    plan = plan_long(cfg, prompt="a dog", frames=16, segments=3, storyboard="a dog walks\n\n a dog runs \n")
    assert plan.prompts == ("a dog walks", "a dog runs", "a dog runs") and plan.overlap == 2
    assert plan_long(cfg, prompt="a dog", frames=16, storyboard=["x", "y"]).segments == 2
    for bad in ({"segments": 0}, {"segments": 99}, {"segments": "two"}, {"segments": 2.5},
                {"segments": 1, "storyboard": "a\nb"}, {"overlap": 14}, {"colour": "sepia"},
                {"colour_strength": 2}, {"storyboard": "x" * 9000}, {"storyboard": {"a": 1}}):
        with pytest.raises(InvalidInput):
            plan_long(cfg, prompt="a dog", frames=16, **bad)
    assert segments_for(2, 16, 8, 2, cfg) == 1 and segments_for(5, 16, 8, 2, cfg) == 3  # 16, 29, 42 frames
    with pytest.raises(InvalidInput):
        segments_for(600, 16, 8, 2, cfg)


# -- the long job through the job service, frames from a synthetic source -----------------------------

@pytest.fixture
def synthetic_frames(studio, monkeypatch):
    """The tiny engine decodes to a synthetic clip of its job's picture (known motion, a colour bias per
    clip): everything else (requests, engine loop, commits, the store) is the real path."""
    engine = studio.engine()
    calls = []

    def decode_job(latents, job, timings=None):
        calls.append(job.seed)
        return clip_from(np.asarray(job.image), job.num_frames, SPEED, BIAS).astype(np.float32) / 255.0
    monkeypatch.setattr(engine, "decode_job", decode_job)
    return calls


def submit(jobs, tmp_path, **kw):
    pic = tmp_path / "scene.png"
    Image.fromarray(scene()).save(pic)
    base = dict(image=str(pic), prompt="a slow pan", num_inference_steps=2, num_frames=16, width=256, height=192,
                seed=7)
    return jobs.submit_long(**{**base, **kw})


def run_next(jobs):
    job = jobs.store.claim(jobs.worker)
    jobs.execute(job)
    return jobs.store.get(job.id)


@pytest.mark.heavy
def test_a_long_job_commits_each_segment_and_its_joins_are_invisible(studio, synthetic_frames, tmp_path):
    from i2v.jobs import JobService, SEGMENT

    jobs = JobService(studio)
    job = submit(jobs, tmp_path, segments=3, storyboard="a slow pan\na slow pan right")
    done = run_next(jobs)
    assert done.status == "done", (done.error_code, done.error_params)
    s = done.result["summary"]
    assert synthetic_frames == [7, 8, 9] and s["made"] == 3 and s["frames"] == joined_length(16, 3, 2)
    assert all(x["score"] <= 1.5 for x in s["seams"]) and len(s["seams"]) == 2, s["seams"]
    kids = jobs.store.list(parent=job.id, kinds=[SEGMENT], newest_first=False)
    assert [k.params["segment"] for k in kids] == [0, 1, 2]
    assert [k.params["prompt"] for k in kids] == ["a slow pan", "a slow pan right", "a slow pan right"]
    meta = json.loads((jobs.outputs / s["metadata"]).read_text())
    assert meta["kind"] == "long_video" and meta["params"]["storyboard"][1] == "a slow pan right"
    assert [x["seed"] for x in meta["segments"]] == [7, 8, 9] and meta["joins"]["colour"] == "lab"
    from i2v.media.video import read_frames

    assert len(read_frames(jobs.outputs / s["video"])) == s["frames"]
    # each segment's next picture is kept losslessly beside it, and owned by its row
    for k in kids:
        assert any(f.endswith(".next.png") for f in k.files) and (jobs.outputs / k.files[-1]).is_file()


@pytest.mark.heavy
def test_a_cancelled_long_job_resumes_from_its_last_committed_segment(studio, synthetic_frames, tmp_path,
                                                                      monkeypatch):
    from i2v.base.errors import Cancelled
    from i2v.jobs import JobService

    jobs = JobService(studio)
    job = submit(jobs, tmp_path, segments=3)
    engine = studio.engine()
    decode = engine.decode_job

    def cancelled_in_second(latents, job_, timings=None):  # the user's Stop arrives while segment 2 runs
        if job_.seed == 8 and jobs.get(job.id).attempts == 1:
            jobs.store.cancel(job.id)
            raise Cancelled()
        return decode(latents, job_, timings)
    monkeypatch.setattr(engine, "decode_job", cancelled_in_second)
    stopped = run_next(jobs)
    assert stopped.status == "cancelled" and synthetic_frames == [7], (stopped.error_code, stopped.error_params)
    assert jobs.requeue(job.id)
    done = run_next(jobs)
    assert done.status == "done" and done.result["summary"]["made"] == 2, (done.error_code, done.error_params)
    assert synthetic_frames == [7, 8, 9]  # segment 1 was not made again
    assert all(x["score"] <= 1.5 for x in done.result["summary"]["seams"])


@pytest.mark.heavy
def test_retention_leaves_the_segments_of_a_long_video_being_made(studio, synthetic_frames, tmp_path):
    from i2v.jobs import JobService

    studio.cfg.data["retention"]["max_total_gb"] = 1e-6  # everything but the newest result would go
    jobs = JobService(studio)
    submit(jobs, tmp_path, segments=3)
    done = run_next(jobs)
    assert done.status == "done", (done.error_code, done.error_params)
    assert done.result["summary"]["frames"] == joined_length(16, 3, 2)


@pytest.mark.heavy
def test_retention_in_another_process_leaves_a_running_long_video(studio, synthetic_frames, tmp_path, monkeypatch):
    """issue 28: with --workers 2 and a tiny retention budget, a worker process beside the long job's removed
    its segments (Studio.protected lived in one process) and the job ended with an internal error naming a
    server path.  Here a second studio on the same folder (another process's, its own protected set) runs its
    retention while the third segment is made: what the unfinished job owns is read from the store."""
    from i2v.base.config import load_config
    from i2v.jobs import JobService
    from i2v.jobs.store import active_files
    from i2v.studio import Studio

    jobs = JobService(studio)
    plain = jobs.submit_generate(image=str(_scene_file(tmp_path)), prompt="a pan", num_inference_steps=2,
                                 num_frames=16, width=256, height=192, seed=1)
    assert run_next(jobs).id == plain.id and jobs.get(plain.id).status == "done"
    cfg = load_config(model="tiny")
    cfg.data["retention"]["max_total_gb"] = 1e-6  # everything not kept goes
    other = Studio(cfg, outputs=studio.outputs, log=lambda m: None, owned=active_files)  # removes the plain one
    assert not (jobs.outputs / jobs.get(plain.id).result["video"]).exists()
    job = submit(jobs, tmp_path, segments=3)
    engine = studio.engine()
    decode = engine.decode_job
    swept = []

    def beside(latents, job_, timings=None):  # the other process's retention, while segments 1-2 wait
        if job_.seed == 9:
            swept.extend(other.retention())
        return decode(latents, job_, timings)
    monkeypatch.setattr(engine, "decode_job", beside)
    done = run_next(jobs)
    assert done.status == "done", (done.error_code, done.error_message)
    assert synthetic_frames == [1, 7, 8, 9] and swept == []
    kids = jobs.store.list(parent=job.id, newest_first=False)
    assert [k.params["segment"] for k in kids] == [0, 1, 2]
    # once the job is done, its segments are results like any other: retention may take them
    assert other.retention() and not (jobs.outputs / kids[0].result["video"]).exists()


def test_a_lost_worker_gives_a_landed_segment_its_row(studio, synthetic_frames, tmp_path, monkeypatch):
    """A pool's worker process dies after a segment's files landed, before its row (issue 28: a child's row
    and its files are one unit): the segment gets its row and the re-queued job does not make it again."""
    from i2v.jobs import JobService, JobStore

    jobs = JobService(studio)
    job = submit(jobs, tmp_path, segments=2)
    real = JobStore.add_child

    def dies(self, *a, **kw):  # the process ends here (KeyboardInterrupt passes through the job's runner)
        raise KeyboardInterrupt
    monkeypatch.setattr(JobStore, "add_child", dies)
    with pytest.raises(KeyboardInterrupt):
        run_next(jobs)
    monkeypatch.setattr(JobStore, "add_child", real)
    planned = jobs.get(job.id).files
    assert len(planned) == 4 and jobs.store.list(parent=job.id) == []
    assert jobs.worker_lost(jobs.worker, "test: the process died") == [job.id]
    (kid,) = jobs.store.list(parent=job.id)
    assert sorted(kid.files) == sorted(planned) and kid.params["segment"] == 0
    done = run_next(jobs)
    assert done.status == "done" and done.result["summary"]["made"] == 1 and synthetic_frames == [7, 8]


def _scene_file(tmp_path):
    pic = tmp_path / "scene.png"
    Image.fromarray(scene()).save(pic)
    return pic


def test_retention_never_enters_hidden_folders(studio, tmp_path):
    """issue 28: retention walked into .damaged-store-*/ and removed its what-happened.json (the `jobs`
    notice then read "On ? … damaged (?) … ? results")."""
    from i2v.jobs.store import store_notes

    aside = studio.outputs / ".damaged-store-20260101-000000"
    aside.mkdir(parents=True)
    (aside / "what-happened.json").write_text(json.dumps({"what": "damaged", "detail": "test", "when": 1.0,
                                                          "imported": 2}))
    old = time.time() - 400 * 86400
    os.utime(aside / "what-happened.json", (old, old))
    studio.cfg.data["retention"].update(max_total_gb=1e-9, max_age_days=1)
    studio.retention()
    assert (aside / "what-happened.json").exists()
    assert store_notes(studio.outputs)[0]["imported"] == 2


# -- the CLI, as a subprocess ------------------------------------------------------------------------

def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "i2v", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"}, **kw)


TINY = ("--model", "tiny", "--steps", "2", "--frames", "8", "--resolution", "256p")


@pytest.mark.heavy
def test_cli_segments_storyboard_seconds_and_extend(tmp_path, photo_path):
    out = tmp_path / "outputs"
    board = tmp_path / "board.txt"
    board.write_text("海浪拍打礁石\n镜头缓慢推进\n", encoding="utf-8")
    r = cli("generate", *TINY, "--image", str(photo_path), "--prompt", "waves", "--storyboard", str(board),
            "--outputs", str(out), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert len(s["segments"]) == 2 and s["frames"] == joined_length(8, 2, 2) and "[segment 2/2]" in r.stderr
    meta = json.loads(Path(s["metadata"]).read_text())
    assert meta["params"]["storyboard"] == ["海浪拍打礁石", "镜头缓慢推进"]
    # analyze scores a long video's joins from its own metadata, and any video's at the frames given
    r = cli("analyze", s["video"], "--json")
    assert r.returncode == 0 and [x["frames"] for x in json.loads(r.stdout)["seams"]] == [[6, 8]], r.stderr
    r = cli("analyze", s["video"], "--joins", "4,9", "--json")
    assert [x["frames"] for x in json.loads(r.stdout)["seams"]] == [[4, 4], [9, 9]], r.stderr
    r = cli("analyze", s["video"], "--joins", "99")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # --seconds: 2 s at 8 fps from 8-frame segments (8, 13, 18 frames): 3 segments
    r = cli("generate", *TINY, "--image", str(photo_path), "--prompt", "waves", "--seconds", "2", "--fps", "8",
            "--outputs", str(out), "--json")
    assert r.returncode == 0 and len(json.loads(r.stdout)["segments"]) == 3, r.stderr
    # extend the first long video by one segment with a new prompt: it comes first, whole
    r = cli("extend", s["video"], "--model", "tiny", "--steps", "2", "--frames", "8", "--prompt", "the tide goes out",
            "--segments", "1", "--outputs", str(out), "--json")
    assert r.returncode == 0, r.stderr
    e = json.loads(r.stdout)
    assert e["frames"] == s["frames"] + 8 - 1 - 2 and len(e["seams"]) == 2  # its source's join, then the new one
    assert json.loads(Path(e["metadata"]).read_text())["extends"] == Path(s["video"]).name
    # wrong input: one line, exit 2, before any model work
    for bad in (("--segments", "0"), ("--seconds", "-1"), ("--storyboard", str(tmp_path / "none.txt")),
                ("--colour-match", "sepia")):
        r = cli("generate", *TINY, "--image", str(photo_path), "--prompt", "waves", *bad, "--outputs", str(out))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)
    r = cli("extend", str(tmp_path / "elsewhere.mp4"), "--model", "tiny", "--prompt", "x", "--outputs", str(out))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.heavy
def test_cli_kill_9_during_the_third_segment_then_requeue_makes_only_the_rest(tmp_path, photo_path):
    """kill -9 while segment 3 of 4 runs: after Re-queue, segments 1-2 are not made again (the job's
    segment rows and the summary's count of segments made), and the final MP4 is whole."""
    from i2v.jobs import JobStore
    from i2v.jobs.store import DB_NAME
    from i2v.media.video import read_frames

    out = tmp_path / "outputs"
    proc = subprocess.Popen([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--steps", "12",
                             "--frames", "8", "--resolution", "256p", "--image", str(photo_path), "--prompt", "waves",
                             "--segments", "4", "--seed", "3", "--outputs", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 300
        store = None
        while time.time() < deadline:
            if store is None and (out / DB_NAME).exists():
                store = JobStore(out)
            job = store and next(iter(store.list(kinds=["long"])), None)
            if job and (job.progress or {}).get("segment") == 3 and (job.progress or {}).get("step", 0) >= 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the long job never reached its third segment")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = [k.id for k in store.list(parent=job.id, newest_first=False)]
    assert len(first) == 2
    r = cli("requeue", job.id, "--outputs", str(out))
    assert r.returncode == 0, r.stderr
    r = cli("worker", "--model", "tiny", "--outputs", str(out), "--exit-when-idle")
    assert r.returncode == 0, r.stderr
    done = store.get(job.id)
    assert done.status == "done", (done.error_code, done.error_params)
    kids = store.list(parent=job.id, newest_first=False)
    assert [k.id for k in kids][:2] == first and [k.params["segment"] for k in kids] == [0, 1, 2, 3]
    s = done.result["summary"]
    assert s["made"] == 2 and len(read_frames(out / s["video"])) == s["frames"] == joined_length(8, 4, 2)
    assert [k.params["seed"] for k in kids] == [3, 4, 5, 6]


@pytest.mark.heavy
def test_a_batch_entry_with_segments_is_a_long_video_and_a_rerun_skips_it(studio, synthetic_frames, tmp_path):
    import yaml

    from i2v.jobs import JobService
    from i2v.jobs.batch import run_batch

    Image.fromarray(scene()).save(tmp_path / "scene.png")
    f = tmp_path / "jobs.yaml"
    f.write_text(yaml.safe_dump([
        {"image": "scene.png", "prompt": "a pan", "width": 256, "height": 192, "frames": 16, "steps": 2, "seed": 1,
         "segments": 2},
        {"image": "scene.png", "prompt": "a pan", "width": 256, "height": 192, "frames": 16, "steps": 2, "seed": 4,
         "storyboard": ["a pan left", "a pan right", "a pan up"], "colour": "histogram"},
        {"image": "scene.png", "prompt": "a pan", "segments": 0},
    ]), encoding="utf-8")
    jobs = JobService(studio)
    first = run_batch(jobs, f)
    assert len(first.done) == 2 and [x["entry"] for x in first.failed] == [3], first.failed
    assert synthetic_frames == [1, 2, 4, 5, 6]
    long = [jobs.get(d["job"]) for d in first.done]
    assert [j.kind for j in long] == ["long", "long"] and long[1].params["colour"] == "histogram"
    again = run_batch(jobs, f)
    assert len(again.skipped) == 2 and synthetic_frames == [1, 2, 4, 5, 6]


# -- the page's handlers ------------------------------------------------------------------------------

@pytest.mark.heavy
def test_page_length_storyboard_extend_history_and_reuse(ui, synthetic_frames, tmp_path):
    from i2v.ui.create import length_text
    from i2v.ui.common import long_fill

    from .conftest import EN, ZH

    c, h = ui.c, ui.create
    pic = tmp_path / "scene.png"
    Image.fromarray(scene()).save(pic)
    assert length_text(3, 16, 8, "en", 2) == "Length: **5.2 s** (42 frames)"
    assert length_text(1, 16, 8, "zh", 2) == "时长：**2.0 秒**（16 帧）"
    form = {**{getattr(c, a): None for a in ("guidance", "fps", "resolution", "schedule")},
            c.prompt: "a slow pan", c.image: str(pic), c.steps: 2, c.frames: 16, c.seed: 11, c.random_seed: False,
            c.count: 1, c.current: [], c.negative: "", c.target_fps: 16, c.guidance_end: 6.0, c.fast: 1,
            c.preset: "standard", c.segments: 1, c.storyboard: "a slow pan\na slow pan right\na slow pan up"}
    out = h.submit(form, EN)
    job = ui.jobs.get(out[c.current][0])
    assert job.kind == "long" and job.params["segments"] == 3  # the storyboard's lines, the Length at 1
    assert run_next(ui.jobs).status == "done"
    shown = {}
    for upd in h.follow([job.id], EN):
        shown.update(upd)
    assert Path(shown[c.video]).name == Path(ui.jobs.get(job.id).result["video"]).name and "Done" in shown[c.status]
    plot = shown[c.motion_plot]["value"]
    seam = plot[plot["metric"] == "seam score"]
    assert len(seam) == 41 and (seam["value"] > 0).sum() == 2 * 3  # two joins, three pairs each
    # Extend the result shown by one segment with a new prompt
    ext = h.submit_extend({**form, c.last_video: shown[c.last_video], c.prompt: "the pan stops", c.segments: 1,
                           c.storyboard: ""}, ZH)
    assert ext[c.current], ext.get(c.status)
    e = ui.jobs.get(ext[c.current][0])
    assert e.kind == "long" and e.params["segments"] == 1
    assert ui.jobs.abs(e.params["video"]) == Path(shown[c.last_video]).resolve()
    assert run_next(ui.jobs).status == "done"
    ended = ui.jobs.get(e.id).result["summary"]
    assert ended["frames"] == 42 + 16 - 1 - 2 and len(ended["segments"]) == 4  # its source's three, then one
    assert h.submit_extend({**form, c.last_video: None}, ZH)[c.status] == "请先生成一个视频：续写会接着当前显示的视频。"
    # History lists both long videos, tagged; picking one lists its segments; Reuse restores its Length
    caps = [cap for _, cap in ui.history.gallery_value("en")]
    assert sum("segments · " in cap for cap in caps) == 2, caps
    items = ui.history.items()
    i = next(k for k, j in enumerate(items) if j.id == job.id)
    picked = ui.history.pick(type("E", (), {"index": i})(), EN)
    assert picked[c.hist_msg].startswith("Segments: `") and picked[c.hist_msg].count(".mp4") == 3
    back = ui.history.reuse(picked[c.picked], EN)
    assert back[c.segments] == 3 and back[c.storyboard].splitlines()[1] == "a slow pan right"
    assert long_fill(c, {"prompt": "x"}) == {c.segments: 1, c.storyboard: ""}
    assert long_fill(c, {"segments": 2, "storyboard": ["x", "x"]}) == {c.segments: 2, c.storyboard: ""}


def test_bench_long_runs_and_reports_its_ratio():
    from i2v.bench import bench_long

    r = bench_long(segments=2, size=128, frames=4, steps=1, repeats=1, log=lambda m: None)
    assert r["long_s"] > 0 and r["one_segment_s"] > 0
    assert r["ratio_vs_one_segment"] == pytest.approx(r["long_s"] / r["one_segment_s"], rel=0.05)  # (rounded inputs)


def test_what_a_newcomer_found_long_videos(tmp_path, photo_path):
    """Each a line of the newcomer's report (issue 22's review), through the CLI as a subprocess."""
    out = tmp_path / "outputs"
    (out / "2026-01-01").mkdir(parents=True)
    fake = out / "2026-01-01" / "fake.mp4"
    fake.write_bytes(os.urandom(3000))
    r = cli("extend", str(fake), "--model", "tiny", "--prompt", "x", "--outputs", str(out))
    assert r.returncode == 2 and r.stderr.strip() == "error: fake.mp4 is not a readable video", r.stderr
    r = cli("extend", "/etc/hostname", "--model", "tiny", "--prompt", "x", "--outputs", str(out))
    assert r.returncode == 2 and "not an MP4 of the outputs folder" in r.stderr, r.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n", encoding="utf-8")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xba\xff\x00\x01")
    for board, said in ((empty, "has no prompt in it"), (binary, "not UTF-8 text"),
                        (tmp_path / "none.txt", "cannot read the storyboard")):
        r = cli("generate", *TINY, "--image", str(photo_path), "--prompt", "x", "--storyboard", str(board),
                "--outputs", str(out))
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and said in r.stderr, r.stderr
    r = cli("generate", *TINY, "--image", str(photo_path), "--prompt", "x", "--segments", "3", "--target-motion",
            "natural", "--outputs", str(out))
    assert r.returncode == 2 and "--target-motion makes one video: leave out --segments" in r.stderr, r.stderr
    assert not list(out.glob("*/*.mp4"))[1:]  # nothing made (the fake one only)


def test_the_length_line_counts_the_storyboard_and_too_many_lines_say_so():
    from i2v.ui.create import length_text

    cfg = load_config(model="tiny")
    assert length_text(1, 8, 8, "en", 2, "a\nb\n\nc\n") == length_text(3, 8, 8, "en", 2)
    with pytest.raises(InvalidInput, match="the storyboard has 10 lines: a long video has at most 8 segments"):
        plan_long(cfg, prompt="x", frames=8, storyboard="\n".join("abcdefghij"))


def test_stop_during_a_long_video_says_what_was_kept(ui, synthetic_frames, tmp_path, monkeypatch):
    from i2v.base.errors import Cancelled

    from .conftest import ZH

    jobs = ui.jobs
    job = submit(jobs, tmp_path, segments=3)
    engine = jobs.studio.engine()
    decode = engine.decode_job

    def stopped_in_second(latents, job_, timings=None):
        if job_.seed == 8:
            jobs.store.cancel(job.id)
            raise Cancelled()
        return decode(latents, job_, timings)
    monkeypatch.setattr(engine, "decode_job", stopped_in_second)
    assert run_next(jobs).status == "cancelled"
    said = {}
    for upd in ui.create.follow([job.id], ZH):
        said.update(upd)
    zh = "已停止。已完成的 1 个片段已保留：重新排队将从第 2 个片段继续。"
    en = "Stopped. The 1 finished segment(s) are kept: Re-queue goes on from segment 2."
    assert said[ui.c.status] == zh
    # one message for this outcome on every surface: the Queue's row and detail, /job, the CLI
    from i2v.ui.api import ApiHandlers
    from i2v.ui.queue import QueueHandlers

    from .conftest import EN

    queue = QueueHandlers(ui)
    row = queue.rows("zh")
    assert row[row.iloc[:, 0] == job.id].iloc[0, 3] == zh[:80]
    detail = queue.detail(job.id, "zh")[ui.c.queue_msg]
    assert zh in detail and "未写入" not in detail
    assert ApiHandlers(ui).job(job.id)["error"]["message"] == en
    r = cli("wait", job.id, "--outputs", str(jobs.outputs))
    assert r.returncode == 130 and r.stderr.strip().splitlines()[-1] == f"error: {en}", r.stderr
    # Re-queue says where it goes on from, on the page and the CLI alike
    assert queue.requeue(job.id, EN)[ui.c.queue_msg] == \
        f"Job {job.id} is queued again: it goes on from segment 2 (the 1 finished segment(s) are kept)."
    assert jobs.cancel(job.id) == "cancelled"  # cancelled again while queued: still keeps its segment
    assert ApiHandlers(ui).job(job.id)["error"]["message"] == en
    r = cli("requeue", job.id, "--outputs", str(jobs.outputs))
    assert r.returncode == 0 and "goes on from segment 2" in r.stdout, r.stderr

