"""Many workers: worker processes of one machine (``--workers N``) and Ray actors (``--ray local``), through
the same doors a user has: ``python -m i2v worker``, ``jobs --json``, ``workers --json``, ``cancel`` and
kill -9.  Tiny model, CPU; each test runs the real processes (about a minute each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from i2v.jobs import CANCELLED, DONE, RUNNING, JobService, JobStore
from i2v.jobs.service import LOST

ROOT = Path(__file__).resolve().parent.parent
LONG = dict(prompt="a dog jumping over a fence", width=256, height=192, num_frames=4, num_inference_steps=40)


def cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "i2v", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def queue(tmp_path, photo_path):
    """A job service on a fresh outputs folder (no model: it only validates and queues)."""
    from i2v.config import load_config
    from i2v.service import Studio

    jobs = JobService(Studio(load_config(model="tiny"), outputs=tmp_path / "outputs", log=lambda m: None))
    jobs.submit_some = lambda n, **kw: [jobs.submit_generate(image=str(photo_path), **{**LONG, "seed": i, **kw}).id
                                        for i in range(n)]
    return jobs


@contextmanager
def workers(outputs: Path, *args: str, log: Path):
    """``python -m i2v worker ARGS`` on ``outputs``; stopped politely (Ctrl-C) at the end, its process group
    killed if it does not stop (no Ray process outlives a test)."""
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "i2v", "worker", "--model", "tiny", "--outputs", str(outputs),
                             *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        out.close()


def wait_for(pred, timeout=240, what="", log: Path | None = None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timeout waiting for {what}" + (f"\n{log.read_text()[-3000:]}" if log else ""))


def jobs_json(outputs: Path) -> dict[str, dict]:
    r = cli("jobs", "--json", "--outputs", str(outputs))
    assert r.returncode == 0, r.stderr
    return {j["id"]: j for j in json.loads(r.stdout)["jobs"]}


def workers_json(outputs: Path, *extra: str) -> list[dict]:
    r = cli("workers", "--json", "--outputs", str(outputs), *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["workers"]


def overlapping(jobs: list[dict]) -> int:
    """How many pairs of jobs ran at the same time."""
    return sum(1 for i, a in enumerate(jobs) for b in jobs[i + 1:]
               if a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"])


def pid_of(worker_row: dict) -> int:
    return int(worker_row["pid"])


def running_with_progress(store: JobStore, step: int = 2):
    """Jobs that run and have reported at least ``step`` steps (what the page shows)."""
    return [j for j in store.list(status=[RUNNING], parent=None) if (j.progress or {}).get("step", 0) >= step]


def no_partials(outputs: Path) -> list[Path]:
    return [p for p in outputs.rglob("*") if ".partial" in p.name]


def test_two_worker_processes_share_the_queue_and_a_cancel_reaches_the_right_one(queue, tmp_path):
    outputs, store = queue.outputs, queue.store
    ids = queue.submit_some(4)
    log = tmp_path / "workers.log"
    with workers(outputs, "--workers", "2", log=log) as proc:
        both = wait_for(lambda: (r := running_with_progress(store, 1)) and len(r) == 2 and r, what="two running",
                        log=log)
        victim, other = both
        assert victim.worker != other.worker  # two processes, one job each
        r = cli("cancel", victim.id, "--outputs", str(outputs))
        assert r.returncode == 0, r.stderr
        end = wait_for(lambda: (j := store.get(victim.id)).final and j, what="the cancel", log=log)
        assert end.status == CANCELLED and end.worker == victim.worker
        wait_for(lambda: all(store.get(i).final for i in ids), what="all jobs", log=log)
        rows = workers_json(outputs)
        assert proc.poll() is None
    listed = jobs_json(outputs)
    assert listed[victim.id]["status"] == "cancelled"
    assert [listed[i]["status"] for i in ids if i != victim.id] == ["done"] * 3
    assert overlapping([listed[i] for i in ids]) >= 1  # at least two jobs ran at the same time
    assert len({listed[i]["worker"] for i in ids}) == 2
    assert len(rows) == 2 and {w["kind"] for w in rows} == {"local"} and {w["device"] for w in rows} == {"cpu"}
    assert sum(w["jobs_done"] for w in rows) == 4 and all(w["state"] in ("idle", "busy") for w in rows)
    assert proc.returncode == 0
    assert {w["state"] for w in workers_json(outputs, "--all")} == {"stopped"}  # a clean stop says so
    assert not no_partials(outputs)


def test_a_killed_worker_process_has_its_job_requeued_once_and_is_started_again(queue, tmp_path):
    outputs, store = queue.outputs, queue.store
    ids = queue.submit_some(2)
    log = tmp_path / "workers.log"
    with workers(outputs, "--workers", "2", log=log):
        victim = wait_for(lambda: running_with_progress(store, 2), what="a running job", log=log)[0]
        row = next(w for w in workers_json(outputs) if w["id"] == victim.worker)
        os.kill(pid_of(row), signal.SIGKILL)
        again = wait_for(lambda: (j := store.get(victim.id)).final and j, what="the re-queued job", log=log)
        wait_for(lambda: all(store.get(i).final for i in ids), what="all jobs", log=log)
        rows = workers_json(outputs)
    assert again.status == DONE and again.attempts == 2 and again.worker != victim.worker
    assert again.note.startswith(LOST)
    assert store.get(ids[1 - ids.index(victim.id)]).status == DONE
    states = {w["id"]: w["state"] for w in rows}
    assert states[victim.worker] == "dead" and sum(s in ("idle", "busy", "loading") for s in states.values()) == 2
    assert not no_partials(outputs)


def test_ray_actors_run_the_queue_and_a_killed_actor_job_finishes_on_the_other(queue, tmp_path):
    pytest.importorskip("ray")
    outputs, store = queue.outputs, queue.store
    ids = queue.submit_some(4)
    log = tmp_path / "ray.log"
    seen_progress = []
    with workers(outputs, "--ray", "local", "--workers", "2", log=log) as proc:
        victim = wait_for(lambda: running_with_progress(store, 2), what="a job running on an actor", log=log)[0]
        seen_progress.append(victim.progress)  # progress travelled actor → head → store (what the page reads)
        assert store.preview(victim.id) is None or store.preview(victim.id).startswith(b"\x89PNG")
        rows = workers_json(outputs)
        row = next(w for w in rows if w["id"] == victim.worker)
        assert row["kind"] == "ray" and row["state"] == "busy" and row["job"] == victim.id
        os.kill(pid_of(row), signal.SIGKILL)  # the actor's process dies mid-job
        again = wait_for(lambda: (j := store.get(victim.id)).final and j, what="the re-queued job", log=log)
        wait_for(lambda: all(store.get(i).final for i in ids), what="all jobs", log=log)
        after = {w["id"]: w for w in workers_json(outputs)}
        assert proc.poll() is None
    assert again.status == DONE and again.attempts == 2 and again.worker != victim.worker
    assert again.note.startswith(LOST)
    listed = jobs_json(outputs)
    assert [listed[i]["status"] for i in ids] == ["done"] * 4
    assert overlapping([listed[i] for i in ids]) >= 1  # two actors ran at the same time
    for i in ids:  # the results came back through Ray's object store and were committed here
        assert (outputs / listed[i]["video"]).is_file()
    assert after[victim.worker]["state"] == "dead"
    assert seen_progress[0]["total"] == LONG["num_inference_steps"]
    assert "Ray actor" in log.read_text() and not no_partials(outputs)
