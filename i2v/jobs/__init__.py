"""Jobs: the durable record (:mod:`.store`, SQLite) and the service that submits, runs and recovers them
(:mod:`.service`).  Every long task of the studio is a job of one of the kinds in :mod:`.kinds`."""

from .kinds import AUTOTUNE, BATCH_ENTRY, DRAFT, GENERATE, KINDS, LONG, SEGMENT, SMOOTH, SWEEP, JobKind, kind_of
from .service import JobService, error_of
from .store import CANCELLED, DONE, FAILED, FINAL, INTERRUPTED, QUEUED, RUNNING, JobRecord, JobStore

__all__ = ["JobService", "JobStore", "JobRecord", "error_of", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED",
           "INTERRUPTED", "FINAL", "KINDS", "JobKind", "kind_of", "GENERATE", "SWEEP", "SMOOTH", "BATCH_ENTRY",
           "LONG", "SEGMENT", "AUTOTUNE", "DRAFT"]
