"""What the page says about the model: its download while it loads, and why a load failed.  Pure (no torch,
no gradio).

* :class:`DownloadProgress` is filled from huggingface_hub's own progress bars during the first download
  (the engine passes a ``tqdm_class`` to ``snapshot_download``) and read by :meth:`i2v.studio.Studio.status`.
* :func:`cause_of` sorts a failed load into one of four causes, so the page can say it in one short line.
* :func:`banner_markdown` is the banner's text for a status dict, in the user's language: one short line,
  with the raw failure behind a ``<details>`` disclosure.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque

from .base.errors import I2VError, rebuild
from .base.i18n import t

# error code -> cause (anything else: "other")
CAUSES = {"model_unreachable": "no_internet", "model_offline": "offline", "model_no_index": "folder",
          "model_folder": "folder"}
SPEED_WINDOW_S = 20.0  # the speed is the average over the last seconds, not since the start


def cause_of(error: I2VError | dict | None) -> str:
    """``no_internet`` | ``offline`` (offline mode, not cached) | ``folder`` (a broken local folder) | ``other``."""
    code = error.get("code") if isinstance(error, dict) else getattr(error, "code", None)
    return CAUSES.get(code or "", "other")


def failure_record(error: I2VError) -> dict:
    """How a failed load travels (status dicts, a result's metadata, a worker's heartbeat): cause and error."""
    return {"cause": cause_of(error), "error": error.to_json()}


class DownloadProgress:
    """Files and bytes done of total, speed and ETA of one model download.  Thread-safe: the hub's download
    threads write, the page's status calls read."""

    def __init__(self, clock=time.monotonic):
        self._clock, self._lock = clock, threading.Lock()
        self.files_done = self.files_total = self.bytes_done = self.bytes_total = 0
        self.started: float | None = None
        self._samples: deque[tuple[float, int]] = deque()

    def _start(self, now: float) -> None:
        if self.started is None:
            self.started = now
            self._samples.append((now, self.bytes_done))

    def files(self, done: int, total: int) -> None:
        with self._lock:
            self._start(self._clock())
            self.files_done, self.files_total = int(done), int(total or 0)

    def bytes(self, done: int, total: int) -> None:
        with self._lock:
            now = self._clock()
            self._start(now)
            self.bytes_done, self.bytes_total = int(done), int(total or 0)
            self._samples.append((now, self.bytes_done))
            while len(self._samples) > 1 and self._samples[1][0] <= now - SPEED_WINDOW_S:
                self._samples.popleft()  # the next one is old enough to be the window's start

    def snapshot(self) -> dict | None:
        """None before a download starts (a cached model never downloads); else a JSON-able dict."""
        with self._lock:
            if self.started is None:
                return None
            now = self._clock()
            cut = now - SPEED_WINDOW_S
            t0, b0 = self._samples[0]
            for ts, b in self._samples:  # bytes done at the window's start (or at the download's)
                if ts > cut:
                    break
                t0, b0 = ts, b
            span = now - max(t0, cut)
            speed = (self.bytes_done - b0) / span if span > 0.2 and self.bytes_done > b0 else None
            left = max(self.bytes_total - self.bytes_done, 0)
            eta = left / speed if speed and self.bytes_total else None
            return {"files_done": self.files_done, "files_total": self.files_total, "bytes_done": self.bytes_done,
                    "bytes_total": self.bytes_total, "bytes_per_s": speed, "eta_s": eta,
                    "elapsed_s": now - self.started,
                    "complete": bool(self.files_total) and self.files_done >= self.files_total}


# -- text ------------------------------------------------------------------------------------------

def size_text(n: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def duration_text(seconds: float, lang: str) -> str:
    s = max(int(round(seconds)), 1)
    if s < 60:
        return t("dl_seconds", lang, n=s)
    if s < 3600:
        return t("dl_minutes", lang, n=round(s / 60))
    return t("dl_hours", lang, h=s // 3600, m=s % 3600 // 60)


def download_text(d: dict, lang: str) -> str:
    """One line: files and bytes done of total, speed, time left (or, once all is there, what comes next)."""
    if d.get("complete"):
        return t("dl_complete", lang, files=d["files_total"], total=size_text(d["bytes_total"]))
    parts = [t("dl_head", lang)]
    if d.get("files_total"):
        parts.append(t("dl_files", lang, done=d["files_done"], total=d["files_total"]))
    if d.get("bytes_total"):
        parts.append(t("dl_bytes", lang, done=size_text(d["bytes_done"]), total=size_text(d["bytes_total"])))
    if d.get("bytes_per_s"):
        parts.append(t("dl_speed", lang, speed=size_text(d["bytes_per_s"])))
    if d.get("eta_s") is not None:
        parts.append(t("dl_eta", lang, eta=duration_text(d["eta_s"], lang)))
    return " · ".join(parts)


def failure_text(failure: dict, lang: str, fell_back: bool) -> tuple[str, str]:
    """(one short line, the details as HTML) for a failed load: the line names the cause in ``lang``; the
    details hold the error's own message and fix."""
    cause = t(f"cause_{failure.get('cause', 'other')}", lang)
    line = t("model_fallback" if fell_back else "model_failed", lang, cause=cause)
    e = failure.get("error") or {}
    err = rebuild(e.get("kind"), e.get("code"), e.get("params"))
    rows = [err.message_in(lang)] + ([t("dl_fix", lang, hint=h)] if (h := err.hint_in(lang)) else [])
    body = "<br>".join(html.escape(r) for r in rows)
    return line, f"<details><summary>{html.escape(t('details', lang))}</summary>\n\n{body}\n\n</details>"


def banner_markdown(st: dict, lang: str) -> str:
    """The banner for a status dict (:meth:`Studio.status`, or a pool's first ready worker)."""
    if st["state"] == "loading":
        text = t("loading_named", lang, model=st["model"]) if st.get("model") else t("loading_model", lang)
        return text + ("\n\n" + download_text(st["download"], lang) if st.get("download") else "")
    if st["state"] == "failed":
        line, details = failure_text(st.get("failure") or {"cause": "other", "error": {}}, lang, fell_back=False)
        return f"{line}\n\n{details}"
    model = t(f"model_{st['kind']}", lang, name=str(st["model"]).split(" (")[0]) \
        if st.get("kind") in ("tiny", "random-full") else st["model"]
    text = t("model_ready", lang, model=model, device=st["device"], dtype=st["dtype"])
    if st.get("workers"):
        text += " " + t("workers_line", lang, n=st["workers"])
    if st.get("vram_gb") is not None:
        text += " " + t("gpu_line", lang, gb=st["vram_gb"], tier=st["max_tier"] or "—",
                        frames=st.get("max_tier_frames", 16))
    if st.get("selected"):
        text += "\n\n" + t("model_selected_line", lang, model=st["selected"])
    if st.get("fallback"):
        line, details = failure_text(st["fallback"], lang, fell_back=True)
        return f"{line}\n\n{text}\n\n{details}"
    if st.get("demo"):
        text = t("demo_banner", lang) + "\n\n" + text
    return text
