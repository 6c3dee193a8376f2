"""Measuring memory, on the GPU or on the CPU, and calibrating the memory model (configs/memory.yaml).

``peak_allocated(fn, device)`` is the peak of tensor memory allocated while ``fn`` runs, above what was
allocated before: on CUDA from the caching allocator's statistics, on the CPU by replaying the
allocation/free events that PyTorch's profiler records (exact, unlike sampling the process RSS).

``calibrate()`` runs the full-size architecture (random weights: weights do not change memory) at
several small sizes on whatever device is given, fits activation memory as a linear function of the
work (latent voxels for the UNet, output pixels for the VAE decoder), checks the fit on a held-out
size, and returns the coefficients that :mod:`i2v.planning.vram` uses: for the plain UNet and for the UNet with
its feed-forward layers sliced (:mod:`i2v.engine.chunking`).

``fake_unet_activations()`` measures the UNet at the sizes users plan for (768p and native, 16 and 32
frames) without a GPU and without the memory: PyTorch's ``MemTracker`` under ``FakeTensorMode`` follows
every tensor's allocation and free through the real forward pass, on tensors that hold no data.  Those
measurements (``checks`` in configs/memory.yaml) are what the planner is tested against at user sizes.
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


def absolute_peak(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak of all tensor memory while ``fn`` runs, what was resident before included (weights on the GPU
    count for a run without offload, and the weights moved in count for an offloaded one): the same scope
    for every configuration.  On the CPU, where the weights are not allocator events, the same as
    :func:`peak_allocated`."""
    device = torch.device(device)
    if device.type != "cuda":
        return peak_allocated(fn, device)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)


def live_tensor_bytes() -> int:
    """Bytes held by tensors still referenced from Python (each storage once): 'back to baseline' on any device.
    Fake tensors (a memory count's, left to the collector) hold no memory and are passed over."""
    from torch._subclasses.fake_tensor import FakeTensor

    gc.collect()
    seen, total = set(), 0
    with warnings.catch_warnings():  # isinstance() touches every object, deprecated module proxies included
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        for obj in gc.get_objects():
            try:
                if isinstance(obj, torch.Tensor) and not obj.is_meta and not isinstance(obj, FakeTensor):
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
# With its feed-forward sliced the UNet's fixed costs weigh longer (at 2k-8k voxels the peak is not yet in
# the part that grows), so its fit starts at 16k voxels.
SLICED_POINTS = [(2, 8, 32, 32), (1, 16, 32, 32), (2, 16, 32, 32)]
SLICED_HELD_OUT = (1, 16, 48, 48)
PARTS = ("unet", "unet_ff_sliced", "vae_decode")


def calibrate(pipe, log=print, parts: tuple[str, ...] = PARTS) -> dict:
    """Fit activation memory per unit of work; bytes are normalised to 4-byte elements."""
    from .chunking import SLICES, set_ff_slicing

    elem = torch.tensor([], dtype=pipe.unet.dtype).element_size()
    device = pipe.unet.device
    rows, out = [], {}
    voxels = lambda p: p[0] * p[1] * p[2] * p[3]  # noqa: E731
    for name, points, held, make, work, slices in (
        ("unet", UNET_POINTS, UNET_HELD_OUT, _unet_call, voxels, 0),
        ("unet_ff_sliced", SLICED_POINTS, SLICED_HELD_OUT, _unet_call, voxels, SLICES),
        ("vae_decode", VAE_POINTS, VAE_HELD_OUT, _vae_call, lambda p: p[0] * p[1] * p[2] * 64, 0),
    ):
        if name not in parts:
            continue
        xs, ys = [], []
        set_ff_slicing(pipe.unet, slices)
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
                     "latent voxel (batch x frames x h x w)" if name.startswith("unet") else
                     "output pixel (frames x H x W)",
                     "fit_max_rel_error": round(fit_err, 4), "held_out": list(held),
                     "held_out_rel_error": round((pred - actual) / actual, 4)}
    set_ff_slicing(pipe.unet, 0)
    out["measurements"] = rows
    out["device"] = str(device)
    out["dtype"] = str(pipe.unet.dtype).replace("torch.", "")
    return out


# The sizes users plan for, measured with fake tensors: (width, height, frames) x (batch, sliced).
CHECK_SIZES = [(1280, 704, 16), (1280, 704, 32), (768, 768, 16), (768, 768, 32)]
CHECK_RUNGS = [(2, False), (1, False), (1, True)]   # one batch of 2 | two passes | two passes, FF sliced


def fake_unet_activations(size_and_rungs=None, log=print) -> list[dict]:
    """Peak activation memory of the full UNet in fp16 at each (width, height, frames) and (batch, sliced),
    measured by MemTracker on fake tensors (no data, no GPU; seconds to a minute each on a CPU)."""
    from diffusers.models.unets.unet_i2vgen_xl import I2VGenXLUNet
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    from .chunking import SLICES, set_ff_slicing
    from .models import REAL_CONFIG_DIR, _read_json

    todo = size_and_rungs or [(s, r) for s in CHECK_SIZES for r in CHECK_RUNGS]
    mode = FakeTensorMode()
    default = torch.get_default_dtype()
    with mode:
        torch.set_default_dtype(torch.float16)
        try:
            unet = I2VGenXLUNet.from_config(_read_json(REAL_CONFIG_DIR / "unet" / "config.json")).eval()
        finally:
            torch.set_default_dtype(default)
    d = unet.config.cross_attention_dim
    rows = []
    for (w, h, f), (b, sliced) in todo:
        set_ff_slicing(unet, SLICES if sliced else 0)
        t = time.perf_counter()
        with mode, torch.inference_mode():
            x = torch.randn(b, 4, f, h // 8, w // 8, dtype=torch.float16)
            args = dict(encoder_hidden_states=torch.randn(b, 77, d, dtype=torch.float16),
                        fps=torch.tensor([16] * b), image_latents=torch.randn_like(x),
                        image_embeddings=torch.randn(b, 1, d, dtype=torch.float16))
            tracker = MemTracker()
            tracker.track_external(unet)
            with tracker:
                unet(x, 500, **args)
            snap = tracker.get_tracker_snapshot("peak")
        act = sum(v for dev in snap.values() for k, v in dev.items() if getattr(k, "value", None) == "Activation")
        rows.append({"width": w, "height": h, "frames": f, "batch": b, "ff_sliced": sliced,
                     "activations_gib": round(act / 2**30, 3)})
        log(f"  unet {w}x{h} {f} frames, batch {b}{', FF sliced' if sliced else ''}: "
            f"{act / 2**30:.2f} GiB in {time.perf_counter() - t:.0f}s")
    return rows
