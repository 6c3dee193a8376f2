"""Start the web studio.

    python app.py [--model tiny] [--port 7860] [--listen --auth user:pass] ...

Safe by default: it listens on 127.0.0.1 only; exposing it (--listen) requires a password.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import sys
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="I2V Studio web app")
    p.add_argument("--model", default=None, help="hub repo id, local folder, 'tiny' or 'random-full'")
    p.add_argument("--config", default=None, help="config YAML (default: configs/default.yaml)")
    p.add_argument("--outputs", default=None, help="output folder (default: outputs/)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("I2V_PORT", 7860)))
    p.add_argument("--listen", action="store_true", help="serve on all interfaces (needs --auth or --auth-file)")
    p.add_argument("--auth", default=None, help="user:password required to open the studio")
    p.add_argument("--auth-file", default=None, help="file with one user:password per line")
    p.add_argument("--allowed-hosts", default="", help="extra Host header names to accept, comma-separated")
    p.add_argument("--queue-size", type=int, default=8, help="jobs that may wait; more are refused")
    p.add_argument("--max-file-size", default="25mb", help="largest upload accepted")
    p.add_argument("--requeue-interrupted", action="store_true",
                   help="put jobs that a crash or kill interrupted back in the queue at start")
    return p.parse_args(argv)


def read_auth(a: argparse.Namespace) -> list[tuple[str, str]] | None:
    pairs: list[str] = []
    if a.auth:
        pairs.append(a.auth)
    if a.auth_file:
        pairs += [ln.strip() for ln in Path(a.auth_file).read_text().splitlines()
                  if ln.strip() and not ln.startswith("#")]
    out = []
    for pair in pairs:
        user, sep, pw = pair.partition(":")
        if not sep or not user or not pw:
            raise SystemExit("error: --auth must be user:password (non-empty both)")
        out.append((user, pw))
    return out or None


def allowed_hosts(a: argparse.Namespace, host: str) -> list[str]:
    hosts = {"127.0.0.1", "localhost", "::1", "[::1]"}
    if host not in ("0.0.0.0", "::"):
        hosts.add(host)
    else:  # listening everywhere: this machine's own names and addresses
        name = socket.gethostname()
        hosts |= {name, socket.getfqdn()}
        try:
            hosts |= {ai[4][0] for ai in socket.getaddrinfo(name, None)}
        except OSError:
            pass
    hosts |= {h.strip() for h in a.allowed_hosts.split(",") if h.strip()}
    return sorted(hosts)


# The documented API (README).  The page's own events reach the server through /gradio_api/queue/join and,
# for its quick un-queued actions, /gradio_api/run/predict (by function index): those stay open.
API_ENDPOINTS = ("generate", "submit", "job", "cancel")
PAGE_ROUTES = ("predict",)
_NAMED_ROUTE = re.compile(r"^/gradio_api/(call|run)/(?:v2/)?([^/]+)")


class DocumentedApiOnly:
    """ASGI middleware: Gradio also names the page's internal handlers ("false", "false_1", ...) and answers
    them on /gradio_api/call/NAME; only the documented endpoints are served there."""

    def __init__(self, app, allowed=API_ENDPOINTS):
        self.app, self.allowed = app, set(allowed)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            m = _NAMED_ROUTE.match(scope.get("path", ""))
            if m and m.group(2) not in self.allowed and not (m.group(1) == "run" and m.group(2) in PAGE_ROUTES):
                await send({"type": "http.response.start", "status": 404,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"no such API endpoint"})
                return
        await self.app(scope, receive, send)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    a = parse_args(argv)
    auth = read_auth(a)
    host = "0.0.0.0" if a.listen else a.host
    if host not in ("127.0.0.1", "localhost", "::1") and not auth:
        print("error: refusing to serve on the network without a password: add --auth user:password "
              "(or --auth-file FILE), or drop --listen to stay on this computer", file=sys.stderr)
        return 2

    from i2v.config import load_config
    from i2v.jobs import JobService
    from i2v.service import Studio

    studio = Studio(load_config(a.config, model=a.model), outputs=a.outputs)
    # Gradio's upload/cache folder lives under outputs/ and starts empty every time.
    cache = studio.outputs / ".gradio-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(cache)

    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from i2v.ui import build_ui

    # The job store: settle what a previous run left (interrupted jobs, files no job owns), then a worker
    # thread runs the queue (jobs queued before a restart included), one job at a time on the model.
    jobs = JobService(studio, max_queued=a.queue_size)
    jobs.recover(requeue_interrupted=a.requeue_interrupted)
    studio.load_in_background()  # the page answers at once; the banner shows loading progress
    worker, stop = jobs.start_worker()
    demo, i18n = build_ui(studio, jobs)
    # Jobs are bounded by the store (--queue-size); the page's own events are cheap waits on them.
    demo.queue(max_size=max(64, 8 * a.queue_size), api_open=False, default_concurrency_limit=1)
    signal.signal(signal.SIGTERM, _interrupt)  # a polite stop: the running job goes back to the queue
    print(f"I2V Studio on http://{'127.0.0.1' if host == '0.0.0.0' else host}:{a.port}", file=sys.stderr,
          flush=True)
    try:
        demo.launch(server_name=host, server_port=a.port, auth=auth, max_file_size=a.max_file_size,
                    allowed_paths=[str(studio.outputs)], enable_monitoring=False, i18n=i18n, show_error=False,
                    footer_links=["api"], quiet=True,
                    app_kwargs={"middleware": [Middleware(TrustedHostMiddleware,
                                                          allowed_hosts=allowed_hosts(a, host)),
                                               Middleware(DocumentedApiOnly)]})
    finally:
        stop.set()  # a running job stops after its step and goes back to the queue for the next start
        jobs.wake.set()
        worker.join(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
