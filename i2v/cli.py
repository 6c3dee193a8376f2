"""``python -m i2v``: a thin command-line front end over :class:`i2v.studio.Studio`.

Conventions for every command: ``--json`` prints exactly one JSON object on one
line of stdout; progress bars and messages go to stderr.  Exit codes: 0 success,
2 invalid input, 3 out of resources, 4 model unavailable, 5 generation failed,
130 cancelled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import Callable, Sequence

from .base.errors import I2VError, InternalError, InvalidInput, OutOfResources, echo
from .families import model_names
from .jobs.kinds import GENERATE, SMOOTH, SWEEP, kind_of

EXIT_OK, EXIT_INVALID, EXIT_RESOURCES, EXIT_CANCELLED = 0, 2, 3, 130


def emit(obj: dict, as_json: bool, text: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write((text if text is not None else json.dumps(obj, ensure_ascii=False, indent=2)) + "\n")
    sys.stdout.flush()


def err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are our 'invalid input' exit code with one line."""

    def error(self, message: str):  # noqa: D401
        err(f"error: {message} (see {self.prog} --help)")
        raise SystemExit(EXIT_INVALID)

    def parse_known_args(self, args=None, namespace=None):
        """``generate PICTURE PROMPT`` as well as ``--image PICTURE --prompt PROMPT`` (either, not both)."""
        ns, rest = super().parse_known_args(args, namespace)
        if hasattr(ns, "picture_pos"):
            for pos, opt in (("picture_pos", "image"), ("prompt_pos", "prompt")):
                given = getattr(ns, pos)
                if given is not None and getattr(ns, opt) is not None:
                    self.error(f"the {opt} is given twice (as --{opt} and as a word after the options)")
                if given is not None:
                    setattr(ns, opt, given)
                delattr(ns, pos)
            missing = [f"--{o}" for o in ("image", "prompt") if getattr(ns, o) is None]
            if missing:
                self.error(f"the following arguments are required: {', '.join(missing)} (or PICTURE PROMPT)")
        return ns, rest


# -- generate ------------------------------------------------------------------------------------

def add_generation_args(p: argparse.ArgumentParser, *, image_required: bool = True, sweep: bool = False,
                        positional: bool = False) -> None:
    """The picture, the preset, an explicit size and one option per setting of the settings schema;
    ``positional``: the picture and the prompt may also be the first two words (generate, submit)."""
    from .base.settings import SETTINGS

    if positional:
        p.add_argument("picture_pos", nargs="?", metavar="PICTURE", help="the picture (or --image)")
        p.add_argument("prompt_pos", nargs="?", metavar="PROMPT", help="what should move (or --prompt)")
        image_required = False  # checked after parsing: as words or as options
    p.add_argument("--image", required=image_required, help="input picture (PNG, JPEG, WebP, ...)")
    p.add_argument("--preset", default=None, help="preview | standard | high_motion | creative")
    p.add_argument("--width", type=int, default=None, help="explicit width (a multiple of the model's: 64 for "
                                                            "I2VGen-XL, 32 or 16 for Wan)")
    p.add_argument("--height", type=int, default=None, help="explicit height (the same multiple)")
    for s in SETTINGS:
        if sweep and s.name == "guidance_scale":
            p.add_argument(s.flag, default=None, help="comma-separated guidance values (default: the model "
                                                      "family's; 5,7,9,11,14,18 for I2VGen-XL)")
            continue
        kind = {"float": float, "int": int}.get(s.kind)
        choices = list(s.choices) if isinstance(s.choices, tuple) else None
        p.add_argument(s.flag, type=kind, default=None, choices=choices, required=image_required and s.name == "prompt",
                       help=s.help + (" (256p | 384p | 512p | 768p | native)" if s.choices == "tiers" else ""))
    add_common_args(p)


def add_generate_args(p: argparse.ArgumentParser) -> None:
    """generate's options, which submit takes too: one video, a long one, or an auto-tuned one."""
    add_generation_args(p, positional=True)
    add_long_args(p)
    add_tune_args(p)


def add_long_args(p: argparse.ArgumentParser, *, extend: bool = False) -> None:
    """A long video: how many segments (or seconds), a storyboard, and how the joins are made."""
    from .base.config import COLOUR_METHODS

    g = p.add_argument_group("long video (segments chained from each one's last frames; see docs/long-videos.md)")
    g.add_argument("--segments", type=int, default=None,
                   help="segments to add" if extend else "number of segments (default: the storyboard's lines, else 1)")
    g.add_argument("--seconds", type=float, default=None, help="as many segments as this length needs")
    g.add_argument("--storyboard", default=None, metavar="FILE", help="one prompt per segment, one per line (UTF-8)")
    g.add_argument("--overlap", type=int, default=None, help="frames cross-faded at each join (default: the config's)")
    g.add_argument("--colour-match", default=None, choices=COLOUR_METHODS, help="colours matched to the first segment")
    g.add_argument("--colour-strength", type=float, default=None, help="0..1")


def long_kwargs(a: argparse.Namespace, cfg) -> dict | None:
    """The long-video options given (None: none, a plain generation); a storyboard file is read here,
    bounded before it is read whole."""
    from pathlib import Path

    given = {k: getattr(a, k, None) for k in ("segments", "seconds", "storyboard", "overlap", "colour_match",
                                                 "colour_strength")}
    if all(v is None for v in given.values()):
        return None
    board = None
    if given["storyboard"] is not None:
        path = Path(given["storyboard"])
        limit = int(cfg.data["long"]["storyboard_max_chars"])
        cap = 4 * limit  # the most bytes a text of `limit` characters can take in UTF-8
        try:
            if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block the read, a device never end
                raise InvalidInput("storyboard_unreadable", path=path, detail="not a regular file")
            with path.open("rb") as f:
                data = f.read(cap + 1)
            if len(data) > cap:  # more bytes than `limit` characters can take: too long, whatever they hold
                raise InvalidInput("text_too_long", name="storyboard", length=f"over {limit}", limit=limit)
            board = data.decode("utf-8")
        except OSError as exc:
            raise InvalidInput("storyboard_unreadable", path=path, detail=exc.strerror or "unreadable") from None
        except UnicodeDecodeError:
            raise InvalidInput("storyboard_unreadable", path=path, detail="not UTF-8 text") from None
        if not board.strip():
            raise InvalidInput("storyboard_empty")
    return {"segments": given["segments"], "seconds": given["seconds"], "storyboard": board,
            "overlap": given["overlap"], "colour": given["colour_match"], "colour_strength": given["colour_strength"]}


def add_tune_args(p: argparse.ArgumentParser) -> None:
    """Auto-tune: a motion target, and the drafts' steps and frames."""
    g = p.add_argument_group("auto-tune (drafts find the guidance for a motion target; see docs/guidance.md)")
    g.add_argument("--target-motion", default=None, metavar="subtle|natural|strong|NUMBER",
                   help="the motion wanted: a word, or analyze's motion_norm (%% of the diagonal per frame)")
    g.add_argument("--draft-steps", type=int, default=None, help="steps of each draft (default: the config's)")
    g.add_argument("--draft-frames", type=int, default=None, help="frames of each draft (default: the config's)")


def add_common_args(p: argparse.ArgumentParser) -> None:
    add_model_args(p)
    add_store_args(p, json=False)
    add_speed_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_store_args(p: argparse.ArgumentParser, json: bool = True) -> None:
    """--outputs and --config (and --json): what a command that only reads or changes the job store takes (no
    model, no speed levers: it runs nothing)."""
    p.add_argument("--outputs", default=None, help="output folder and job store (default: the studio's outputs/)")
    p.add_argument("--config", default=None, help="config YAML (default: configs/default.yaml)")
    if json:
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def job_statuses(text: str) -> list[str]:
    """--status: comma-separated job statuses, each one the store knows (argparse prints the message as one
    line)."""
    from .jobs.store import ACTIVE, FINAL

    known = (*ACTIVE, *FINAL)
    wanted = [x.strip() for x in str(text).split(",") if x.strip()]
    bad = [x for x in wanted if x not in known]
    if not wanted or bad:
        raise argparse.ArgumentTypeError(f"job statuses are {', '.join(known)}, comma-separated (got {echo(text)})")
    return wanted


def whole_number(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """An option's type: a whole number from ``lo`` to ``hi``; anything else is one line naming ``what``
    (argparse prints it and exits 2)."""
    def parse(text: str) -> int:
        try:
            n = int(str(text).strip())
        except ValueError:
            n = None
        if n is None or not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number from {lo} to {hi} (got {echo(text)})")
        return n
    return parse


list_limit = whole_number(1, 10_000, "the limit")  # --limit: how many jobs to list


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model and --fallback, for the CLI and the app alike."""
    p.add_argument("--model", default=None, help="hub repo id, local folder, or a name: "
                   + ", ".join(model_names()).replace("%", "%%"))
    p.add_argument("--fallback", default=None, choices=["tiny", "random-full"],
                   help="run this demo model when the --model named cannot be loaded (default: that is an error; "
                        "the default model offline falls back to tiny)")


def _attention_arg(text: str) -> dict:
    """``flash`` (every kind) or ``spatial=flash,temporal=math``: kernels by kind of attention."""
    from .base.config import ATTENTION_KINDS, BACKENDS

    out = {}
    for part in [p.strip() for p in str(text).split(",") if p.strip()]:
        kind, _, backend = part.rpartition("=")
        kinds = ATTENTION_KINDS if not kind else (kind.strip(),)
        if not set(kinds) <= set(ATTENTION_KINDS) or backend.strip() not in BACKENDS:
            raise argparse.ArgumentTypeError(f"KIND=KERNEL with KIND one of {', '.join(ATTENTION_KINDS)} and KERNEL "
                                             f"one of {', '.join(BACKENDS)}, or one KERNEL for all (got {text!r})")
        out.update(dict.fromkeys(kinds, backend.strip()))
    return out


def add_speed_args(p: argparse.ArgumentParser) -> None:
    """The speed levers (``speed:`` in the config), for the CLI and the app alike."""
    from .base.config import COMPILE_MODES, FP8_MODES, MEMORY_FORMATS, TEMPORAL_CONVS

    g = p.add_argument_group("speed (the same math; see docs/memory-and-speed.md)")
    g.add_argument("--compile", nargs="?", const="full", default=None, choices=COMPILE_MODES,
                   help="torch.compile the UNet: full (alone: --compile), regional (its repeated blocks: faster to "
                        "compile), off")
    g.add_argument("--memory-format", default=None, choices=MEMORY_FORMATS, help="conv weights' memory layout")
    g.add_argument("--fuse-qkv", default=None, action=argparse.BooleanOptionalAction,
                   help="fused query/key/value projections")
    g.add_argument("--attention", default=None, type=_attention_arg, metavar="KIND=KERNEL[,...]",
                   help="attention kernel per kind (spatial, temporal, cross): auto, math, flash, efficient, cudnn")
    g.add_argument("--temporal-conv", default=None, choices=TEMPORAL_CONVS,
                   help="the temporal (3,1,1) convolutions as convolutions (native) or as a matmul over neighbouring "
                        "frames (matmul; the same sums)")
    g.add_argument("--fp8", nargs="?", const="on", default=None, choices=FP8_MODES,
                   help="float8 linear layers in the UNet (torchao; CUDA cards of compute capability >= 8.9; not "
                        "exact): on (alone: --fp8), off")


def speed_overrides(a: argparse.Namespace) -> dict:
    """The speed options given on the command line, as ``load_config(speed=...)`` takes them."""
    return {k: v for k, v in (("memory_format", getattr(a, "memory_format", None)),
                              ("fuse_qkv", getattr(a, "fuse_qkv", None)),
                              ("attention", getattr(a, "attention", None)),
                              ("temporal_conv", getattr(a, "temporal_conv", None)),
                              ("fp8", getattr(a, "fp8", None))) if v is not None}


def speed_argv(a: argparse.Namespace) -> list[str]:
    """The same options again, for a worker process started with them."""
    out = ["--compile", a.compile] if getattr(a, "compile", None) else []
    s = speed_overrides(a)
    out += ["--memory-format", s["memory_format"]] if "memory_format" in s else []
    out += ["--fuse-qkv" if s["fuse_qkv"] else "--no-fuse-qkv"] if "fuse_qkv" in s else []
    out += ["--attention", ",".join(f"{k}={v}" for k, v in s["attention"].items())] if "attention" in s else []
    out += ["--temporal-conv", s["temporal_conv"]] if "temporal_conv" in s else []
    out += ["--fp8", s["fp8"]] if "fp8" in s else []
    return out


def request_kwargs(a: argparse.Namespace) -> dict:
    from .base.settings import SETTINGS

    return {"image": a.image, "preset": a.preset, "width": a.width, "height": a.height,
            **{s.name: getattr(a, s.dest) for s in SETTINGS}}


def make_studio(a: argparse.Namespace):
    from .base.config import load_config
    from .jobs.store import active_files
    from .studio import Studio

    return Studio(load_config(getattr(a, "config", None), model=getattr(a, "model", None),
                              fallback=getattr(a, "fallback", None),
                              compile=getattr(a, "compile", None), speed=speed_overrides(a)),
                  outputs=getattr(a, "outputs", None), log=err, owned=active_files)


def make_jobs(a: argparse.Namespace, **kw):
    """The job service on the store of --outputs (shared with a running studio)."""
    from .jobs import JobService

    return JobService(make_studio(a), log=err, **kw)


def finished(jobs, job) -> dict:
    """A finished job as the CLI reports it; raises its typed error unless it is done."""
    from .jobs import DONE, error_of

    if job.status != DONE:
        raise error_of(job)
    return jobs.summary(job)


class CliProgress:
    """A tqdm bar on stderr driven by the engine's step callback.  The speed shown is the engine's own
    (elapsed over steps done): tqdm's rate, measured from the bar's creation at the first callback, read
    '74898.29step/s' on the first tick."""

    def __init__(self, desc: str = "denoising"):
        self.desc, self.bar = desc, None

    def __call__(self, info) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=info.total, desc=self.desc, file=sys.stderr, leave=False,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{postfix}]")
        per_step = info.elapsed / max(info.step, 1)
        self.bar.set_postfix_str(f"{per_step:.2f}s/step, g={info.guidance:.2f}, eta {info.eta:.1f}s", refresh=False)
        self.bar.update(info.step - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            if not sys.stderr.isatty():  # a log file: what follows starts on its own line, not after the bar
                sys.stderr.write("\n")


def install_cancel_on_sigint() -> object:
    """First Ctrl-C (or SIGTERM, as ``kill`` and service managers send) cancels the job at the next step
    (exit 130, no files, the job recorded as cancelled); a second one aborts."""
    from .base.cancel import CancelToken

    token = CancelToken()

    def handler(signum, frame):
        if token.cancelled:
            raise KeyboardInterrupt
        err("\ncancelling after the current step (Ctrl-C again to abort) ...")
        token.cancel()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return token


def run_long(a: argparse.Namespace, jobs, params: dict) -> int:
    """A long job in this process (generate with --segments/--seconds/--storyboard, extend)."""
    from .jobs import LONG

    token = install_cancel_on_sigint()
    progress = CliProgress()
    try:
        job = jobs.run_inline(LONG, params, on_step=progress, cancel=token,
                              on_progress=lambda i, n, g: (progress.close(), err(f"[segment {i + 1}/{n}]")))
    finally:
        progress.close()
    s = finished(jobs, job)
    worst = max((x["score"] for x in s["seams"]), default=None)
    emit({**s, "job": job.id}, a.json,
         text="\n".join([f"{s['video']}  ({s['frames']} frames, {len(s['segments'])} segments, seed {s['seed']}"
                         + (f", worst seam score {worst:.2f}" if worst is not None else "") + ")",
                         *seam_lines(s["seams"])]))
    return EXIT_OK


def cmd_extend(a: argparse.Namespace) -> int:
    jobs = make_jobs(a)
    kw = {k: v for k, v in request_kwargs(a).items() if k not in ("image", "width", "height")}
    long = long_kwargs(a, jobs.studio.cfg) or {}
    return run_long(a, jobs, jobs.long_params(**long, extend=a.video, **kw))


WHY = {"hit": "a draft hit the target", "predicted": "the drafts' fit", "unreachable_high": "the target is out of "
       "reach: the most motion inside the safe zone", "unreachable_low": "the target is out of reach: the least "
       "motion inside the safe zone"}


def requested_job(a: argparse.Namespace, jobs) -> tuple[str, dict]:
    """The job that generate's options ask for, checked before any model work: an auto-tuned video (a motion
    target), a long one (segments, seconds or a storyboard) or one video.  ``generate`` runs it here,
    ``submit`` queues it: one reading of the same options."""
    from .jobs import AUTOTUNE, LONG

    long = long_kwargs(a, jobs.studio.cfg)
    if a.target_motion is not None:
        return AUTOTUNE, jobs.tune_params(target_motion=a.target_motion, draft_steps=a.draft_steps,
                                          draft_frames=a.draft_frames, long=long, **request_kwargs(a))
    if long is not None:
        return LONG, jobs.long_params(**long, **request_kwargs(a))
    return GENERATE, jobs.generate_params(request_kwargs(a))


def run_autotune(a: argparse.Namespace, jobs, params: dict) -> int:
    from .jobs import AUTOTUNE

    token = install_cancel_on_sigint()
    progress = CliProgress()

    def said(i, n, g):
        progress.close()
        err(f"[draft {i + 1}: guidance {g:g}]" if i < n else f"[final: guidance {g:g}]")
    try:
        job = jobs.run_inline(AUTOTUNE, params, on_step=progress, cancel=token,
                              on_progress=lambda i, n, g: said(i, n, g))
    finally:
        progress.close()
    s = finished(jobs, job)
    c = s["autotune"]["choice"]
    emit({**s, "job": job.id}, a.json,
         text=f"{s['video']}  (guidance {c['guidance']:g}, {WHY.get(c['why'], c['why'])}; motion "
              f"{s['motion'].get('motion_norm')} for a target of {s['autotune']['target']} (% of the diagonal per "
              f"frame), {len(s['autotune']['drafts'])} drafts)")
    return EXIT_OK


def cmd_generate(a: argparse.Namespace) -> int:
    from .jobs import AUTOTUNE, LONG

    jobs = make_jobs(a)
    kind, params = requested_job(a, jobs)
    if kind == AUTOTUNE:
        return run_autotune(a, jobs, params)
    if kind == LONG:
        return run_long(a, jobs, params)
    token = install_cancel_on_sigint()
    progress = CliProgress()
    try:
        job = jobs.run_inline(GENERATE, params, on_step=progress, cancel=token)
    finally:
        progress.close()
    s = finished(jobs, job)
    meta = jobs.metadata(job)
    for note in meta.get("guard", []):
        err(f"note: {note}")
    if meta.get("demo"):
        err("NOTICE: demo model: output is noise")
    emit({**s, "job": job.id}, a.json,
         text=f"{s['video']}  ({s['frames']} frames {s['width']}x{s['height']} @ {s['fps']} fps, "
              f"seed {s['seed']}, {s['seconds']:.1f}s)")
    return EXIT_OK


# -- the queue: submit, jobs, wait, cancel, requeue, worker ----------------------------------------

def cmd_submit(a: argparse.Namespace) -> int:
    jobs = make_jobs(a)
    job = jobs.submit_params(*requested_job(a, jobs))
    emit({"job": job.id, "status": job.status, "kind": job.kind}, a.json, text=job.id)
    return EXIT_OK


def cmd_jobs(a: argparse.Namespace) -> int:
    from .jobs import JobStore

    folder = outputs_of(a)
    from .jobs.store import DB_NAME

    store = JobStore(folder) if (folder / DB_NAME).exists() else None  # no runs yet: no jobs
    if store is not None:
        settle_dead(a, store)
    rows = store.list(status=a.status, limit=a.limit, parent=None) if store else []
    from .jobs.store import store_notes, store_notice

    notices = [store_notice(n) for n in store_notes(folder)]  # a damaged store the studio set aside
    for text in notices:
        err(f"warning: {text}")
    # each job's children (a long video's segments, an auto-tune's drafts, a sweep's videos) under it
    kids = {j.id: store.list(parent=j.id, limit=None, newest_first=False) for j in rows} if store else {}
    if a.json:
        emit({"jobs": [{**j.to_json(), "children": [k.to_json() for k in kids[j.id]]} for j in rows],
              **({"notices": notices} if notices else {})}, True)
    elif not rows:
        err(f"no jobs in {folder}" + ("" if store is not None else " (nothing has run there yet)"))
    else:
        for j in rows:
            p = j.progress or {}
            prog = f"{p.get('step')}/{p.get('total')}" if p.get("total") else ""
            what = kind_of(j.kind).describe(j.params)[:50]
            print(f"{j.id}  {j.kind:11s} {j.status:11s} {prog:8s} {what}")
            for k in kids[j.id]:
                part = f"{k.params['segment'] + 1}/{k.params.get('segments')}" if "segment" in k.params else ""
                print(f"  └ {k.id}  {k.kind:9s} {k.status:11s} {part:8s} {kind_of(k.kind).describe(k.params)[:46]}")
    return EXIT_OK


def settle_dead(a: argparse.Namespace, store, job=None) -> None:
    """``jobs`` and ``wait`` judge a running job by its worker's process, as a studio's recovery does: one
    whose process on this machine is gone (a CLI run killed with kill -9) is settled now, not when a
    studio next starts.  The job service (and its studio) is built only when there is one to settle."""
    from .jobs.store import RUNNING, worker_alive

    rows = [job] if job is not None else store.list(status=[RUNNING], limit=None)
    dead = [j for j in rows if j is not None and j.status == RUNNING and not worker_alive(j.worker)]
    if dead:
        make_jobs(a).settle_dead(dead[0].id if job is not None else None)


def outputs_of(a: argparse.Namespace):
    """The outputs folder of a command that reads the job store: it must hold one (a typo is an error)."""
    from pathlib import Path

    from .base.config import load_config
    from .jobs.store import DB_NAME

    folder = Path(a.outputs) if a.outputs else load_config(getattr(a, "config", None)).outputs_dir
    if not folder.is_dir() or (folder / DB_NAME).exists() is False and a.command not in ("jobs", "workers"):
        raise InvalidInput("no_store", folder=folder)
    return folder


def cmd_wait(a: argparse.Namespace) -> int:
    from .jobs import DONE, JobStore, error_of

    store = JobStore(outputs_of(a))
    if store.get(a.job) is None:
        raise InvalidInput("no_job", id=echo(a.job))
    bar = None  # drawn only while the job runs (a job that had ended already just gets its answer)
    last = None
    while True:
        job = store.get(a.job)
        if not job.final:
            settle_dead(a, store, job)
            job = store.get(a.job)
        if job.final:
            break
        p = job.progress or {}
        if p.get("total") and p.get("step") != last:
            last = p.get("step")
            bar = bar or CliProgress(desc=f"job {a.job}")
            bar(_StepView(p))
        time.sleep(0.25)
    if bar is not None:
        bar.close()
    if job.status != DONE:
        exc = error_of(job)
        if a.json:
            emit({"job": job.id, "status": job.status, "error": job.to_json()["error"]}, True)
        err(f"error: {exc}")
        return exc.exit_code
    from .jobs.service import summary_of  # the same object as generate --json

    r = summary_of(job, store.folder)
    emit({**r, "job": job.id, "status": job.status}, a.json, text=str(r.get("video")))
    return EXIT_OK


class _StepView:
    """A stored progress dict seen as the engine's StepInfo (for the progress bar)."""

    def __init__(self, p: dict):
        self.step, self.total = int(p.get("step") or 0), int(p.get("total") or 1)
        self.guidance, self.eta = float(p.get("guidance") or 0), float(p.get("eta") or 0)
        self.elapsed = float(p.get("elapsed") or 0)


def cmd_cancel(a: argparse.Namespace) -> int:
    from .jobs import JobStore

    status = JobStore(outputs_of(a)).cancel(a.job)
    if status is None:
        raise InvalidInput("no_job", id=echo(a.job))
    emit({"job": a.job, "status": status, "cancel_requested": status == "running"}, a.json,
         text=f"{a.job}: {'stopping after the current step' if status == 'running' else status}")
    return EXIT_OK


def cmd_requeue(a: argparse.Namespace) -> int:
    jobs = make_jobs(a)
    jobs.settle_dead(a.job)  # a CLI run killed with kill -9 left its job 'running': settled first, as `jobs` does
    if not jobs.requeue(a.job):
        job = jobs.get(a.job)
        if job is None:
            raise InvalidInput("no_job", id=echo(a.job))
        raise InvalidInput("not_requeueable", id=a.job, status=job.status)
    # the page's words (where it goes on from: a long video's next segment)
    emit({"job": a.job, "status": "queued", "resumes_from": jobs.resume_point(a.job)}, a.json,
         text=jobs.requeued_text(a.job))
    return EXIT_OK


def cmd_worker(a: argparse.Namespace) -> int:
    """Run queued jobs of the store until Ctrl-C (a running job is stopped and put back in the queue);
    with --workers N or --ray, start that many worker processes or Ray actors and dispatch to them."""
    import threading

    from .jobs.store import LOADING

    if a.member:
        from .jobs.pool import die_with_parent

        die_with_parent()
    jobs = make_jobs(a, name=a.name, device=a.device_label)
    if not a.member:  # a member of a pool leaves recovery to the process that started the pool
        jobs.recover(requeue_interrupted=a.requeue_interrupted)
    stop = threading.Event()

    def handler(signum, frame):
        err("stopping: the running job (if any) goes back to the queue ...")
        stop.set()
        jobs.wake.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if a.ray or (a.workers or 1) > 1:
        from .jobs.pool import start_pool

        pool = start_pool(jobs, workers=a.workers, ray=a.ray, worker_args=member_args(a), log=err)
        err(f"{pool.describe()} on {jobs.store.path} (Ctrl-C to stop)")
        try:
            while not stop.wait(0.5):
                if a.exit_when_idle and pool.idle():
                    break
        finally:
            pool.stop()
        return EXIT_OK
    if a.member:
        jobs.heartbeat(LOADING)
        jobs.studio.engine()  # the model first: the panel shows "loading" until then
    err(f"worker {jobs.worker} on {jobs.store.path} (Ctrl-C to stop)")
    done = {"n": 0, "until": a.exit_when_idle}

    def idle():
        if done["until"]:
            stop.set()

    jobs.run_worker(stop, idle=idle)
    return EXIT_OK


workers_count = whole_number(1, 64, "the number of workers")  # --workers


def member_args(a: argparse.Namespace) -> list[str]:
    """The options a pool passes on to each worker process it starts."""
    out = []
    for opt in ("outputs", "config", "model", "fallback"):
        v = getattr(a, opt, None)
        if v:
            path = opt in ("outputs", "config") or opt == "model" and os.path.exists(v)  # a folder: absolute
            out += [f"--{opt}", os.path.abspath(v) if path else v]
    return out + speed_argv(a)


def cmd_workers(a: argparse.Namespace) -> int:
    """The workers of the store: id, node, device, state, job, jobs done, last heartbeat."""
    import datetime as dt

    from .jobs import JobStore

    from .jobs.store import DB_NAME

    folder = outputs_of(a)  # a folder where nothing has run yet has no workers, as it has no jobs
    rows = JobStore(folder).workers(include_stopped=a.all) if (folder / DB_NAME).exists() else []
    if a.json:
        emit({"workers": rows}, True)
        return EXIT_OK
    if not rows:
        print("no workers have reported (is a studio or `python -m i2v worker` running on this outputs folder?)")
    table = [("worker", "kind", "node", "device", "state", "job", "jobs done", "last heartbeat")]
    table += [(w["id"], w["kind"], w["node"] or "", w["device"] or "", w["state"], w["job"] or "—",
               str(w["jobs_done"]), dt.datetime.fromtimestamp(w["heartbeat"]).strftime("%H:%M:%S")) for w in rows]
    if rows:  # one column per header, each as wide as its widest cell
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for r in table:
            print("  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip())
    return EXIT_OK


# -- presets -------------------------------------------------------------------------------------

def cmd_presets(a: argparse.Namespace) -> int:
    from .base.config import load_config
    from .planning.presets import load_presets, presets_dir

    presets = load_presets(presets_dir(load_config(model=a.model)))  # the model family's
    if a.json:
        emit({"presets": [p.to_json() for p in presets.values()]}, True)
    else:
        for p in presets.values():
            s = p.settings
            print(f"{p.name:12s} steps={s.get('num_inference_steps')} guidance={s.get('guidance_scale')} "
                  f"frames={s.get('num_frames')} resolution={s.get('resolution')} fps={s.get('fps')}  "
                  f"{p.describe('en')}")
    return EXIT_OK


def cmd_models(a: argparse.Namespace) -> int:
    """Every model of every family: size on disk, downloaded here or not, the card it needs."""
    from .families.catalog import model_rows

    rows = model_rows()
    if a.json:
        emit({"models": rows}, True)
        return EXIT_OK
    for r in rows:
        size = f"{r['disk_gb']:.1f} GB" if r["disk_gb"] else "-"
        have = {True: "downloaded", False: "not downloaded", None: "random weights"}[r["downloaded"]]
        card = f"card {r['card_gb']:.0f} GB" if r["card_gb"] else "any (demo)" if r["kind"] == "tiny" else "-"
        print(f"{r['name']:22s} {r['variant']:18s} {r['kind']:11s} {size:>8s}  {have:15s} {card:11s} "
              f"{r['frames']} frames, {r['fps']} fps{'  (default)' if r['default'] else ''}")
    return EXIT_OK


# -- recommend -----------------------------------------------------------------------------------

def cmd_recommend(a: argparse.Namespace) -> int:
    from .motion.advisor import advise
    from .motion.guidance import recommend
    from .media.images import open_image
    from .planning.request import clean_text

    from .base.config import load_config
    from .base.i18n import t

    prompt = clean_text("prompt", a.prompt, 1000, required=True)
    image = open_image(a.image) if a.image else None
    fam = load_config(model=a.model).family
    if not fam["recommender"]:  # fitted to I2VGen-XL's zones: another family's default and zone, said
        lo, hi = fam["safe_zone"]
        text = t("rec_other_family", a.lang, model=fam.get("title", ""), lo=f"{lo:g}", hi=f"{hi:g}",
                 default=f"{fam['guidance_default']:g}")
        out = {"family": fam["name"], "guidance_scale": fam["guidance_default"], "safe_zone": [lo, hi],
               "reason": text, "advice": [{"kind": x.kind, "message": x.message, "suggestion": x.suggestion}
                                          for x in advise(prompt, lang=a.lang)]}
        if a.json:
            emit(out, True)
        else:
            print(text)
        return EXIT_OK
    rec = recommend(prompt, image, lang=a.lang)
    out = rec.to_json()
    out["advice"] = [{"kind": x.kind, "message": x.message, "suggestion": x.suggestion}
                     for x in advise(prompt, lang=a.lang)]
    if a.json:
        emit(out, True)
    else:
        print(rec.reason)
        print(f"  guidance_scale={rec.guidance_scale}  num_inference_steps={rec.num_inference_steps}  "
              f"class={rec.motion_class}  matched={', '.join(rec.matched) or '-'}")
        if rec.complexity:
            c = rec.complexity
            print(f"  picture: edge density {c.edge_density:.3f}, {c.subjects} subject(s), complexity {c.score:.2f}")
        for x in out["advice"]:
            print(f"  advice: {x['message']}" + (f"\n    -> {x['suggestion']}" if x["suggestion"] else ""))
    return EXIT_OK


# -- analysis, sweep, batch, smoothing ----------------------------------------------------------

def cmd_analyze(a: argparse.Namespace) -> int:
    from pathlib import Path

    from .motion.analysis import MotionAnalyzer, flow_visualisation
    from .base.config import load_config
    from .media.joins import lab_means
    from .media.video import check_video_input, iter_frames, read_frames, write_mp4

    path = Path(a.video)
    if path.is_dir():
        raise InvalidInput("video_is_folder", name=path.name or a.video)
    if not path.is_file():
        raise InvalidInput("video_not_found", name=path.name)
    # the bounds of a video we read (pixels, seconds, frames), from its header before a frame is decoded
    info = check_video_input(path, load_config(getattr(a, "config", None)).limits, "analyze")
    if info["frames"] < 2:
        raise InvalidInput("video_still", name=path.name)
    analyzer, means = MotionAnalyzer(), []
    try:  # one frame at a time: the measures are running ones
        for frame in iter_frames(path, max_frames=info["frames"]):
            analyzer.add(frame)
            means += lab_means([frame])
    except (ValueError, OSError, RuntimeError):
        raise InvalidInput("video_unreadable", name=path.name) from None
    if analyzer.n < 2:
        raise InvalidInput("video_still" if analyzer.n else "video_unreadable", name=path.name)
    report = analyzer.report()
    out = report.to_json()
    windows = joins_of(path, a.joins, report.frames)
    if windows:
        from .media.joins import seam_scores

        out["seams"] = seam_scores(None, windows, [p["motion"] for p in report.per_frame], means)
    if a.flow_video:
        frames = read_frames(path, max_frames=info["frames"])
        write_mp4(flow_visualisation(frames), Path(a.flow_video), fps=info["fps"] or 8)
        out["flow_video"] = a.flow_video
    if a.json:
        emit(out, True)
    else:
        print(f"motion {report.motion:.2f} px/frame ({report.motion_norm:.2f}% of the diagonal), "
              f"moving area {100 * report.moving_area:.0f}%, jitter {report.jitter:.2f}, flicker {report.flicker:.2f}")
        for p in report.per_frame:
            print(f"  {p['pair']:3d}->{p['pair'] + 1:<3d} motion {p['motion']:6.2f}  jitter {p['jitter']:5.2f}  "
                  f"flicker {p['flicker']:6.2f}")
        for line in seam_lines(out.get("seams", [])):
            print(line)
    return EXIT_OK


def seam_lines(seams: list[dict]) -> list[str]:
    """Each join's seam score in words (analyze's text, and a long video's)."""
    return [f"  join at frames {sc['frames'][0]}-{sc['frames'][1]}: seam score {sc['score']:.2f} (colour jump "
            f"{sc['colour_ratio']:.2f}x, flow {sc['flow_ratio']:.2f}x an ordinary frame change)" for sc in seams]


def joins_of(path, given: str | None, frames: int) -> list[tuple[int, int]]:
    """The joins to score: ``--joins`` (frame numbers where a new clip starts), else a long video's own
    (its embedded metadata says where they are: checked like any input, a bad record is refused)."""
    import json
    from pathlib import Path

    from .workflows.longvideo import long_record
    from .media.video import read_comment

    if given:
        if len(given) > 2000:
            raise InvalidInput("text_too_long", name="--joins", length=len(given), limit=2000)
        try:
            ts = sorted({int(x) for x in given.split(",") if x.strip()})
        except ValueError:
            raise InvalidInput("bad_joins", got=given[:80]) from None
        if not ts or ts[0] < 1 or ts[-1] >= frames:
            raise InvalidInput("bad_joins", got=given[:80])
        return [(t, t) for t in ts]
    try:
        meta = json.loads(read_comment(path) or "null")
    except (ValueError, OSError):
        return []
    record = long_record(meta, Path(path).name)
    return [w for w in record["windows"] if w[1] < frames] if record is not None else []


def cmd_sweep(a: argparse.Namespace) -> int:
    from .workflows.sweep import parse_guidance_list

    jobs = make_jobs(a)
    # the default values span the model family's range around its default (I2VGen-XL: 5,7,9,11,14,18)
    values = parse_guidance_list(a.guidance) if a.guidance else list(jobs.studio.cfg.family["sweep_values"])
    kw = request_kwargs(a)
    kw.pop("guidance_scale")
    params = jobs.generate_params({**kw, "guidance_scale": values[0]})  # validate before any model work
    params.pop("guidance_scale", None)
    token = install_cancel_on_sigint()
    progress = CliProgress()
    job = jobs.run_inline(SWEEP, {**params, "values": values}, on_step=progress, cancel=token,
                          on_progress=lambda i, n, g: err(f"[{i + 1}/{n}] guidance {g:g}"))
    progress.close()
    res = finished(jobs, job)
    res["metadata"] = res.get("metadata")
    if a.json:
        emit({**res, "job": job.id}, True)
    else:
        print(f"grid: {res['grid']}")
        for r in res["results"]:
            print(f"  g={r['guidance_scale']:<5g} motion {r['motion']:6.2f}px jitter {r['jitter']:5.2f} "
                  f"flicker {r['flicker']:6.2f} balance {r['balance']:.3f}{'  <- best balance' if r['best'] else ''}")
    return EXIT_OK


def cmd_batch(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .jobs.batch import run_batch

    jobs = make_jobs(a)
    token = install_cancel_on_sigint()
    bar = None

    def on_entry(i, n, label):
        nonlocal bar
        if bar is None:
            bar = tqdm(total=n, desc="batch", file=sys.stderr, unit="video")
        bar.update(i - bar.n)
        bar.set_postfix_str(label)

    report = run_batch(jobs, a.jobs, on_entry=on_entry, cancel=token)
    if bar is not None:
        bar.update(bar.total - bar.n)
        bar.close()
    for f in report.failed:
        err(f"entry {f['entry']} failed: {f['error']}")
    if a.json:
        emit(report.to_json(), True)
    else:
        c = report.to_json()["counts"]
        print(f"done {c['done']}, skipped (already done) {c['skipped']}, failed {c['failed']}")
    return EXIT_OK if not report.failed else 1


def cmd_smooth(a: argparse.Namespace) -> int:
    """The result goes under --outputs (beside the source when the source is in it), like every command's.
    Without --outputs, a source in a studio's outputs folder (one holding a job store: the video's folder
    or the one above, the date folder's parent) stays in that folder; any other goes to the default."""
    from pathlib import Path

    from .base.config import load_config
    from .jobs.store import DB_NAME
    from .workflows.smooth import check_smooth_input

    # size, duration and frames from the file's header, before a frame is decoded or a job recorded
    check_smooth_input(Path(a.video), a.factor, a.method, a.loop, load_config(a.config).limits)
    if not a.outputs:
        home = next((d for d in Path(a.video).resolve().parents[:2] if (d / DB_NAME).is_file()), None)
        a.outputs = str(home) if home is not None else None
    jobs = make_jobs(a)
    token = install_cancel_on_sigint()
    job = jobs.run_inline(SMOOTH, {"video": jobs.rel(Path(a.video)), "factor": a.factor, "method": a.method,
                                     "loop": a.loop}, cancel=token)
    out = finished(jobs, job)
    out["source"] = str(Path(a.video).resolve())
    emit({**out, "job": job.id}, a.json, text=f"{out['video']}  ({out['frames']} frames @ {out['fps']:g} fps)")
    return EXIT_OK


# -- plan / calibrate -----------------------------------------------------------------------------

def cmd_plan(a: argparse.Namespace) -> int:
    from .planning import vram
    from .base.config import load_config

    cfg = load_config(a.config, model=a.model)
    if cfg.family.get("memory"):
        return _plan_dit(a, cfg)
    a.frames = 16 if a.frames is None else a.frames
    w, h, tier, aspect = _plan_size(a, cfg)
    p = vram.plan(a.vram_gb, w, h, a.frames, cfg=a.guidance > 1, decode_chunk_size=a.decode_chunk_size,
                  allow_degrade=a.allow_degrade, tiers=cfg.resolution["tiers"],
                  resolution=None if tier == "custom" else tier)
    out = {**p.to_json(), "max_tier_without_offload": vram.max_tier(a.vram_gb, cfg.resolution["tiers"], a.frames,
                                                                     aspect)}
    if a.json:
        emit(out, True)
    else:
        print(("fits: " if p.fits else "does NOT fit: ") + p.describe())
        for n in p.notices:
            print(f"  note: {n.text()}")
        print(f"  largest tier without offloading at {a.frames} frames: "
              f"{out['max_tier_without_offload'] or 'none (every tier needs an offload)'}")
    return EXIT_OK if p.fits else EXIT_RESOURCES


def _plan_size(a: argparse.Namespace, cfg, size: bool = True) -> tuple[int, int, str, float]:
    """``plan``'s size (width, height, tier, aspect) from its options, and its card checked."""
    from .planning.request import resolve_size

    if not 0 < a.vram_gb <= 1024:
        raise InvalidInput("cli_vram", got=a.vram_gb)
    aw, _, ah = (a.aspect or "16:9").partition(":")
    try:
        aspect = float(aw) / float(ah or 1)
    except ValueError:
        raise InvalidInput("cli_aspect", got=a.aspect) from None
    return (*resolve_size(cfg, a.resolution, aspect, a.width, a.height), aspect) if size else (0, 0, "", aspect)


def _plan_dit(a: argparse.Namespace, cfg) -> int:
    """``plan`` for a model whose family has a transformer's memory model (i2v/planning/dit_vram.py): at the
    family's native size and frames unless given, with the plan for each common card after it."""
    from .planning import dit_vram
    from .planning.request import check_frames_rule

    fam = cfg.family
    fits = dit_vram.load(fam["memory"], fam["variant"], int(fam["latent_scale"]))
    frames = int(cfg.defaults["num_frames"] if a.frames is None else a.frames)
    lo, hi = cfg.limits["frames"]
    if not lo <= frames <= hi:
        raise InvalidInput("out_of_range", name="--frames", got=frames, lo=lo, hi=hi)
    check_frames_rule(cfg, frames)
    if a.width or a.height or a.resolution:
        w, h, _, _ = _plan_size(a, cfg)
    else:
        w, h = (int(v) for v in fam["native"])
        _plan_size(a, cfg, size=False)
    p = dit_vram.plan(fits, a.vram_gb, w, h, frames)
    stages = dit_vram.estimate(fits, p.step, w, h, frames)
    cards = dit_vram.card_table(fits, w, h, frames)
    if a.json:
        emit({**p.to_json(), "stages_gb": stages, "cards": cards}, True)
    else:
        print(("fits: " if p.fits else "does NOT fit: ") + p.describe())
        print("  per stage (GB): " + ", ".join(f"{k} {stages[k]:.1f}" for k in dit_vram.STAGES))
        for n in p.notices:
            print(f"  note: {n.text()}")
        print(f"  {fam['title']} at {w}x{h}, {frames} frames, on each card:")
        for r in cards:
            how = f"{r['offload']}{', VAE tiling' if r['vae_tiling'] else ''}" if r["fits"] else "does not fit"
            print(f"    {r['card_gb']:>3} GB: {how}, peak {r['peak_gb']:.1f} GB")
    return EXIT_OK if p.fits else EXIT_RESOURCES


def cmd_calibrate(a: argparse.Namespace) -> int:
    if a.wan:  # Wan 2.2's stages with fake tensors (no weights, no card)
        from .base.config import CONFIG_DIR
        from .families.wan import FAMILY, memory

        target = a.out or CONFIG_DIR / FAMILY.memory
        memory.write(memory.measure(log=err), target)
        emit({"written": str(target)}, a.json)
        return EXIT_OK
    import torch
    import yaml

    from .engine.memory import PARTS, calibrate, fake_unet_activations
    from .engine.models import build_random_full
    from .planning.vram import MEMORY_FILE, memory_checks

    parts = tuple(a.parts.split(",")) if a.parts else PARTS
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:  # checked before the model is built (a minute on a CPU)
        raise InvalidInput("cli_parts", got=",".join(unknown), choices=", ".join(PARTS))
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    err(f"building the full architecture with random weights on {device} ...")
    pipe = build_random_full(device=device, dtype=torch.float16 if device.type == "cuda" else torch.float32)
    target = a.out or MEMORY_FILE
    result = calibrate(pipe, log=err, parts=parts)
    del pipe
    if parts != PARTS:  # re-measure some parts: the others are kept from the file
        old = yaml.safe_load(MEMORY_FILE.read_text())
        rows = [r for r in old.get("measurements", []) if r["part"] not in parts] + result["measurements"]
        result = {**{k: v for k, v in old.items() if k not in ("measurements", "checks")}, **result,
                  "measurements": rows}
    if a.skip_checks:
        old = yaml.safe_load(MEMORY_FILE.read_text()).get("checks")
        if old:  # kept measurements, predictions from the new fit
            result["checks"] = memory_checks(result, old)
    else:
        err("measuring the UNet at the sizes users plan for (fake tensors) ...")
        result["checks"] = memory_checks(result, fake_unet_activations(None, log=err))
    with open(target, "w") as f:
        f.write("# Activation-memory coefficients of the memory model (i2v/planning/vram.py), written by\n"
                "# `python -m i2v calibrate`: full I2VGen-XL architecture, random weights, tensor-allocator peaks.\n")
        yaml.safe_dump(result, f, sort_keys=False)
    emit({"written": str(target), **{k: v for k, v in result.items() if k != "measurements"}}, a.json)
    return EXIT_OK


# -- bench ---------------------------------------------------------------------------------------

def cmd_bench(a: argparse.Namespace) -> int:
    from .bench import run_bench

    result = run_bench(a, log=err)
    if a.json:
        emit(result, True)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "generate": cmd_generate, "presets": cmd_presets, "models": cmd_models, "bench": cmd_bench,
    "recommend": cmd_recommend,
    "plan": cmd_plan, "calibrate": cmd_calibrate, "analyze": cmd_analyze, "sweep": cmd_sweep,
    "batch": cmd_batch, "smooth": cmd_smooth, "submit": cmd_submit, "jobs": cmd_jobs, "wait": cmd_wait,
    "cancel": cmd_cancel, "requeue": cmd_requeue, "worker": cmd_worker, "workers": cmd_workers,
    "extend": cmd_extend,
}


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m i2v", description="Image-to-video studio (I2VGen-XL)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_generate_args(sub.add_parser("generate", help="make a video from an image and a prompt"))
    se = sub.add_parser("extend", help="continue a video of this studio with more segments (a new prompt, or the same)")
    se.add_argument("video", help="the video to continue (in the outputs folder)")
    add_generation_args(se, image_required=False)
    add_long_args(se, extend=True)
    sp = sub.add_parser("presets", help="list the presets (of --model's family)")
    sp.add_argument("--model", default=None, help="a model of the family whose presets to list (default: the "
                                                   "configured model's, I2VGen-XL)")
    sp.add_argument("--json", action="store_true")
    sm = sub.add_parser("models", help="list the models of every family: size, downloaded or not, the card needed")
    sm.add_argument("--json", action="store_true")
    sr = sub.add_parser("recommend", help="recommend guidance and steps for a prompt (and picture)")
    sr.add_argument("--prompt", required=True)
    sr.add_argument("--image", default=None, help="the picture: its busyness shifts the value within the range")
    sr.add_argument("--lang", default="en", choices=["en", "zh"], help="language of the reason and advice")
    sr.add_argument("--model", default=None, help="the model the advice is for (the recommendation is fitted to "
                                                   "I2VGen-XL; another family gets its own default and zone)")
    sr.add_argument("--json", action="store_true")
    sa = sub.add_parser("analyze", help="optical-flow motion metrics of a video")
    sa.add_argument("video")
    sa.add_argument("--flow-video", default=None, help="also write a flow visualisation MP4 (colour = direction)")
    sa.add_argument("--joins", default=None, metavar="T1,T2,...",
                    help="score the joins at these frames (where a new clip starts); a long video's own by default")
    sa.add_argument("--json", action="store_true")
    ss = sub.add_parser("sweep", help="one video per guidance value, a labelled grid and a metrics table")
    add_generation_args(ss, sweep=True, positional=True)
    sbt = sub.add_parser("batch", help="run a YAML list of requests (resumable)")
    sbt.add_argument("jobs")
    add_common_args(sbt)
    sm = sub.add_parser("smooth", help="interpolate frames x2/x4 and optionally loop")
    sm.add_argument("video")
    sm.add_argument("--factor", type=int, default=2, choices=[2, 4])
    sm.add_argument("--method", default="flow", choices=["flow", "minterpolate"])
    sm.add_argument("--loop", default=None, choices=["pingpong", "crossfade"])
    add_common_args(sm)
    add_generate_args(sub.add_parser("submit", help="queue a video (or a long or auto-tuned one) for a running studio "
                                                    "or worker; prints its id"))
    sj = sub.add_parser("jobs", help="list the jobs of the store (queued, running, recent)")
    sj.add_argument("--status", type=job_statuses, default=None,
                    help="only these statuses, comma-separated (queued, running, done, failed, cancelled, "
                         "interrupted)")
    sj.add_argument("--limit", type=list_limit, default=50, help="list at most this many (1-10000; default 50)")
    add_store_args(sj)
    for name, what in (("wait", "follow a job to its end (exit code as generate)"),
                       ("cancel", "cancel a queued job, or stop a running one after the current step"),
                       ("requeue", "put an interrupted, failed or cancelled job back in the queue")):
        sw = sub.add_parser(name, help=what)
        sw.add_argument("job")
        add_store_args(sw)
    sk = sub.add_parser("worker", help="run the queued jobs of the store without the web page")
    sk.add_argument("--requeue-interrupted", action="store_true", help="re-queue jobs a crash interrupted")
    sk.add_argument("--exit-when-idle", action="store_true", help="stop once the queue is empty")
    sk.add_argument("--workers", type=workers_count, default=None,
                    help="start N worker processes (default: one per visible GPU) or, with --ray, N actors")
    sk.add_argument("--ray", default=None, metavar="local|auto|ADDRESS",
                    help="run the workers as Ray actors: 'local' starts a Ray instance on this machine, 'auto' or "
                         "an address joins a running cluster")
    sk.add_argument("--member", action="store_true", help=argparse.SUPPRESS)
    sk.add_argument("--name", default="worker", help=argparse.SUPPRESS)
    sk.add_argument("--device-label", default=None, help=argparse.SUPPRESS)
    add_common_args(sk)
    sws = sub.add_parser("workers", help="the workers of the store: node, device, state, jobs done, heartbeat")
    sws.add_argument("--all", action="store_true", help="also workers that stopped cleanly")
    add_store_args(sws)
    sp = sub.add_parser("plan", help="will it fit my card? the fastest configuration for a GPU memory size")
    sp.add_argument("--vram-gb", type=float, required=True, help="free GPU memory in GB")
    sp.add_argument("--resolution", default=None, help="256p | 384p | 512p | 768p | native")
    sp.add_argument("--width", type=int, default=None)
    sp.add_argument("--height", type=int, default=None)
    sp.add_argument("--aspect", default="16:9", help="picture aspect ratio for tiers, e.g. 16:9, 1:1")
    sp.add_argument("--frames", type=int, default=None, help="default 16 (I2VGen-XL), or the model's own")
    sp.add_argument("--model", default=None, help="plan for this model (a name of `models`, a hub id or a folder)")
    sp.add_argument("--guidance", type=float, default=9.0, help="1 means no CFG batch (half the activations)")
    sp.add_argument("--decode-chunk-size", type=int, default=8)
    sp.add_argument("--allow-degrade", action="store_true", help="may reduce frames or the tier to fit")
    sp.add_argument("--config", default=None)
    sp.add_argument("--json", action="store_true")
    sc = sub.add_parser("calibrate", help="measure the memory model's coefficients (writes configs/memory.yaml)")
    sc.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    sc.add_argument("--out", default=None)
    sc.add_argument("--skip-checks", action="store_true",
                    help="keep the stored measurements at user sizes (fake tensors, about 10 minutes on a CPU) "
                         "and only recompute their predictions")
    sc.add_argument("--parts", default=None,
                    help="re-measure only these parts, comma-separated: unet, unet_ff_sliced, vae_decode")
    sc.add_argument("--wan", action="store_true",
                    help="count Wan 2.2's memory per stage with fake tensors instead (writes configs/memory-wan.yaml)")
    sc.add_argument("--json", action="store_true")
    sb = sub.add_parser("bench", help="benchmark: engine vs diffusers, MP4 encode (prints a table)")
    sb.add_argument("--json", action="store_true")
    sb.add_argument("--repeats", type=int, default=3)
    sb.add_argument("--quick", action="store_true", help="smaller workload (for a smoke test)")
    sb.add_argument("--ui", action="store_true", help="also time the web app's start-up and added latency")
    sb.add_argument("--compile", action="store_true",
                    help="also time torch.compile against eager (the compilation takes minutes on a CPU)")
    sb.add_argument("--gpu", action="store_true", help="the GPU benchmark (full architecture, fp16)")
    sb.add_argument("--device", default=None, help="with --gpu: cuda (default) or cpu for a smoke run")
    sb.add_argument("--gpu-steps", type=int, default=50)
    sb.add_argument("--gpu-frames", type=int, default=16)
    sb.add_argument("--profile", action="store_true",
                    help="with --gpu: the PyTorch profiler over two denoising steps and one decode, time by kind "
                         "(writes docs/profile-<card>.json; with --device cpu: tiny model, into --out)")
    sb.add_argument("--speed", action="store_true",
                    help="with --gpu: each speed lever alone and combined against stock diffusers, 10 steps a row "
                         "(writes docs/bench-gpu-<card>.json and a .jsonl of rows as they come)")
    sb.add_argument("--out", default=None, help="with --profile/--speed: where to write (default: docs/ on CUDA, "
                                                "the current folder on the CPU)")
    sb.add_argument("--workers", type=workers_count, default=None,
                    help="throughput of 1 against N workers on the same job list (tiny model)")
    sb.add_argument("--ray", default=None, help="with --workers: the N workers as Ray actors (local|auto|ADDRESS)")
    sb.add_argument("--long", action="store_true", help="a 4-segment long video against one segment (tiny model)")
    sb.add_argument("--wan", action="store_true",
                    help="Wan 2.2's speed rows: random-full at native on a card (--device cuda, the default), the "
                         "tiny models with --device cpu; rows into --out as they come")
    sb.add_argument("--wan-tiers", action="store_true",
                    help="Wan 2.2's speed tiers against exact on random-full (bf16): time and drift, 50 steps; on a "
                         "card both variants at 832x480x81, with --device cpu the 5B at 320x192x9 (about 40 min)")
    sb.add_argument("--fast-tiers", action="store_true",
                    help="the speed tiers against exact, whole calls: native on CUDA (--device cuda, the default), "
                         "the tiny model with --device cpu; rows into --out as they come")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except I2VError as exc:
        err(f"error: {named_as_typed(exc, args)}")
        return exc.exit_code
    except sqlite3.OperationalError as exc:  # the job store could not be written
        return main_error(OutOfResources("store_unwritable", detail=str(exc)))
    except KeyboardInterrupt:
        err("aborted")
        return EXIT_CANCELLED
    except BrokenPipeError:  # `python -m i2v jobs | head -1`: the reader has what it wanted
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug: one line here, the traceback in the log
        return main_error(InternalError.wrap(exc), log_traceback())


# The messages about an option's value, whose {name} the CLI gives as the option typed.
SETTING_VALUE_CODES = ("out_of_range", "not_a_number", "not_whole", "not_multiple", "not_text", "prompt_empty",
                       "text_too_long", "long_segments", "long_seconds", "target_motion", "long_overlap")


def named_as_typed(exc: I2VError, args: argparse.Namespace) -> I2VError:
    """The error naming the option the user typed ('--guidance must be between 1 and 20'), not the
    setting's field (guidance_scale), for every setting this command takes as an option."""
    from .base.settings import SETTINGS

    flags = {key: s.flag for s in SETTINGS if s.flag and hasattr(args, s.dest) for key in (s.name, s.label)}
    for key in ("name", "what"):
        named = exc.params.get(key)
        if named in flags:
            exc.params[key] = flags[named]
        elif isinstance(named, str) and exc.code in SETTING_VALUE_CODES and hasattr(args, named.replace(" ", "_")):
            # segments, overlap, target motion (a message about a value; a file named 'video' stays its name)
            exc.params[key] = "--" + named.replace(" ", "-").replace("_", "-")
    exc.surface = "cli"  # a message's own CLI words where it has them (options, not the page's controls)
    return exc


def main_error(exc: I2VError, log: str | None = None) -> int:
    err(f"error: {exc}" + (f" [log: {log}]" if log else ""))
    return exc.exit_code


def log_traceback() -> str:
    """Append the current exception's traceback to $I2V_HOME/logs/cli.log; return its path."""
    import datetime
    import traceback

    from .planning.templates import home_dir

    path = home_dir() / "logs" / "cli.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')} {' '.join(sys.argv)}\n")
            f.write(traceback.format_exc())
    except OSError:
        traceback.print_exc()
        return "stderr"
    return str(path)
