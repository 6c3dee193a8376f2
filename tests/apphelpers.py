"""Start the real app (python app.py) on a free port for a test, and stop it afterwards."""

from __future__ import annotations

import os
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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path, *extra: str, timeout: float = 90, preexec=None):
    """``preexec`` runs in the child before the app starts (resource limits, say)."""
    port = free_port()
    env = {**os.environ, "I2V_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
    log = open(tmp / "app.log", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--model", "tiny", "--port", str(port),
                             "--outputs", str(tmp / "outputs"), *extra], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, preexec_fn=preexec)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited: {(tmp / 'app.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("app did not answer in time")
            time.sleep(0.2)
        proc.startup_seconds = time.perf_counter() - t0
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
        log.close()
