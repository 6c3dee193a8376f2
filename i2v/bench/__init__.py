"""``python -m i2v bench``: measurements printed as a table (not a test).

CPU part (always): the engine against the bare ``I2VGenXLPipeline.__call__`` on
identical work with the tiny model (same process, interleaved, medians), whole
tiny generations at two sizes, and MP4 encoding of 16 frames at 1280x704.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .table import table


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_engine_vs_diffusers(repeats: int, steps: int, size: int, frames: int) -> dict:
    import torch

    from ..engine import Engine, EngineJob, load_model
    from ..engine.engine import IMAGE_LATENT_SEED
    from ..engine.models import REFERENCE_GONE, reference_pipeline
    from PIL import Image

    engine = Engine(load_model("tiny"))
    reference = reference_pipeline(engine.pipe)
    if reference is None:
        return {"work": REFERENCE_GONE, "engine_s": None, "diffusers_s": None, "ratio": None}
    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))
    job = EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry",
                    guidance_scale=9.0, num_inference_steps=steps, num_frames=frames, width=size, height=size,
                    seed=1)
    (neg, pos), _ = engine.encode_text(job.prompt, job.negative_prompt)

    def ours():
        engine._image_cache.clear()  # the bare pipeline re-encodes the image every call; so do we here
        engine.generate(job)

    def bare():
        torch.manual_seed(IMAGE_LATENT_SEED)
        reference(image=image, prompt_embeds=pos, negative_prompt_embeds=neg, height=size, width=size,
                  num_frames=frames, num_inference_steps=steps, guidance_scale=9.0, decode_chunk_size=8,
                  generator=torch.Generator().manual_seed(1), output_type="np")

    ours(), bare()  # warm-up
    t_ours, t_bare = [], []
    for _ in range(repeats):  # interleaved so drift hits both alike
        t_ours.append(_median_time(ours, 1))
        t_bare.append(_median_time(bare, 1))
    o, b = statistics.median(t_ours), statistics.median(t_bare)
    return {"work": f"tiny {size}x{size} {frames}f {steps} steps", "engine_s": round(o, 3),
            "diffusers_s": round(b, 3), "ratio": round(o / b, 3)}


def bench_generation(size: int, frames: int, steps: int, repeats: int) -> dict:
    """Whole request through the service (validation, engine, checks, MP4 + sidecar + thumbnail)."""
    import tempfile

    from PIL import Image

    from ..base.config import load_config
    from ..studio import Studio

    with tempfile.TemporaryDirectory() as tmp:
        studio = Studio(load_config(model="tiny"), outputs=tmp, log=lambda m: None)
        studio.engine()
        img = Image.fromarray((np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8))

        def one():
            req = studio.build_request(image=img, prompt="a dog jumping over a fence", width=size, height=size,
                                       num_frames=frames, num_inference_steps=steps, seed=1)
            return studio.generate(req)

        t = _median_time(one, repeats)
    return {"work": f"tiny {size}x{size} {frames}f {steps} steps (CLI path, MP4 written)", "seconds": round(t, 2)}


def bench_encode(repeats: int, frames: int = 16, w: int = 1280, h: int = 704) -> dict:
    import tempfile
    from pathlib import Path

    from ..media.video import write_mp4

    y, x = np.mgrid[0:h, 0:w]
    video = np.stack([np.stack([(x + 8 * i) % 256, y % 256, (x + y) % 256], -1) for i in range(frames)]
                     ).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        t = _median_time(lambda: write_mp4(video, Path(tmp) / "b.mp4", fps=8), repeats)
    return {"work": f"MP4 encode {frames}f {w}x{h} (libx264 crf 17)", "seconds": round(t, 3)}


def bench_ui(repeats: int, steps: int = 10) -> list[dict]:
    """Start-up time of ``python app.py`` and the web UI's added latency over the service on one job."""
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    import urllib.request
    from pathlib import Path

    from gradio_client import Client, handle_file
    from PIL import Image

    from ..base.config import ROOT, load_config
    from ..jobs import GENERATE, JobService
    from ..studio import Studio

    with tempfile.TemporaryDirectory() as tmp:
        img = Path(tmp) / "in.png"
        Image.fromarray((np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)).save(img)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "app.py", "--model", "tiny", "--port", str(port), "--outputs",
                                 str(Path(tmp) / "ui")], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env={**os.environ, "I2V_HOME": tmp})
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                        break
                except OSError:
                    time.sleep(0.05)
            startup = time.perf_counter() - t0
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            ui_args = dict(image=handle_file(str(img)), prompt="a dog jumping", guidance_scale=9,
                           num_inference_steps=steps, num_frames=8, fps=8, resolution="256p", seed=1)
            client.predict(**ui_args, api_name="/generate")  # warm-up (and model load)
            ui = _median_time(lambda: client.predict(**ui_args, api_name="/generate"), repeats)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        jobs = JobService(Studio(load_config(model="tiny"), outputs=Path(tmp) / "cli", log=lambda m: None))

        def direct():  # the same job through the job service in this process (what the CLI runs)
            params = jobs.generate_params(dict(image=str(img), prompt="a dog jumping", preset="standard",
                                                num_inference_steps=steps, num_frames=8, resolution="256p", seed=1))
            jobs.run_inline(GENERATE, params)

        direct()
        cli = _median_time(direct, repeats)
    work = f"tiny 256x192 8f {steps} steps"
    return [{"work": "python app.py -> page answers", "seconds": round(startup, 2)},
            {"work": f"{work}: service (what the CLI runs)", "seconds": round(cli, 3)},
            {"work": f"{work}: web UI round trip (gradio_client)", "seconds": round(ui, 3)},
            {"work": "web UI added latency per generation", "seconds": round(ui - cli, 3)}]


def fast_mode_entries(tiers=("fast", "fastest"), methods: bool = True) -> list[tuple[str, dict, dict]]:
    """(name, settings, the same sampler and steps without caching) of each entry ``bench_fast_mode``
    measures: each approximate method alone on the first tier's sampler and steps (at the value of the last
    tier that uses it), then each tier."""
    from ..planning.tiers import METHODS, settings_for, without_caching

    base = without_caching(settings_for(tiers[0]))
    rows = []
    for key, off in METHODS.items() if methods else ():
        used = [settings_for(name)[key] for name in tiers if settings_for(name)[key] != off]
        if used:
            rows.append((f"{key}={used[-1]} alone", {**base, key: used[-1]}, base))
    rows += [(f"tier {name}", settings_for(name), without_caching(settings_for(name))) for name in tiers]
    return rows


def bench_fast_mode(size: int = 64, frames: int = 4, repeats: int = 3, model: str = "random-full",
                    tiers=("fast", "fastest"), steps: int | None = None, flop_sizes=((1280, 704), (512, 512)),
                    methods: bool = True) -> dict:
    """The approximate methods (DeepCache, step skipping, late guidance skipping), alone and as the speed tiers,
    each against the same sampler and step count without them, on the full architecture (random weights: the
    speed and the drift of the methods, not of trained weights): same job and seed, runs interleaved, medians.
    ``mean_abs_diff``/``max_abs_diff`` are over the decoded frames in [0, 1].  ``native_flop_ratio``: the UNet
    FLOPs of exact (DDIM, 50 steps, guidance every step) over the entry's, counted at native 1280x704x16
    (``flop_ratio_512`` at 512x512) by :mod:`i2v.engine.flops`, with step skipping skipping the steps it
    skipped in the measured run.  ``steps`` caps every entry's steps (a quick run); ``methods=False`` measures
    the tiers only."""
    import torch
    from PIL import Image

    from ..engine import Engine, EngineJob, load_model
    from ..engine import flops
    from ..planning.tiers import NAMES

    engine = Engine(load_model(model))
    rng = np.random.default_rng(0)
    image = Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8))
    entries = fast_mode_entries(tiers, methods)
    if steps is not None:
        entries = [(n, {**s, "num_inference_steps": min(steps, s["num_inference_steps"])},
                    {**b, "num_inference_steps": min(steps, b["num_inference_steps"])}) for n, s, b in entries]

    def job(settings: dict) -> EngineJob:
        return EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry",
                         guidance_scale=9.0, num_frames=frames, width=size, height=size, seed=1, **settings)
    sync = (lambda: torch.cuda.synchronize()) if engine.device.type == "cuda" else (lambda: None)
    frames_of, notes_of, times = {}, {}, {}

    def run(settings: dict) -> None:
        key = tuple(sorted(settings.items()))
        engine.notes.clear()
        sync()
        t = time.perf_counter()
        frames_of[key] = engine.generate(job(settings)).frames
        sync()
        times.setdefault(key, []).append(time.perf_counter() - t)
        notes_of[key] = dict(engine.notes)
    plan = []  # every distinct setting once per round, each entry right after its baseline
    for _, settings, base in entries:
        plan += [x for x in (base, settings) if x not in plan]
    run({**plan[0], "num_inference_steps": 2})  # warm-up, short; encodings cached for all alike
    for _ in range(repeats):
        for settings in plan:
            run(settings)

    def video(settings: dict, skipped, w: int, h: int) -> int:
        return flops.video_flops(w, h, 16, settings["num_inference_steps"], scheduler=settings["scheduler"],
                                 fast=settings["fast"], guidance_stop=settings["guidance_stop"],
                                 skipped=skipped)["flops"]
    exact = {wh: flops.exact_video_flops(*wh, 16, 50) for wh in flop_sizes}
    rows = []
    for name, settings, base in entries:
        key, bkey = tuple(sorted(settings.items())), tuple(sorted(base.items()))
        t, tb = statistics.median(times[key]), statistics.median(times[bkey])
        diff = np.abs(frames_of[key] - frames_of[bkey])
        skip = notes_of[key].get("step_skip", {})
        skipped = [i - 1 for i in skip.get("skipped_steps", [])]
        ratios = {wh: exact[wh] / video(settings, skipped, *wh) for wh in flop_sizes}
        row = {"entry": name, **settings, "base_s": round(tb, 3), "s": round(t, 3), "speedup": round(tb / t, 3),
               "mean_abs_diff": round(float(diff.mean()), 4), "max_abs_diff": round(float(diff.max()), 4),
               "skipped_steps": len(skipped), "skipped_at": [i + 1 for i in skipped],
               "method_flop_ratio": round(video(base, [], *flop_sizes[0]) /
                                          video(settings, skipped, *flop_sizes[0]), 3),
               "native_flop_ratio": round(ratios[flop_sizes[0]], 3)}
        if len(flop_sizes) > 1:
            row["flop_ratio_512"] = round(ratios[flop_sizes[1]], 3)
        rows.append(row)
    tier_ratio = {"exact": 1.0, **{r["entry"].removeprefix("tier "): r["native_flop_ratio"] for r in rows
                                   if r["entry"].startswith("tier ")}}
    return {"work": f"{model} {size}x{size} {frames}f, seed 1, guidance 9 ({engine.device.type}); median of {repeats}",
            "tiers_known": list(NAMES), "entries": rows, "native_flop_ratio": tier_ratio}


def bench_compile(size: int = 256, frames: int = 8, steps: int = 10, repeats: int = 3) -> dict:
    """``torch.compile`` against eager on the tiny model: denoising seconds after warm-up (medians), the
    one-off compilation, and the largest difference in the frames."""
    from PIL import Image

    from ..engine import Engine, EngineJob, load_model

    engine = Engine(load_model("tiny"))
    image = Image.fromarray((np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8))
    job = EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry", guidance_scale=9.0,
                    num_inference_steps=steps, num_frames=frames, width=size, height=size, seed=1)

    def denoise() -> tuple[float, np.ndarray]:
        r = engine.generate(job)
        return r.timings["denoise"], r.frames
    denoise()
    eager = [denoise() for _ in range(repeats)]
    t = time.perf_counter()
    engine.compile_unet()
    denoise()
    first = time.perf_counter() - t
    compiled = [denoise() for _ in range(repeats)]
    e, c = statistics.median(x[0] for x in eager), statistics.median(x[0] for x in compiled)
    return {"work": f"tiny {size}x{size} {frames}f {steps} steps, denoising (cpu)", "eager_s": round(e, 3),
            "compiled_s": round(c, 3), "speedup": round(e / c, 3), "compile_and_first_run_s": round(first, 1),
            "max_abs_diff": round(float(np.abs(eager[0][1] - compiled[0][1]).max()), 6)}


# FLOPs of one denoising step with CFG (batch 2), 16 frames, from the count for I2VGen-XL.
FLOP_PER_STEP = {(512, 512): 42e12, (1280, 704): 176e12}


def bench_gpu(device: str = "cuda", model: str = "random-full", steps: int = 50, frames: int = 16,
              sizes=((512, 512), (1280, 704)), cards=(8, 12, 16, 24), log=print) -> dict:
    """Seconds per step and per video, peak memory and TFLOP/s: our planned configuration against the
    bare diffusers pipeline all on the GPU and with model CPU offload (same process); then predicted vs
    measured peak for each rung of the ladder, and the plan for capped memory (simulated smaller cards).
    ``device='cpu', model='tiny'`` runs the same code as a smoke test."""
    import torch
    from PIL import Image

    from ..planning import vram
    from ..engine import Engine, EngineJob, load_model
    from ..engine.engine import IMAGE_LATENT_SEED
    from ..engine.models import REFERENCE_GONE, reference_pipeline
    from ..engine.memory import absolute_peak

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda and dev.index is None:  # set_per_process_memory_fraction wants an index
        dev = torch.device("cuda", torch.cuda.current_device())
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    t = time.perf_counter()
    loaded = load_model(model) if not cuda else None
    if cuda:
        from ..engine.models import LoadedModel, ModelInfo, build_random_full

        pipe = build_random_full(device=dev, dtype=torch.float16)
        loaded = LoadedModel(pipe, ModelInfo("random-full", "random-full", "random-full", None, str(dev),
                                             "float16", demo=True))
    engine = Engine(loaded)
    pipe = engine.pipe
    reference = reference_pipeline(pipe)  # diffusers' own pipeline over the same components (None: gone)
    if reference is None:
        log(f"  {REFERENCE_GONE}: the stock rows are left out")
    log(f"  model ready in {time.perf_counter() - t:.1f}s on {dev}")
    info = {"device": torch.cuda.get_device_name(dev) if cuda else "cpu", "model": model, "steps": steps,
            "frames": frames, "torch": torch.__version__,
            "attention": sorted({type(p).__name__ for p in pipe.unet.attn_processors.values()})}
    rng = np.random.default_rng(0)
    rows, rung_rows, card_rows = [], [], []
    total_gb = torch.cuda.mem_get_info(dev)[1] / 2**30 if cuda else 24.0
    for w, h in sizes:
        image = Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))
        job = EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry",
                        guidance_scale=9.0, num_inference_steps=steps, num_frames=frames, width=w, height=h, seed=1)
        (neg, pos), _ = engine.encode_text(job.prompt, job.negative_prompt)
        floor = FLOP_PER_STEP.get((w, h), 42e12 * (w * h) / (512 * 512))
        plan = vram.plan(total_gb, w, h, frames)

        def ours():
            job.use_rung(*plan.step)  # the engine applies the job's rung (offload, tiling, split, slicing)
            timing = {}

            def go():  # the same scope as the pipeline's call: encodings not cached, decode included
                engine._text_cache.clear()
                engine._image_cache.clear()
                sync()
                t0 = time.perf_counter()
                r = engine.generate(job)
                sync()
                timing.update(r.timings, total=time.perf_counter() - t0)
            try:
                peak = absolute_peak(go, dev)
            finally:
                job.use_rung("none", 8, False)
                engine.use(job)
            return timing["denoise"], timing["total"], peak

        def bare(offload: bool):
            if offload and cuda:
                reference.enable_model_cpu_offload()
            timing = {}

            def go():
                torch.manual_seed(IMAGE_LATENT_SEED)
                sync()
                t0 = time.perf_counter()
                reference(image=image, prompt_embeds=pos, negative_prompt_embeds=neg, height=h, width=w,
                          num_frames=frames, num_inference_steps=steps, guidance_scale=9.0, decode_chunk_size=8,
                          generator=torch.Generator().manual_seed(1), output_type="np")
                sync()
                timing["total"] = time.perf_counter() - t0
            try:
                peak = absolute_peak(go, dev)
            finally:
                if offload and cuda:
                    with torch.inference_mode():  # see Engine.apply_memory_plan
                        reference.remove_all_hooks()
                        pipe.to(dev)
            return None, timing["total"], peak

        size_rows = []
        stock = [] if reference is None else [("diffusers, all on GPU", lambda: bare(False)),
                                              ("diffusers, model CPU offload", lambda: bare(True))]
        for name, fn in (*stock, (f"ours, planned ({plan.step_text()})", ours)):
            log(f"  {w}x{h}: {name} ...")
            _, total, peak = fn()
            size_rows.append({"size": f"{w}x{h}", "config": name, "s_per_video": round(total, 2),
                              "s_per_step": round(total / steps, 3), "peak_gib": round(peak / 2**30, 2),
                              "tflops": round(floor / (total / steps) / 1e12, 1)})
            log(f"    {size_rows[-1]}")
        base = size_rows[0]["s_per_video"] if stock else None
        for r in size_rows:  # every row the same scope: one whole call, encodings to frames
            r["ratio_vs_diffusers"] = round(r["s_per_video"] / base, 3) if base else None
        rows.extend(size_rows)

    # predicted vs measured peak per ladder rung (short runs at the first size)
    w, h = sizes[0]
    image = Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))
    short = EngineJob(image=image, prompt="a dog", negative_prompt="", guidance_scale=9.0,
                      num_inference_steps=min(steps, 3), num_frames=frames, width=w, height=h, seed=1)
    for i, rung in enumerate(vram.ladder(8)):
        short.use_rung(*rung)
        engine.free_memory()
        measured = absolute_peak(lambda: engine.generate(short), dev)
        est = vram.estimate(w, h, frames, offload=rung.offload, decode_chunk_size=rung.chunk, vae_tiling=rung.tiling,
                            cfg_split=rung.split, ff_sliced=rung.sliced, bytes_per_elem=2 if cuda else 4)
        predicted = (est.peak_gib - vram.CONTEXT_GIB) / vram.FRAGMENTATION
        rung_rows.append({"rung": i, "offload": rung.offload, "chunk": rung.chunk, "tiling": rung.tiling,
                          "cfg_split": rung.split, "ff_sliced": rung.sliced,
                          "predicted_gib": round(predicted, 2), "measured_gib": round(measured / 2**30, 2),
                          "error": round((predicted - measured / 2**30) / max(measured / 2**30, 1e-9), 3)})
        log(f"    {rung_rows[-1]}")
    short.use_rung("none", 8, False)
    engine.use(short)

    # simulated smaller cards: cap this process's share of the GPU, run the plan for that card
    for gb in cards:
        p = vram.plan(gb, w, h, frames)
        row = {"card_gb": gb, "plan": p.step_text(),
               "fits": p.fits, "predicted_gib": p.predicted_peak_gb}
        if cuda and p.fits:
            torch.cuda.set_per_process_memory_fraction(min(1.0, gb / total_gb), dev)
            short.use_rung(*p.step)
            try:
                engine.free_memory()
                peak = absolute_peak(lambda: engine.generate(short), dev)
                row["measured_gib"], row["ran"] = round(peak / 2**30, 2), "ok"
            except torch.OutOfMemoryError:
                row["ran"] = "OOM"
            finally:
                torch.cuda.set_per_process_memory_fraction(1.0, dev)
                short.use_rung("none", 8, False)
                engine.use(short)
                engine.free_memory()
        card_rows.append(row)
        log(f"    {row}")
    return {"info": info, "speed": rows, "rungs": rung_rows, "cards": card_rows}


def bench_workers(workers: int = 2, jobs: int = 4, steps: int = 20, size: int = 256, frames: int = 8,
                  ray: str | None = None, log=print) -> dict:
    """Throughput of 1 worker against ``workers`` on the same job list (tiny model): each run is
    ``python -m i2v worker`` on a fresh store holding the same queued jobs, timed from the first job's
    start to the last one's end (model loading left out, as in a studio that stays up)."""
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from PIL import Image

    from ..base.config import load_config
    from ..jobs import JobService
    from ..studio import Studio

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory(prefix="i2v-bench-workers-") as tmp:
        photo = Path(tmp) / "photo.png"
        Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(photo)
        for n in (1, workers):
            out = Path(tmp) / f"w{n}"
            queue = JobService(Studio(load_config(model="tiny"), outputs=out, log=lambda m: None))
            ids = [queue.submit_generate(image=str(photo), prompt="a dog jumping over a fence", width=size,
                                         height=size, num_frames=frames, num_inference_steps=steps, seed=i).id
                   for i in range(jobs)]
            how = ["--ray", ray] if ray and n > 1 else []
            log(f"  {n} worker(s){' on Ray' if how else ''}: {jobs} jobs ...")
            subprocess.run([sys.executable, "-m", "i2v", "worker", "--model", "tiny", "--outputs", str(out),
                            "--workers", str(n), "--exit-when-idle", *how], check=True, capture_output=True,
                           timeout=3600)
            done = [queue.store.get(i) for i in ids]
            if any(j.status != "done" for j in done):
                raise RuntimeError(f"bench jobs did not all finish: {[j.status for j in done]}")
            span = max(j.finished_at for j in done) - min(j.started_at for j in done)
            rows.append({"workers": n, "jobs": jobs, "seconds": round(span, 2),
                         "jobs_per_hour": round(jobs / span * 3600, 1),
                         "workers_used": len({j.worker for j in done})})
    ratio = rows[1]["jobs_per_hour"] / rows[0]["jobs_per_hour"]
    return {"work": f"tiny {size}x{size} {frames}f {steps} steps x {jobs} jobs", "rows": rows,
            "throughput_ratio": round(ratio, 3)}


def bench_long(segments: int = 4, size: int = 256, frames: int = 8, steps: int = 10, repeats: int = 2,
               log=print) -> dict:
    """A long video of ``segments`` segments against one segment (tiny model, same process, interleaved,
    medians), each a whole job through the job service (encodings, denoising, decoding, MP4s, analysis;
    the long one its joins, seam scores and final MP4 too).  The issue's budget: at most 4.2x one segment."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    from ..base.config import load_config
    from ..jobs import GENERATE, LONG, JobService
    from ..studio import Studio

    with tempfile.TemporaryDirectory(prefix="i2v-bench-long-") as tmp:
        jobs = JobService(Studio(load_config(model="tiny"), outputs=Path(tmp) / "out", log=lambda m: None))
        photo = Path(tmp) / "photo.png"
        Image.fromarray((np.random.default_rng(0).random((size, size, 3)) * 255).astype(np.uint8)).save(photo)
        kw = dict(image=str(photo), prompt="a dog jumping over a fence", width=size, height=size, num_frames=frames,
                  num_inference_steps=steps, seed=1)
        def run(kind) -> float:  # (parameters made anew: a finished job's kept picture is cleaned up)
            params = jobs.generate_params(dict(kw)) if kind == GENERATE else jobs.long_params(segments=segments, **kw)
            t = time.perf_counter()
            job = jobs.run_inline(kind, params)
            if job.status != "done":
                raise RuntimeError(f"bench job {kind} ended {job.status}")
            return time.perf_counter() - t
        run(GENERATE)  # warm-up (model load, first-call costs)
        one, long = [], []
        for i in range(repeats):
            log(f"  round {i + 1}/{repeats}: one segment, then {segments} ...")
            one.append(run(GENERATE))
            long.append(run(LONG))
    o, lg = statistics.median(one), statistics.median(long)
    return {"work": f"tiny {size}x{size} {frames}f {steps} steps, {segments} segments (cpu)",
            "one_segment_s": round(o, 2), "long_s": round(lg, 2), "ratio_vs_one_segment": round(lg / o, 3),
            "overhead_vs_separate_jobs": round(lg / (segments * o) - 1, 3)}


def _wan_bench(args, key: str, fn, what: str, title: str, columns: list[str], log) -> dict:
    """One of Wan's benches on the device asked for, its rows as a table unless ``--json``."""
    dev = getattr(args, "device", None) or "cuda"
    log(f"benchmark: {what}, {dev} ...")
    res = fn(dev, out=getattr(args, "out", None), log=log)
    if not getattr(args, "json", False):
        print("\n" + title.format(card=res["info"]["card"], dtype=res["info"]["dtype"]))
        print(table(res["rows"], columns))
    return {key: res}


def run_bench(args, log=print) -> dict:
    from .gpu import require_device

    quick = getattr(args, "quick", False)
    repeats = max(1, args.repeats)
    for flag, option in (("fast_tiers", "--fast-tiers"), ("gpu", "--gpu"), ("wan", "--wan"),
                         ("wan_tiers", "--wan-tiers")):
        if getattr(args, flag, False):  # a device it cannot run on is one line before any work
            args.device = require_device(getattr(args, "device", None) or "cuda", option)
    if getattr(args, "gpu", False) and (getattr(args, "profile", False) or getattr(args, "speed", False)):
        return run_gpu_profile_speed(args, log)
    if getattr(args, "gpu", False):
        log("benchmark: GPU (full architecture, fp16) ...")
        dev = getattr(args, "device", None) or "cuda"
        res = bench_gpu(device=dev, model="random-full" if dev == "cuda" else "tiny",
                        steps=args.gpu_steps, frames=args.gpu_frames,
                        sizes=((512, 512), (1280, 704)) if dev == "cuda" else ((256, 256),), log=log)
        if not getattr(args, "json", False):
            print(f"\nGPU: {res['info']['device']}, {res['info']['steps']} steps, {res['info']['frames']} frames, "
                  f"torch {res['info']['torch']}, attention {', '.join(res['info']['attention'])}")
            print("Each row: one whole call (encodings, denoising, decoding); peak: all tensors allocated on the "
                  "GPU, weights included")
            print(table(res["speed"], ["size", "config", "s_per_video", "ratio_vs_diffusers", "s_per_step",
                                        "peak_gib", "tflops"]))
            print("\nPredicted vs measured peak per ladder rung (allocated tensors, GiB)")
            print(table(res["rungs"], ["rung", "offload", "chunk", "tiling", "cfg_split", "ff_sliced",
                                        "predicted_gib", "measured_gib", "error"]))
            print("\nSimulated cards (memory fraction capped)")
            print(table(res["cards"], ["card_gb", "plan", "fits", "predicted_gib", "measured_gib", "ran"]))
        return {"gpu": res}
    if getattr(args, "fast_tiers", False):
        dev = getattr(args, "device", None) or "cuda"
        log(f"benchmark: the speed tiers against exact on {dev} ...")
        res = bench_fast_tiers(dev, out=getattr(args, "out", None), log=log)
        if not getattr(args, "json", False):
            print(f"\nSpeed tiers against exact ({res['info'].get('card', dev)}; whole calls, one run each)")
            print(table(res["rows"], ["tier", "size", "scheduler", "num_inference_steps", "s_per_video",
                                       "speedup_vs_exact", "vs_exact_mean_abs_diff"]))
        return {"fast_tiers": res}
    if getattr(args, "wan_tiers", False):
        from .wan import bench_wan_tiers

        return _wan_bench(args, "wan_tiers", bench_wan_tiers, "Wan 2.2's speed tiers against exact on random-full",
                          "Wan 2.2's speed tiers ({card}, bf16, random-full; whole calls, one run)",
                          ["variant", "tier", "size", "steps", "s_per_call", "speedup_vs_exact", "mean_drift",
                           "max_drift", "error"], log)
    if getattr(args, "wan", False):
        from .wan import bench_wan

        return _wan_bench(args, "wan", bench_wan, "Wan 2.2",
                          "Wan 2.2 ({card}, {dtype}; whole calls through the studio's engine)",
                          ["model", "size", "steps", "s_per_call", "s_per_step", "tflop_per_step", "tflops",
                           "peak_gib", "error"], log)
    if getattr(args, "long", False):
        log("benchmark: a 4-segment long video against one segment (tiny) ...")
        res = bench_long(repeats=repeats, steps=3 if quick else 10, log=log)
        if not getattr(args, "json", False):
            print("\nLong video against one segment (whole jobs, same process, interleaved, medians)")
            print(table([res], ["work", "one_segment_s", "long_s", "ratio_vs_one_segment",
                                 "overhead_vs_separate_jobs"]))
        return {"long": res}
    if getattr(args, "workers", None) is not None:
        if not 2 <= args.workers <= 64:
            from ..base.errors import InvalidInput

            raise InvalidInput("bad_workers", value=args.workers)
        log(f"benchmark: throughput of 1 against {args.workers} workers ...")
        res = bench_workers(args.workers, jobs=2 * args.workers, steps=5 if quick else 20, ray=args.ray, log=log)
        if not getattr(args, "json", False):
            print(f"\nThroughput, {res['work']} (first start to last end; model loading not counted)")
            print(table(res["rows"], ["workers", "jobs", "seconds", "jobs_per_hour", "workers_used"]))
            print(f"throughput ratio {args.workers} workers / 1 worker: {res['throughput_ratio']:.2f}")
        return {"workers": res}
    log("benchmark: engine vs diffusers (tiny, CPU) ...")
    ratio = bench_engine_vs_diffusers(max(5, repeats), steps=5 if quick else 20, size=256, frames=8)
    gens = []
    for size in ((256,) if quick else (256, 512)):  # the engine run above warmed the process up
        log(f"benchmark: tiny generation {size}x{size} ...")
        gens.append(bench_generation(size, 8, 5 if quick else 30, 1))
    log("benchmark: MP4 encode ...")
    enc = bench_encode(repeats)
    result = {"engine_vs_diffusers": ratio, "generation": gens, "encode": enc}
    if not quick:
        log("benchmark: fast mode against exact (full architecture, random weights) ...")
        result["fast_mode"] = bench_fast_mode(repeats=repeats)
    if getattr(args, "compile", False):
        log("benchmark: torch.compile against eager (tiny) ...")
        result["compile"] = bench_compile(repeats=repeats)
    if getattr(args, "ui", False):
        log("benchmark: web UI start-up and added latency ...")
        result["ui"] = bench_ui(repeats)
    if not getattr(args, "json", False):
        print("\nEngine vs bare I2VGenXLPipeline.__call__ (same process, interleaved, median of", max(5, repeats),
              "runs)")
        print(table([ratio], ["work", "engine_s", "diffusers_s", "ratio"]))
        print("\nWhole generations and encoding")
        print(table(gens + [enc] + result.get("ui", []), ["work", "seconds"]))
        if "fast_mode" in result:
            fm = result["fast_mode"]
            print("\nApproximate methods and speed tiers against the same sampler and steps without them,",
                  f"{fm['work']}; frames in [0, 1]; FLOP ratios against exact (DDIM 50) at native 1280x704x16"
                  " and 512x512")
            print(table(fm["entries"], ["entry", "scheduler", "num_inference_steps", "fast", "skip_threshold",
                                         "guidance_stop", "base_s", "s", "speedup", "mean_abs_diff", "max_abs_diff",
                                         "skipped_steps", "native_flop_ratio", "flop_ratio_512"]))
        if "compile" in result:
            print("\ntorch.compile against eager (after warm-up)")
            print(table([result["compile"]], ["work", "eager_s", "compiled_s", "speedup", "compile_and_first_run_s",
                                               "max_abs_diff"]))
    return result


def tiers_file(out: str | None, cuda: bool) -> Path:
    """Where ``--fast-tiers`` writes its rows: ``--out`` itself when it names a file (a name with a suffix that is
    not a folder), else ``fast-tiers.jsonl`` in that folder (docs/ on CUDA, the current folder on the CPU by
    default); emptied now.  A path that cannot be written is one line (the name only, never the folder)."""
    from ..base.errors import InvalidInput

    target = Path(out) if out else Path("docs" if cuda else ".")
    rows = target if out and target.suffix and not target.is_dir() else target / "fast-tiers.jsonl"
    try:
        rows.parent.mkdir(parents=True, exist_ok=True)
        rows.write_text("")
    except OSError as exc:
        detail = "a folder on its path is a file" if isinstance(exc, (FileExistsError, NotADirectoryError)) else \
            exc.strerror or type(exc).__name__
        raise InvalidInput("bench_out", name=rows.name, detail=detail) from None
    return rows


def bench_fast_tiers(device: str = "cuda", out: str | None = None, log=print) -> dict:
    """The speed tiers as users run them, each a whole call against exact (DDIM 50 steps, guidance every
    step): at native 1280x704x16 in fp16 on CUDA (random weights), the tiny model at 128x128 on the CPU (a
    smoke run of the same code).  Each row is written to ``fast-tiers.jsonl`` as soon as it is measured.
    ``vs_exact_mean_abs_diff`` mixes the tier's sampler change with its caching (see ``fast_mode`` for the
    drift of the caching alone)."""
    import json

    import torch
    from PIL import Image

    from .gpu import device_info, load_engine
    from ..engine import EngineJob
    from ..planning.tiers import NAMES, settings_for

    cuda = device.startswith("cuda")
    w, h, frames = (1280, 704, 16) if cuda else (128, 128, 4)
    rows_file = tiers_file(out, cuda)  # written (emptied) first: a path it cannot write fails before any work
    engine = load_engine(device, log=log)
    sync = (lambda: torch.cuda.synchronize()) if cuda else (lambda: None)
    image = Image.fromarray((np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))

    def run(settings: dict):
        job = EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry",
                        guidance_scale=9.0, num_frames=frames, width=w, height=h, seed=1, **settings)
        engine.notes = []
        sync()
        t = time.perf_counter()
        frames_out = engine.generate(job).frames
        sync()
        return time.perf_counter() - t, frames_out, list(engine.notes)
    run({**settings_for("exact"), "num_inference_steps": 2})  # warm-up (kernels, encodings)
    rows, exact = [], None
    for name in NAMES:
        settings = settings_for(name)
        log(f"  {name}: {settings} ...")
        seconds, got, notes = run(settings)
        if exact is None:
            exact = (seconds, got)
        row = {"tier": name, "size": f"{w}x{h}", "frames": frames, **settings, "s_per_video": round(seconds, 2),
               "speedup_vs_exact": round(exact[0] / seconds, 3),
               "vs_exact_mean_abs_diff": round(float(np.abs(got - exact[1]).mean()), 4),
               "engine_notes": [{"code": c, **p} for c, p in notes]}
        rows.append(row)
        with rows_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        log(f"    {row['s_per_video']} s, {row['speedup_vs_exact']}x")
    return {"info": device_info(device), "rows": rows, "file": str(rows_file)}


def run_gpu_profile_speed(args, log=print) -> dict:
    """``bench --gpu --profile`` and/or ``bench --gpu --speed`` (i2v/bench/gpu.py); ``--device cpu``: the tiny
    model at a small size, the same code paths."""
    from . import gpu

    dev = getattr(args, "device", None) or "cuda"
    out = getattr(args, "out", None)
    result = {}
    if getattr(args, "profile", False):
        log(f"benchmark: profile of two denoising steps and one decode on {dev} ...")
        result["profile"] = gpu.run_profile(dev, out=out, log=log)
        if not getattr(args, "json", False):
            gpu.print_profile(result["profile"])
    if getattr(args, "speed", False):
        log(f"benchmark: speed levers against stock diffusers on {dev} ...")
        result["speed"] = gpu.run_speed(dev, out=out, log=log)
        if not getattr(args, "json", False):
            gpu.print_speed(result["speed"])
    return result
