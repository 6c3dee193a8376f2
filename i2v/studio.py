"""The studio service: what both front ends (CLI and web UI) call.

It owns the loaded model, one lock around all model work, output naming and
metadata.  It imports the engine (torch) only when a model is first needed, so
validation, presets and listings stay fast.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import re
import secrets
import shutil
import sys
import threading
import time
import traceback
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata as _md
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from .motion.analysis import analyze_frames
from .base.config import Config, load_config
from .base.errors import I2VError, InternalError, InvalidInput, OutOfResources, echo
from .planning.request import GenerationRequest, build_request, restore_values, size_for_budget
from .modelload import DownloadProgress, failure_record
from .base.notes import note
from .base.settings import NAMES, RESTORABLE
from .media.video import (PARTIAL_TAG, CommentTooLong, check_frames, commit_files, json_to, mp4_to,
                          partial_writer_alive, png_to, read_comment, to_uint8)

APP_NAME = "i2v-studio"
APP_VERSION = "0.1.0"
# Largest tier the tiny demo model is run at: its output is noise at any size, so it stays fast.
TINY_MAX_PIXELS = 256 * 256


@dataclass
class GenerationResult:
    video: Path
    metadata_path: Path
    thumbnail: Path
    metadata: dict
    seconds: float
    frames: np.ndarray | None = field(default=None, repr=False)  # (N, H, W, 3) uint8, full quality (a long
    #                                                                video joins these, not the MP4's)

    def summary(self) -> dict:
        """The CLI's --json object (and the API's metadata)."""
        p = self.metadata["params"]
        return {
            "video": str(self.video), "metadata": str(self.metadata_path), "thumbnail": str(self.thumbnail),
            "seed": self.metadata["seed"], "frames": p["num_frames"], "width": p["width"], "height": p["height"],
            "fps": p["fps"], "guidance_scale": p["guidance_scale"], "num_inference_steps": p["num_inference_steps"],
            "seconds": self.seconds, "model": self.metadata["model"]["model_id"],
            "demo": self.metadata["demo"], "notices": self.metadata["notices"],
            "motion": {k: v for k, v in self.metadata.get("motion", {}).items() if k != "per_frame"},
        }


def library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in ("torch", "diffusers", "transformers", "imageio-ffmpeg", "numpy", "pillow"):
        try:
            out[name] = _md.version(name)
        except _md.PackageNotFoundError:
            out[name] = "missing"
    return out


def slug(text: str, limit: int = 32) -> str:
    """A short file-name-safe version of the prompt (keeps CJK characters)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_")
    return (text[:limit].rstrip("-_") or "video")


def check_outputs(folder: Path, min_free_mb: float = 0) -> None:
    """Before any model work: ``folder`` is (or can be made) a folder we can write, on a disk with at least
    ``min_free_mb`` free.  A file in its place is bad input (exit 2); no permission or no space, exit 3."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput("outputs_not_dir", path=folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-check.{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        if isinstance(exc, (FileExistsError, NotADirectoryError)):  # a file somewhere on the way
            raise InvalidInput("outputs_not_dir", path=folder) from None
        raise OutOfResources("outputs_unwritable", path=folder, detail=exc.strerror or type(exc).__name__) from None
    free = shutil.disk_usage(folder).free / 2**20
    if free < min_free_mb:
        raise OutOfResources("disk_low", path=folder, free=int(free), need=int(min_free_mb))


def sweep_partials(folder: Path, older_than_s: float = 3600.0) -> list[Path]:
    """Remove temporary files left by a crash between write and rename: those whose writing process is
    gone, and any older than ``older_than_s`` (a write in progress, here or in another process sharing
    the folder, is never touched)."""
    removed, now = [], time.time()
    if folder.is_dir():
        for p in folder.rglob(f".*{PARTIAL_TAG}*"):
            try:
                if p.is_file() and (not partial_writer_alive(p) or now - p.stat().st_mtime >= older_than_s):
                    p.unlink(missing_ok=True)
                    removed.append(p)
            except OSError:
                continue
    return removed


def sweep_outputs(folder: Path, max_age_days: float | None = None, max_total_gb: float | None = None,
                  keep: frozenset[Path] | set[Path] = frozenset()) -> list[Path]:
    """Retention for results (off unless configured): remove whole results (the video and every file that
    shares its name: sidecar, thumbnail) older than ``max_age_days``, then the oldest until the folder
    holds at most ``max_total_gb``.  A result any of whose files is in ``keep`` stays (the segments of a long
    video being made).  Hidden folders (``.inputs``, a damaged store set aside) are never entered."""
    if not folder.is_dir() or (max_age_days is None and max_total_gb is None):
        return []
    groups = []
    for side in folder.glob("*/*.json"):
        if side.name.startswith(".") or side.parent.name.startswith(".") or side in keep:
            continue
        files = [p for p in side.parent.glob(f"{side.stem}.*") if p.is_file()]
        if any(p in keep for p in files):
            continue
        groups.append((side.stat().st_mtime, sum(p.stat().st_size for p in files), files))
    groups.sort(key=lambda g: g[0])
    removed, now = [], time.time()
    total = sum(g[1] for g in groups)
    for mtime, size, files in groups:
        too_old = max_age_days is not None and now - mtime > max_age_days * 86400
        too_big = max_total_gb is not None and total > max_total_gb * 2**30
        if not (too_old or too_big):
            continue
        for p in files:
            p.unlink(missing_ok=True)
            removed.append(p)
        total -= size
    return removed


def _is_oom(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


# -- restoring settings -----------------------------------------------------------




# Our sidecars nest four levels deep; a file nested deeper is not one of ours, and is refused before the
# JSON parser (which recurses once per level) sees it.
RESTORE_MAX_DEPTH = 32
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str, stop: int = RESTORE_MAX_DEPTH) -> int:
    """How deep JSON arrays and objects nest in ``text`` (strings skipped), in linear time and without
    recursing; counting stops once past ``stop``."""
    depth = deepest = 0
    for ch in _NOT_BRACKET.sub("", _JSON_STRING.sub('""', text)):
        depth += 1 if ch in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop:
                break
    return deepest


def settings_from_file(path: str | Path, cfg: Config, cfg_for: Callable[[str], Config] | None = None
                       ) -> tuple[dict, list]:
    """The restorable settings of a sidecar JSON or one of our MP4s (from its comment tag; a smoothed video's
    are its source's), and notes on what was clamped or left out.

    At most ``limits.restore_max_bytes`` are read, the nesting depth is checked before parsing, and the
    values go through the request's schema (:func:`i2v.planning.request.restore_values`).
    """
    path = Path(path)
    name, limit = echo(path.name), int(cfg.limits["restore_max_bytes"])
    try:
        if path.suffix.lower() == ".mp4":
            text = read_comment(path, max_bytes=limit)
            if not text:
                raise InvalidInput("no_settings", name=name)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
            if len(data) > limit:
                raise CommentTooLong(name)
            text = data.decode("utf-8")
        if nesting_depth(text) > RESTORE_MAX_DEPTH:
            raise InvalidInput("not_settings_file", name=name)
        meta = json.loads(text)
    except CommentTooLong:
        raise InvalidInput("restore_too_big", name=name, limit=limit) from None
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise InvalidInput("not_settings_file", name=name) from None
    return restorable(meta, cfg, name, cfg_for)


def restorable(meta: Any, cfg: Config, name: str = "", cfg_for: Callable[[str], Config] | None = None
               ) -> tuple[dict, list]:
    """The settings a result restores, from its sidecar (or its MP4's comment, or a bare ``params`` object),
    checked by the request's schema, and notes on what was clamped.  The one function behind History's
    Reuse and a dropped file, for every kind of result: a smoothed video's are those of the video it was
    made from (a smoothing of a smoothing: the generation's, however many times); a long video's include its
    Length (``segments``) and its storyboard, checked as a long request's are; an auto-tuned video's are
    the settings its final video ran with.  Anything else raises ``not_settings_file``.

    With ``cfg_for`` (the studio's), a result of another model than ``cfg``'s is checked by that model's rules
    and its settings name it (``model``): Reuse brings the model back with them."""
    for _ in range(RESTORE_MAX_DEPTH):  # (a file nested deeper was refused before it was parsed)
        if not (isinstance(meta, dict) and meta.get("kind") == "smoothed"):
            break
        meta = meta.get("source_metadata")
    params = meta.get("params", meta) if isinstance(meta, dict) else None
    if not isinstance(params, dict) or "prompt" not in params:
        raise InvalidInput("not_settings_file", name=name)
    made = meta.get("model") if isinstance(meta, dict) else None
    source = made.get("source") if isinstance(made, dict) else None
    model = None
    if cfg_for is not None and isinstance(source, str) and source != cfg.model["source"] and len(source) <= 512:
        try:
            cfg, model = cfg_for(source), source
        except I2VError:  # a model not here any more (a folder moved): the page's rules, and its model kept
            pass
    s, notes = restore_values(cfg, {k: params[k] for k in (*RESTORABLE, "width", "height") if k in params})
    if model is not None:
        s["model"] = model
    if params.get("segments") not in (None, 1) or params.get("storyboard"):
        from .planning.longplan import plan_long

        plan = plan_long(cfg, prompt=s["prompt"], frames=int(s.get("num_frames") or 16),
                         segments=params.get("segments"), storyboard=params.get("storyboard"))
        s["segments"], s["storyboard"] = plan.segments, list(plan.prompts)
        if isinstance(meta.get("extends"), str):  # Length is what the extension added, not the whole video's
            notes.append(note("extended_length", source=echo(meta["extends"]), segments=plan.segments))
    return s, notes



# Settings the studio applies itself, never the engine: the MP4's frame rate, the tier (turned into width
# and height), the schedule's end value (expanded into one guidance per step), the speed tier (turned into
# the sampler, steps and the approximations it sets, by the request: i2v.planning.tiers).
STUDIO_SETTINGS = frozenset({"fps", "resolution", "guidance_end", "speed"})


@dataclass
class _Run:
    """One generation on its way through the studio: what was asked, the engine's job (with its memory
    rung), the notes gathered on the way, the plan, and its times."""
    req: GenerationRequest
    info: Any
    t0: float
    notes: list = field(default_factory=list)
    seed: int = 0
    job: Any = None
    plan: Any = None
    chunk: int = 8                 # the decode chunk planned (where a retry's ladder starts)
    waited: float = 0.0


class Studio:
    """One model loaded at a time, one lock, many requests.

    ``cfg`` is the model the page offers now (:meth:`select` switches it, with no restart); a job names its own
    model, and the thread that runs it sees that model's config inside :meth:`serving`, where :meth:`engine`
    loads that model in place of the one loaded (one model on the card at a time)."""

    def __init__(self, cfg: Config | None = None, *, model: str | None = None,
                 outputs: str | Path | None = None, log: Callable[[str], None] | None = None,
                 vram_probe: Callable[[], float | None] | None = None,
                 owned: Callable[[Path], set[str] | None] | None = None):
        self._cfg = cfg or load_config(model=model)
        if model:
            self._cfg.data["model"]["source"] = model
        self._local = threading.local()  # the config of the job this thread runs (:meth:`serving`)
        self._cfgs: dict[str, Config] = {}  # other models' configs, made once each (:meth:`cfg_for`)
        self._engine_source: str | None = None  # the model the loaded engine was loaded for
        self.loading: str | None = None  # the model being loaded now (the banner says so)
        self._serving = 0  # jobs running now (:meth:`serving`): a switch on the page does not unload their model
        self._preload = False  # the page's choice loads in the background (not in a pool's page process)
        self.outputs = Path(outputs) if outputs else self.cfg.outputs_dir
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self.gpu_lock = threading.Lock()  # every piece of model work holds it
        self.active_jobs = self.max_active_jobs = 0
        self._load_lock = threading.Lock()
        self._engine = None
        self.load_error: I2VError | None = None
        self.download = DownloadProgress()  # the first download from the hub, for the banner
        # GiB of GPU memory this process may use (None: no GPU). Tests pass a fake probe.
        self.vram_probe = vram_probe
        self.protected: set[Path] = set()  # sidecars retention must leave (a long video's segments, until joined)
        # What the unfinished jobs of this output folder own, in whichever process they run (relative paths;
        # None: not known now).  The job store answers it (the jobs layer passes i2v.jobs.store.active_files:
        # this service sits below the jobs and never imports them); without it retention removes no result.
        self.owned = owned
        check_outputs(self.outputs, float((self.cfg.data.get("retention") or {}).get("min_free_mb") or 0))
        self.retention()

    # -- model -----------------------------------------------------------------------------
    @property
    def cfg(self) -> Config:
        """The config of the job this thread runs (:meth:`serving`), else of the model the page offers."""
        return getattr(self._local, "cfg", None) or self._cfg

    @cfg.setter
    def cfg(self, value: Config) -> None:
        self._cfg = value

    @property
    def selected(self) -> str:
        """The model the page offers (new jobs from the page and the API are checked against it)."""
        return self._cfg.model["source"]

    def cfg_for(self, source: str) -> Config:
        """The config for ``source`` (the user's settings, that model's family defaults); an unknown name or a
        folder of no served pipeline is refused (InvalidInput) before anything loads."""
        if source == self._cfg.model["source"]:
            return self._cfg
        if source not in self._cfgs:
            if len(self._cfgs) >= 16:  # (a bounded cache: names come from jobs, which users write)
                self._cfgs.pop(next(iter(self._cfgs)))
            self._cfgs[source] = self._cfg.for_model(source)
        return self._cfgs[source]

    def select(self, source: str, preload: bool = True) -> bool:
        """The page offers ``source`` from now on (no restart); with ``preload`` it loads in the background, the
        banner showing its progress.  False: it was already the one."""
        cfg = self.cfg_for(source)
        if cfg is self._cfg:
            return False
        self._cfgs.pop(source, None)
        self._cfgs[self._cfg.model["source"]] = self._cfg
        self._cfg, self.load_error = cfg, None
        self.log(f"model chosen: {source}")
        self._preload = preload  # (a job running now keeps its model: this one loads when it ends)
        if preload and not self._serving:
            self.load_in_background()
        return True

    @contextmanager
    def serving(self, source: str | None):
        """This thread runs a job of ``source`` (None: the page's model): inside, ``cfg`` is that model's and
        :meth:`engine` loads it if another is loaded."""
        before = getattr(self._local, "cfg", None)
        if source not in (None, self._cfg.model["source"]) or before is not None:
            self._local.cfg = self.cfg_for(source) if source else self._cfg
        self._serving += 1
        try:
            yield
        finally:
            self._serving -= 1
            self._local.cfg = before
            if self._preload and not self._serving and self.loaded_source not in (None, self.selected) \
                    and self.load_error is None:
                self.load_in_background()  # the page's choice, made while this job ran

    @property
    def loaded_source(self) -> str | None:
        """The model whose engine is loaded now (None: none)."""
        return self._engine_source if self._engine is not None else None

    def _unload(self) -> None:
        """Drop the loaded model (a job of it may still hold it: the GPU lock waits for that job)."""
        with self.gpu_lock:
            old, self._engine, self._engine_source = self._engine, None, None
            if old is not None:
                self.log(f"unloading model {old.info.model_id}")
                del old  # (then collected and the card's cache emptied once, below)
                gc.collect()
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()

    def engine(self):
        """The engine of this thread's model (:attr:`cfg`), loading it on first use and in place of another
        model's (thread-safe)."""
        with self._load_lock:
            want = self.cfg.model["source"]
            if self._engine is not None and self._engine_source != want:
                self._unload()
            if self._engine is None:
                from .families.engines import load_engine  # torch is imported here, not before

                m = self.cfg.model
                self.log(f"loading model {m['source']} ...")
                self.loading, self.download = want, DownloadProgress()
                try:
                    engine = load_engine(m["source"], revision=m.get("revision"), fallback=m.get("fallback"),
                                         probe_timeout=float(m.get("hub_probe_timeout_s", 3)),
                                         seed=int(m.get("random_weights_seed", 0)), progress=self.download)
                finally:
                    self.loading = None
                for note_text in engine.info.notices:
                    self.log(f"NOTICE: {note_text}")
                if engine.info.fallback:  # the page shows one line by cause; the log keeps the whole failure
                    self.log(f"NOTICE: why: {engine.info.fallback['error']['message']}")
                speed, entry = self._planned_speed(engine)
                done = engine.apply_speed(speed)
                if entry is not None:
                    done["planned"] = {"entry": entry.name, "measured": entry.measured}
                    self.log(f"speed levers planned for this card: {entry.name} "
                             f"({'measured' if entry.measured else 'not measured on a card: no lever'})")
                if self.cfg.speed["compile"] != "off":
                    self.log(f"torch.compile ({self.cfg.speed['compile']}): the first job of each size compiles "
                             f"first ({done.get('compiled_blocks', 0)} part(s) of the UNet)")
                self._engine, self._engine_source = engine, want
            return self._engine

    def _planned_speed(self, engine) -> tuple[dict, Any]:
        """configs/speed-gpu.yaml's levers for this card at the default tier's size when the config leaves
        ``speed:`` at its defaults on a CUDA card (they are applied once, at load); else the config's."""
        from .engine.speed import card_of
        from .planning.speedplan import default_speed, planned_speed

        card = card_of(engine.device)
        if card is None or self._dit_memory() is not None:  # (the levers are I2VGen-XL's UNet's)
            return self.cfg.speed, None
        res = self.cfg.resolution
        w, h = size_for_budget(res["tiers"][res["default_tier"]], 1.0)
        free = self.vram_probe() if self.vram_probe else engine.free_vram_gb()
        needed = 0.0
        if free is not None:
            from .planning import vram

            needed = vram.plan(free, w, h, int(self.cfg.defaults["num_frames"])).predicted_peak_gb or 0.0
        return planned_speed(self.cfg.speed, default_speed(), card[0], card[1], w, h, free_gib=free,
                             needed_gib=needed)

    def model_info(self):
        """The loaded model's ModelInfo, or None while nothing is loaded."""
        return self._engine.info if self._engine is not None else None

    # -- requests --------------------------------------------------------------------------
    def build_request(self, **kw: Any) -> GenerationRequest:
        return build_request(self.cfg, **kw)

    def _apply_model_caps(self, req: GenerationRequest, info) -> list[str]:
        """The tiny demo model runs at most at 256p when a tier was asked for."""
        notes = []
        if info.kind == "tiny" and req.resolution != "custom" and req.width * req.height > TINY_MAX_PIXELS:
            w, h = size_for_budget(TINY_MAX_PIXELS, req.width / req.height, int(self.cfg.resolution["multiple"]))
            if (w, h) == (req.width, req.height):  # the tier already snaps to this size: nothing to say
                return notes
            notes.append(note("tiny_cap", tier=req.resolution, width=req.width, height=req.height, w=w, h=h))
            req.resize(w, h)
        return notes

    def status(self) -> dict:
        """For the UI banner: loading / ready / failed, and the model's notices.  ``selected``: the model the
        page offers, when the one loaded is another (it served a job of its own model)."""
        engine = self._engine
        if self.loading is not None:
            download = self.download.snapshot()
            return {"state": "loading", "model": self.loading, **({"download": download} if download else {})}
        if engine is not None and self._engine_source != self.selected and self.load_error is not None:
            engine = None  # the chosen model failed to load: say that, not the other model's readiness
        if engine is not None:
            i = engine.info
            out = {"state": "ready", "model": i.model_id, "kind": i.kind, "device": i.device, "dtype": i.dtype,
                   "demo": i.demo, "notices": list(i.notices), "fallback": i.fallback, "vram_gb": None,
                   "max_tier": None}
            if self._engine_source != self.selected:
                out["selected"] = self.selected
            free = self.vram_probe() if self.vram_probe else engine.free_vram_gb()
            fits = self._dit_memory()
            if free is not None and fits is not None:
                from .planning import dit_vram

                res = self.cfg.resolution
                out["max_tier_frames"] = int(self.cfg.defaults["num_frames"])
                out["vram_gb"], out["max_tier"] = free, dit_vram.max_tier(
                    fits, free, res["tiers"], out["max_tier_frames"], int(res["multiple"]))
            elif free is not None:
                from .planning.vram import max_tier

                out["vram_gb"], out["max_tier"] = free, max_tier(free, self.cfg.resolution["tiers"])
            return out
        if self.load_error is not None:
            return {"state": "failed", "error": str(self.load_error), "failure": failure_record(self.load_error)}
        download = self.download.snapshot()
        return {"state": "loading", **({"download": download} if download else {})}

    def load_in_background(self) -> threading.Thread:
        def run():
            try:
                self.engine()
            except I2VError as exc:
                self.log(f"ERROR: the model could not be loaded: {exc}")  # the page shows one line by cause
                self.load_error = exc
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                self.load_error = InternalError.wrap(exc)

        th = threading.Thread(target=run, name="i2v-load", daemon=True)
        th.start()
        return th

    def retention(self, keep: frozenset[Path] = frozenset()) -> list[Path]:
        """Abandoned partial files always go; results only as configured (off by default), never those in
        ``keep`` (the result just made), :attr:`protected`, or owned by a job of the store that has not
        finished, in whichever process it runs (its segments, drafts, planned files and source video)."""
        r = self.cfg.data.get("retention") or {}
        removed = sweep_partials(self.outputs)
        if r.get("max_age_days") is None and r.get("max_total_gb") is None:
            return self._said(removed)
        owned = self.owned(self.outputs) if self.owned is not None else None
        if owned is None:  # the store cannot be read now (or none was given): no result is removed this time
            self.log("retention: what unfinished jobs own is not known (the job store could not be read); "
                     "no result removed this time")
            return self._said(removed)
        removed += sweep_outputs(self.outputs, r.get("max_age_days"), r.get("max_total_gb"),
                                 keep=set(self.protected) | set(keep) | {self.outputs / f for f in owned})
        return self._said(removed)

    def _said(self, removed: list[Path]) -> list[Path]:
        for p in removed:
            self.log(f"retention: removed {p}")
        return removed

    def resolve_seed(self, seed: int) -> int:
        return seed if seed >= 0 else secrets.randbelow(2**31)

    # -- generation ------------------------------------------------------------------------
    def engine_job(self, req: GenerationRequest, seed: int):
        """The engine's job: every request setting the engine uses, by name (the seed resolved, the schedule
        expanded); the memory rung is the planner's to set.  A setting that is neither passed on here nor
        one the studio applies itself (:data:`STUDIO_SETTINGS`) is an error, never silently dropped."""
        from .engine import EngineJob

        fields = set(EngineJob.__dataclass_fields__)
        lost = set(NAMES) - fields - STUDIO_SETTINGS
        if lost:
            raise InternalError("internal", detail=f"settings the engine never receives: {', '.join(sorted(lost))}")
        return EngineJob(image=req.image, seed=seed, guidance_schedule=req.guidance_per_step(),
                         **{k: getattr(req, k) for k in fields & set(NAMES) - {"seed", "guidance_schedule"}},
                         width=req.width, height=req.height)

    def generate(self, req: GenerationRequest, *, on_step=None, cancel=None, want_latents: bool = False,
                 on_commit: Callable[[list[Path]], None] | None = None, extra: dict | None = None
                 ) -> GenerationResult:
        """Run one request and write its result (MP4, sidecar, thumbnail) as one unit.  ``on_commit`` is told
        the final file names just before they are renamed into place (the job store records them); ``extra``
        is added to the metadata (an auto-tuned video's drafts and choice)."""
        t0 = time.perf_counter()
        engine = self.engine()
        run = _Run(req=req, info=engine.info, t0=t0, notes=self._apply_model_caps(req, engine.info))
        run.seed = self.resolve_seed(req.seed)
        run.job = self.engine_job(req, run.seed)
        t_wait = time.perf_counter()
        with self.gpu_lock:
            run.waited = time.perf_counter() - t_wait
            # Planned under the lock: free memory is only meaningful once the previous job is done, and
            # the plan changes the shared pipeline (offload hooks, VAE tiling).
            self._memory_plan(engine, run)
            run.chunk = run.job.decode_chunk_size  # the ladder of a retry starts from the planned chunk
            engine.notes = []
            self.active_jobs += 1  # instrumentation: the load test asserts this never exceeds 1
            self.max_active_jobs = max(self.max_active_jobs, self.active_jobs)
            gpu_start = time.time()
            try:
                latents, out = self._stage(engine, run, "denoising",
                                           lambda: engine.denoise(run.job, on_step, cancel, want_latents))
                if cancel is not None:
                    cancel.check()
                out.frames = self._stage(engine, run, "decoding",
                                         lambda: engine.decode_job(latents, run.job, out.timings))
                out.total_timing()
            finally:
                self.active_jobs -= 1
            out.timings.update(gpu_start=round(gpu_start, 4), gpu_end=round(time.time(), 4),
                               concurrent_jobs=self.max_active_jobs)
            for code, params in engine.notes:
                n = note(code, **params)
                if n not in run.notes:  # (a stage retried on the CPU says "no offload here" once)
                    run.notes.append(n)
        check_frames(out.frames)
        return self._write(run, out, on_commit, extra)

    # -- memory: plan before, retry one rung down after an out-of-memory error ---------------
    def _memory_plan(self, engine, run: _Run) -> None:
        """The fastest rung that fits the card, carried on the engine's job (None on a CPU: nothing to plan)."""
        from .planning import vram

        free = self.vram_probe() if self.vram_probe else engine.free_vram_gb()
        if free is None:
            return
        req, job = run.req, run.job
        fits = self._dit_memory()
        if fits is not None:  # a transformer family's model (i2v/planning/dit_vram.py)
            from .planning import dit_vram

            p = dit_vram.plan(fits, free, req.width, req.height, req.num_frames, resolution=req.resolution)
        else:
            bpe = 2 if engine.info.dtype in ("float16", "bfloat16") else 4
            p = vram.plan(free, req.width, req.height, req.num_frames, cfg=job.uses_cfg,
                          decode_chunk_size=req.decode_chunk_size, bytes_per_elem=bpe, fast=job.fast,
                          skip=job.skip_threshold > 0)
        if not p.fits and p.predicted_peak_gb > 1.5 * p.budget_gb:
            raise OutOfResources("gpu_too_small", width=req.width, height=req.height, frames=req.num_frames,
                                 need=p.predicted_peak_gb, free=free)
        run.plan = p
        run.notes += [p.note(), *p.notices]
        job.use_rung(*p.step)

    def _stage(self, engine, run: _Run, stage: str, work: Callable[[], Any]):
        """Run one stage ("denoising" or "decoding"); after an out-of-memory error, once more on the nearest
        rung that lowers that stage's memory (a decode chunk does nothing for denoising, guidance in two
        passes nothing for decoding); a second error, or no such rung, is ``gpu_oom``."""

        for attempt in (1, 2):
            try:
                return work()
            except I2VError:
                raise
            except Exception as exc:  # noqa: BLE001 - out of memory must never crash the app
                if not _is_oom(exc):
                    raise
                del exc
                engine.free_memory()
                job = run.job
                nxt = self._lower_for(engine, run, stage) if attempt == 1 else None
                if nxt is None:
                    raise OutOfResources("gpu_oom") from None
                run.notes.append(note("oom_retry", stage=stage, offload=nxt.offload, chunk=nxt.chunk,
                                      tiling=nxt.tiling, split=nxt.split, sliced=nxt.sliced))
                job.use_rung(*nxt)

    def _dit_memory(self):
        """The memory model of a transformer family's variant (None: the UNet model of planning/vram.py)."""
        fam = self.cfg.family
        if not fam.get("memory"):
            return None
        from .planning import dit_vram

        return dit_vram.load(fam["memory"], fam["variant"], int(fam["latent_scale"]))

    def _lower_for(self, engine, run: _Run, stage: str):
        """The rung a stage that ran out of memory is retried on (None: none lowers it)."""
        from .planning import dit_vram, vram

        job, fits = run.job, self._dit_memory()
        if fits is not None:
            return dit_vram.lower_for(fits, stage, vram.Rung(*job.rung()), job.width, job.height, job.num_frames)
        bpe = 2 if engine.info.dtype in ("float16", "bfloat16") else 4
        return vram.lower_for(stage, vram.Rung(*job.rung()), job.width, job.height, job.num_frames, run.chunk,
                              cfg=job.uses_cfg, bytes_per_elem=bpe)

    def _write(self, run: _Run, out, on_commit=None, extra: dict | None = None) -> GenerationResult:
        req, info, seed, guard, plan = run.req, run.info, run.seed, run.notes, run.plan
        now = _dt.datetime.now()
        folder = self.outputs / now.strftime("%Y-%m-%d")
        stem = f"{now.strftime('%H%M%S')}_{slug(req.prompt)}_s{seed}_{secrets.token_hex(3)}"
        video, sidecar, thumb = (folder / f"{stem}{ext}" for ext in (".mp4", ".json", ".png"))
        params = {**req.params(), "seed": seed, "requested_seed": req.seed}
        meta = {
            "app": APP_NAME, "app_version": APP_VERSION, "created": now.isoformat(timespec="seconds"),
            "video": video.name, "thumbnail": thumb.name, "seed": seed, "params": params,
            "model": info.to_json(), "scheduler": req.scheduler, "dtype": info.dtype, "device": info.device,
            "versions": library_versions(), "guidance_per_step": out.guidance_per_step,
            "timings": {**out.timings, "queue_wait": round(run.waited, 4)}, "cache_hits": out.cache_hits,
            **({"knobs": out.knobs} if out.knobs else {}),  # a family's knobs as they ran (params: as asked)
            "guard": [n.text("en") for n in guard] + list(req.notices), "notes": [n.to_json() for n in guard],
            "demo": info.demo, "notices": list(info.notices),
            "memory_plan": plan.to_json() if plan is not None else None,
            "speed": self._engine.speed if self._engine is not None else None,
            "duration_s": round(req.num_frames / req.fps, 3),
            **(extra or {}),
        }
        frames = to_uint8(out.frames)
        t = time.perf_counter()
        meta["motion"] = analyze_frames(frames).to_json()
        meta["timings"]["analyze"] = round(time.perf_counter() - t, 4)
        t = time.perf_counter()
        comment = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))

        def sidecar_to(path: Path) -> None:
            meta["timings"]["write"] = round(time.perf_counter() - t, 4)
            meta["timings"]["total"] = round(time.perf_counter() - run.t0, 4)
            json_to(path, meta)

        # all three or none, the MP4 read back before anything is published
        commit_files({video: lambda p: mp4_to(p, frames, req.fps, comment), thumb: lambda p: png_to(p, frames[0]),
                      sidecar: sidecar_to}, mp4_frames={video: len(frames)}, on_commit=on_commit)
        result = GenerationResult(video=video, metadata_path=sidecar, thumbnail=thumb, metadata=meta,
                                  seconds=meta["timings"]["total"], frames=frames)
        self.retention(keep=frozenset({sidecar}))  # (never the result just made, whatever the limits)
        return result
