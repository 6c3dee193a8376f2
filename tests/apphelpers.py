"""Start the real app (python app.py) on a free port for a test, and stop it afterwards."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A port free now, from a range of this test process's own: under pytest-xdist, worker ``gwK`` of N
    takes ports in the K-th of N slices of 20000..31999, so the suite's processes never pick the same one
    between the check and the app's bind (below Linux's ephemeral range, where bind(0) would hand out odd
    ports only, and above Ray's worker ports)."""
    k = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    n = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    width = 12000 // n
    first = 20000 + k * width
    for port in random.sample(range(first, first + width), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}..{first + width - 1}")


def _start(tmp: Path, extra: tuple, timeout: float, preexec) -> tuple[subprocess.Popen, int, float]:
    """Start the app and wait for its page.  Another program may take the free port before the app binds it:
    the app then says "already in use" and exits, and it starts again on another port (3 tries)."""
    for attempt in range(3):
        port = free_port()
        env = {**os.environ, "I2V_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
        t0 = time.perf_counter()
        with open(tmp / "app.log", "w") as log:
            proc = subprocess.Popen([sys.executable, "app.py", "--model", "tiny", "--port", str(port),
                                     "--outputs", str(tmp / "outputs"), *extra], cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, preexec_fn=preexec)
        url = f"http://127.0.0.1:{port}/"
        while True:
            if proc.poll() is not None:
                text = (tmp / "app.log").read_text()
                if "already in use" in text and attempt < 2:
                    break
                raise RuntimeError(f"app exited: {text}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return proc, port, time.perf_counter() - t0
            except OSError:
                pass
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                raise RuntimeError("app did not answer in time")
            time.sleep(0.2)
    raise AssertionError("unreachable")


@contextmanager
def running_app(tmp: Path, *extra: str, timeout: float = 90, preexec=None):
    """``preexec`` runs in the child before the app starts (resource limits, say)."""
    proc, port, startup = _start(tmp, extra, timeout, preexec)
    url = f"http://127.0.0.1:{port}/"
    try:
        proc.startup_seconds = startup
        proc.url = url
        proc.port = port
        proc.outputs = tmp / "outputs"
        yield proc
    finally:
        if proc.poll() is None and os.environ.get("I2V_TEST_DUMP"):
            proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
