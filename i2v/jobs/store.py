"""The job store: one SQLite database (WAL) in the outputs folder, the single record of jobs and results.

Pure (sqlite3 and the standard library).  Every long task is a row: its kind, full parameters, status,
progress (with the latest preview as PNG bytes), timestamps, the worker that ran it, the files of its
result and, when it failed, an error code and message.  Several processes may share one store (the
studio, ``python -m i2v worker``, ``python -m i2v submit``): claims are single atomic statements and
every write is a short transaction.

Statuses: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``; a job whose worker died
while it ran becomes ``interrupted`` (it can be re-queued).

A damaged store (see :func:`inspect_store`) is never opened as if nothing happened.  Every opener but
the studio refuses it with one line; the studio sets it aside and starts a new one (:func:`repair_store`).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import struct
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

from ..base.errors import Cancelled, InvalidInput, OutOfResources

from .kinds import KINDS

DB_NAME = "studio.db"
QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = (QUEUED, RUNNING)
FINAL = (DONE, FAILED, CANCELLED, INTERRUPTED)
# Job ids are 10 hex characters (secrets.token_hex(5)); a longer one is not looked up.
ID_MAX_CHARS = 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    params TEXT NOT NULL,
    parent TEXT,
    client TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    worker TEXT,
    progress TEXT,
    preview BLOB,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    files TEXT,
    result TEXT,
    error_kind TEXT,
    error_code TEXT,
    error_message TEXT,
    error_params TEXT,
    note TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status, seq);
CREATE INDEX IF NOT EXISTS jobs_parent ON jobs(parent);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    node TEXT,
    device TEXT,
    pid INTEGER,
    state TEXT NOT NULL,
    job TEXT,
    jobs_done INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    info TEXT
);
"""
# Worker states: loading → idle ⇄ busy → stopped (a clean exit); a worker whose heartbeat is older than
# STALE_S, or whose process on this machine is gone, is reported as dead.
LOADING, IDLE, BUSY, STOPPED, DEAD = "loading", "idle", "busy", "stopped", "dead"
STALE_S = 30.0


def stopped(kind: str, kept: int) -> Cancelled:
    """How a stopped job ended, one message per outcome (the page, the Queue, ``/job`` and the CLI all say
    it): nothing written, or the committed segments or drafts that Re-queue goes on from."""
    if kept and kind == "long":
        return Cancelled("cancelled_segments", n=kept, next=kept + 1)
    if kept:
        return Cancelled("cancelled_drafts", n=kept)
    return Cancelled()


def worker_id(name: str = "main") -> str:
    """host:pid:name (the pid tells whether a running job's worker is still alive)."""
    return f"{socket.gethostname()}:{os.getpid()}:{name}"


def worker_alive(worker: str | None) -> bool:
    """False only when the worker ran on this machine and its process is gone."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    pid_s = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_s.isdigit():
        return True  # another machine's worker: not ours to judge
    from ..media.video import pid_alive

    return pid_alive(int(pid_s))


@dataclass
class JobRecord:
    id: str
    kind: str
    status: str
    params: dict
    created_at: float
    seq: int = 0
    parent: str | None = None
    client: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker: str | None = None
    progress: dict = field(default_factory=dict)
    cancel_requested: bool = False
    files: list[str] = field(default_factory=list)
    result: dict | None = None
    error_kind: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_params: dict | None = None
    note: str | None = None
    attempts: int = 0

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def to_json(self) -> dict:
        """The object ``python -m i2v jobs --json`` prints for a job."""
        r = self.result or {}
        return {"id": self.id, "kind": self.kind, "status": self.status, "created_at": self.created_at,
                "started_at": self.started_at, "finished_at": self.finished_at, "worker": self.worker,
                "progress": self.progress, "video": r.get("video"), "parent": self.parent,
                "error": None if not self.error_code else {"kind": self.error_kind, "code": self.error_code,
                                                           "message": self.error_message},
                "note": self.note, "prompt": self.params.get("prompt")}


_COLUMNS = ("seq", "id", "kind", "status", "params", "parent", "client", "created_at", "started_at", "finished_at",
            "worker", "progress", "cancel_requested", "files", "result", "error_kind", "error_code", "error_message",
            "error_params", "note", "attempts")


_TYPES = {"started_at": "REAL", "finished_at": "REAL", "preview": "BLOB", "attempts": "INTEGER NOT NULL DEFAULT 0",
          "cancel_requested": "INTEGER NOT NULL DEFAULT 0"}


def _record(row: sqlite3.Row) -> JobRecord:
    d = dict(zip(_COLUMNS, row))
    for k, empty in (("params", {}), ("progress", {}), ("files", []), ("result", None), ("error_params", None)):
        d[k] = json.loads(d[k]) if d[k] else empty
    d["cancel_requested"] = bool(d["cancel_requested"])
    return JobRecord(**d)


_OPEN_HERE: dict[str, int] = {}  # stores this process has open: path → how many JobStores
_OPEN_LOCK = threading.Lock()


def _released(key: str) -> None:
    with _OPEN_LOCK:
        _OPEN_HERE[key] = _OPEN_HERE.get(key, 1) - 1


class QueueFull(Exception):
    """More jobs are waiting than the store accepts (the caller turns it into a user error)."""


class JobStore:
    """Thread-safe handle on the database (one connection, serialised by a lock; other processes use
    their own connections and SQLite's locking).  A damaged store is refused (``store_damaged``, exit 2)
    and one this user cannot read and write too (``store_no_access``, exit 3): see :func:`inspect_store`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_NAME
        key = str(self.path.resolve())
        with _OPEN_LOCK:
            # inspect_store reads the files with open()/close(): closing any descriptor of a file drops every
            # POSIX lock this process holds on it, a connection's included (SQLite's documented hazard: a
            # second JobStore opened beside a first let another process's checkpoint corrupt the store).
            # A store this process already has open was inspected when it was first opened.
            if not _OPEN_HERE.get(key):
                damage = inspect_store(self.folder)
                if damage is not None:
                    raise InvalidInput("store_damaged", path=self.path, detail=damage.detail, folder=self.folder)
            _OPEN_HERE[key] = _OPEN_HERE.get(key, 0) + 1
        self._release = weakref.finalize(self, _released, key)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._db.executescript(SCHEMA)
            self._migrate()

    def _migrate(self) -> None:
        """Add the columns a store written by an earlier version lacks (columns are only ever added)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)").fetchall()}
        for name in _COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {_TYPES.get(name, 'TEXT')}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release()

    # -- low level ---------------------------------------------------------------------------------
    def _exec(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(args))

    def _tx(self, statements: list[tuple[str, tuple]]) -> None:
        """Several statements as one transaction (all or nothing)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _select(self, where: str = "1", args: Iterable[Any] = (), order: str = "seq DESC",
                limit: int | None = None) -> list[JobRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_record(r) for r in self._exec(sql, args).fetchall()]

    # -- submitting and reading --------------------------------------------------------------------
    def submit(self, kind: str, params: dict, *, parent: str | None = None, client: str | None = None,
               max_queued: int | None = None, worker: str | None = None) -> JobRecord:
        """A new queued job; with ``worker``, one already running on that worker (the CLI's own run)."""
        return self.submit_many(kind, [params], client=client, max_queued=max_queued, worker=worker,
                                parent=parent)[0]

    def submit_many(self, kind: str, params_list: list[dict], *, parent: str | None = None,
                    client: str | None = None, max_queued: int | None = None, worker: str | None = None
                    ) -> list[JobRecord]:
        """Several jobs in one transaction: all queued, or none (the queue has no room for all of them)."""
        if kind not in KINDS:  # (the kinds are defined in .kinds, once)
            raise ValueError(f"unknown job kind {kind!r}")
        ids = [secrets.token_hex(5) for _ in params_list]
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if max_queued is not None and worker is None:
                    (n,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE status=? AND parent IS NULL",
                                            (QUEUED,)).fetchone()
                    if n + len(ids) > max_queued:
                        raise QueueFull(n)
                for job_id, params in zip(ids, params_list):
                    self._db.execute(
                        "INSERT INTO jobs(id, kind, status, params, parent, client, created_at, worker, started_at, "
                        "attempts) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (job_id, kind, QUEUED if worker is None else RUNNING, json.dumps(params, ensure_ascii=False),
                         parent, client, now, worker, None if worker is None else now, 0 if worker is None else 1))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [self.get(i) for i in ids]

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._select("id=?", (str(job_id),))
        return rows[0] if rows else None

    def list(self, *, status: Iterable[str] | None = None, kinds: Iterable[str] | None = None,
             limit: int | None = 100, parent: str | None | bool = False, newest_first: bool = True
             ) -> list[JobRecord]:
        where, args = [], []
        if status is not None:
            status = list(status)
            where.append(f"status IN ({','.join('?' * len(status))})")
            args += status
        if kinds is not None:
            kinds = list(kinds)
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args += kinds
        if parent is None:
            where.append("parent IS NULL")
        elif parent is not False:
            where.append("parent=?")
            args.append(parent)
        return self._select(" AND ".join(where) or "1", args, "seq DESC" if newest_first else "seq ASC", limit)

    def preview(self, job_id: str) -> bytes | None:
        row = self._exec("SELECT preview FROM jobs WHERE id=?", (job_id,)).fetchone()
        return row[0] if row and row[0] else None

    def counts(self) -> dict[str, int]:
        return dict(self._exec("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())

    # -- the worker's side -------------------------------------------------------------------------
    def claim(self, worker: str, prefer: str | None = None, patience_s: float = 0.0) -> JobRecord | None:
        """The oldest queued top-level job, atomically marked running for ``worker``.  With ``prefer`` (the model
        the worker has loaded): the oldest of that model's jobs (or of jobs naming none) first, unless a job of
        another model has waited ``patience_s`` or more; then the oldest of those.  Jobs of two models queued
        in turn so run a model's jobs together instead of reloading a model for every job, and none waits
        more than its patience plus the job running."""
        now = time.time()
        order = "seq"
        args: list[Any] = [RUNNING, worker, now, QUEUED]
        if prefer is not None:
            order = ("CASE WHEN coalesce(json_extract(params, '$.model'), ?) = ? OR created_at <= ? THEN 0 "
                     "ELSE 1 END, seq")
            args += [prefer, prefer, now - patience_s]
        row = self._exec(
            "UPDATE jobs SET status=?, worker=?, started_at=?, attempts=attempts+1, progress=NULL, preview=NULL, "
            "cancel_requested=0 WHERE id=(SELECT id FROM jobs WHERE status=? AND parent IS NULL "
            f"ORDER BY {order} LIMIT 1) AND status=? RETURNING id", (*args, QUEUED)).fetchone()
        return self.get(row[0]) if row else None

    def progress(self, job_id: str, progress: dict, preview_png: bytes | None = None) -> None:
        if preview_png is None:
            self._exec("UPDATE jobs SET progress=? WHERE id=?", (json.dumps(progress), job_id))
        else:
            self._exec("UPDATE jobs SET progress=?, preview=? WHERE id=?",
                       (json.dumps(progress), sqlite3.Binary(preview_png), job_id))

    def cancel_requested(self, job_id: str) -> bool:
        row = self._exec("SELECT cancel_requested, status FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and (row[0] or row[1] in FINAL))

    def plan_files(self, job_id: str, files: list[str]) -> None:
        """Record the result's final names before they are renamed into place (for crash recovery)."""
        self._exec("UPDATE jobs SET files=? WHERE id=?", (json.dumps(files), job_id))

    def finish(self, job_id: str, status: str, *, result: dict | None = None, files: list[str] | None = None,
               error: dict | None = None, note: str | None = None) -> None:
        """The one transaction that ends a job (with its result files for ``done``; ``error`` is an
        error's ``to_json()`` for the others)."""
        if status not in FINAL:
            raise ValueError(status)
        e = error or {}
        sets = ["status=?", "finished_at=?", "error_kind=?", "error_code=?", "error_message=?", "error_params=?"]
        args: list[Any] = [status, time.time(), e.get("kind"), e.get("code"), e.get("message"),
                           json.dumps(e["params"], ensure_ascii=False, default=str) if e.get("params") else None]
        if result is not None:
            sets.append("result=?")
            args.append(json.dumps(result, ensure_ascii=False))
        if files is not None:
            sets.append("files=?")
            args.append(json.dumps(files))
        if note is not None:
            sets.append("note=?")
            args.append(note)
        self._tx([(f"UPDATE jobs SET {', '.join(sets)} WHERE id=?", (*args, job_id))])

    def add_done(self, kind: str, params: dict, result: dict, files: list[str], *, parent: str | None = None,
                 client: str | None = None, worker: str | None = None, note: str | None = None,
                 created_at: float | None = None) -> JobRecord:
        """A job born finished: a sweep's child result, or a result imported from an older outputs folder."""
        job_id = secrets.token_hex(5)
        now = time.time()
        t0 = created_at or now
        self._tx([("INSERT INTO jobs(id, kind, status, params, parent, client, created_at, started_at, finished_at, "
                   "worker, files, result, note, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1)",
                   (job_id, kind, DONE, json.dumps(params, ensure_ascii=False), parent, client, t0, t0,
                    created_at or now, worker, json.dumps(files), json.dumps(result, ensure_ascii=False), note))])
        return self.get(job_id)

    def add_child(self, kind: str, params: dict, result: dict, files: list[str], *, parent: str,
                  client: str | None = None, worker: str | None = None, note: str | None = None) -> JobRecord:
        """A child's row (a long video's segment, an auto-tune's draft) and the hand-over of its files from
        its parent's planned files, in one transaction: at every moment each committed file is owned by
        exactly one row (a crash between two statements once left a segment nobody owned, which the next
        start imported as a separate generation)."""
        job_id = secrets.token_hex(5)
        now = time.time()
        self._tx([("INSERT INTO jobs(id, kind, status, params, parent, client, created_at, started_at, finished_at, "
                   "worker, files, result, note, attempts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,1)",
                   (job_id, kind, DONE, json.dumps(params, ensure_ascii=False), parent, client, now, now, now,
                    worker, json.dumps(files), json.dumps(result, ensure_ascii=False), note)),
                  ("UPDATE jobs SET files=? WHERE id=? AND status=?", (json.dumps([]), parent, RUNNING))])
        return self.get(job_id)

    # -- the user's side ---------------------------------------------------------------------------
    def cancel(self, job_id: str) -> str | None:
        """Queued: cancelled at once.  Running: asked to stop (its worker stops between steps).
        Returns what the call did, decided inside its transaction (None: no such job): ``cancelled`` (it
        was queued), ``running`` (asked to stop), or the final status the job already had.  (It once read the
        status again after the commit: a job that finished in between answered ``done``, which the page
        reported as "Job … is cancelled.")"""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT status, kind FROM jobs WHERE id=?", (job_id,)).fetchone()
                if row is None:
                    self._db.execute("COMMIT")
                    return None
                status = row[0]
                if status == QUEUED:  # (a re-queued long video or auto-tune keeps its committed parts)
                    (n,) = self._db.execute("SELECT COUNT(*) FROM jobs WHERE parent=? AND status=?",
                                            (job_id, DONE)).fetchone()
                    err = stopped(row[1], n)
                    self._db.execute("UPDATE jobs SET status=?, finished_at=?, error_kind=?, error_code=?, "
                                     "error_message=?, error_params=? WHERE id=?",
                                     (CANCELLED, time.time(), err.kind, err.code, err.text("en"),
                                      json.dumps(err.params) if err.params else None, job_id))
                    status = CANCELLED
                elif status == RUNNING:
                    self._db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return status

    def requeue(self, job_id: str, note: str = "re-queued", *, running: bool = False) -> bool:
        """An interrupted, failed or cancelled job goes back to the end of the queue (same id); with
        ``running``, a running one whose worker is gone, in the same step (a page following it never sees
        it end)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT status, parent FROM jobs WHERE id=?", (job_id,)).fetchone()
                ok = bool(row) and row[0] in ((RUNNING,) if running else (INTERRUPTED, FAILED, CANCELLED)) \
                    and row[1] is None
                if ok:
                    (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()
                    self._db.execute(
                        "UPDATE jobs SET status=?, seq=?, started_at=NULL, finished_at=NULL, worker=NULL, "
                        "progress=NULL, preview=NULL, cancel_requested=0, files=NULL, result=NULL, error_kind=NULL, "
                        "error_code=NULL, error_message=NULL, error_params=NULL, note=? WHERE id=?",
                        (QUEUED, seq, note, job_id))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ok

    # -- workers -----------------------------------------------------------------------------------
    def worker_seen(self, worker: str, *, kind: str, state: str, job: str | None = None, node: str | None = None,
                    device: str | None = None, pid: int | None = None, info: dict | None = None,
                    job_done: bool = False) -> None:
        """A worker's heartbeat: its row created or refreshed (``job_done`` counts one more finished job)."""
        now = time.time()
        self._exec(
            "INSERT INTO workers(id, kind, node, device, pid, state, job, jobs_done, started_at, heartbeat, info) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET state=excluded.state, job=excluded.job, "
            "heartbeat=excluded.heartbeat, jobs_done=jobs_done+excluded.jobs_done, "
            "node=COALESCE(excluded.node, node), device=COALESCE(excluded.device, device), "
            "pid=COALESCE(excluded.pid, pid), info=COALESCE(excluded.info, info)",
            (worker, kind, node, device, pid, state, job, int(job_done), now, now,
             json.dumps(info, ensure_ascii=False) if info is not None else None))

    def workers(self, include_stopped: bool = False) -> list[dict]:
        """Every worker that reported, newest first, with ``state`` ``dead`` where its heartbeat stopped."""
        out = []
        now = time.time()
        for row in self._exec("SELECT id, kind, node, device, pid, state, job, jobs_done, started_at, heartbeat, "
                              "info FROM workers ORDER BY started_at DESC").fetchall():
            w = dict(zip(("id", "kind", "node", "device", "pid", "state", "job", "jobs_done", "started_at",
                          "heartbeat", "info"), row))
            w["info"] = json.loads(w["info"]) if w["info"] else {}
            if w["state"] != STOPPED and w["state"] != DEAD and (
                    now - w["heartbeat"] > STALE_S or not worker_alive(w["id"])):
                w["state"] = DEAD
            if w["state"] == STOPPED and not include_stopped:
                continue
            out.append(w)
        return out

    def heartbeat_fresh(self, worker: str) -> bool | None:
        """Whether a worker's heartbeat is recent and it did not stop (None: it never reported)."""
        row = self._exec("SELECT state, heartbeat FROM workers WHERE id=?", (worker,)).fetchone()
        if row is None:
            return None
        return row[0] not in (STOPPED, DEAD) and time.time() - row[1] <= STALE_S

    def running_on(self, worker: str) -> list[JobRecord]:
        return self._select("status=? AND worker=?", (RUNNING, worker))

    def forget_workers(self, older_than_s: float = 3600.0) -> None:
        """Rows of stopped or long-silent workers go (the panel shows the living and the recently dead)."""
        self._exec("DELETE FROM workers WHERE heartbeat < ?", (time.time() - older_than_s,))

    # -- ownership of files ------------------------------------------------------------------------
    def owned_files(self) -> set[str]:
        """Relative paths that some job owns (done results, and planned files of running jobs)."""
        out: set[str] = set()
        for (files,) in self._exec("SELECT files FROM jobs WHERE files IS NOT NULL").fetchall():
            out.update(json.loads(files))
        return out

    def active_files(self) -> set[str]:
        """Relative paths that a job not yet finished owns (:func:`active_files` of a folder)."""
        with self._lock:
            return _active_files(self._db)

    def inputs_in_use(self, keep_failed_s: float = 86400.0) -> set[str]:
        """Input pictures that a job may still need: queued, running or interrupted ones, and failed or
        cancelled ones for a day (they can be re-queued)."""
        out = set()
        since = time.time() - keep_failed_s
        for (params,) in self._exec("SELECT params FROM jobs WHERE status IN (?,?,?) OR (status IN (?,?) "
                                    "AND finished_at > ?)", (QUEUED, RUNNING, INTERRUPTED, FAILED, CANCELLED,
                                                             since)).fetchall():
            img = json.loads(params).get("image")
            if isinstance(img, str):
                out.add(img)
        return out


# -- what running jobs own, for retention in any process ----------------------------------------------------
def _active_files(db: sqlite3.Connection) -> set[str]:
    out: set[str] = set()
    active = ",".join("?" * len(ACTIVE))
    # planned files of queued and running jobs (a segment renamed into place before its row), the committed
    # children of a job not yet finished (its segments or drafts: a resumed job goes on from them), and the
    # video a queued or running job reads (the source of an extend or a smoothing)
    for files, params in db.execute(
            f"SELECT files, params FROM jobs WHERE status IN ({active}) OR parent IN "
            f"(SELECT id FROM jobs WHERE status IN ({active}))", (*ACTIVE, *ACTIVE)).fetchall():
        if files:
            out.update(f for f in json.loads(files) if isinstance(f, str))
        video = json.loads(params).get("video") if params else None
        if isinstance(video, str):
            out.add(video)
    return out


def active_files(folder: str | Path) -> set[str] | None:
    """Relative paths (in ``folder``) owned by a job that has not finished: the files retention must leave,
    whichever process runs it (a job's own process knew them; another worker process did not, and removed
    a long video's segments while it ran).  None when the store cannot be read (retention then removes no
    result); an empty set when there is no store.  Opened read-only: it never creates nor changes one."""
    path = Path(folder) / DB_NAME
    if not path.exists():
        return set()
    db = None
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        db.execute("PRAGMA busy_timeout=30000")
        return _active_files(db)
    except (sqlite3.Error, ValueError, OSError):
        return None
    finally:
        if db is not None:
            db.close()


# -- a damaged store -------------------------------------------------------------------------------------
ASIDE_PREFIX = ".damaged-store-"  # hidden: never served by the page, never scanned as a result folder
NOTE_NAME = "what-happened.json"
WAL_SUFFIX, SHM_SUFFIX = "-wal", "-shm"
_SQLITE_HEADER = b"SQLite format 3\x00"
_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_NO_ACCESS = {3, 8, 14, 23}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH


@dataclass
class Damage:
    """What :func:`inspect_store` found: ``what`` is ``damaged`` (the database itself) or ``journal_lost``
    (the database is whole but older than it was: its -wal file held committed changes and is gone)."""

    what: str
    detail: str


def _side(folder: Path, suffix: str) -> Path:
    return folder / (DB_NAME + suffix)


def _journal_lost(folder: Path) -> int:
    """Pages of committed changes that the -shm file says the -wal file holds, when that file is gone or
    shorter than them (0: nothing lost).  SQLite keeps its WAL index (the -shm file) beside the journal; a
    process that dies (kill -9, a power cut of the process) leaves both, and the next opener replays the
    journal.  Without it SQLite opens the database silently as of its last checkpoint: this is the one
    trace left of what was lost."""
    shm, wal = _side(folder, SHM_SUFFIX), _side(folder, WAL_SUFFIX)

    def index() -> tuple | None:
        try:
            with open(shm, "rb") as f:
                head = f.read(100)
        except OSError:
            return None
        if len(head) < 100 or head[:48] != head[48:96]:  # two copies that differ: a writer is at work
            return None
        version, _, _, is_init, _, sz_page, max_frame = struct.unpack("=IIIBBHI", head[:20])
        (backfilled,) = struct.unpack("=I", head[96:100])
        if version != 3007000 or not is_init:
            return None
        return (sz_page & 0xFE00) + ((sz_page & 1) << 16), max_frame, backfilled

    first = index()
    if first is None or first[1] <= first[2]:
        return 0
    page, frames, backfilled = first
    try:
        have = wal.stat().st_size
    except FileNotFoundError:
        have = 0
    if have >= 32 + frames * (24 + page):
        return 0
    # the last connection of a running studio may just have closed: it checkpoints, then removes both files
    return frames - backfilled if index() == first else 0


def inspect_store(folder: str | Path) -> Damage | None:
    """Look at ``folder``'s store without changing it: None when it is whole (or there is none yet).

    Raises ``store_no_access`` (exit 3) when this user cannot read and write it (a read-only file, a file
    of another user): that store is not damaged, and is never set aside.  The checks: the file is there when
    its journal is; it starts with SQLite's header (an empty file without a journal is a store being
    created, as SQLite itself sees it: the results a lost one held come back from their sidecars at the
    studio's start); its journal holds what its index says it does (:func:`_journal_lost`); then
    ``PRAGMA quick_check`` (0.04 s on a 92 MB store of 3000 jobs with
    their previews: it checks the tree pages, not every blob)."""
    folder = Path(folder)
    path, wal = folder / DB_NAME, _side(folder, WAL_SUFFIX)
    if not path.exists():
        if wal.exists() and wal.stat().st_size > 0:
            return Damage("damaged", f"{DB_NAME} is missing, but its journal {wal.name} is there")
        return None
    for p in (folder, path, wal, _side(folder, SHM_SUFFIX)):
        if p.exists() and not os.access(p, os.R_OK | os.W_OK | (os.X_OK if p.is_dir() else 0)):
            raise OutOfResources("store_no_access", path=p, detail="read-only for this user"
                                 if os.access(p, os.R_OK) else "not readable by this user")
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError as exc:
        raise OutOfResources("store_no_access", path=path, detail=exc.strerror or type(exc).__name__) from None
    if not head:  # SQLite's own view: an empty file is a new database (another process is creating it now)
        if wal.exists() and wal.stat().st_size > 0:
            return Damage("damaged", f"the file is empty, but its journal {wal.name} is not")
        return None
    if not head.startswith(_SQLITE_HEADER):
        return Damage("damaged", "it is not an SQLite database")
    lost = _journal_lost(folder)
    if lost:
        return Damage("journal_lost", f"its journal {wal.name} is gone with {lost} pages of changes that were "
                                      f"not yet saved in {DB_NAME}")
    db = None
    try:
        db = sqlite3.connect(path, timeout=30, isolation_level=None)
        rows = [r[0] for r in db.execute("PRAGMA quick_check(3)").fetchall()]
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in _CORRUPT:
            return Damage("damaged", str(exc))
        if code in _NO_ACCESS:
            raise OutOfResources("store_no_access", path=path, detail=str(exc)) from None
        raise
    finally:
        if db is not None:
            db.close()
    if rows != ["ok"]:
        return Damage("damaged", "; ".join(" ".join(str(r).split()) for r in rows)[:300])
    return None


def repair_store(folder: str | Path, log: Callable[[str], None] = print) -> dict | None:
    """At the studio's start, under its lock on the folder (the one process that may): a damaged store is
    moved aside with its journal and index into ``.damaged-store-<time>/`` (a new one starts empty and the
    recovery imports the results on disk); a store whose journal is gone stays (it is whole, as of its last
    checkpoint) and its stale index is moved aside instead.  Returns the note written beside the copy
    (``what-happened.json``), or None when the store was whole.  Raises ``store_no_access`` as
    :func:`inspect_store`.

    Why set aside and rebuild rather than refuse: a refusal leaves the user a studio that will not start and
    an SQLite file they can only delete or repair by hand, while the part worth keeping (the results) is
    rebuilt in seconds from the sidecars (the JSON beside each MP4).  Nothing is lost by it: the copy is
    never deleted, and what a rebuild cannot bring back (queued, failed and cancelled jobs, a sweep's link to
    its videos) stays in it.  Nothing happens quietly either: the log says so, and the page's banner and
    ``python -m i2v jobs`` show a note for as long as the copy is kept.  Every other opener (the CLI, a
    worker) refuses with one line and moves nothing (:class:`JobStore`): a read command must not move
    files, and it may run beside a studio that owns the folder.  A whole store that this user may not
    write (a read-only file) is refused everywhere and never set aside: nothing is wrong with it."""
    folder = Path(folder)
    damage = inspect_store(folder)
    if damage is None:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = folder / f"{ASIDE_PREFIX}{stamp}"
    n = 1
    while aside.exists():
        n += 1
        aside = folder / f"{ASIDE_PREFIX}{stamp}-{n}"
    aside.mkdir()
    note = {"what": damage.what, "detail": damage.detail, "when": time.time(), "aside": aside.name,
            "moved": [], "imported": None}
    suffixes = ("", WAL_SUFFIX, SHM_SUFFIX) if damage.what == "damaged" else (WAL_SUFFIX, SHM_SUFFIX)
    for suffix in suffixes:
        src = _side(folder, suffix)
        if src.exists():
            os.replace(src, aside / src.name)
            note["moved"].append(src.name)
    if damage.what == "journal_lost":
        again = inspect_store(folder)  # the database alone: a checkpoint cut short leaves it torn
        if again is not None:
            os.replace(folder / DB_NAME, aside / DB_NAME)
            note["moved"].insert(0, DB_NAME)
            note.update(what="damaged", detail=f"{damage.detail}; without it, {again.detail}")
    _write_note(aside, note)
    log(f"WARNING: the job store {folder / DB_NAME} was damaged ({note['detail']}): "
        + (f"moved it aside to {aside} and started a new one; the results on disk are imported again"
           if note["what"] == "damaged" else
           f"kept it as of its last checkpoint (jobs recorded since then are lost) and moved "
           f"{', '.join(note['moved'])} to {aside}; the results on disk that it lost are imported again"))
    return {**note, "path": str(aside)}


def rebuilt(note: dict, report: dict, log: Callable[[str], None] = print) -> None:
    """After the recovery that followed :func:`repair_store`: record how many results came back."""
    aside = Path(note["path"])
    saved = {k: v for k, v in note.items() if k != "path"}
    saved["imported"] = int(report.get("imported", 0))
    saved["recovered"] = int(report.get("recovered", 0))
    _write_note(aside, saved)
    log(f"WARNING: {store_notice({**saved, 'path': str(aside)})}")


def _write_note(aside: Path, note: dict) -> None:
    tmp = aside / f".{NOTE_NAME}.tmp"
    tmp.write_text(json.dumps(note, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, aside / NOTE_NAME)


def store_notes(folder: str | Path) -> list[dict]:
    """The notes of the damaged stores set aside in ``folder``, oldest first (shown until the copy is deleted)."""
    out = []
    for aside in sorted(Path(folder).glob(f"{ASIDE_PREFIX}*")):
        try:
            note = json.loads((aside / NOTE_NAME).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            note = None
        if not isinstance(note, dict):
            note = {"what": "damaged", "detail": "?", "when": None, "imported": None}
        note["aside"] = aside.name
        note["path"] = str(aside)
        out.append(note)
    return out


def store_notice(note: dict, lang: str = "en", full_path: bool = True) -> str:
    """One note as the CLI and the log (``full_path``) or the page (the folder's name in outputs/) say it."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(note["when"])) if note.get("when") else "?"
    imported = note.get("imported")
    params = dict(when=when, detail=note.get("detail", "?"), imported="?" if imported is None else imported,
                  aside=note.get("path") if full_path and note.get("path") else note.get("aside"))
    # the damaged store's family of errors, for its words only: a notice, never raised
    notice = InvalidInput("store_journal_lost", **params) if note.get("what") == "journal_lost" \
        else InvalidInput("store_set_aside", **params)
    return notice.text(lang)
