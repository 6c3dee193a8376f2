"""Measuring memory, on the GPU or on the CPU, and calibrating the memory model (configs/memory.yaml).

``peak_allocated(fn, device)`` is the peak of tensor memory allocated while ``fn`` runs, above what was
allocated before: on CUDA from the caching allocator's statistics, on the CPU by replaying the
allocation/free events that PyTorch's profiler records (exact, unlike sampling the process RSS).

``calibrate()`` runs the full-size architecture (random weights: weights do not change memory) at
several small sizes on whatever device is given, fits activation memory as a linear function of the
work (latent voxels for the UNet, output pixels for the VAE decoder), checks the fit on a held-out
size, and returns the coefficients that :mod:`i2v.vram` uses.
"""

from __future__ import annotations

import gc
import warnings
import time
from collections.abc import Callable

import numpy as np
import torch


def peak_allocated(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    cur = peak = 0
    for _, nbytes in events:
        cur += nbytes
        peak = max(peak, cur)
    return peak


def live_tensor_bytes() -> int:
    """Bytes held by tensors still referenced from Python (each storage once): 'back to baseline' on any device."""
    gc.collect()
    seen, total = set(), 0
    with warnings.catch_warnings():  # isinstance() touches every object, deprecated module proxies included
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        for obj in gc.get_objects():
            try:
                if isinstance(obj, torch.Tensor) and not obj.is_meta:
                    st = obj.untyped_storage()
                    key = (st.data_ptr(), obj.device.type)
                    if key not in seen and st.data_ptr():
                        seen.add(key)
                        total += st.nbytes()
            except (RuntimeError, ReferenceError):
                continue
    return total


def _unet_call(pipe, b: int, f: int, h: int, w: int):
    dev, dt = pipe.unet.device, pipe.unet.dtype
    d = pipe.unet.config.cross_attention_dim
    x = torch.randn(b, 4, f, h, w, device=dev, dtype=dt)
    ctx = torch.randn(b, 77, d, device=dev, dtype=dt)
    il = torch.randn(b, 4, f, h, w, device=dev, dtype=dt)
    ie = torch.randn(b, 1, d, device=dev, dtype=dt)
    fps = torch.tensor([16] * b, device=dev)
    return lambda: pipe.unet(x, 500, encoder_hidden_states=ctx, fps=fps, image_latents=il, image_embeddings=ie)


def _vae_call(pipe, n: int, h: int, w: int):
    z = torch.randn(n, 4, h, w, device=pipe.vae.device, dtype=pipe.vae.dtype)
    return lambda: pipe.vae.decode(z)


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    a = np.vstack([np.asarray(xs, float), np.ones(len(xs))]).T
    k, c = np.linalg.lstsq(a, np.asarray(ys, float), rcond=None)[0]
    return float(k), float(max(c, 0.0))


# Small sizes are dominated by fixed costs (workspace buffers, weight re-layouts), so the fit uses sizes
# from 2k latent voxels up and is checked on a larger held-out size.
UNET_POINTS = [(1, 8, 16, 16), (2, 8, 16, 16), (1, 8, 32, 32), (2, 8, 32, 32)]
UNET_HELD_OUT = (2, 16, 32, 32)
VAE_POINTS = [(1, 16, 16), (1, 32, 32), (2, 32, 32), (4, 16, 16)]
VAE_HELD_OUT = (2, 48, 48)


def calibrate(pipe, log=print) -> dict:
    """Fit activation memory per unit of work; bytes are normalised to 4-byte elements."""
    elem = torch.tensor([], dtype=pipe.unet.dtype).element_size()
    device = pipe.unet.device
    rows, out = [], {}
    for name, points, held, make, work in (
        ("unet", UNET_POINTS, UNET_HELD_OUT, _unet_call, lambda p: p[0] * p[1] * p[2] * p[3]),
        ("vae_decode", VAE_POINTS, VAE_HELD_OUT, _vae_call, lambda p: p[0] * p[1] * p[2] * 64),
    ):
        xs, ys = [], []
        for p in points + [held]:
            fn = make(pipe, *p)
            with torch.inference_mode():
                t = time.perf_counter()
                peak = peak_allocated(fn, device)
                secs = time.perf_counter() - t
            gc.collect()
            log(f"  {name} {p}: {peak / 2**20:.1f} MiB in {secs:.1f}s")
            rows.append({"part": name, "shape": list(p), "work": work(p), "peak_mib": round(peak / 2**20, 1)})
            if p != held:
                xs.append(work(p))
                ys.append(peak * 4 / elem)
        k, c = _fit(xs, ys)
        pred = (k * work(held) + c) * elem / 4
        actual = rows[-1]["peak_mib"] * 2**20
        fit_err = max(abs((k * x + c) - y) / y for x, y in zip(xs, ys))
        out[name] = {"bytes_per_unit_fp32": round(k, 3), "fixed_bytes_fp32": round(c), "unit":
                     "latent voxel (batch x frames x h x w)" if name == "unet" else "output pixel (frames x H x W)",
                     "fit_max_rel_error": round(fit_err, 4), "held_out": list(held),
                     "held_out_rel_error": round((pred - actual) / actual, 4)}
    out["measurements"] = rows
    out["device"] = str(device)
    out["dtype"] = str(pipe.unet.dtype).replace("torch.", "")
    return out
