"""The one family of errors the studio raises on purpose.

Every failure a user can cause or meet is one of these.  The front ends turn
them into their own shape at the edge only: the CLI into an exit code and one
line on stderr, the web UI into ``gr.Error``.  Nothing else in the code base
decides how an error is shown.
"""

from __future__ import annotations


class I2VError(Exception):
    """Base class: a message meant for the user, and a CLI exit code."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # one line, hint appended when present
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInput(I2VError):
    """The request itself is wrong: bad image, empty prompt, out-of-range value."""

    exit_code = 2
    kind = "invalid_input"


class OutOfResources(I2VError):
    """GPU/CPU memory or disk ran out and could not be worked around."""

    exit_code = 3
    kind = "out_of_resources"


class Cancelled(I2VError):
    """The user stopped the job; nothing was written."""

    exit_code = 130
    kind = "cancelled"

    def __init__(self, message: str = "cancelled by the user", **kw):
        super().__init__(message, **kw)


class ModelUnavailable(I2VError):
    """The configured model cannot be loaded (offline, not cached, bad folder)."""

    exit_code = 4
    kind = "model_unavailable"


class GenerationFailed(I2VError):
    """The model ran but produced unusable output (NaN, constant frames)."""

    exit_code = 5
    kind = "generation_failed"
