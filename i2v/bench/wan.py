"""``python -m i2v bench --wan``: Wan 2.2's speed rows, through the studio's Wan engine.

On a card (``--device cuda``, the default): the real architecture with random weights (``wan-random-full``,
``wan-random-full-a14b``) in bf16, at the 5B's native 1280x704x121 and at 832x480x81 for both variants; on
the CPU (``--device cpu``): the tiny models at 256x256x9, a smoke run of the same code.  Each row is one whole
call (text encoding, denoising, decoding) of a few steps: seconds per step from the pipeline's own step
callback, seconds per call, the peak of allocated memory, and for random-full the transformer FLOPs counted
per step (i2v/families/wan/flops.py: real architecture, fake tensors) and the TFLOP/s they make.  Rows are written to
``bench-wan-<card>.jsonl`` as they are measured; a row that fails (out of memory, say) is a row saying why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

COMMON = (832, 480, 81)  # a size both variants make (480p, 81 frames), the A14B's row on the card
SMOKE = (256, 256, 9)


def planned_rows(cuda: bool) -> list[tuple[str, int, int, int]]:
    """(model, width, height, frames) per row, from the family's declarations: on a card each random-full
    model at the common size, and the default variant's also at its native size and frame count (5B:
    1280x704x121); on the CPU each tiny model at the smoke size."""
    from ..families.wan import FAMILY

    rows = []
    for m in FAMILY.models:
        v = FAMILY.variant_of(m)
        if cuda and m.kind == "random-full":
            if v is FAMILY.default_variant:
                rows.append((m.name, *v.geometry.native, v.geometry.frames_default))
            rows.append((m.name, *COMMON))
        elif not cuda and m.kind == "tiny":
            rows.append((m.name, *SMOKE))
    return rows


def bench_wan(device: str = "cuda", out: str | None = None, steps: int | None = None, log=print) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from ..engine import EngineJob
    from ..families.wan import FAMILY
    from ..families.wan.engine import WanEngine, load_synthetic
    from ..families.wan.flops import step_flops
    from ..planning.speedplan import card_slug

    cuda = device.startswith("cuda")
    card = card_slug(torch.cuda.get_device_name(torch.device(device))) if cuda else "cpu"
    folder = Path(out or ("docs" if cuda else "."))
    folder.mkdir(parents=True, exist_ok=True)
    rows_file = folder / f"bench-wan-{card}.jsonl"
    rows_file.write_text("")  # a folder it cannot write fails before any work
    steps = steps or (3 if cuda else 2)
    rows, loaded = [], {}
    for name, w, h, frames in planned_rows(cuda):
        row = {"model": name, "size": f"{w}x{h}x{frames}", "steps": steps}
        try:
            if name not in loaded:
                loaded.clear()  # one model on the card at a time
                if cuda:
                    torch.cuda.empty_cache()
                t = time.perf_counter()
                loaded[name] = WanEngine(load_synthetic(name, device=torch.device(device)))
                row["load_s"] = round(time.perf_counter() - t, 1)
            engine = loaded[name]
            variant = engine.variant
            image = Image.fromarray((np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))
            job = EngineJob(image=image, prompt="a dog runs along the beach", negative_prompt="blurry, static",
                            guidance_scale=variant.knobs.guidance_default, num_inference_steps=steps,
                            num_frames=frames, width=w, height=h, seed=1)
            marks: list[float] = []
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
                torch.cuda.synchronize(device)

            def on_step(info, marks=marks):
                if cuda:
                    torch.cuda.synchronize(device)
                marks.append(time.perf_counter())

            t = time.perf_counter()
            engine.generate(job, on_step=on_step)
            if cuda:
                torch.cuda.synchronize(device)
            total = time.perf_counter() - t
            per_step = (marks[-1] - marks[0]) / (len(marks) - 1) if len(marks) > 1 else marks[0] - t
            # the count is the real architecture's: it applies to random-full, not to the toy widths of tiny
            flops = step_flops(variant.key, w, h, frames, guided=True) if FAMILY.model(name).kind == "random-full" \
                else None
            row.update(variant=variant.key, s_per_call=round(total, 2), s_per_step=round(per_step, 3),
                       tflop_per_step=round(flops / 1e12, 1) if flops else None,
                       tflops=round(flops / per_step / 1e12, 1) if flops else None,
                       peak_gib=round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if cuda else None)
        except Exception as exc:  # noqa: BLE001 - a row says why it failed; the next one runs
            loaded.clear()
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        rows.append(row)
        with rows_file.open("a") as f:
            f.write(json.dumps(row) + "\n")
        log(f"  {json.dumps(row)}")
    info = {"device": device, "card": card, "torch": torch.__version__, "family": FAMILY.name,
            "dtype": "bfloat16" if cuda else "float32"}
    return {"info": info, "rows": rows, "jsonl": str(rows_file)}


TIERS_SIZE = {"cpu": (320, 192, 9), "cuda": COMMON}  # small on the CPU (random-full in bf16 fits beside nothing)


def bench_wan_tiers(device: str = "cuda", out: str | None = None, steps: int | None = None, log=print) -> dict:
    """The speed tiers on random-full (the real architecture, random weights) against exact, in one run: each
    tier's whole call and its mean drift from exact's frames (pixels in [0, 1]) at the same seed.  The tiers are
    the studio's own: diffusers' TaylorSeer hook with the family's settings (``cache_config``).  On the CPU only
    the 5B (an A14B expert alone is 28.6 GB in bf16), at 320x192x9; on a card both variants at 832x480x81.  The
    text encoder encodes the prompts first and is freed (the 5B's transformer, VAE and encoder together are 22.8
    GB).  Rows go to ``bench-wan-tiers-<card>.jsonl`` as they are measured."""
    import gc

    import numpy as np
    import torch
    from PIL import Image

    from ..families.wan import FAMILY
    from ..families.wan.engine import build_random_full, cache_config, random_full_embeddings
    from ..planning.speedplan import card_slug

    cuda = device.startswith("cuda")
    card = card_slug(torch.cuda.get_device_name(torch.device(device))) if cuda else "cpu"
    folder = Path(out or ("docs" if cuda else "."))
    folder.mkdir(parents=True, exist_ok=True)
    rows_file = folder / f"bench-wan-tiers-{card}.jsonl"
    rows_file.write_text("")
    w, h, frames = TIERS_SIZE["cuda" if cuda else "cpu"]
    variants = list(FAMILY.variants.values()) if cuda else [FAMILY.default_variant]
    rows = []
    for v in variants:
        steps_v = steps or v.knobs.steps_default
        prompt, negative = "a dog runs along the beach", v.knobs.negative_default
        t = time.perf_counter()
        embeds, neg = random_full_embeddings(v.key, prompt, negative, device=device)
        gc.collect()
        pipe = build_random_full(v.key, device=device, dtype=torch.bfloat16, text_encoder=False)
        load_s = round(time.perf_counter() - t, 1)
        image = Image.fromarray((np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))
        experts = [m for m in (pipe.transformer, pipe.transformer_2) if m is not None]
        kw = dict(image=image, prompt_embeds=embeds, negative_prompt_embeds=neg, height=h, width=w,
                  num_frames=frames, num_inference_steps=steps_v, guidance_scale=v.knobs.guidance_default,
                  output_type="np")
        if v.knobs.guidance_2_default is not None:
            kw["guidance_scale_2"] = v.knobs.guidance_2_default
        exact = None
        for tier in ("exact", *v.knobs.cache_tiers):
            settings = v.knobs.cache_tiers.get(tier)
            row = {"variant": v.key, "tier": tier, "size": f"{w}x{h}x{frames}", "steps": steps_v, "load_s": load_s}
            try:
                for m in experts if settings else ():
                    m.enable_cache(cache_config(settings))
                if cuda:
                    torch.cuda.synchronize(device)
                t = time.perf_counter()
                with torch.inference_mode():
                    video = pipe(**kw, generator=torch.Generator().manual_seed(1)).frames[0]
                if cuda:
                    torch.cuda.synchronize(device)
                row["s_per_call"] = round(time.perf_counter() - t, 2)
                video = np.asarray(video, dtype=np.float32)
                if exact is None:
                    exact = (video, row["s_per_call"])
                row.update(speedup_vs_exact=round(exact[1] / row["s_per_call"], 2),
                           mean_drift=round(float(np.abs(video - exact[0]).mean()), 5),
                           max_drift=round(float(np.abs(video - exact[0]).max()), 4),
                           finite=bool(np.isfinite(video).all()))
            except Exception as exc:  # noqa: BLE001 - a row says why it failed; the next one runs
                row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            finally:
                for m in experts if settings else ():
                    m.disable_cache()
            rows.append(row)
            with rows_file.open("a") as f:
                f.write(json.dumps(row) + "\n")
            log(f"  {json.dumps(row)}")
        del pipe, experts, embeds, neg
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    info = {"device": device, "card": card, "torch": torch.__version__, "family": FAMILY.name, "dtype": "bfloat16",
            "model": "random-full", "method": "TaylorSeer (diffusers' hook)"}
    return {"info": info, "rows": rows, "jsonl": str(rows_file)}
