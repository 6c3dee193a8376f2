"""The job store and service: submit, run, cancel, history, recovery after crashes at every stage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from i2v.base.errors import InvalidInput, OutOfResources
from i2v.jobs import CANCELLED, DONE, INTERRUPTED, QUEUED, RUNNING, JobService, JobStore

from .conftest import make_photo

ROOT = Path(__file__).resolve().parent.parent
SMALL = dict(prompt="leaves gently swaying", width=256, height=192, num_frames=4, num_inference_steps=3, seed=3)


@pytest.fixture
def jobs(studio):
    return JobService(studio, max_queued=3)


def result_files(outputs: Path) -> set[str]:
    return {p.relative_to(outputs).as_posix() for p in outputs.glob("*/*")
            if p.is_file() and p.suffix in (".mp4", ".json", ".png") and not p.name.startswith(".")}


def owned_by_done(store: JobStore) -> set[str]:
    out = set()
    for j in store.list(status=[DONE], limit=None):
        out.update(j.files)
    return out


def run_queue(jobs: JobService) -> None:
    """Run the worker until the queue is empty."""
    stop = threading.Event()
    jobs.run_worker(stop, idle=stop.set, poll=0.05)


@pytest.mark.heavy
def test_submit_run_history_and_files_owned(jobs, photo_path, monkeypatch):
    monkeypatch.setattr("i2v.jobs.service.INPUT_GRACE_S", 0.0)
    a = jobs.submit_generate(image=str(photo_path), **SMALL)
    b = jobs.submit_generate(image=str(photo_path), **{**SMALL, "seed": 4})
    assert (a.status, b.status) == (QUEUED, QUEUED) and a.params["image"].startswith(".inputs/")
    run_queue(jobs)
    a, b = jobs.get(a.id), jobs.get(b.id)
    assert (a.status, b.status) == (DONE, DONE) and a.worker == jobs.worker
    assert a.started_at <= a.finished_at <= b.started_at <= b.finished_at  # one at a time, in order
    assert [j.id for j in jobs.history()] == [b.id, a.id]
    s = jobs.summary(a)
    assert Path(s["video"]).is_file() and s["seed"] == 3 and (s["width"], s["height"]) == (256, 192)
    assert result_files(jobs.outputs) == owned_by_done(jobs.store)
    assert not list((jobs.outputs / ".inputs").iterdir())  # inputs go once no job needs them


def test_validation_at_submit_and_bounded_queue(jobs, photo_path):
    with pytest.raises(InvalidInput, match="guidance_scale"):
        jobs.submit_generate(image=str(photo_path), **{**SMALL, "guidance_scale": 99})
    with pytest.raises(InvalidInput, match="no input image"):
        jobs.submit_generate(image=None, **SMALL)
    jobs.submit_generate(image=str(photo_path), **SMALL)
    with pytest.raises(OutOfResources, match="queue is full"):  # three more do not fit: none is queued
        jobs.submit_seeds([1, 2, 3], image=str(photo_path), **SMALL)
    assert jobs.store.counts() == {QUEUED: 1}
    assert len(jobs.submit_seeds([1, 2], image=str(photo_path), **SMALL)) == 2
    with pytest.raises(OutOfResources, match="queue is full"):
        jobs.submit_generate(image=str(photo_path), **SMALL)
    assert jobs.store.counts() == {QUEUED: 3}


def test_cancel_queued_and_running(jobs, photo_path):
    queued = jobs.submit_generate(image=str(photo_path), **SMALL)
    assert jobs.cancel(queued.id) == CANCELLED
    long = jobs.submit_generate(image=str(photo_path), **{**SMALL, "num_inference_steps": 60})
    seen = []

    def on_step(info):
        seen.append(info.step)
        if info.step == 2:
            assert jobs.cancel(long.id) == RUNNING  # asked; the worker stops between steps

    job = jobs.store.claim(jobs.worker)
    jobs.execute(job, on_step=on_step)
    assert jobs.get(long.id).status == CANCELLED and max(seen) <= 4
    assert jobs.requeue(long.id) and jobs.get(long.id).status == QUEUED  # its picture was kept for that
    jobs.cancel(long.id)
    assert result_files(jobs.outputs) == set()
    assert not jobs.studio.gpu_lock.locked()
    ok = jobs.submit_generate(image=str(photo_path), **SMALL)  # the next job runs normally
    run_queue(jobs)
    assert jobs.get(ok.id).status == DONE


def test_an_internal_error_fails_its_job_not_the_worker(jobs, photo_path, monkeypatch):
    engine = jobs.studio.engine()
    real = engine.decode

    def boom(*a, **k):
        raise RuntimeError("ffmpeg read error")

    monkeypatch.setattr(engine, "decode", boom)
    bad = jobs.submit_generate(image=str(photo_path), **SMALL)
    run_queue(jobs)
    j = jobs.get(bad.id)
    assert j.status == "failed" and j.error_code == "internal" and "ffmpeg read error" in j.error_message
    monkeypatch.setattr(engine, "decode", real)
    good = jobs.submit_generate(image=str(photo_path), **SMALL)
    run_queue(jobs)
    assert jobs.get(good.id).status == DONE


def test_sweep_and_smooth_are_jobs_and_history_stays_whole(jobs, photo_path):
    """The journey that broke History: a sweep and a smooth, then History and the next generation."""
    sweep = jobs.submit_sweep([5, 9], image=str(photo_path), **{k: v for k, v in SMALL.items()})
    run_queue(jobs)
    sweep = jobs.get(sweep.id)
    assert sweep.status == DONE, sweep.error_message
    s = jobs.summary(sweep)
    assert Path(s["grid"]).is_file() and [r["guidance_scale"] for r in s["results"]] == [5.0, 9.0]
    children = jobs.store.list(parent=sweep.id)
    assert len(children) == 2 and all(c.status == DONE for c in children)
    sm = jobs.submit_smooth(jobs.summary(children[0])["video"], factor=2)
    run_queue(jobs)
    sm = jobs.get(sm.id)
    assert sm.status == DONE and jobs.summary(sm)["frames"] == 7
    gen = jobs.submit_generate(image=str(photo_path), **SMALL)
    run_queue(jobs)
    assert jobs.get(gen.id).status == DONE
    kinds = [j.kind for j in jobs.history()]
    assert kinds.count("generate") == 3 and kinds.count("smooth") == 1
    assert result_files(jobs.outputs) == owned_by_done(jobs.store)


def test_a_running_sweep_stops_by_id_and_leaves_no_grid(jobs, photo_path):
    sweep = jobs.submit_sweep([5, 9, 14], image=str(photo_path), **{**SMALL, "num_inference_steps": 30})

    def on_step(info):
        if info.step == 2:
            jobs.cancel(sweep.id)

    jobs.execute(jobs.store.claim(jobs.worker), on_step=on_step)
    assert jobs.get(sweep.id).status == CANCELLED
    assert jobs.store.list(parent=sweep.id) == [] and result_files(jobs.outputs) == set()
    nxt = jobs.submit_generate(image=str(photo_path), **SMALL)
    run_queue(jobs)
    assert jobs.get(nxt.id).status == DONE


def test_foreign_and_half_written_files_never_break_history(jobs, studio):
    res = studio.generate(studio.build_request(image=make_photo(), **SMALL))  # made before the store existed
    day = res.video.parent
    (day / "notes.json").write_text(json.dumps({"hello": "world"}))
    (day / "list.json").write_text("[1, 2]")
    (day / "broken.json").write_text("{not json")
    (day / "holiday.mp4").write_bytes(b"not ours")
    truncated = day / "101010_waves_s1_abcdef.mp4"  # our name, cut short by a crash
    truncated.write_bytes(res.video.read_bytes()[:2000])
    report = jobs.recover()
    assert report["imported"] == 1 and report["removed"] == 1 and report["skipped"] == 4
    hist = jobs.history()
    assert [jobs.summary(j)["video"] for j in hist] == [str(res.video)]
    assert not truncated.exists() and (day / "notes.json").exists() and (day / "holiday.mp4").exists()
    assert jobs.recover()["imported"] == 0  # imported once: now it is owned


def test_requeue_interrupted_and_recover_from_dead_worker(jobs, photo_path):
    job = jobs.submit_generate(image=str(photo_path), **SMALL)
    jobs.store.claim("elsewhere-but-this-host:999999999:main".replace("elsewhere-but-this-host",
                                                                      __import__("socket").gethostname()))
    jobs.recover()
    j = jobs.get(job.id)
    assert j.status == INTERRUPTED and "stopped" in j.error_message
    assert jobs.requeue(job.id) and jobs.get(job.id).status == QUEUED
    run_queue(jobs)
    assert jobs.get(job.id).status == DONE


# -- kill -9 at every stage, in a real process ----------------------------------------------------

def cli(*args, timeout=300, **kw):
    return subprocess.run([sys.executable, "-m", "i2v", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


def _wait_for(store: JobStore, job_id: str, pred, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        j = store.get(job_id)
        if pred(j):
            return j
        time.sleep(0.1)
    raise AssertionError(f"timeout waiting on {job_id}: {store.get(job_id)}")


KILL_AFTER_RENAME = """
import os, signal, sys
from i2v.media import video
real = video.os.replace
def replace(src, dst):
    real(src, dst)
    if str(dst).endswith('.json'):   # the last of the three renames: killed before the job is marked done
        os.kill(os.getpid(), signal.SIGKILL)
video.os.replace = replace
from i2v.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.heavy
@pytest.mark.parametrize("stage", ["queued", "denoising", "after_rename"])
def test_kill_9_at_each_stage_leaves_no_unowned_file(tmp_path, photo_path, stage):
    out = tmp_path / "outputs"
    base = ["--model", "tiny", "--outputs", str(out)]
    r = cli("submit", "--image", str(photo_path), "--prompt", "waves", "--width", "256", "--height", "192",
            "--frames", "4", "--steps", "40" if stage == "denoising" else "3", "--seed", "1", "--json", *base)
    assert r.returncode == 0, r.stderr
    job_id = json.loads(r.stdout)["job"]
    store = JobStore(out)
    if stage != "queued":
        code = KILL_AFTER_RENAME if stage == "after_rename" else \
            "import sys; from i2v.cli import main; sys.exit(main(sys.argv[1:]))"
        p = subprocess.Popen([sys.executable, "-c", code, "worker", *base], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        if stage == "denoising":
            _wait_for(store, job_id, lambda j: (j.progress or {}).get("step", 0) >= 3)
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=120)
        assert p.returncode == -signal.SIGKILL
        assert store.get(job_id).status == RUNNING  # what the crash left
    # restart: the worker settles the store, then runs what is queued
    r = cli("worker", "--exit-when-idle", "--requeue-interrupted", *base)
    assert r.returncode == 0, r.stderr
    j = store.get(job_id)
    assert j.status == DONE, (j.status, j.error_message)
    if stage == "after_rename":
        assert "recovered" in (j.note or "")
    assert result_files(out) == owned_by_done(store)
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


@pytest.mark.heavy
def test_file_size_limit_gives_exit_3_and_publishes_nothing(tmp_path, photo_path):
    """RLIMIT_FSIZE cuts the MP4 short (the encoder is killed by SIGXFSZ); reading it back catches it."""
    code = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (700_000, 700_000));"
            "from i2v.cli import main; sys.exit(main(sys.argv[1:]))")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", code, "generate", "--model", "tiny", "--image", str(photo_path),
                        "--prompt", "waves", "--width", "512", "--height", "512", "--frames", "16", "--steps", "2",
                        "--outputs", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and "could not be written completely" in r.stderr
    assert not list(out.rglob("*.mp4")) and not [p for p in out.rglob("*") if ".partial" in p.name]
    job = JobStore(out).list()[0]
    assert (job.status, job.error_kind, job.error_code) == ("failed", "out_of_resources", "write_incomplete")


def test_a_store_from_an_earlier_version_gains_the_new_columns(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "studio.db")
    db.execute("CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, kind TEXT NOT NULL,"
               " status TEXT NOT NULL, params TEXT NOT NULL, parent TEXT, client TEXT, created_at REAL NOT NULL,"
               " started_at REAL, finished_at REAL, worker TEXT, progress TEXT, preview BLOB,"
               " cancel_requested INTEGER NOT NULL DEFAULT 0, files TEXT, result TEXT, error_code TEXT,"
               " error_message TEXT, error_hint TEXT, note TEXT, attempts INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO jobs(id, kind, status, params, created_at) VALUES ('old', 'generate', 'queued', '{}', 1)")
    db.commit()
    db.close()
    store = JobStore(tmp_path)
    assert store.get("old").status == QUEUED and store.cancel("old") == CANCELLED
    assert store.get("old").error_kind == "cancelled"


def test_a_failing_heartbeat_never_stops_the_worker(jobs, photo_path, monkeypatch):
    """Bookkeeping must not stop work: a heartbeat that raises (a bug: once, a Path in the model's fallback
    record was not JSON) is logged once and the queued job still runs."""
    import threading

    logs = []
    jobs.log = logs.append
    monkeypatch.setattr(jobs.store, "worker_seen", lambda *a, **k: (_ for _ in ()).throw(TypeError("not JSON")))
    job = jobs.submit_generate(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=2,
                               resolution="256p")
    stop = threading.Event()
    th = threading.Thread(target=jobs.run_worker, args=(stop,), kwargs={"beat": 0.05}, daemon=True)
    th.start()
    try:
        for _ in range(600):
            if jobs.get(job.id).final:
                break
            threading.Event().wait(0.1)
    finally:
        stop.set()
        th.join(timeout=30)
    assert jobs.get(job.id).status == "done"
    assert sum("heartbeat failed" in m for m in logs) == 1


# -- issue 28: children (a long video's segments, an auto-tune's drafts) and their files are one unit ---------

KILL_AFTER_RENAME_OF = """
import os, signal, sys
from i2v.media import video
real = video.os.replace
def replace(src, dst):
    real(src, dst)
    if str(dst).endswith({suffix!r}):   # this file of a child is in place; its row is not yet written
        os.kill(os.getpid(), signal.SIGKILL)
video.os.replace = replace
from i2v.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _killed_worker(out: Path, suffix: str) -> None:
    p = subprocess.run([sys.executable, "-c", KILL_AFTER_RENAME_OF.format(suffix=suffix), "worker", "--model", "tiny",
                        "--outputs", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]


def _queue_only(out: Path) -> JobService:
    from i2v.base.config import load_config
    from i2v.studio import Studio

    return JobService(Studio(load_config(model="tiny"), outputs=out, log=lambda m: None))


@pytest.mark.heavy
def test_kill_9_after_a_segments_files_before_its_row_resumes_with_that_segment(tmp_path, photo_path):
    """issue 28: kill -9 after a segment's .next.png was committed, before its row: the restart imported the
    segment as a separate `generate` in History and the re-queued job made segment 0 again."""
    out = tmp_path / "outputs"
    queue = _queue_only(out)
    job = queue.submit_long(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=8,
                            resolution="256p", seed=3, segments=2)
    _killed_worker(out, ".next.png")
    store = JobStore(out)
    left = store.get(job.id)
    assert left.status == RUNNING and store.list(parent=job.id) == []  # the crash: files in place, no row
    first = next(f for f in left.files if f.endswith(".mp4"))
    r = cli("worker", "--model", "tiny", "--outputs", str(out), "--exit-when-idle", "--requeue-interrupted")
    assert r.returncode == 0, r.stderr
    done = store.get(job.id)
    assert done.status == DONE, (done.status, done.error_message)
    kids = store.list(parent=job.id, newest_first=False)
    assert [k.params["segment"] for k in kids] == [0, 1] and kids[0].result["video"] == first
    assert done.result["summary"]["made"] == 1  # segment 0 was not made again
    assert {j.kind for j in store.list(limit=None)} == {"long", "segment"}  # nothing imported as a generation
    assert [j.id for j in queue.history()] == [job.id]
    assert result_files(out) == owned_by_done(store)


@pytest.mark.heavy
def test_kill_9_after_a_drafts_files_before_its_row_resumes_the_auto_tune(tmp_path, photo_path):
    """issue 28: kill -9 just after an auto-tune draft's files landed, before its row: after the restart the
    job was `done` ("recovered") with the draft as its result and no autotune record."""
    out = tmp_path / "outputs"
    queue = _queue_only(out)
    job = queue.submit_autotune(image=str(photo_path), prompt="waves", num_inference_steps=2, num_frames=4,
                                target_motion="subtle", draft_steps=1, seed=2)
    _killed_worker(out, ".json")  # a draft's three files: the sidecar is renamed last
    store = JobStore(out)
    assert store.get(job.id).status == RUNNING and store.list(parent=job.id) == []
    r = cli("worker", "--model", "tiny", "--outputs", str(out), "--exit-when-idle", "--requeue-interrupted")
    assert r.returncode == 0, r.stderr
    done = store.get(job.id)
    assert done.status == DONE and "recovered" not in (done.note or ""), (done.status, done.note)
    s = done.result["summary"]
    drafts = store.list(parent=job.id, newest_first=False)
    assert s["autotune"] is not None and s["autotune"]["drafts"] and "part_of" not in done.result["meta"]
    assert drafts[0].kind == "draft" and "recovered" in drafts[0].note
    assert s["drafts_made"] == len(drafts) - 1  # the draft that landed before the crash was not made again
    assert {j.kind for j in store.list(limit=None)} == {"autotune", "draft"}
    assert result_files(out) == owned_by_done(store)


@pytest.mark.heavy
def test_a_full_disk_during_a_long_video_leaves_nothing_and_names_no_server_path(jobs, photo_path, monkeypatch):
    """issue 28: the failed segment's mp4/json/png stayed behind (imported as a result at the next start) and
    the message named the absolute folder."""
    import errno

    from i2v.workflows import longvideo

    png = longvideo.png_to
    calls = []

    def full(path, frame):  # the second segment's next picture does not fit on the disk
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return png(path, frame)
    monkeypatch.setattr(longvideo, "png_to", full)
    job = jobs.submit_long(image=str(photo_path), **SMALL, segments=3)
    run_queue(jobs)
    failed = jobs.get(job.id)
    assert failed.status == "failed" and failed.error_code == "disk_full", failed.error_message
    assert str(jobs.outputs.parent) not in failed.error_message and jobs.outputs.name + "/" in failed.error_message
    kids = jobs.store.list(parent=job.id)
    assert [k.params["segment"] for k in kids] == [0] and failed.files == []
    assert result_files(jobs.outputs) == set(kids[0].files)  # the failed segment left nothing
    assert jobs.recover()["imported"] == 0
    monkeypatch.setattr(longvideo, "png_to", png)
    assert jobs.requeue(job.id)
    run_queue(jobs)
    done = jobs.get(job.id)
    assert done.status == DONE and done.result["summary"]["made"] == 2


def test_cancel_as_the_job_commits_answers_what_happened(jobs, photo_path, monkeypatch):
    """issue 28: Cancel on a running row once answered "Job … is cancelled." and the job ended done: the
    store read the status again after its transaction, when the job had finished in between."""
    from i2v.ui.queue import QueueHandlers

    job = jobs.submit_generate(image=str(photo_path), **SMALL)
    claimed = jobs.store.claim(jobs.worker)
    store, db = jobs.store, jobs.store._db

    class WorkerCommitsRightAfter:  # the worker commits the job just after the cancel's transaction
        armed = True

        def execute(self, sql, *args):
            out = db.execute(sql, *args)
            if sql == "COMMIT" and self.armed:
                self.armed = False
                store.finish(job.id, DONE, result={}, files=[])
            return out
    monkeypatch.setattr(store, "_db", WorkerCommitsRightAfter())
    assert jobs.cancel(job.id) == RUNNING  # what the cancel did: asked the running job to stop (not "done")
    monkeypatch.setattr(store, "_db", db)
    assert jobs.get(claimed.id).status == DONE
    # a Cancel that reaches a job already ended says so (the page once said "is cancelled")
    page = type("UI", (), {"c": type("C", (), {"queue_msg": "msg", "queue_table": "table"})(), "jobs": jobs})()
    h = QueueHandlers(page)
    monkeypatch.setattr(h, "rows", lambda lang: None)
    req = type("R", (), {"headers": {"accept-language": "en-US"}, "session_hash": "en"})()
    assert h.cancel(job.id, req)["msg"] == f"Job {job.id} had already ended (done): nothing to stop."
    q = jobs.submit_generate(image=str(photo_path), **SMALL)
    assert h.cancel(q.id, req)["msg"] == f"Job {q.id} is cancelled."


@pytest.mark.heavy
def test_jobs_lists_a_long_videos_segments_under_it_with_their_parent(tmp_path, photo_path):
    """issue 28: docs/long-videos.md said `jobs` shows the segments; it listed none and `parent` was null."""
    out = tmp_path / "outputs"
    r = cli("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "waves", "--steps", "2",
            "--frames", "8", "--resolution", "256p", "--segments", "2", "--seed", "3", "--outputs", str(out), "--json")
    assert r.returncode == 0, r.stderr
    r = cli("jobs", "--json", "--outputs", str(out))
    (long,) = json.loads(r.stdout)["jobs"]
    assert [(k["kind"], k["parent"]) for k in long["children"]] == [("segment", long["id"])] * 2
    text = cli("jobs", "--outputs", str(out)).stdout.splitlines()
    assert text[0].startswith(long["id"]) and text[1].split()[:4] == ["└", long["children"][0]["id"], "segment",
                                                                       "done"] and "1/2" in text[1]
