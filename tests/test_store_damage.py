"""A damaged job store (issue 19, security round 3, item 3), through the doors: ``python app.py`` and
``python -m i2v jobs`` as subprocesses.

Before: random bytes in ``outputs/studio.db`` made the studio's start a traceback, and a store truncated to
5000 bytes let it start silently with 8 job records turned into 2.  Now every opener but the studio refuses
a damaged store with one line and moves nothing; the studio moves it aside (with its -wal and -shm) into
``outputs/.damaged-store-<time>/``, rebuilds the results from their sidecars, and says so in its log, under
the page's banner and in ``python -m i2v jobs`` for as long as the copy is kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from i2v.jobs import CANCELLED, DONE, FAILED, JobService, JobStore
from i2v.jobs.store import ASIDE_PREFIX, DB_NAME, NOTE_NAME

from .apphelpers import ROOT, free_port, running_app
from .test_door import join

SMALL = dict(prompt="leaves gently swaying", width=256, height=192, num_frames=4, num_inference_steps=2, seed=3)
NOBODY = 65534


@pytest.fixture(scope="module")
def populated(tmp_path_factory, tiny_engine, photo_path):
    """An outputs folder as a studio leaves it: a generated video and its smoothed copy (each with its
    sidecar), a failed job and a cancelled one; the store closed cleanly (no -wal left)."""
    from i2v.base.config import load_config
    from i2v.studio import Studio

    out = tmp_path_factory.mktemp("populated") / "outputs"
    studio = Studio(load_config(model="tiny"), outputs=out, log=lambda m: None)
    studio._engine = tiny_engine
    jobs = JobService(studio)
    done = [jobs.run_inline("generate", jobs.generate_params({"image": str(photo_path), **SMALL}))]
    done.append(jobs.run_inline("smooth", {"video": done[0].result["video"], "factor": 2, "loop": None,
                                           "method": "flow"}))
    assert [j.status for j in done] == [DONE] * 2, [j.error_message for j in done]
    failed = jobs.store.submit("generate", {**SMALL, "image": done[0].params["image"]})
    jobs.store.finish(failed.id, FAILED, error={"kind": "generation_failed", "code": "frames_constant",
                                                "message": "the model produced a constant image"})
    cancelled = jobs.store.submit("generate", {**SMALL, "image": done[0].params["image"]})
    assert jobs.store.cancel(cancelled.id) == CANCELLED
    jobs.store.close()
    assert sorted(p.name for p in out.glob(DB_NAME + "*")) == [DB_NAME]
    return out, {j.result["video"] for j in done}


def copy_of(populated, tmp: Path) -> Path:
    out = tmp / "outputs"
    shutil.copytree(populated[0], out)
    return out


def cli_jobs(out: Path, env: dict | None = None, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "i2v", "jobs", "--outputs", str(out), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env, preexec_fn=preexec)


def banner(base: str, lang: str) -> str:
    """The page's banner as a browser in ``lang`` gets it: the load event behind #model-banner."""
    cfg = httpx.get(base + "/config").json()
    comp = next(c["id"] for c in cfg["components"] if c.get("props", {}).get("elem_id") == "model-banner")
    fn = next(d.get("id", i) for i, d in enumerate(cfg["dependencies"])
              if comp in d.get("outputs", []) and any(t[1] == "load" for t in d.get("targets", [])))
    msgs = join(base, fn, [], headers={"Accept-Language": lang})
    done = next(m for m in msgs if m.get("msg") == "process_completed")
    return next(v for v in done["output"]["data"] if isinstance(v, str))


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.heavy
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_store_is_refused_by_the_cli_and_set_aside_and_rebuilt_by_the_studio(populated, tmp_path, damage):
    out = copy_of(populated, tmp_path)
    db = out / DB_NAME
    data = db.read_bytes()
    bad = data[:5000] if damage == "truncated" else os.urandom(len(data))
    db.write_bytes(bad)

    # the CLI: one line naming the file and what to do, exit 2, nothing moved or changed
    r = cli_jobs(out)
    line = one_line(r.stderr)
    assert r.returncode == 2 and r.stdout == "", r
    assert f"the job store {db} is damaged" in line and f"python app.py --outputs {out}" in line, line
    assert db.read_bytes() == bad and not list(out.glob(ASIDE_PREFIX + "*"))

    # the studio: starts, with the damaged file kept aside and the results rebuilt from their sidecars
    with running_app(tmp_path) as app:
        base = app.url.rstrip("/")
        en, zh = banner(base, "en"), banner(base, "zh-CN")
    log = (tmp_path / "app.log").read_text()
    asides = list(out.glob(ASIDE_PREFIX + "*"))
    assert len(asides) == 1 and (asides[0] / DB_NAME).read_bytes() == bad, log
    note = json.loads((asides[0] / NOTE_NAME).read_text())
    assert note["what"] == "damaged" and note["imported"] == 2 and note["moved"][0] == DB_NAME, note
    assert f"WARNING: the job store {db} was damaged" in log and "2 results were rebuilt" in log, log
    assert "Traceback" not in log, log
    assert "the job store was found damaged" in en and asides[0].name in en and str(out) not in en, en
    assert "2 results were rebuilt" in en and "queued, failed, cancelled" in en, en
    assert "发现任务库已损坏" in zh and "重建 2 个结果" in zh, zh

    # afterwards the CLI lists the rebuilt results, and says what happened on stderr and in its JSON
    r = cli_jobs(out)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert {j["video"] for j in listed["jobs"]} == populated[1] and {j["status"] for j in listed["jobs"]} == {DONE}
    assert sorted(j["kind"] for j in listed["jobs"]) == ["generate", "smooth"]
    assert len(listed["notices"]) == 1 and str(asides[0]) in listed["notices"][0]
    assert r.stderr.startswith("warning: On ") and "set aside in" in r.stderr, r.stderr


KILLED_WRITER = """
import os, signal, sys
from i2v.jobs import FAILED, JobStore
import json
store = JobStore(sys.argv[1])
row = json.loads(sys.argv[2])
store.add_done(row["kind"], row["params"], row["result"], row["files"])
bad = store.submit("generate", row["params"])
store.finish(bad.id, FAILED, error={"kind": "invalid_input", "code": "input_gone", "message": "gone"})
os.kill(os.getpid(), signal.SIGKILL)  # the studio dies: its journal holds both records, not yet checkpointed
"""


@pytest.mark.heavy
def test_a_lost_journal_is_refused_by_the_cli_and_said_by_the_studio(populated, tmp_path):
    """What happens without the check: SQLite opens the store as of its last checkpoint and says nothing
    (here the smoothed video's record and a failed job vanish).  The -shm index still says how much the
    journal held: the CLI refuses, the studio keeps the store, re-imports the result, and says so."""
    out = copy_of(populated, tmp_path)
    store = JobStore(out)
    smooth = next(j for j in store.list(limit=None) if j.kind == "smooth")
    store._exec("DELETE FROM jobs WHERE id=?", (smooth.id,))  # recorded after the last checkpoint, below
    store.close()
    row = {"kind": "smooth", "params": smooth.params, "result": smooth.result, "files": smooth.files}
    r = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out), json.dumps(row)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr
    wal, shm = out / (DB_NAME + "-wal"), out / (DB_NAME + "-shm")
    assert wal.stat().st_size > 0 and shm.is_file()
    wal.unlink()
    kept = (out / DB_NAME).read_bytes(), shm.read_bytes()

    r = cli_jobs(out)
    line = one_line(r.stderr)
    assert r.returncode == 2 and "its journal studio.db-wal is gone with" in line and "python app.py" in line, line
    assert ((out / DB_NAME).read_bytes(), shm.read_bytes()) == kept  # the evidence is left for the studio

    with running_app(tmp_path) as app:
        base = app.url.rstrip("/")
        en = banner(base, "en")
    log = (tmp_path / "app.log").read_text()
    asides = list(out.glob(ASIDE_PREFIX + "*"))
    assert len(asides) == 1 and [p.name for p in asides[0].iterdir() if p.name != NOTE_NAME] == [shm.name], log
    assert "kept it as of its last checkpoint" in log and "1 results were rebuilt" in log, log
    assert "journal was found missing" in en and "jobs recorded after it are lost" in en, en

    r = cli_jobs(out)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)["jobs"]
    assert {j["video"] for j in listed if j["status"] == DONE} == populated[1]  # the smoothed video is back
    assert sorted(j["status"] for j in listed) == [CANCELLED, DONE, DONE, FAILED]  # the older failed job
    assert "journal was found missing" in r.stderr


AS_NOBODY = f"""
import os, sys
# the interpreter lives under /root (mode 700), which nobody cannot enter: load what the start needs first
# (a module missing here fails the test with ImportError, never passes it)
import app, i2v.cli, i2v.base.config, i2v.jobs, i2v.studio, i2v.web, i2v.planning.templates, json, datetime, traceback
import encodings.idna
os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})
assert os.geteuid() == {NOBODY}
which, args = sys.argv[1], sys.argv[2:]
sys.exit(app.main(args) if which == "app" else i2v.cli.main(args))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become the nobody user (uid 65534)")
def test_a_read_only_store_is_refused_for_a_non_root_user_and_never_set_aside(populated, tmp_path):
    top = Path(tempfile.mkdtemp(prefix="i2v-ro-", dir="/tmp"))  # pytest's tmp_path is root's alone (700)
    try:
        top.chmod(0o755)
        out = top / "outputs"
        shutil.copytree(populated[0], out)
        for p in [top, *top.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)
        db = out / DB_NAME
        os.chown(db, 0, 0)
        db.chmod(0o644)  # root's file: this user may read it, not write it
        before = db.read_bytes()
        env = {**os.environ, "I2V_HOME": str(top / "home"), "HOME": str(top / "home")}
        app = subprocess.run([sys.executable, "-c", AS_NOBODY, "app", "--model", "tiny", "--outputs", str(out),
                              "--port", str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             env=env)
        cli = subprocess.run([sys.executable, "-c", AS_NOBODY, "cli", "jobs", "--outputs", str(out), "--json"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
        for r in (app, cli):
            line = one_line(r.stderr)
            assert r.returncode == 3, r
            assert f"cannot read and write the job store {db} (read-only for this user)" in line, line
            assert "chmod u+w" in line and "loading model" not in r.stderr
        assert db.read_bytes() == before and not list(out.glob(ASIDE_PREFIX + "*"))
        assert not (out / (DB_NAME + "-wal")).exists()
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_store_being_created_is_not_damage(tmp_path):
    """Another process has just created studio.db (0 bytes, no journal yet): `jobs` reads it as empty, as
    SQLite does, instead of calling it damaged (a `jobs` during a first CLI run hit that)."""
    out = tmp_path / "outputs"
    out.mkdir()
    (out / DB_NAME).touch()
    r = subprocess.run([sys.executable, "-m", "i2v", "jobs", "--json", "--outputs", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["jobs"] == [], r.stderr
    (out / (DB_NAME + "-wal")).write_bytes(b"\0" * 4096)  # an empty database with a journal full of pages is not
    (out / DB_NAME).write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "i2v", "jobs", "--outputs", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "damaged" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
