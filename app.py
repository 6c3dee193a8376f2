"""Start the web studio.

    python app.py [--model tiny] [--port 7860] [--listen --auth user:pass] ...

Safe by default: it listens on 127.0.0.1 only; exposing it (--listen) requires a password.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import threading
from pathlib import Path

from i2v.cli import add_model_args, add_speed_args, speed_argv, speed_overrides


class OneLineParser(argparse.ArgumentParser):
    """A bad argument is one line on stderr and exit 2 (not the usage block)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def _whole(lo: int, hi: int, what: str):
    def parse(text: str) -> int:
        try:
            v = int(str(text).strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number from {lo} to {hi} (got {text!r})") \
                from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be from {lo} to {hi} (got {v})")
        return v
    return parse


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$", re.I)


def file_size(text: str) -> int:
    """'25mb' -> bytes (as Gradio reads --max-file-size: powers of 1024)."""
    m = _SIZE.match(str(text))
    if not m:
        raise argparse.ArgumentTypeError(f"a size like 25mb (got {text!r})")
    n = float(m.group(1)) * 1024 ** ("b", "kb", "mb", "gb").index((m.group(2) or "b").lower())
    if not 1024 <= n <= 2 * 1024**3:
        raise argparse.ArgumentTypeError(f"a size from 1kb to 2gb (got {text!r})")
    return int(n)


def parse_args(argv=None) -> argparse.Namespace:
    p = OneLineParser(description="I2V Studio web app")
    add_model_args(p)
    p.add_argument("--config", default=None, help="config YAML (default: configs/default.yaml)")
    p.add_argument("--outputs", default=None, help="output folder (default: outputs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=_whole(1, 65535, "the port (--port or I2V_PORT)"),
                   default=os.environ.get("I2V_PORT", "7860"), help="port (default 7860, or $I2V_PORT)")
    p.add_argument("--listen", action="store_true", help="serve on all interfaces (needs --auth or --auth-file)")
    p.add_argument("--auth", default=None, help="user:password required to open the studio")
    p.add_argument("--auth-file", default=None, help="file with one user:password per line")
    p.add_argument("--allowed-hosts", default="", help="extra Host header names to accept, comma-separated")
    p.add_argument("--trust-proxy", action="store_true",
                   help="behind a reverse proxy: believe its X-Forwarded-Host/-Proto/-For headers")
    p.add_argument("--queue-size", type=_whole(0, 10000, "--queue-size"), default=8,
                   help="jobs that may wait; more are refused")
    p.add_argument("--max-file-size", type=file_size, default="25mb", help="largest upload accepted (default 25mb)")
    p.add_argument("--requeue-interrupted", action="store_true",
                   help="put jobs that a crash or kill interrupted back in the queue at start")
    p.add_argument("--workers", type=_whole(1, 64, "the number of workers"), default=None,
                   help="worker processes, each with its own model (default: one per visible GPU; 1 runs the "
                        "jobs in this process); with --ray, the number of Ray actors")
    p.add_argument("--ray", default=None, metavar="local|auto|ADDRESS",
                   help="run the workers as Ray actors: 'local' starts Ray on this machine, 'auto' or an address "
                        "joins a running cluster (see docs/jobs-and-workers.md)")
    add_speed_args(p)
    return p.parse_args(argv)


def read_auth(a: argparse.Namespace) -> list[tuple[str, str]] | None:
    from i2v.base.errors import InvalidInput

    pairs: list[str] = []
    if a.auth:
        pairs.append(a.auth)
    if a.auth_file:
        try:
            text = Path(a.auth_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            detail = "not a file" if Path(a.auth_file).is_dir() else getattr(exc, "strerror", None) or "not text"
            raise InvalidInput("auth_file", path=a.auth_file, detail=detail) from None
        pairs += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    out = []
    for pair in pairs:
        user, sep, pw = pair.partition(":")
        if not sep or not user or not pw:
            raise InvalidInput("auth_format")
        out.append((user, pw))
    return out or None


def _every(seconds: float, fn, stop) -> None:
    while not stop.wait(seconds):
        fn()


def _interrupt(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM while stopping must not interrupt the stop
    raise KeyboardInterrupt


def _stopping(stop: threading.Event, wake: threading.Event):
    """The handler of a polite stop (TERM, Ctrl-C): the worker stops at once (its running job goes back to
    the queue after the current step, and it claims no other), then the web server closes.  Closing the
    server can take seconds (open event streams); a worker still claiming jobs meanwhile ran two queued
    jobs to their end during one such stop (the restart browser test caught it)."""
    def handler(signum, frame):
        stop.set()
        wake.set()
        _interrupt(signum, frame)
    return handler


def main(argv=None) -> int:
    from i2v.base.errors import I2VError

    a = parse_args(argv)
    try:
        return serve(a)
    except I2VError as exc:  # every check before serving: one line, exit 2 (bad input) or 3 (disk)
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


def serve(a: argparse.Namespace) -> int:
    from i2v.base.errors import InvalidInput

    auth = read_auth(a)
    host = "0.0.0.0" if a.listen else a.host
    try:
        socket.getaddrinfo(host, a.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise InvalidInput("bad_host", host=host) from None
    if host not in ("127.0.0.1", "localhost", "::1") and not auth:
        print("error: refusing to serve on the network without a password: add --auth user:password "
              "(or --auth-file FILE), or drop --listen to stay on this computer", file=sys.stderr)
        return 2

    from i2v.base.config import load_config
    from i2v.studio import check_outputs
    from i2v.web import OutputsLock, UploadCache, check_port

    # Everything a start can trip over is checked before any model work, and before touching the outputs
    # folder of a studio that may be running: the port, the config, the folder and its disk, the lock.
    check_port(host, a.port)
    cfg = load_config(a.config, model=a.model, compile=a.compile, speed=speed_overrides(a), fallback=a.fallback)
    outputs = Path(os.path.abspath(a.outputs if a.outputs else cfg.outputs_dir))
    retention = cfg.data["retention"]
    check_outputs(outputs, retention["min_free_mb"])
    lock = OutputsLock(outputs)
    lock.acquire(a.port)
    from i2v.jobs.store import repair_store

    # the job store: one this user cannot write is refused (exit 3); a damaged one is set aside, loudly
    repaired = repair_store(outputs, log=lambda m: print(m, file=sys.stderr, flush=True))
    cache = UploadCache(outputs, retention["upload_cache_max_age_h"], retention["upload_cache_max_mb"],
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    os.environ["GRADIO_TEMP_DIR"] = str(cache.prepare())  # Gradio's uploads, this studio's own folder
    if not a.trust_proxy:  # uvicorn would otherwise take scheme and client from a local client's headers
        os.environ["FORWARDED_ALLOW_IPS"] = ""

    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from i2v.jobs import JobService
    from i2v.jobs.pool import start_pool, visible_gpus
    from i2v.jobs.store import active_files
    from i2v.studio import Studio
    from i2v.ui import build_ui
    from i2v.ui.connections import STREAMS_JS
    from i2v.web import Door, DoorPolicy, LoginThrottle, allowed_hosts

    studio = Studio(cfg, outputs=outputs, owned=active_files)
    # The job store: settle what a previous run left (interrupted jobs, files no job owns), then a worker
    # thread runs the queue (jobs queued before a restart included), one job at a time on the model.
    jobs = JobService(studio, max_queued=a.queue_size)
    jobs.recover(requeue_interrupted=a.requeue_interrupted, repaired=repaired)
    jobs.store.forget_workers()
    pool = worker = None
    if a.ray or (a.workers or 0) > 1 or (a.workers is None and len(visible_gpus()) > 1):
        # several workers, each a process (or a Ray actor) with its own model: this process keeps the store
        pool = start_pool(jobs, workers=a.workers, ray=a.ray, log=lambda m: print(m, file=sys.stderr, flush=True),
                          worker_args=[*(["--model", a.model] if a.model else []),
                                       *(["--fallback", a.fallback] if a.fallback else []),
                                       *(["--config", os.path.abspath(a.config)] if a.config else []),
                                       "--outputs", str(outputs), *speed_argv(a)])
        print(pool.describe(), file=sys.stderr, flush=True)
        stop = threading.Event()  # the upload cache is swept every minute (a local worker does it when idle)
        threading.Thread(target=_every, args=(5.0, lambda: cache.sweep_soon(60), stop), daemon=True).start()
    else:
        studio.load_in_background()  # the page answers at once; the banner shows loading progress
        worker, stop = jobs.start_worker(after=cache.sweep, idle=lambda: cache.sweep_soon(60))
    demo, i18n = build_ui(studio, jobs, pooled=pool is not None)
    # Jobs are bounded by the store (--queue-size); the page's own events are cheap waits on them.
    demo.queue(max_size=max(64, 8 * a.queue_size), api_open=False, default_concurrency_limit=1)
    for sig in (signal.SIGTERM, signal.SIGINT):  # a polite stop: the running job goes back to the queue
        signal.signal(sig, _stopping(stop, jobs.wake))
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # kill -USR1 PID: every thread's stack to stderr
    hosts = allowed_hosts(host, a.allowed_hosts)
    policy = DoorPolicy(allowed_hosts=hosts, body_limit=a.max_file_size * 4 // 3 + 2**20, auth=bool(auth),
                        trust_proxy=a.trust_proxy, throttle=LoginThrottle(), on_upload=cache.sweep_soon,
                        on_disk_full=cache.drop_temporaries, uploads=cache.path, outputs=outputs,
                        log=lambda m: print(m, file=sys.stderr, flush=True))
    shown = sorted((h for h in hosts if ":" not in h and h != "localhost"), key=lambda h: h != "127.0.0.1") \
        if host == "0.0.0.0" else [host]
    print("I2V Studio on " + ", ".join(f"http://{h}:{a.port}" for h in shown), file=sys.stderr, flush=True)
    try:
        demo.launch(server_name=host, server_port=a.port, auth=auth, max_file_size=a.max_file_size,
                    allowed_paths=[str(studio.outputs)], enable_monitoring=False, i18n=i18n, show_error=False,
                    footer_links=["api"], quiet=True, head=STREAMS_JS,  # (i2v/ui/connections.py)
                    app_kwargs={"middleware": [Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
                                               Middleware(Door, policy=policy)]})
    finally:
        if pool is not None:
            stop.set()
            pool.stop()  # each worker puts its running job back in the queue
        else:
            stop.set()  # a running job stops after its step and goes back to the queue for the next start
            jobs.wake.set()
            worker.join(timeout=30)
        cache.remove()
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
