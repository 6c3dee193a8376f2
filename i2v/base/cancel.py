"""Cancellation shared by the engine, the service and the front ends.  Pure."""

from __future__ import annotations

import threading

from .errors import Cancelled


class CancelToken:
    """Set from any thread; the engine checks it between denoising steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()
