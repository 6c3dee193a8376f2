"""Several workers on one machine: one process per GPU (or per share of the CPU), each holding its own
model and claiming jobs from the shared job store.

The studio (or ``python -m i2v worker --workers N``) starts them as ``python -m i2v worker --member``
processes, each pinned to its device with ``CUDA_VISIBLE_DEVICES``, and watches them: a worker that dies
(kill -9, out of host memory, a driver crash) has its running job ended ``interrupted`` and re-queued
once, and is started again (at most ``restarts`` times).  Progress, previews and cancel need nothing
more: they go through the store, which every process shares.  Pure (subprocess and the standard
library): the model lives in the worker processes, never in this one.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .store import DEAD


@dataclass
class _Slot:
    name: str
    device: str
    gpu: int | None
    proc: subprocess.Popen | None = None
    restarts: int = 0

    @property
    def worker(self) -> str | None:
        """The store's id of the process in this slot (host:pid:name, as the worker writes it)."""
        if self.proc is None:
            return None
        return f"{socket.gethostname()}:{self.proc.pid}:{self.name}"


def die_with_parent() -> None:
    """Called first thing in a pool's worker process: it ends when the process that started it ends, even
    by kill -9 (Linux; elsewhere a no-op).  Done in the child itself, not in a preexec_fn, which is unsafe
    in a process with threads."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = os.environ.get("I2V_POOL_PARENT", "")
    if parent.isdigit() and os.getppid() != int(parent):  # the parent was already gone before the call
        os.kill(os.getpid(), signal.SIGTERM)


class LocalPool:
    """``n`` worker processes of this machine: GPU ``gpus[i]`` for worker i, or the CPU when ``gpus`` is
    empty (then each gets an equal share of the cores)."""

    def __init__(self, jobs, n: int, *, gpus: list[int] | None = None, worker_args: list[str] | None = None,
                 log: Callable[[str], None] | None = None, restarts: int = 3, poll: float = 0.5):
        self.jobs, self.n = jobs, n
        self.gpus = list(gpus or [])
        self.worker_args = list(worker_args or [])
        self.log = log or jobs.log
        self.max_restarts, self.poll = restarts, poll
        self.slots = [_Slot(f"gpu{self.gpus[i]}" if self.gpus else f"cpu{i}",
                            f"cuda:{self.gpus[i]}" if self.gpus else "cpu",
                            self.gpus[i] if self.gpus else None) for i in range(n)]
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def _spawn(self, slot: _Slot) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", I2V_POOL_PARENT=str(os.getpid()))
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(slot.gpu)
        else:  # oversubscribed torch threads are 5-10x slower: split the cores
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.n))
        cmd = [sys.executable, "-m", "i2v", "worker", "--member", "--name", slot.name, "--device-label", slot.device,
               *self.worker_args]
        slot.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
        self.log(f"worker {slot.name} started (pid {slot.proc.pid}, {slot.device})")

    def start(self) -> LocalPool:
        for slot in self.slots:
            self._spawn(slot)
        self._watcher = threading.Thread(target=self._watch, name="i2v-pool", daemon=True)
        self._watcher.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            for slot in self.slots:
                if slot.proc is None or self._stop.is_set():
                    continue
                rc = slot.proc.poll()
                if rc is None:
                    continue
                if rc == 0:  # it was asked to stop (Ctrl-C reaches the whole process group) and did
                    self.log(f"worker {slot.name} stopped")
                    slot.proc = None
                    continue
                wid = slot.worker
                why = f"worker {slot.name} stopped (exit code {rc})"
                self.log(why)
                self.jobs.worker_lost(wid, why)
                self.jobs.store.worker_seen(wid, kind="local", state=DEAD)
                slot.proc = None
                if slot.restarts < self.max_restarts:
                    slot.restarts += 1
                    self._spawn(slot)
                else:
                    self.log(f"worker {slot.name} is not started again ({slot.restarts} restarts)")

    def describe(self) -> str:
        devices = sorted({s.device for s in self.slots})
        return f"{self.n} worker processes ({', '.join(devices)})"

    def idle(self) -> bool:
        st = self.jobs.store
        return not st.list(status=["queued", "running"], parent=None, limit=1)

    def stop(self, timeout: float = 30.0) -> None:
        """A polite stop: each worker puts its running job back in the queue and exits."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join()
        procs = [s.proc for s in self.slots if s.proc is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        end = time.time() + timeout
        for p in procs:
            try:
                p.wait(max(0.1, end - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for s in self.slots:  # a worker killed at the deadline leaves its job to the next start's recovery
            if s.proc is not None and s.proc.returncode not in (0, None):
                self.jobs.worker_lost(s.worker, f"worker {s.name} was stopped")


def visible_gpus() -> list[int]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES numbers them for a child (empty: none)."""
    from ..engine import cuda_device_count

    n = cuda_device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if listed and all(d.isdigit() for d in listed):
        return [int(d) for d in listed[:n]]
    return list(range(n))


def start_pool(jobs, *, workers: int | None, ray: str | None, worker_args: list[str],
               log: Callable[[str], None] | None = None):
    """The workers of a studio or of ``python -m i2v worker``: Ray actors with ``ray``, else one process per
    visible GPU (``workers`` overrides; on a machine without a GPU, ``workers`` processes on the CPU)."""
    if ray:
        from .raypool import RayPool

        return RayPool(jobs, ray, workers, log=log).start()
    gpus = visible_gpus()
    n = workers or max(1, len(gpus))
    return LocalPool(jobs, n, gpus=[gpus[i % len(gpus)] for i in range(n)] if gpus else [], worker_args=worker_args,
                     log=log).start()
