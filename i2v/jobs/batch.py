"""Batch files: a YAML list of requests run in order as jobs of the store, resumable (finished entries are
skipped on a re-run), one failure reported without stopping the rest.  (The file's format is read by
:func:`i2v.workflows.batch.load_jobs`; running its entries is the job service's work, so it lives here.)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..base.errors import Cancelled, I2VError
from ..planning.longplan import LONG_KEYS
from ..workflows.batch import _expand, load_jobs
from .kinds import AUTOTUNE, BATCH_ENTRY, LONG
from .service import JobService
from .store import CANCELLED, DONE


@dataclass
class BatchReport:
    done: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"done": self.done, "skipped": self.skipped, "failed": self.failed,
                "counts": {"done": len(self.done), "skipped": len(self.skipped), "failed": len(self.failed)}}



def run_batch(jobs: JobService, job_file: Path, on_entry: Callable[[int, int, str], None] | None = None,
              on_step=None, cancel=None) -> BatchReport:
    """Run every entry as a job of the store (kind ``batch_entry``); entries already done (same file,
    entry and settings, video still present) are skipped on a re-run, failures are reported and the rest
    continue."""
    job_file = Path(job_file)
    source = str(job_file.resolve())
    items = _expand(load_jobs(job_file), int(jobs.studio.cfg.limits["batch_max_videos"]))
    done_before = {}
    for j in jobs.store.list(status=[DONE], kinds=[BATCH_ENTRY, LONG, AUTOTUNE], limit=None):
        if j.params.get("batch_file") == source and jobs.abs((j.result or {}).get("video")).is_file():
            done_before[j.params.get("batch_key")] = j
    report = BatchReport()
    for n, (key, req) in enumerate(items):
        label = f"{n + 1}/{len(items)} {str(req.get('prompt', ''))[:40]}"
        if on_entry:
            on_entry(n, len(items), label)
        prev = done_before.get(key)
        if prev is not None:
            report.skipped.append({"entry": n + 1, "video": str(jobs.abs(prev.result["video"])), "job": prev.id})
            continue
        # an entry with segments (or a storyboard) is a long video; one with a target_motion is auto-tuned
        kind = AUTOTUNE if "target_motion" in req else LONG if any(k in req for k in LONG_KEYS) else BATCH_ENTRY
        try:
            params = jobs.tune_params(**req) if kind == AUTOTUNE else jobs.long_params(**req) if kind == LONG \
                else jobs.generate_params(dict(req))
        except I2VError as exc:
            report.failed.append({"entry": n + 1, "error": str(exc), "prompt": req.get("prompt")})
            continue
        job = jobs.run_inline(kind, {**params, "batch_file": source, "batch_key": key}, on_step=on_step,
                              cancel=cancel)
        if job.status == CANCELLED:
            raise Cancelled()
        if job.status != DONE:
            report.failed.append({"entry": n + 1, "error": job.error_message, "prompt": req.get("prompt"),
                                  "job": job.id})
            continue
        s = jobs.summary(job)
        report.done.append({"entry": n + 1, "video": s["video"], "seed": s["seed"], "job": job.id})
    return report
