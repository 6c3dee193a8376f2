"""Many workers: worker processes of one machine (``--workers N``) and Ray actors (``--ray local``), through
the same doors a user has: ``python -m i2v worker``, ``jobs --json``, ``workers --json``, ``cancel`` and
kill -9.  Tiny model, CPU; each test runs the real processes (about a minute each)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
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
    from i2v.base.config import load_config
    from i2v.studio import Studio

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


@pytest.mark.heavy
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
        table = cli("workers", "--outputs", str(outputs)).stdout.splitlines()  # the same, for a person
        assert proc.poll() is None
    listed = jobs_json(outputs)
    assert listed[victim.id]["status"] == "cancelled"
    assert [listed[i]["status"] for i in ids if i != victim.id] == ["done"] * 3
    assert overlapping([listed[i] for i in ids]) >= 1  # at least two jobs ran at the same time
    assert len({listed[i]["worker"] for i in ids}) == 2
    assert len(rows) == 2 and {w["kind"] for w in rows} == {"local"} and {w["device"] for w in rows} == {"cpu"}
    # one column per header: each row's cells start where the header's names do
    head = table[0]
    starts = [head.index(name) for name in ("worker", "kind", "node", "device", "state", "job", "jobs done",
                                            "last heartbeat")]
    assert len(table) == 3 and starts == sorted(starts)
    for line in table[1:]:
        w = next(w for w in rows if line.startswith(w["id"] + " "))
        assert line[starts[1]:].startswith("local") and line[starts[6]:].split()[0] == str(w["jobs_done"])
    assert sum(w["jobs_done"] for w in rows) == 4 and all(w["state"] in ("idle", "busy") for w in rows)
    assert proc.returncode == 0
    assert {w["state"] for w in workers_json(outputs, "--all")} == {"stopped"}  # a clean stop says so
    assert not no_partials(outputs)


@pytest.mark.heavy
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


@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on this machine (see conftest)
@pytest.mark.heavy
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


@pytest.mark.heavy
def test_bench_workers_reports_the_throughput_ratio():
    r = cli("bench", "--workers", "2", "--quick", "--json", timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["workers"]
    one, two = res["rows"]
    assert (one["workers"], one["workers_used"], two["workers"], two["workers_used"]) == (1, 1, 2, 2)
    assert res["throughput_ratio"] == round(two["jobs_per_hour"] / one["jobs_per_hour"], 3) > 0
    bad = cli("bench", "--workers", "0")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_recovery_after_a_head_or_worker_died_leaves_living_workers_alone(queue):
    """At start-up a job left running is interrupted when its worker's process (a Ray actor's: its head's)
    is gone or its heartbeat is stale, and left alone while the worker is alive and beating."""
    import socket

    from i2v.jobs import store as st

    store = queue.store
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    cases = {"dead head": f"{host}:{gone.pid}:ray-0001", "stale": f"{host}:{os.getpid()}:ray-0002",
             "alive": f"{host}:{os.getpid()}:ray-0003", "other machine, silent": "far:1:ray-0004"}
    ids = dict(zip(cases, queue.submit_some(len(cases))))
    for name, wid in cases.items():
        assert store.claim(wid).id == ids[name]
        store.worker_seen(wid, kind="ray", state="busy", job=ids[name])
    store._exec("UPDATE workers SET heartbeat=heartbeat-? WHERE id IN (?, ?)",
                (st.STALE_S + 5, cases["stale"], cases["other machine, silent"]))
    queue.recover()
    assert {n: store.get(i).status for n, i in ids.items()} == {
        "dead head": "interrupted", "stale": "interrupted", "alive": "running", "other machine, silent": "interrupted"}
    states = {w["id"]: w["state"] for w in store.workers()}
    assert states[cases["dead head"]] == "dead" and states[cases["alive"]] == "busy"


@pytest.mark.xdist_group("ray")  # one Ray cluster at a time on this machine (see conftest)
@pytest.mark.heavy
def test_a_node_that_joins_a_ray_cluster_later_gets_an_actor(queue, tmp_path):
    """A Ray cluster started by hand (``ray start --head``, token auth on), the studio's workers joining it
    with ``--ray ADDRESS``; a second node joins afterwards and gets an actor without a restart, and jobs
    run on both.  Each node declares one GPU that this CPU machine does not have: the actors take
    ``num_gpus=1`` as on a GPU cluster and load the model on the CPU."""
    pytest.importorskip("ray")
    import secrets
    import shutil
    import socket

    from tests.apphelpers import free_port

    ray_bin = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    port = free_port()
    node = ["--num-cpus", "1", "--num-gpus", "1", "--disable-usage-stats"]

    def ray(*args):
        return subprocess.run([str(ray_bin), *args], env=env, capture_output=True, text=True, timeout=120)

    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must stay short
    r = ray("start", "--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir", str(temp), *node)
    assert r.returncode == 0, r.stderr[-2000:]
    log = tmp_path / "head.log"
    try:
        os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=env["RAY_AUTH_TOKEN"])
        with workers(queue.outputs, "--ray", f"127.0.0.1:{port}", log=log):
            wait_for(lambda: (queue.outputs / "studio.db").exists(), what="the head's store", log=log)
            first = wait_for(lambda: [w for w in workers_json(queue.outputs) if w["state"] == "idle"], what="an actor",
                             log=log)
            assert len(first) == 1 and first[0]["kind"] == "ray" and "GPU 0" in first[0]["device"]
            ip = socket.gethostbyname(socket.gethostname())
            r = ray("start", "--address", f"{ip}:{port}", *node)
            assert r.returncode == 0, r.stderr[-2000:]
            both = wait_for(lambda: (ws := [w for w in workers_json(queue.outputs) if w["state"] == "idle"])
                            and len(ws) == 2 and ws, timeout=120, what="an actor on the new node", log=log)
            assert len({w["node"] for w in both}) == 2  # one actor per node
            ids = queue.submit_some(2, num_inference_steps=20)
            wait_for(lambda: all(queue.store.get(i).final for i in ids), what="the jobs", log=log)
        assert {queue.store.get(i).status for i in ids} == {"done"}
        assert len({queue.store.get(i).worker for i in ids}) == 2
    finally:
        for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
            os.environ.pop(k, None)
        ray("stop", "--force")
        shutil.rmtree(temp, ignore_errors=True)
