"""``python -m i2v bench --gpu --profile`` and ``--gpu --speed``: where the time of a step goes, and each
speed lever measured alone and combined against stock diffusers, in one process (issue 20).

On CUDA: the full architecture with random weights in fp16 at 512x512 and native 1280x704, 16 frames.
With ``--device cpu``: the tiny model at one small size, the same code paths (a smoke test).  Every result
is written as soon as it is measured.  Torch is imported inside the functions only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ..base.config import ROOT
from ..base.errors import I2VError, InvalidInput, echo
from ..planning.speedplan import card_slug
from .table import table

DOCS = ROOT / "docs"


def require_device(device: str, option: str) -> str:
    """``device`` as a benchmark runs on it: ``cpu``, ``cuda`` or ``cuda:N``, and a CUDA device only where torch
    has one; anything else is one line saying what to do (``--device cpu`` runs the tiny model's smoke run)."""
    import torch

    name = str(device).strip().lower()
    if name != "cpu" and not (name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()
                                                 and len(name) <= 8)):
        raise InvalidInput("bench_device_name", got=echo(device, 40))
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (":" in name and int(name[5:]) >= count):
            built = torch.backends.cuda.is_built()
            raise InvalidInput("bench_no_cuda", option=option, device=name,
                               why="no CUDA card is visible" if built else "this torch has no CUDA build")
    return name


def load_engine(device: str, log=print, **speed):
    """An engine on ``device``: the full architecture in fp16 on CUDA (random weights, built on the card:
    seconds), the tiny model on the CPU; ``speed``: levers applied at load (as the studio does)."""
    import torch

    from ..engine import Engine, load_model
    from ..engine.models import LoadedModel, ModelInfo, build_random_full

    dev = torch.device(device)
    t = time.perf_counter()
    if dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        pipe = build_random_full(device=dev, dtype=torch.float16)
        loaded = LoadedModel(pipe, ModelInfo("random-full", "random-full", "random-full", None, str(dev), "float16",
                                             demo=True))
    else:
        loaded = load_model("tiny")
    engine = Engine(loaded)
    if speed:
        engine.apply_speed(speed)
    log(f"  model ready in {time.perf_counter() - t:.1f}s on {dev}")
    return engine


def device_info(device: str) -> dict:
    import torch

    dev = torch.device(device)
    info = {"device": "cpu", "card": "cpu", "torch": torch.__version__}
    try:
        import diffusers

        info["diffusers"] = diffusers.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        cap = torch.cuda.get_device_capability(dev)
        info.update(device=name, card=card_slug(name), capability=f"{cap[0]}.{cap[1]}",
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    memory_gib=round(torch.cuda.get_device_properties(dev).total_memory / 2**30, 1))
        try:
            import subprocess

            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.split("\n")[0].strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    return info


def make_job(width: int, height: int, frames: int, steps: int):
    from PIL import Image

    from ..engine import EngineJob

    image = Image.fromarray((np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8))
    return EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry", guidance_scale=9.0,
                     num_inference_steps=steps, num_frames=frames, width=width, height=height, seed=1)


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def result_path(kind: str, info: dict, out: str | None) -> Path:
    """``docs/<kind>-<card>.json`` on CUDA; on the CPU (a smoke run) in ``out`` or the current folder,
    never in docs/."""
    name = f"{kind}-{info['card']}.json"
    if out:
        p = Path(out)
        return p / name if p.is_dir() or not p.suffix else p
    return DOCS / name if info["card"] != "cpu" else Path.cwd() / name


def run_profile(device: str = "cuda", out: str | None = None, size: tuple[int, int] | None = None,
                frames: int | None = None, log=print) -> dict:
    """The profile of two denoising steps and one decode; written at once, then returned."""
    from ..engine.profile import profile_denoising

    cuda = device.startswith("cuda")
    w, h = size or ((1280, 704) if cuda else (128, 128))
    frames = frames or (16 if cuda else 4)
    info = device_info(device)
    engine = load_engine(device, log)
    res = {"info": {**info, "model": "random-full fp16" if cuda else "tiny fp32"},
           **profile_denoising(engine, make_job(w, h, frames, 3), log)}
    path = write_json(result_path("profile", info, out), res)
    log(f"  written {path}")
    res["written"] = str(path)
    return res


def print_profile(res: dict) -> None:
    i = res["info"]
    print(f"\nProfile: {i['device']}, {i['model']}, torch {i['torch']}; {res['what']}; {res['time']}")
    rows = [{**g, "share": f"{100 * g['share']:.1f}%"} for g in res["groups"]]
    print(table(rows, ["group", "ms", "per_step_ms", "share"]))
    print("\nTop 15 by self time")
    print(table([{**k, "name": k["name"][:90], "share": f"{100 * k['share']:.1f}%"} for k in res["top_kernels"]],
                 ["name", "ms", "share"]))


# -- bench --gpu --speed ---------------------------------------------------------------------------

EXACT_TOL = 2e-2   # max_abs_diff of frames in [0, 1] that the exact tier allows (issue 20)
HELPS = 0.98       # a lever helped when its row took under this share of ours exact
BUDGET_S = 250     # rows not started by then are skipped (the run, with its 50-step row, must fit 6 minutes)
CPU_ONLY_MISSING = {"efficient": "the efficient attention kernel exists for CUDA only",
                    "cudnn": "the cuDNN attention kernel exists for CUDA only"}


def lever_rows() -> list[tuple[str, dict]]:
    """Each lever alone, as the config's ``speed:`` section takes it."""
    rows = [("channels_last", {"memory_format": "channels_last"}), ("fuse_qkv", {"fuse_qkv": True})]
    rows += [(f"spatial={b}", {"attention": {"spatial": b}}) for b in ("flash", "efficient", "cudnn")]
    rows += [(f"temporal={b}", {"attention": {"temporal": b}}) for b in ("flash", "efficient")]
    rows += [("temporal_conv=matmul", {"temporal_conv": "matmul"})]
    rows += [("compile=regional", {"compile": "regional"}), ("fp8", {"fp8": "on"})]
    return rows


def _hard(speed: dict) -> bool:
    """Levers that cannot be undone on a pipeline: such a row gets a pipeline of its own."""
    return speed.get("compile", "off") != "off" or speed.get("fp8", "off") == "on"


def _skip_reason(speed: dict, cuda: bool, compile_on_cpu: bool) -> str | None:
    if not cuda:
        for b in (speed.get("attention") or {}).values():
            if b in CPU_ONLY_MISSING:
                return CPU_ONLY_MISSING[b]
        if speed.get("fp8", "off") == "on":
            return "fp8 linears need a CUDA card of compute capability 8.9 or more"
        if speed.get("compile", "off") != "off" and not compile_on_cpu:
            return "compile is measured on CUDA only here (minutes of inductor on a CPU; tests/test_speed.py " \
                   "holds it exact)"
    return None


def combine(rows: list[dict]) -> dict | None:
    """The levers that helped (faster than ours exact, within the exact tier), merged; per attention kind the
    fastest kernel that helped.  None when fewer than two helped (one alone is its own row)."""
    helped = sorted((r for r in rows if r.get("lever") and not r.get("skipped") and r.get("vs_exact") is not None
                     and r["vs_exact"] < HELPS and r["max_abs_diff"] <= EXACT_TOL), key=lambda r: r["s_per_video"])
    speed: dict = {}
    used = 0
    for r in helped:
        s = r["speed"]
        if "attention" in s:
            kind = next(iter(s["attention"]))
            if kind in speed.get("attention", {}):
                continue
            speed.setdefault("attention", {}).update(s["attention"])
        else:
            speed.update(s)
        used += 1
    return speed if used >= 2 else None


def run_speed(device: str = "cuda", out: str | None = None, steps: int = 10, full_steps: int = 50,
              sizes: tuple | None = None, frames: int | None = None, budget_s: float = BUDGET_S,
              compile_on_cpu: bool = False, log=print) -> dict:
    """Stock diffusers, ours exact, each lever alone, the levers that helped together, at each size (10 steps
    a row, after a 1-step warm-up at the same size), the largest size first; then the fastest exact row once
    at ``full_steps`` at the largest size.  Each row goes to ``bench-gpu-<card>.jsonl`` as it is measured."""
    import gc

    import torch

    from ..engine.engine import IMAGE_LATENT_SEED
    from ..engine.memory import absolute_peak
    from ..engine.speed import reset_speed

    cuda = device.startswith("cuda")
    sizes = sizes or (((1280, 704), (512, 512)) if cuda else ((128, 128),))  # native first: the budget spares it
    frames = frames or (16 if cuda else 4)
    info = {**device_info(device), "model": "random-full fp16" if cuda else "tiny fp32", "frames": frames,
            "steps": steps}
    final = result_path("bench-gpu", info, out)
    lines = final.with_suffix(".jsonl")
    lines.parent.mkdir(parents=True, exist_ok=True)
    lines.write_text(json.dumps({"info": info}) + "\n", encoding="utf-8")
    t_start = time.perf_counter()
    rows: list[dict] = []
    exact_frames: dict = {}
    engines: dict = {}

    def emit(row: dict) -> dict:
        same = {r["config"]: r for r in rows if r["size"] == row.get("size")}
        _with_ratios(row, same.get("diffusers stock", row if row["config"] == "diffusers stock" else {}),
                     same.get("ours exact", row if row["config"] == "ours exact" else {}))
        rows.append(row)
        with lines.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        log(f"    {row}")
        return row

    def engine_for(speed: dict):
        key = json.dumps(speed, sort_keys=True) if _hard(speed) else "base"
        if key not in engines:
            for k in list(engines):  # one pipeline on the card at a time: the peaks are each row's own
                del engines[k]
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
            engines[key] = load_engine(device, log, **(speed if _hard(speed) else {}))
        engine = engines[key]
        if not _hard(speed):
            reset_speed(engine.pipe)
            engine.speed = None
            if speed:
                engine.apply_speed(speed)
        return engine

    dev = None

    def timed(fn) -> tuple[float, float]:
        out_t = {}

        def go():
            if cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            out_t["frames"] = fn()
            if cuda:
                torch.cuda.synchronize()
            out_t["s"] = time.perf_counter() - t
        peak = absolute_peak(go, dev)
        return out_t["s"], peak, out_t["frames"]

    def ours(engine, w, h, n):
        job = make_job(w, h, frames, n)

        def fn():
            engine._text_cache.clear()  # the scope of the pipeline's call: encodings not cached, decode included
            engine._image_cache.clear()
            return engine.generate(job).frames
        return fn

    def stock(engine, w, h, n):
        from ..engine.models import REFERENCE_GONE, reference_pipeline

        job = make_job(w, h, frames, n)
        pipe = reference_pipeline(engine.pipe)  # diffusers' own pipeline over the same components
        if pipe is None:
            raise RuntimeError(REFERENCE_GONE)

        def fn():
            torch.manual_seed(IMAGE_LATENT_SEED)
            with torch.inference_mode():
                (neg, pos), _ = engine.encode_text(job.prompt, job.negative_prompt)
                engine._text_cache.clear()
                return pipe(image=job.image, prompt_embeds=pos, negative_prompt_embeds=neg, height=h, width=w,
                            num_frames=frames, num_inference_steps=n, guidance_scale=job.guidance_scale,
                            decode_chunk_size=8, generator=torch.Generator().manual_seed(job.seed),
                            output_type="np").frames[0]
        return fn

    def measure(config: str, speed: dict, w: int, h: int, n: int = steps, lever: bool = False, diffusers=False):
        nonlocal dev
        row = {"size": f"{w}x{h}", "config": config, "speed": speed, "lever": lever, "steps": n}
        reason = _skip_reason(speed, cuda, compile_on_cpu)
        if reason is None and time.perf_counter() - t_start > budget_s:
            reason = f"time budget ({budget_s:.0f} s) spent"
        if reason:
            return emit({**row, "skipped": reason})
        try:
            engine = engine_for(speed)
            dev = engine.device
            make = stock if diffusers else ours
            warm_s, _, _ = timed(make(engine, w, h, 1))
            s, peak, got = timed(make(engine, w, h, n))
        except I2VError as exc:  # a lever refused here (fp8 on a card below 8.9, torchao missing)
            return emit({**row, "skipped": exc.text("en")})
        except (RuntimeError, NotImplementedError, ValueError) as exc:  # a kernel the card or build lacks
            return emit({**row, "skipped": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"})
        got = np.asarray(got, dtype=np.float32)
        if config == "ours exact":
            exact_frames[(w, h)] = got
        ref = exact_frames.get((w, h))
        row.update(s_per_video=round(s, 3), s_per_step=round(s / n, 4), peak_gib=round(peak / 2**30, 3),
                   warmup_s=round(warm_s, 3),
                   max_abs_diff=float(f"{np.abs(got - ref).max():.3g}") if ref is not None and n == steps and
                   ref.shape == got.shape else None)  # another step count: no reference of ours measured
        if _hard(speed):
            base = next((r for r in rows if r["size"] == row["size"] and r["config"] == "ours exact"
                         and "warmup_s" in r), None)
            row["compile_s"] = round(warm_s - base["warmup_s"], 2) if base else None
        return emit(row)

    for w, h in sizes:
        log(f"  {w}x{h}, {frames} frames, {steps} steps a row ...")
        exact = measure("ours exact", {}, w, h)  # first: every other row's frames are held to it
        first = measure("diffusers stock", {}, w, h, diffusers=True)
        for name, speed in lever_rows():
            measure(name, speed, w, h, lever=True)
        here = [_with_ratios(r, first, exact) for r in rows if r["size"] == f"{w}x{h}"]
        combo = combine(here)
        if combo is None:
            emit({"size": f"{w}x{h}", "config": "combination", "speed": {}, "lever": False,
                  "skipped": "fewer than two levers were faster than ours exact within the exact tier"})
        else:
            measure("combination", combo, w, h)
        for r in rows:
            if r["size"] == f"{w}x{h}":
                _with_ratios(r, first, exact)
    w, h = max(sizes, key=lambda wh: wh[0] * wh[1])
    exact_rows = [r for r in rows if r["size"] == f"{w}x{h}" and "s_per_video" in r and r["config"] != "diffusers stock"
                  and (r["max_abs_diff"] or 0) <= EXACT_TOL]
    best = min(exact_rows, key=lambda r: r["s_per_video"]) if exact_rows else None
    if best is not None:
        final_row = measure(f"best exact ({best['config']}), {full_steps} steps", best["speed"], w, h, n=full_steps)
        final_row["best_of"] = best["config"]
    engines.clear()
    from ..planning.speedplan import plan_vs_measured

    cap = float(info.get("capability", 0) or 0)
    result = {"info": info, "rows": rows, "best_exact": best["config"] if best else None,
              "planner": plan_vs_measured(rows, info["device"], cap, EXACT_TOL),
              "wall_s": round(time.perf_counter() - t_start, 1), "jsonl": str(lines)}
    write_final(final, result)
    result["written"] = str(final)
    return result


def _with_ratios(row: dict, stock: dict, exact: dict) -> dict:
    """``ratio_vs_diffusers`` (the same run's stock row) and ``vs_exact`` on a measured row, in place."""
    if "s_per_video" in row and row.get("steps") == stock.get("steps", row.get("steps")):  # same work only
        if stock.get("s_per_video"):
            row["ratio_vs_diffusers"] = round(row["s_per_video"] / stock["s_per_video"], 3)
        if exact.get("s_per_video"):
            row["vs_exact"] = round(row["s_per_video"] / exact["s_per_video"], 3)
    return row


def write_final(path: Path, result: dict) -> None:
    """The final JSON; an existing file's other keys (the planned-configuration bench of issue 13) kept."""
    data = {}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
    data = data if isinstance(data, dict) else {}
    data["levers"] = result
    write_json(path, data)


def print_speed(res: dict) -> None:
    i = res["info"]
    print(f"\nSpeed levers: {i['device']}, {i['model']}, {i['frames']} frames, torch {i['torch']}; each row one "
          f"whole call (encodings to frames); max_abs_diff of frames in [0, 1] against ours exact, same seed")
    rows = [{**r, "s_per_video": r.get("s_per_video", "-"), "skipped": (r.get("skipped") or "")[:60]}
            for r in res["rows"]]
    print(table(rows, ["size", "config", "steps", "s_per_video", "s_per_step", "ratio_vs_diffusers", "peak_gib",
                        "max_abs_diff", "compile_s", "skipped"]))
    print(f"fastest exact at the largest size: {res['best_exact']}; wall {res['wall_s']} s; rows: {res['jsonl']}")
    print("\nThe planner (configs/speed-gpu.yaml) against the fastest exact row measured here")
    print(table([{**p, "measured": {True: "yes", False: "no"}.get(p["measured"], "-")} for p in res["planner"]],
                 ["size", "entry", "measured", "planned_row", "planned_s", "fastest_exact_row", "fastest_s"]))
