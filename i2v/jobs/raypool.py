"""Workers as Ray actors: one per GPU across a Ray cluster (``num_gpus=1``), or N CPU actors.

The studio is the head: it keeps the job store and dispatches each queued job to an idle actor.  An
actor holds the model and runs the job with its own job service on a private folder of its node; the
head copies the progress and the latest preview into the store while it runs (so the page shows a remote
job exactly like a local one), forwards a cancel, and when it ends takes the result's files back through
Ray's object store and commits them into ``outputs/`` with the job, as a local worker would.  An actor,
or a node, that dies mid-job has its job re-queued once; a node that joins later gets actors (every
``scale_every`` seconds the head compares the cluster's GPUs with its actors).

Nothing here is imported without ``--ray``.  Ray's token authentication is switched on for the
instance this starts (``RAY_AUTH_MODE=token`` unless set), and its dashboard is not started.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..base.errors import I2VError, InternalError, InvalidInput
from .kinds import GENERATE
from .store import BUSY, DEAD, DONE, FAILED, IDLE, LOADING, JobRecord

NAMESPACE = "i2v-studio"
ACTOR_DIR = "i2v-actor-"  # each actor's folder on its node: i2v-actor-<pid>-<random>


def _ray():
    try:
        import ray
    except ImportError as exc:
        raise InvalidInput("ray_missing", detail=str(exc)) from None
    return ray


class StudioActor:
    """One worker on a Ray node: the model, and a job service on a folder of its own."""

    def __init__(self, cfg_data: dict, wid: str, threads: int | None = None):
        import tempfile

        from ..base.config import Config
        from ..studio import Studio
        from .service import JobService

        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
            import torch

            torch.set_num_threads(threads)
        self.wid = wid
        self.folder = Path(tempfile.mkdtemp(prefix=f"{ACTOR_DIR}{os.getpid()}-"))
        _sweep_actor_dirs(self.folder.parent)
        self.jobs = JobService(Studio(Config(data=cfg_data), outputs=self.folder), name=wid)
        self.jobs.studio.engine()  # the model now: the actor is ready once it has it
        self.local: str | None = None

    def info(self) -> dict:
        import ray

        i = self.jobs.studio.model_info()
        gpus = ray.get_gpu_ids()
        # the host name and Ray's node id (two nodes may share a host name: containers, one test machine)
        return {"node": f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:8]}",
                "pid": os.getpid(), "device": f"{i.device} (GPU {','.join(map(str, gpus))})" if gpus else i.device,
                "model": {"model": i.model_id, "kind": i.kind, "device": i.device, "dtype": i.dtype, "demo": i.demo,
                          "notices": list(i.notices), "fallback": i.fallback}}

    def run(self, kind: str, params: dict, files: dict[str, bytes]) -> dict:
        """Run one job here; return how it ended, with the bytes of its result files."""
        for rel, data in files.items():
            p = self.folder / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        store = self.jobs.store
        job = store.submit(kind, params, worker=self.jobs.worker)
        self.local = job.id
        try:
            self.jobs.execute(job)
        finally:
            self.local = None
        rec = store.get(job.id)
        children = [{"kind": c.kind, "params": c.params, "result": c.result, "files": c.files}
                    for c in store.list(parent=job.id, limit=None, newest_first=False)]
        names = list(rec.files) + [f for c in children for f in c["files"]]
        blobs = {}
        for rel in names:
            p = self.folder / rel
            blobs[rel] = p.read_bytes()
            p.unlink(missing_ok=True)
        for rel in files:
            (self.folder / rel).unlink(missing_ok=True)
        error = None if rec.status == DONE else {"kind": rec.error_kind, "code": rec.error_code,
                                                 "message": rec.error_message, "params": rec.error_params}
        return {"status": rec.status, "result": rec.result, "files": rec.files, "children": children,
                "blobs": blobs, "error": error}

    def progress(self) -> tuple[dict, bytes | None] | None:
        job = self.local
        if job is None:
            return None
        rec = self.jobs.store.get(job)
        return (rec.progress, self.jobs.store.preview(job)) if rec else None

    def cancel(self) -> None:
        if self.local is not None:
            self.jobs.store.cancel(self.local)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        """Before the head kills this actor: its folder goes (a killed actor's goes at the next start)."""
        import shutil

        self.cancel()
        shutil.rmtree(self.folder, ignore_errors=True)


def _sweep_actor_dirs(tmp: Path) -> None:
    """Folders of actors whose process is gone (killed, or their node restarted)."""
    import shutil

    from ..media.video import pid_alive

    for d in tmp.glob(f"{ACTOR_DIR}*-*"):
        pid = d.name[len(ACTOR_DIR):].partition("-")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class _Actor:
    wid: str
    handle: object
    ready: object                      # the ref of info(): resolves once the model is loaded
    state: str = LOADING
    node: str | None = None
    device: str | None = None
    pid: int | None = None
    info: dict | None = None
    job: JobRecord | None = None
    ref: object = None                 # the running job's result
    prog: object = None                # a pending progress() call
    ping: object = None
    cancel_sent: bool = False


class RayPool:
    """The head's side: actors, dispatch, progress, cancel, results, lost actors, late nodes."""

    def __init__(self, jobs, address: str, n: int | None = None, *, log: Callable[[str], None] | None = None,
                 poll: float = 0.2, scale_every: float = 5.0, beat: float = 2.0):
        self.jobs, self.store, self.address, self.n = jobs, jobs.store, address, n
        self.log = log or jobs.log
        self.poll, self.scale_every, self.beat = poll, scale_every, beat
        self.actors: dict[str, _Actor] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.gpu = False

    # -- start and stop ----------------------------------------------------------------------------
    def start(self) -> RayPool:
        # Token authentication on (Ray reads these when it is imported): for an instance we start, a fresh
        # token of its own; to join a cluster, the cluster's (RAY_AUTH_TOKEN or ~/.ray/auth_token).
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        if self.address == "local" and os.environ["RAY_AUTH_MODE"] == "token" and not (
                os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        ray = self.ray = _ray()
        common = dict(include_dashboard=False, log_to_driver=False, configure_logging=False, namespace=NAMESPACE)
        try:
            if self.address == "local":
                ray.init(num_cpus=max(self.n or 1, os.cpu_count() or 1), **common)
            else:
                ray.init(address=self.address, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InvalidInput("ray_connect", address=self.address, detail=str(exc).splitlines()[0][:200]) from None
        self.gpu = ray.cluster_resources().get("GPU", 0) >= 1
        self._cls = ray.remote(StudioActor)
        self._scale()
        if not self.actors:
            raise InvalidInput("no_ray_workers", detail=str(ray.cluster_resources()))
        self._thread = threading.Thread(target=self._loop, name="i2v-ray", daemon=True)
        self._thread.start()
        return self

    def describe(self) -> str:
        kind = "GPU" if self.gpu else "CPU"
        return f"{len(self.actors)} Ray {kind} actor(s) on {self.address}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        closing = [a.handle.close.remote() for a in self.actors.values()]
        self.ray.wait(closing, num_returns=len(closing), timeout=10)
        for a in list(self.actors.values()):
            if a.job is not None:  # a polite stop: the job goes back to the queue
                self.store.requeue(a.job.id, note="the studio stopped; re-queued", running=True)
            self.store.worker_seen(a.wid, kind="ray", state="stopped")
            self.ray.kill(a.handle)
        self.actors.clear()
        self.ray.shutdown()

    def idle(self) -> bool:
        return not self.store.list(status=["queued"], parent=None, limit=1) and \
            all(a.job is None for a in self.actors.values())

    # -- actors ------------------------------------------------------------------------------------
    def _wanted(self) -> int:
        if self.n:
            return self.n
        if self.gpu:  # one per GPU of the cluster, nodes that joined since included
            return int(self.ray.cluster_resources().get("GPU", 0))
        return 1

    def _scale(self) -> None:
        missing = self._wanted() - len(self.actors)
        threads = None if self.gpu else max(1, (os.cpu_count() or 1) // max(1, self._wanted()))
        for _ in range(max(0, missing)):
            # host:pid of this head, then the actor: a job left running by a head that died is recovered
            wid = f"{socket.gethostname()}:{os.getpid()}:ray-{secrets.token_hex(4)}"
            opts = {"num_gpus": 1} if self.gpu else {"num_cpus": 1}
            handle = self._cls.options(name=wid, max_concurrency=4, **opts).remote(
                self.jobs.studio.cfg.data, wid, threads)
            self.actors[wid] = _Actor(wid, handle, handle.info.remote())
            self.store.worker_seen(wid, kind="ray", state=LOADING)
            self.log(f"Ray actor {wid} starting ({'1 GPU' if self.gpu else '1 CPU'})")

    def _lost(self, a: _Actor, why: str) -> None:
        self.actors.pop(a.wid, None)
        self.log(why)
        self.store.worker_seen(a.wid, kind="ray", state=DEAD)
        if a.job is not None:
            self.jobs.worker_lost(a.wid, why)

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self) -> None:
        last_scale = last_beat = time.monotonic()
        while not self._stop.wait(self.poll):
            try:
                self._round()
                now = time.monotonic()
                if now - last_beat >= self.beat:
                    last_beat = now
                    self._heartbeats()
                if now - last_scale >= self.scale_every:
                    last_scale = now
                    self._ping()
                    self._scale()
            except Exception as exc:  # noqa: BLE001 - one bad round must not end dispatching
                self.log(f"Ray dispatcher: {InternalError.wrap(exc)}")

    def _done(self, ref) -> bool:
        return bool(ref is not None and self.ray.wait([ref], timeout=0)[0])

    def _round(self) -> None:
        errors = self.ray.exceptions
        for a in list(self.actors.values()):
            if a.state == LOADING and self._done(a.ready):
                try:
                    info = self.ray.get(a.ready)
                except errors.RayError as exc:
                    self._lost(a, f"Ray actor {a.wid} could not start: {str(exc).splitlines()[0][:200]}")
                    continue
                a.node, a.pid, a.device, a.info = info["node"], info["pid"], info["device"], info["model"]
                a.state = IDLE
                self.log(f"Ray actor {a.wid} ready on {a.node} ({a.device})")
                self._beat(a)
            if a.state == IDLE and a.job is None:
                job = self.store.claim(a.wid)
                if job is not None:
                    self._dispatch(a, job)
            elif a.job is not None:
                self._follow(a, errors)

    def _dispatch(self, a: _Actor, job: JobRecord) -> None:
        files = {}
        for key in ("image", "video"):
            rel = job.params.get(key)
            p = self.jobs.abs(rel) if isinstance(rel, str) else None
            if p is not None and p.is_file():
                files[rel] = p.read_bytes()
        a.job, a.state, a.cancel_sent, a.prog = job, BUSY, False, None
        a.ref = a.handle.run.remote(job.kind, job.params, files)
        self._beat(a)

    def _follow(self, a: _Actor, errors) -> None:
        job = a.job
        if self._done(a.ref):
            try:
                out = self.ray.get(a.ref)
            except errors.RayActorError:
                self._lost(a, f"Ray actor {a.wid} on {a.node} died while running job {job.id}")
                return
            except errors.RayError as exc:
                self.store.finish(job.id, FAILED, error=InternalError.wrap(exc).to_json())
                out = None
            if out is not None:
                try:
                    self._commit(a, job, out)
                except Exception as exc:  # noqa: BLE001 - a full disk here fails this job, not the dispatcher
                    for rel in out["files"]:
                        self.jobs.abs(rel).unlink(missing_ok=True)
                    err = exc if isinstance(exc, I2VError) else InternalError.wrap(exc)
                    self.store.finish(job.id, FAILED, error=err.to_json())
            a.job, a.ref, a.prog, a.state = None, None, None, IDLE
            self.store.worker_seen(a.wid, kind="ray", state=IDLE, job_done=True)
            return
        if a.prog is None:
            a.prog = a.handle.progress.remote()
        elif self._done(a.prog):
            try:
                got = self.ray.get(a.prog)
            except errors.RayError:
                got = None
            a.prog = None
            if got and got[0]:
                self.store.progress(job.id, got[0], got[1])
        if not a.cancel_sent and self.store.cancel_requested(job.id):
            a.handle.cancel.remote()
            a.cancel_sent = True

    def _commit(self, a: _Actor, job: JobRecord, out: dict) -> None:
        """The result's files into outputs/ under the same names, then the job ends (as a local one)."""
        from ..media.video import atomic_path

        if out["status"] != DONE:
            self.store.finish(job.id, out["status"], error=out["error"])
            return
        self.store.plan_files(job.id, out["files"])
        for rel, data in out["blobs"].items():
            target = self.jobs.abs(rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(target) as tmp:
                Path(tmp).write_bytes(data)
        for c in out["children"]:
            self.store.add_done(c.get("kind", GENERATE), c["params"], c["result"], c["files"], parent=job.id,
                                client=job.client, worker=a.wid)  # a sweep's videos, a long video's segments
        self.store.finish(job.id, DONE, result=out["result"], files=out["files"])

    def _ping(self) -> None:
        """Idle actors answer a ping, or are lost (a node that went away with no job on it)."""
        errors = self.ray.exceptions
        for a in list(self.actors.values()):
            if a.state != IDLE or a.job is not None:
                continue
            if a.ping is not None and self._done(a.ping):
                try:
                    self.ray.get(a.ping)
                except errors.RayActorError:
                    self._lost(a, f"Ray actor {a.wid} on {a.node} is gone")
                    continue
                a.ping = None
            if a.ping is None:
                a.ping = a.handle.ping.remote()

    def _beat(self, a: _Actor) -> None:
        self.store.worker_seen(a.wid, kind="ray", state=a.state, job=a.job.id if a.job else None, node=a.node,
                               device=a.device, pid=a.pid, info=a.info)

    def _heartbeats(self) -> None:
        for a in list(self.actors.values()):
            self._beat(a)
