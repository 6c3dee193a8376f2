"""The job service: submit, follow, cancel and re-queue jobs, run them on a worker, recover after a crash.

Front ends (the page, the API, the CLI) talk to this; it talks to the studio service (the model) and the
job store (the record).  A job is validated completely when it is submitted (picture, prompt, every
value), its input picture is kept in ``outputs/.inputs/`` so the job can run after a restart, and its
result is committed with the job in one step: the files are written under temporary names, checked,
their final names recorded, renamed, and then the job is marked ``done``.  A crash anywhere in between
is repaired at the next start by :meth:`JobService.recover`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import socket
import sqlite3
import threading
import time
import traceback
from pathlib import Path
from typing import Any
from collections.abc import Callable

from ..base.cancel import CancelToken
from ..base.errors import (Cancelled, I2VError, InternalError, Interrupted, InvalidInput, ModelUnavailable,
                           OutOfResources, echo, rebuild)
from ..studio import APP_NAME, GenerationResult, Studio
from ..base.settings import NAMES, REQUEST_EXTRAS
from .kinds import (AUTOTUNE, DRAFT, GENERATE, HISTORY_KINDS, LONG, LONG_PARAMS, SEGMENT, SMOOTH, SWEEP, TUNE_PARAMS,
                    kind_of, kind_of_sidecar)
from .store import (BUSY, CANCELLED, DEAD, DONE, FAILED, ID_MAX_CHARS, IDLE, INTERRUPTED, LOADING, RUNNING,
                    STOPPED, JobRecord, JobStore, QueueFull, active_files, rebuilt, stopped, store_notes,
                    store_notice, worker_alive, worker_id)

INPUTS = ".inputs"
LOST = "worker lost"  # how the note of a job re-queued after its worker died begins
INPUT_GRACE_S = 60.0
STOP_TOO_LATE = "finished before the stop took effect"  # the note of a job whose Stop came as it committed
# Names of our result files: HHMMSS_<slug>_s<seed>_<hex> with optional _sweep / _x2 parts.
OUR_NAME = re.compile(r"^\d{6}_.+_s\d+_[0-9a-f]{6}")
GENERATE_KEYS = NAMES + tuple(k for k in REQUEST_EXTRAS if k != "image")


def error_of(job: JobRecord) -> I2VError:
    """The typed error a finished, unsuccessful job stands for (front ends convert it at their edge)."""
    if job.status == CANCELLED:  # (what it kept, when it kept something: store.stopped)
        return rebuild(job.error_kind, job.error_code, job.error_params) \
            if job.error_kind == Cancelled.kind and job.error_code else Cancelled()
    if job.status == INTERRUPTED:
        return Interrupted()
    return rebuild(job.error_kind, job.error_code, job.error_params)


def summary_of(job: JobRecord, outputs: Path) -> dict:
    """The object ``generate --json`` prints, for a finished job (paths made absolute)."""
    r = dict((job.result or {}).get("summary") or {})
    for k in ("video", "metadata", "thumbnail", "grid"):
        if r.get(k):
            r[k] = str(Path(r[k]) if Path(r[k]).is_absolute() else outputs / r[k])
    return r


class JobService:
    """The store, the studio and the rules between them.  One per process."""

    def __init__(self, studio: Studio, *, max_queued: int | None = None, name: str = "main",
                 log: Callable[[str], None] | None = None, device: str | None = None):
        self.studio = studio
        if studio.owned is None:  # retention in this studio asks the job store what unfinished jobs own
            studio.owned = active_files
        self.outputs = studio.outputs
        self._store: JobStore | None = None
        self.max_queued = max_queued
        self.worker = worker_id(name)
        self.device = device  # what the Workers panel shows (the model's device once loaded)
        self.current: str | None = None  # the job this process's worker runs now
        self.log = log or studio.log
        self.wake = threading.Event()  # set on a local submit: the runner claims it at once
        self._beat_bug = False  # a failing heartbeat is logged once

    @property
    def store(self) -> JobStore:
        """Opened on first use: a request refused by validation leaves no database behind."""
        if self._store is None:
            self._store = JobStore(self.outputs)
        return self._store

    # -- paths -------------------------------------------------------------------------------------
    def rel(self, path: Path | str) -> str:
        p = Path(path).resolve()
        try:
            return p.relative_to(self.outputs.resolve()).as_posix()
        except ValueError:
            return str(p)

    def abs(self, rel: str | None) -> Path | None:
        if not rel:
            return None
        p = Path(rel)
        return p if p.is_absolute() else self.outputs / p

    def _keep_input(self, image: Any) -> str:
        """Copy the picture into outputs/.inputs/ (content-addressed) so the job survives a restart."""
        folder = self.outputs / INPUTS
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(image, (str, os.PathLike)):
            data = Path(image).read_bytes()
            suffix = Path(image).suffix.lower()[:8] if re.fullmatch(r"\.[A-Za-z0-9]{1,7}", Path(image).suffix) \
                else ".img"
        else:  # a PIL image (library use)
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            data, suffix = buf.getvalue(), ".png"
        target = folder / f"{hashlib.sha256(data).hexdigest()[:24]}{suffix}"
        if target.exists():
            os.utime(target)  # fresh again: clean_inputs leaves recent files alone
        else:
            tmp = folder / f".{target.name}.{secrets.token_hex(4)}.{os.getpid()}.partial"
            try:
                tmp.write_bytes(data)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return self.rel(target)

    # -- submitting --------------------------------------------------------------------------------
    def generate_params(self, kw: dict) -> dict:
        """Validate a generate request completely and return the job's JSON parameters."""
        image = kw.get("image")
        if image is None:
            raise InvalidInput("image_missing")
        self.studio.build_request(**kw)  # every check, before anything is queued
        params = {k: kw[k] for k in GENERATE_KEYS if kw.get(k) is not None}
        params["image"] = self._keep_input(image)
        return params

    def _submit(self, kind: str, params: dict | list[dict], client: str | None):
        """Queue one job (``params`` a dict) or several at once (a list: all or none)."""
        many = isinstance(params, list)
        for p in params if many else [params]:
            # the model it was checked against: a worker of another model refuses it (:meth:`execute`)
            p.setdefault("model", self.studio.cfg.model["source"])
        try:
            jobs = self.store.submit_many(kind, params if many else [params], client=client,
                                          max_queued=self.max_queued)
        except QueueFull:
            raise OutOfResources("queue_full", limit=self.max_queued) from None
        self.wake.set()
        return jobs if many else jobs[0]

    def submit_generate(self, client: str | None = None, **kw: Any) -> JobRecord:
        return self._submit(GENERATE, self.generate_params(kw), client)

    def submit_seeds(self, seeds: list[int], client: str | None = None, **kw: Any) -> list[JobRecord]:
        """One job per seed, every one validated first, queued together or not at all."""
        params = [self.generate_params({**kw, "seed": s}) for s in seeds]
        return self._submit(GENERATE, params, client)

    def submit_sweep(self, values: list[float], client: str | None = None, **kw: Any) -> JobRecord:
        from ..workflows.sweep import parse_guidance_list

        values = parse_guidance_list(values)
        params = self.generate_params({**kw, "guidance_scale": values[0]})
        params.pop("guidance_scale", None)
        return self._submit(SWEEP, {**params, "values": values}, client)

    def long_plan(self, params: dict):
        """A long job's plan from its parameters (checked again: a stored job is data from disk)."""
        from ..planning.longplan import plan_long

        return plan_long(self.studio.cfg, prompt=str(params.get("prompt") or ""),
                         frames=int(params.get("num_frames") or self.studio.cfg.defaults["num_frames"]),
                         **{k: params.get(k) for k in ("segments", "storyboard", "overlap", "colour",
                                                       "colour_strength")})

    def submit_long(self, client: str | None = None, **kw: Any) -> JobRecord:
        return self._submit(LONG, self.long_params(**kw), client)

    def tune_params(self, target_motion=None, draft_steps=None, draft_frames=None, long: dict | None = None,
                    **kw: Any) -> dict:
        """An auto-tune job's parameters: a generation's, and the motion target (a word or a number of
        ``analyze``'s motion_norm), checked, with the drafts' steps and frames if given.  ``long``: the
        long-video options the same request asked for (auto-tune makes one video: refused)."""
        from ..planning.request import _integer
        from ..motion.tuning import TARGETS, resolve_target

        if long:
            raise InvalidInput("tune_long")
        from ..planning.longplan import LONG_KEYS, long_wanted

        given = {k: kw.pop(k) for k in LONG_KEYS if k in kw}  # a batch entry's or an API dict's keys
        asked = [k for k, v in given.items() if v not in (None, "")]
        if asked and (long_wanted(given.get("segments"), given.get("storyboard")) or set(asked) - {"segments"}):
            raise InvalidInput("tune_long_keys", names=", ".join(asked))
        target = resolve_target(target_motion)
        params = self.generate_params(kw)
        params["target_motion"] = str(target_motion).strip().lower() if str(target_motion).strip().lower() in \
            TARGETS else target
        lim = self.studio.cfg.limits
        if draft_steps not in (None, ""):
            params["draft_steps"] = _integer("draft steps", draft_steps, 1, lim["steps"][1])
        if draft_frames not in (None, ""):
            params["draft_frames"] = _integer("draft frames", draft_frames, lim["frames"][0], lim["frames"][1])
        return params

    def submit_autotune(self, client: str | None = None, **kw: Any) -> JobRecord:
        return self._submit(AUTOTUNE, self.tune_params(**kw), client)

    def submit_long_params(self, params: dict, client: str | None = None) -> JobRecord:
        """Queue a long job from parameters :meth:`long_params` made (the page checks several first)."""
        return self._submit(LONG, params, client)

    def submit_params(self, kind: str, params: dict, client: str | None = None) -> JobRecord:
        """Queue a job of ``kind`` from parameters already checked (:meth:`tune_params`, ...)."""
        return self._submit(kind, params, client)

    def long_params(self, segments=None, storyboard=None, overlap=None, colour=None, colour_strength=None,
                    seconds=None, extend: str | Path | None = None, **kw: Any) -> dict:
        """A long video's job parameters (segments from a picture, or continuing ``extend``, a video of this
        studio), every setting checked.  ``seconds``: as many segments as that length needs."""
        params: dict[str, Any] = {}
        prior = 0  # an extended long video's own segments
        if extend not in (None, ""):
            source = self._own_video(extend)
            from PIL import Image

            from ..workflows.longvideo import long_record, source_meta
            from ..media.video import check_video_input, read_tail

            # the bounds of a video we read (pixels, seconds, frames), checked from its header first; then
            # only its last frame is kept (the frames go by one at a time)
            info = check_video_input(source, self.studio.cfg.limits, "extend")
            try:
                last, _ = read_tail(source, 1, max_frames=info["frames"])
            except (OSError, ValueError, RuntimeError):
                raise InvalidInput("video_unreadable", name=source.name) from None
            meta = source_meta(source) or {}
            made = (meta.get("model") or {}).get("family") if isinstance(meta.get("model"), dict) else None
            if made not in (None, "", self.studio.cfg.family["name"]):  # another family's (older sidecars name none)
                raise InvalidInput("extend_family", name=source.name, made=echo(made, 40),
                                   source=echo(str(meta["model"].get("source") or made), 80),
                                   model=self.studio.cfg.family.get("title", ""))
            record = long_record(meta, source.name)  # (a record of the file's is checked like any input)
            kw["image"] = Image.fromarray(last[-1])  # (the job starts from the frame its overlap picks)
            kw["width"], kw["height"] = last.shape[2], last.shape[1]  # the new segments join at its size
            src = meta.get("params") if isinstance(meta.get("params"), dict) else {}
            for key in ("num_frames", "fps"):  # new segments like the source's, unless asked otherwise
                if kw.get(key) in (None, "") and type(src.get(key)) is int:
                    kw[key] = src[key]
            prior = len(record["segments"]) if record is not None else 1  # (a plain video is one segment)
            params["video"] = self.rel(source)
        params = {**self.generate_params(kw), **params}
        req = self.studio.build_request(**{k: v for k, v in kw.items() if k in GENERATE_KEYS or k == "image"})
        long = {"segments": segments, "storyboard": storyboard, "overlap": overlap, "colour": colour,
                "colour_strength": colour_strength, "prompt": req.prompt, "num_frames": req.num_frames}
        if seconds not in (None, "") and segments in (None, ""):
            from ..planning.longplan import segments_for

            k = self.long_plan(long).overlap
            long["segments"] = segments_for(seconds, req.num_frames, req.fps, k, self.studio.cfg)
        plan = self.long_plan(long)
        most = int(self.studio.cfg.data["long"]["max_segments"])
        if prior + plan.segments > most:  # an extended video stays within the segments a long video may have
            raise InvalidInput("long_segments", hi=max(1, most - prior), got=plan.segments)
        params.update(plan.to_json())
        return params

    def _own_video(self, video: str | Path) -> Path:
        """A video of this studio's outputs folder (a path relative to it, or inside it), or one line."""
        path = Path(video)
        if not path.is_absolute():
            # as the user typed it from where they stand (`outputs/DATE/VIDEO.mp4`, README's form) when that is
            # a file inside the outputs folder, else relative to the outputs folder (`DATE/VIDEO.mp4`, /job's form)
            here = path.resolve()
            path = here if here.is_file() and self.outputs.resolve() in here.parents else self.outputs / path
        resolved = path.resolve()
        if not resolved.is_file():
            raise InvalidInput("video_not_found", name=Path(video).name)
        if self.outputs.resolve() not in resolved.parents or resolved.suffix != ".mp4":
            raise InvalidInput("not_our_video", name=Path(video).name)
        return resolved

    def submit_smooth(self, video: str | Path, factor: int = 2, loop: str | None = None, method: str = "flow",
                      client: str | None = None) -> JobRecord:
        resolved = self._own_video(video)
        from ..workflows.smooth import check_smooth_input

        # the bounds before queueing (the page's Smooth x4 on its own result meets them here)
        check_smooth_input(resolved, int(factor), method, loop, self.studio.cfg.limits)
        params = {"video": self.rel(resolved), "factor": int(factor), "loop": loop or None, "method": method}
        return self._submit(SMOOTH, params, client)

    # -- following ---------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRecord | None:
        job_id = str(job_id or "")
        return self.store.get(job_id) if len(job_id) <= ID_MAX_CHARS else None

    def cancel(self, job_id: str) -> str | None:
        return self.store.cancel(job_id) if len(str(job_id or "")) <= ID_MAX_CHARS else None

    def requeue(self, job_id: str) -> bool:
        job = self.get(job_id)
        if job is None:
            return False
        img = job.params.get("image")
        if isinstance(img, str) and not self.abs(img).is_file():
            raise InvalidInput("input_gone")
        ok = self.store.requeue(job_id)
        if ok:
            self.wake.set()
        return ok

    def summary(self, job: JobRecord) -> dict:
        return summary_of(job, self.outputs)

    def metadata(self, job: JobRecord) -> dict:
        return dict((job.result or {}).get("meta") or {})

    # -- history -----------------------------------------------------------------------------------
    def history(self, limit: int = 60) -> list[JobRecord]:
        """Finished results with their video still present, newest first."""
        out = []
        for job in self.store.list(status=[DONE], kinds=HISTORY_KINDS, limit=limit * 2):
            v = self.abs((job.result or {}).get("video"))
            if v is not None and v.is_file():
                out.append(job)
            if len(out) >= limit:
                break
        return out

    # -- running -----------------------------------------------------------------------------------
    def run_inline(self, kind: str, params: dict, *, on_step=None, cancel: CancelToken | None = None,
                   on_progress: Callable[[int, int, float], None] | None = None) -> JobRecord:
        """Run a job in this process now (the CLI's generate/sweep/smooth), recorded like any other."""
        job = self.store.submit(kind, params, worker=self.worker)
        self.execute(job, on_step=on_step, cancel=cancel, on_progress=on_progress)
        return self.store.get(job.id)

    def _servable(self, source: str | None) -> str | None:
        """The model a job names, if this worker may load it: the models of the registry, hub ids and folders,
        checked as ``--model`` is (an unknown name or a folder of no served pipeline ends the job with one
        line).  A worker started for one model with ``workers.switch_models: false`` refuses the others."""
        if source in (None, self.studio.selected):
            return source
        if not self.studio.cfg.model.get("switch", True):
            raise ModelUnavailable("model_mismatch", want=source, have=self.studio.selected)
        if not isinstance(source, str) or len(source) > 512:
            raise ModelUnavailable("model_mismatch", want=echo(str(source), 80), have=self.studio.selected)
        return source

    def execute(self, job: JobRecord, *, on_step=None, cancel: CancelToken | None = None,
                on_progress=None, stop: threading.Event | None = None) -> None:
        """Run a claimed job to its end and record how it ended.  Never raises (but KeyboardInterrupt).
        A watcher turns a cancel request in the store (from any process), or ``stop``, into the token."""
        token = cancel or CancelToken()
        reporter = _Reporter(self.store, job.id, token, self.rel, on_step)
        ended = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(stop, token, job.id, ended), daemon=True)
        watcher.start()
        try:
            if self.store.cancel_requested(job.id):
                raise Cancelled()
            # the job's own model: this thread sees its config, and the studio loads it in place of another
            # (smoothing runs no model)
            want = job.params.get("model") if job.kind != SMOOTH else None
            with self.studio.serving(self._servable(want)):
                result, files = kind_of(job.kind).run(self, job, reporter, token, on_progress)
            # a Stop that arrived as the result was being committed: the job is done, and says why
            self.store.finish(job.id, DONE, result=result, files=files,
                              note=STOP_TOO_LATE if self.store.get(job.id).cancel_requested else None)
        except Cancelled as exc:
            self._ended(job, CANCELLED, self._cancelled(job, exc))
        except I2VError as exc:
            self._ended(job, FAILED, exc)
        except Exception as exc:  # noqa: BLE001 - a bug ends its job, never the worker
            self.log(f"job {job.id} failed with an internal error:\n{traceback.format_exc()}")
            self._ended(job, FAILED, InternalError.wrap(exc))
        finally:
            ended.set()
            watcher.join()  # never left running at exit
            self.clean_inputs(done_with=(job.params.get("image"), job.created_at)
                              if self.store.get(job.id).status == DONE else None)

    def _ended(self, job: JobRecord, status: str, exc: I2VError) -> None:
        """A job that ends without a result: the files it planned and committed without a row of their own
        (a long video's segment whose next picture did not fit on the disk) are removed, and its error is
        recorded without a server path (the outputs folder is named by its name)."""
        for f in (self.store.get(job.id) or job).files:
            self.abs(f).unlink(missing_ok=True)
        self.store.finish(job.id, status, error=self.without_paths(exc).to_json(), files=[])

    def without_paths(self, exc: I2VError) -> I2VError:
        """``exc`` with every path into the outputs folder written from the folder's name (``outputs/DATE``):
        what a job's error says travels to the page, the API and other processes."""
        roots = sorted({str(self.outputs.resolve()), str(self.outputs.absolute())}, key=len, reverse=True)
        name = self.outputs.name
        changed = {}
        for k, v in exc.params.items():
            if isinstance(v, (str, os.PathLike)):
                text = str(v)
                for root in roots:
                    text = text.replace(root, name)
                if text != str(v):
                    changed[k] = text
        if not changed:
            return exc
        exc.params.update(changed)
        return exc

    def _cancelled(self, job: JobRecord, exc: Cancelled) -> Cancelled:
        """How a stopped job ended (:func:`store.stopped`): with the parts it committed (a long video's
        segments, an auto-tune's drafts) kept for Re-queue, one message says so; without any, nothing was
        written."""
        return stopped(job.kind, self.resume_point(job.id)) if exc.code == "cancelled" else exc

    def resume_point(self, job_id: str) -> int:
        """The parts a re-queued job goes on from: its committed children (a long video's: the segments from
        the first on whose files are all there, as the job itself takes them)."""
        from ..workflows.longvideo import next_picture_path

        kids = self.store.list(parent=job_id, status=[DONE], limit=None, newest_first=False)
        segments = {k.params.get("segment"): k for k in kids if k.kind == SEGMENT}
        if not segments:
            return len(kids)
        n = 0
        while n in segments:
            video = self.abs((segments[n].result or {}).get("video"))
            if video is None or not video.is_file() or not next_picture_path(video).is_file():
                break
            n += 1
        return n

    def requeued_text(self, job_id: str, lang: str = "en") -> str:
        """What Re-queue says, on the page and the CLI alike: where the job goes on from."""
        from ..base.i18n import t

        job = self.get(job_id)
        n = self.resume_point(job_id) if job is not None else 0
        if n and job.kind == LONG:
            return t("requeued_segments", lang, id=job_id, n=n, next=n + 1)
        if n:
            return t("requeued_drafts", lang, id=job_id, n=n)
        return t("requeued", lang, id=job_id)

    def request_kw(self, params: dict) -> dict:
        """A stored generate job's parameters as the studio's request (its kept picture must still be there)."""
        kw = {k: v for k, v in params.items() if k in GENERATE_KEYS}
        img = self.abs(params.get("image"))
        if img is None or not img.is_file():
            raise InvalidInput("input_gone")
        kw["image"] = str(img)
        return kw

    def result_of(self, res: GenerationResult) -> tuple[dict, list[str]]:
        """A generation's record for the store: the summary, its metadata, and the files it owns."""
        s = res.summary()
        for k in ("video", "metadata", "thumbnail"):
            s[k] = self.rel(s[k])
        files = [self.rel(p) for p in (res.video, res.metadata_path, res.thumbnail)]
        return {"video": s["video"], "summary": s, "meta": res.metadata}, files

    # -- the worker loop ---------------------------------------------------------------------------
    def heartbeat(self, state: str | None = None, job_done: bool = False) -> None:
        """This process's row in the store's workers table (the Workers panel, ``python -m i2v workers``)."""
        info = None
        i = self.studio.model_info()
        if i is not None:
            info = {"model": i.model_id, "kind": i.kind, "device": i.device, "dtype": i.dtype, "demo": i.demo,
                    "notices": list(i.notices), "fallback": i.fallback}
        st = state or (BUSY if self.current else (IDLE if info else LOADING))
        try:
            self.store.worker_seen(self.worker, kind="local", state=st, job=self.current, node=socket.gethostname(),
                                   device=(info or {}).get("device") or self.device, pid=os.getpid(), info=info,
                                   job_done=job_done)
        except (sqlite3.Error, OSError) as exc:  # a full disk or a locked database: the row goes stale, no more
            self.log(f"worker heartbeat not recorded: {exc}")
        except Exception:  # noqa: BLE001 - bookkeeping: a bug here must never stop the worker and its jobs
            if not self._beat_bug:
                self._beat_bug = True
                self.log(f"worker heartbeat failed (a bug; jobs go on):\n{traceback.format_exc()}")

    def _beat(self, stop: threading.Event, every: float) -> None:
        while not stop.wait(every):
            self.heartbeat()

    def run_worker(self, stop: threading.Event, idle: Callable[[], None] | None = None,
                   poll: float = 0.5, after: Callable[[], None] | None = None, beat: float = 2.0) -> None:
        """Claim and run queued jobs until ``stop`` is set (the studio's thread, or ``python -m i2v worker``);
        ``idle`` runs while the queue is empty, ``after`` after each job.  A heartbeat every ``beat`` seconds
        keeps this worker's row in the store fresh."""
        beating = threading.Thread(target=self._beat, args=(stop, beat), name="i2v-heartbeat", daemon=True)
        self.heartbeat()
        beating.start()
        try:
            self._claim_loop(stop, idle, poll, after)
        finally:
            stop.set()
            beating.join()
            self.current = None
            self.heartbeat(STOPPED)

    def _claim_loop(self, stop, idle, poll, after) -> None:
        while not stop.is_set():
            m = self.studio.cfg.model
            job = self.store.claim(self.worker, prefer=self.studio.loaded_source or self.studio.selected,
                                   patience_s=float(m.get("switch_patience_s", 60)))
            if job is None:
                if idle:
                    idle()
                self.wake.wait(poll)
                self.wake.clear()
                continue
            self.current = job.id
            self.heartbeat()
            try:
                self.execute(job, stop=stop)
            finally:
                self.current = None
                self.heartbeat(job_done=True)
            if after:
                after()
            if stop.is_set() and self.store.get(job.id).status == CANCELLED and \
                    not self.store.get(job.id).cancel_requested:
                self.store.requeue(job.id, note="the worker stopped; re-queued")

    def _watch(self, stop: threading.Event | None, token: CancelToken, job_id: str, ended: threading.Event) -> None:
        while not token.cancelled and not ended.is_set():
            job = self.store.get(job_id)
            if job is None or job.final:
                return
            if (stop is not None and stop.is_set()) or job.cancel_requested:
                token.cancel()
                return
            ended.wait(0.2)

    def start_worker(self, **hooks) -> tuple[threading.Thread, threading.Event]:
        """The worker on a thread; ``hooks`` are :meth:`run_worker`'s ``idle`` and ``after``."""
        stop = threading.Event()
        th = threading.Thread(target=self.run_worker, args=(stop,), kwargs=hooks, name="i2v-worker", daemon=True)
        th.start()
        return th, stop

    def worker_lost(self, worker: str, why: str) -> list[str]:
        """The jobs a worker was running when it died (a killed process, a lost Ray actor or node): their
        planned files are removed and each goes back to the queue once (a job that already had its second
        try ends ``interrupted``).  Returns the ids re-queued."""
        again = []
        for job in self.store.running_on(worker):
            files = [self.abs(f) for f in job.files]
            meta = _sidecar_of(files)  # a segment or draft that landed before its row: given its row
            part = meta.get("part_of") if isinstance(meta, dict) else None
            if not (part is not None and all(f.is_file() for f in files) and self._attach(job, part, meta, files)):
                for f in files:
                    f.unlink(missing_ok=True)
            note = f"{LOST}: {why}; re-queued (try {job.attempts + 1})"
            if job.attempts < 2 and self.store.requeue(job.id, note=note, running=True):
                again.append(job.id)
                self.log(f"job {job.id}: {why}; re-queued")
            else:
                self.store.finish(job.id, INTERRUPTED, error=Interrupted().to_json(), note=why)
                self.log(f"job {job.id}: {why}; not re-queued (it had {job.attempts} tries)")
        return again

    def model_status(self, pooled: bool) -> dict:
        """The banner's model line: this process's model, or with a pool of workers the first ready
        worker's (``workers`` counts the ready ones)."""
        if not pooled:
            return self.studio.status()
        alive = [w for w in self.store.workers() if w["state"] != DEAD]
        ready = [w for w in alive if w["state"] in (IDLE, BUSY) and w["info"]]
        if ready:
            return {"state": "ready", "vram_gb": None, "max_tier": None, "notices": [], **ready[0]["info"],
                    "workers": len(ready)}
        return {"state": "loading"}

    # -- recovery ----------------------------------------------------------------------------------
    def recover(self, requeue_interrupted: bool = False, repaired: dict | None = None) -> dict:
        """At start-up: settle jobs whose worker died, adopt or remove files no job owns, drop unused inputs.
        ``repaired``: the note of a damaged store the studio just set aside (``store.repair_store``); how many
        results came back from their sidecars is added to it, and said loudly."""
        report = {"recovered": 0, "interrupted": 0, "imported": 0, "removed": 0, "skipped": 0, "requeued": 0}
        for job in self.store.list(status=[RUNNING], limit=None):
            fresh = self.store.heartbeat_fresh(job.worker) if job.worker else None
            # a worker that reports (a pool's process, a Ray actor) is alive while its heartbeat is; others
            # (a CLI run) while their process is
            if (worker_alive(job.worker) if fresh is None else fresh and worker_alive(job.worker)):
                continue
            report[self._settle(job)] += 1
        if requeue_interrupted:
            for job in self.store.list(status=[INTERRUPTED], limit=None, parent=None):
                try:
                    report["requeued"] += bool(self.requeue(job.id))
                except InvalidInput:
                    continue
        self._adopt_orphans(report)
        self.clean_inputs()
        for k, v in report.items():
            if v:
                self.log(f"start-up: {k} {v}")
        if repaired is not None:
            rebuilt(repaired, report, self.log)
        return report

    def store_notices(self, lang: str = "en") -> list[str]:
        """The page's warnings about damaged job stores set aside in this folder (see ``store.repair_store``)."""
        return [store_notice(n, lang, full_path=False) for n in store_notes(self.outputs)]

    def _settle(self, job: JobRecord) -> str:
        """A running job whose worker is gone: ``recovered`` (done) when its result's files were all in
        place, else ``interrupted`` (its planned files removed)."""
        from ..media.video import verify_mp4

        files = [self.abs(f) for f in job.files]
        complete = bool(files) and all(f.is_file() for f in files)
        meta = _sidecar_of(files)
        part = meta.get("part_of") if isinstance(meta, dict) else None
        if part is not None:  # a segment's or a draft's files, committed just before its row: never the result
            if not (complete and self._attach(job, part, meta, files)):
                for f in files:
                    f.unlink(missing_ok=True)
            self.store.finish(job.id, INTERRUPTED, error=Interrupted().to_json(), files=[])
            return "interrupted"
        if complete and kind_of(job.kind).generation:
            try:
                video = next(f for f in files if f.suffix == ".mp4")
                meta = json.loads(next(f for f in files if f.suffix == ".json").read_text(encoding="utf-8"))
                verify_mp4(video, int(meta["params"]["num_frames"]))
                res = GenerationResult(video=video, metadata_path=next(f for f in files if f.suffix == ".json"),
                                       thumbnail=next(f for f in files if f.suffix == ".png"), metadata=meta,
                                       seconds=meta["timings"].get("total", 0.0))
                result, owned = self.result_of(res)
                self.store.finish(job.id, DONE, result=result, files=owned,
                                  note="finished just before the studio stopped; recovered")
                return "recovered"
            except (StopIteration, OSError, ValueError, KeyError, I2VError):
                pass
        for f in files:
            f.unlink(missing_ok=True)
        self.store.finish(job.id, INTERRUPTED, error=Interrupted().to_json())
        return "interrupted"

    def _attach(self, parent: JobRecord, part: dict, meta: dict, files: list[Path]) -> bool:
        """Give a child's committed files (a segment with its next picture, an auto-tune draft) the row it
        did not get before a crash, under ``parent``: the resumed job then goes on from it.  False when they
        are not a whole child of this job (the caller removes them)."""
        from ..workflows.longvideo import next_picture_path
        from ..media.video import verify_mp4

        kind = part.get("kind")
        if part.get("job") != parent.id or kind not in (SEGMENT, DRAFT) or parent.status == DONE:
            return False
        try:
            by_ext = {f.suffix: f for f in files if not f.name.endswith(".next.png")}
            video, side, thumb = by_ext[".mp4"], by_ext[".json"], by_ext[".png"]
            verify_mp4(video, int(meta["params"]["num_frames"]))
            res = GenerationResult(video=video, metadata_path=side, thumbnail=thumb, metadata=meta,
                                   seconds=float((meta.get("timings") or {}).get("total", 0.0)))
            result, owned = self.result_of(res)
            p = parent.params
            if kind == SEGMENT:
                nxt = next_picture_path(video)
                if not nxt.is_file():
                    return False
                owned.append(self.rel(nxt))
                result["summary"]["next_picture"] = self.rel(nxt)
                params = {**{k: v for k, v in p.items() if k not in LONG_PARAMS},
                          "prompt": meta["params"]["prompt"], "seed": int(meta["seed"]),
                          "segment": int(part["segment"]), "segments": int(part["segments"])}
            else:
                m = meta["motion"]
                draft = {"guidance": float(meta["params"]["guidance_scale"]), "motion": float(m["motion_norm"]),
                         "jitter": float(m["jitter"]), "flicker": float(m["flicker"])}
                params = {**{k: v for k, v in p.items() if k not in TUNE_PARAMS}, **meta["params"],
                          "seed": int(meta["seed"]), "tune_draft": draft, "image": p.get("image")}
        except (KeyError, TypeError, ValueError, OSError, I2VError):
            return False
        self.store.add_child(kind, params, result, owned, parent=parent.id, client=parent.client,
                             worker=parent.worker, note="committed just before a crash; recovered")
        self.log(f"start-up: job {parent.id}: its {kind} {self.rel(video)} recovered")
        return True

    def settle_dead(self, job_id: str | None = None) -> list[str]:
        """Without a studio (``python -m i2v jobs`` and ``wait``): running jobs whose worker ran on this
        machine and whose process is gone (a CLI run stopped by kill -9, say) are settled as the studio's
        recovery settles them.  A worker that still reports a fresh heartbeat is left to the pool that
        watches it.  Returns the ids settled."""
        out = []
        jobs = [self.store.get(job_id)] if job_id else self.store.list(status=[RUNNING], limit=None)
        for job in jobs:
            if job is None or job.status != RUNNING or worker_alive(job.worker) \
                    or self.store.heartbeat_fresh(job.worker):
                continue
            if self.store.get(job.id).status == RUNNING:  # not settled meanwhile by another process
                self._settle(job)
                out.append(job.id)
        return out

    def _adopt_orphans(self, report: dict) -> None:
        """Files in outputs/ that no job owns: our complete results are imported as done jobs (once: then
        they are owned); our incomplete ones are removed; anything else is left alone with a log line."""
        from ..media.video import read_comment, verify_mp4

        if not self.outputs.is_dir():
            return
        owned = self.store.owned_files()
        groups: dict[Path, list[Path]] = {}
        for p in self.outputs.glob("*/*"):
            if p.name.startswith(".") or p.parent.name.startswith(".") or not p.is_file() \
                    or p.suffix not in (".mp4", ".json", ".png"):
                continue
            if self.rel(p) in owned:
                continue
            stem = p.with_suffix("")  # (a segment's next picture, <stem>.next.png, goes with its segment)
            groups.setdefault(stem.with_suffix("") if stem.suffix == ".next" else stem, []).append(p)
        for stem, files in sorted(groups.items()):
            by_ext = {f.suffix: f for f in files if not f.name.endswith(".next.png")}
            meta = None
            if ".json" in by_ext:
                try:
                    meta = json.loads(by_ext[".json"].read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    meta = None
            if meta is None and ".mp4" in by_ext:
                try:
                    text = read_comment(by_ext[".mp4"])
                    meta = json.loads(text) if text else None
                except (OSError, ValueError):
                    meta = None
            ours = isinstance(meta, dict) and meta.get("app") == APP_NAME
            video = by_ext.get(".mp4")
            complete = False
            if ours and video is not None:
                n = meta.get("frames") or (meta.get("params") or {}).get("num_frames")
                try:
                    if kind_of_sidecar(meta).name == SWEEP:  # a grid: its frames are its tiles' longest
                        from ..media.video import probe

                        complete = probe(video)["frames"] > 0
                    else:
                        verify_mp4(video, int(n))
                        complete = True
                except (I2VError, TypeError, ValueError, OSError):
                    complete = False
            part = meta.get("part_of") if ours else None
            if isinstance(part, dict):  # a segment's or a draft's files without their row: never a generation
                parent = self.store.get(str(part.get("job") or ""))
                whole = by_ext.get(".json") is not None and complete
                if parent is not None and parent.status != DONE:
                    if whole and self._attach(parent, part, meta, files):
                        report["imported"] += 1
                        continue
                elif whole and part.get("kind") in (SEGMENT, DRAFT):  # its job is gone or done: kept, not shown
                    self._import(part["kind"], meta, video, files, parent=parent.id if parent else None)
                    report["imported"] += 1
                    continue
                for f in files:
                    f.unlink(missing_ok=True)
                    self.log(f"start-up: removed a part of job {echo(part.get('job'))} that never got its row: "
                             f"{self.rel(f)}")
                report["removed"] += len(files)
                continue
            if ours and complete:
                kind = kind_of_sidecar(meta).name
                if kind_of(kind).generation and not isinstance(meta.get("params"), dict):
                    ours = False
                else:
                    self._import(kind, meta, video, files)
                    report["imported"] += 1
                    continue
            if OUR_NAME.match(stem.name) and not (ours and complete) and (ours or meta is None):
                for f in files:  # a result of ours that never completed
                    f.unlink(missing_ok=True)
                    self.log(f"start-up: removed incomplete result file {self.rel(f)}")
                report["removed"] += len(files)
                continue
            for f in files:
                self.log(f"start-up: left alone {self.rel(f)} (not a result of this studio)")
            report["skipped"] += len(files)

    def _import(self, kind: str, meta: dict, video: Path, files: list[Path], parent: str | None = None) -> None:
        created = video.stat().st_mtime
        if kind_of(kind).generation:
            side = video.with_suffix(".json")
            if not side.exists():  # the MP4 carries the same JSON: give it its sidecar back
                from ..media.video import write_json

                write_json(meta, side)
                files = [*files, side]
            thumb = video.with_suffix(".png")
            res = GenerationResult(video=video, metadata_path=side, thumbnail=thumb if thumb.exists() else video,
                                   metadata=meta, seconds=float((meta.get("timings") or {}).get("total", 0.0)))
            try:
                result, _ = self.result_of(res)
            except (KeyError, TypeError):
                return
            params = {k: v for k, v in meta["params"].items() if k in GENERATE_KEYS}
        else:
            result = {"video": self.rel(video), "summary": {"video": self.rel(video)}, "meta": meta}
            params = dict(meta.get("params") or {})
        self.store.add_done(kind, params, result, sorted({self.rel(f) for f in files}), note="imported",
                            created_at=created, parent=parent)

    def clean_inputs(self, done_with: tuple[str | None, float] | None = None) -> None:
        """Remove kept pictures no job needs any more: ``done_with`` (the picture of a job that just ended,
        and when it was submitted) at once unless submitted again since, others once they are a minute
        old (a submission may be about to record them)."""
        folder = self.outputs / INPUTS
        if not folder.is_dir():
            return
        keep = self.store.inputs_in_use()
        now = time.time()
        for p in folder.iterdir():
            try:
                # a picture copied in the last minute may belong to a submission not yet in the store
                rel, mtime = self.rel(p), p.stat().st_mtime
                just_done = done_with is not None and rel == done_with[0] and mtime <= done_with[1] + 0.5
                if p.is_file() and not p.name.startswith(".") and rel not in keep \
                        and (just_done or now - mtime > INPUT_GRACE_S):
                    p.unlink(missing_ok=True)
            except OSError:
                continue



def _sidecar_of(files: list[Path]) -> dict | None:
    """The generation sidecar among a job's planned files (None: none there, or not readable)."""
    side = next((f for f in files if f.suffix == ".json"), None)
    try:
        meta = json.loads(side.read_text(encoding="utf-8")) if side is not None else None
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


class _Reporter:
    """Turns engine steps into store progress (throttled) and previews; honours cancel requests."""

    def __init__(self, store: JobStore, job_id: str, token: CancelToken, rel: Callable[[Path], str], forward=None,
                 preview_every: int = 5, min_interval: float = 0.2):
        self.store, self.job_id, self.token, self.rel, self.forward = store, job_id, token, rel, forward
        self.preview_every, self.min_interval = preview_every, min_interval
        self.item: dict = {}
        self._last = 0.0

    def write(self, progress: dict, preview: bytes | None = None) -> None:
        self.store.progress(self.job_id, progress, preview)

    def step(self, info) -> None:
        if self.forward is not None:
            self.forward(info)
        if self.store.cancel_requested(self.job_id):  # at once between steps (the watcher covers decode/write)
            self.token.cancel()
        preview = None
        if info.denoised is not None and (info.step % self.preview_every == 0 or info.step == info.total):
            from PIL import Image

            from ..engine.preview import latents_to_rgb

            buf = io.BytesIO()
            Image.fromarray(latents_to_rgb(info.denoised)).save(buf, format="PNG")
            preview = buf.getvalue()
        now = time.monotonic()
        if preview is None and info.step != info.total and now - self._last < self.min_interval:
            return
        self._last = now
        stage = "decoding" if info.step == info.total else "denoising"
        self.write({"stage": stage, "step": info.step, "total": info.total, "elapsed": round(info.elapsed, 2),
                    "eta": round(info.eta, 2), "guidance": round(info.guidance, 3), **self.item}, preview)

    def commit(self, finals: list[Path]) -> None:
        self.store.plan_files(self.job_id, [self.rel(p) for p in finals])
