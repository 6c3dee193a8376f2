"""Jobs: the durable record (:mod:`.store`, SQLite) and the service that submits, runs and recovers them
(:mod:`.service`).  Every long task of the studio (generate, sweep, batch entry, smooth) is a job."""

from .service import JobService, error_of
from .store import CANCELLED, DONE, FAILED, FINAL, INTERRUPTED, QUEUED, RUNNING, JobRecord, JobStore

__all__ = ["JobService", "JobStore", "JobRecord", "error_of", "QUEUED", "RUNNING", "DONE", "FAILED", "CANCELLED",
           "INTERRUPTED", "FINAL"]
