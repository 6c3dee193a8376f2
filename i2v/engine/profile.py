"""Where a denoising step's time goes: the PyTorch profiler over two steps (after one warm-up step) and
one VAE decode, self time grouped by kind of work (``python -m i2v bench --gpu --profile``).

Each module of a kind is wrapped, while profiling only, in a ``record_function`` range named by its kind
(module hooks; the attention modules by :func:`.speed.attention_kind`); every operator's self time goes
to the kind of the innermost range around it, except that a VAE decode range and an attention module take
everything inside them (an attention kind's time includes its query/key/value/output projections).
Operators outside every range are "elementwise" when their name says so (add, mul, SiLU, copies ...),
else "other".  On CUDA the time is the kernels' (``self_device_time_total`` of the operator that launched
them); on the CPU it is the operators' own CPU time.
"""

from __future__ import annotations

import re
import time

import torch
from diffusers.models.activations import GEGLU
from diffusers.models.attention_processor import Attention

from .speed import attention_kind

PREFIX = "i2v::"
GROUPS = ("attention_spatial", "attention_temporal", "attention_cross", "conv2d", "conv3d", "linear_geglu",
          "norm", "elementwise", "vae_decode", "other")
_ELEMENTWISE = re.compile(r"aten::(add|sub|mul|div|silu|gelu|sigmoid|exp|pow|rsqrt|sqrt|neg|clamp|where|cat|"
                          r"copy_|clone|contiguous|to|_to_copy|fill_|zero_|zeros|ones|empty|empty_like|full|"
                          r"cos|sin|softmax|_softmax|mean|sum|var|lerp|baddbmm|repeat|expand|addcmul|addcdiv|"
                          r"index|stack|split|chunk|narrow|slice|select|view|reshape|permute|transpose|t|"
                          r"unsqueeze|squeeze|flatten|as_strided|alias|detach|randn|normal_|arange|pad|"
                          r"constant_pad_nd|upsample_nearest2d|_unsafe_view|masked_fill)(_)?$")


def module_kind(name: str, module: torch.nn.Module) -> str | None:
    """The group a module's range is named by (None: not wrapped)."""
    if isinstance(module, Attention):
        return f"attention_{attention_kind(name)}"
    if isinstance(module, torch.nn.Conv3d) or type(module).__name__ == "FrameMatmul":
        return "conv3d"
    if isinstance(module, torch.nn.Conv2d):
        return "conv2d"
    if isinstance(module, torch.nn.Linear | GEGLU):
        return "linear_geglu"
    if isinstance(module, torch.nn.GroupNorm | torch.nn.LayerNorm):
        return "norm"
    return None


def annotate(root: torch.nn.Module) -> list:
    """Wrap every module of a kind under ``root`` in a profiler range; returns the hook handles (remove
    them to undo)."""
    handles = []
    for name, module in root.named_modules():
        kind = module_kind(name, module)
        if kind is None:
            continue
        stack: list = []

        def pre(_m, _args, kind=kind, stack=stack):
            ctx = torch.profiler.record_function(PREFIX + kind)
            ctx.__enter__()
            stack.append(ctx)

        def post(_m, _args, _out, stack=stack):
            stack.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles


def classify(event) -> str:
    """The group of one profiler event (an operator or one of our ranges), from the ranges around it."""
    labels, e = [], event
    while e is not None:
        if e.name.startswith(PREFIX):
            labels.append(e.name[len(PREFIX):])
        e = e.cpu_parent
    if "vae_decode" in labels:
        return "vae_decode"
    for label in labels:
        if label.startswith("attention_"):
            return label
    if labels:
        return labels[0]
    return "elementwise" if _ELEMENTWISE.match(event.name) else "other"


def group_events(events, cuda: bool) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Self time (ms) by group, and by kernel (CUDA) or operator (CPU) name."""
    groups = dict.fromkeys(GROUPS, 0.0)
    kernels: dict[str, float] = {}
    for e in events:
        if cuda:
            if e.device_type == torch.autograd.DeviceType.CUDA:  # the kernels themselves, by name
                if not e.name.startswith(PREFIX):  # our ranges' GPU-side copies are not kernels
                    kernels[e.name] = kernels.get(e.name, 0.0) + e.time_range.elapsed_us() / 1e3
                continue
            us = e.self_device_time_total
        else:
            us = e.self_cpu_time_total
            if not e.name.startswith(PREFIX):
                kernels[e.name] = kernels.get(e.name, 0.0) + us / 1e3
        if us:
            groups[classify(e)] += us / 1e3
    return groups, sorted(kernels.items(), key=lambda kv: -kv[1])


def profile_denoising(engine, job, log=print) -> dict:
    """Profile steps 2 and 3 of ``job`` (3 steps; the first is the warm-up) and one decode of its latents."""
    from torch.profiler import ProfilerActivity, profile, record_function

    dev = engine.device
    cuda = dev.type == "cuda"
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    job.num_inference_steps = 3
    handles = annotate(engine.pipe.unet) + annotate(engine.pipe.vae)
    prof = profile(activities=activities)
    times: dict = {}

    def on_step(info):
        if info.step == 1:  # the warm-up step is done: record the next two
            sync()
            prof.start()
            times["t0"] = time.perf_counter()
        elif info.step == 3:
            sync()
            times["steps_s"] = time.perf_counter() - times["t0"]
            prof.stop()

    try:
        log("  profiling two denoising steps ...")
        latents, _ = engine.denoise(job, on_step)
        log("  profiling one VAE decode ...")
        with profile(activities=activities) as dec:
            with record_function(PREFIX + "vae_decode"):
                t = time.perf_counter()
                engine.decode(latents, job.decode_chunk_size)
                sync()
                decode_s = time.perf_counter() - t
    finally:
        for h in handles:
            h.remove()
    steps, top_steps = group_events(prof.events(), cuda)
    decode, top_decode = group_events(dec.events(), cuda)
    groups = {k: steps[k] + decode[k] for k in GROUPS}
    total = sum(groups.values())
    merged: dict[str, float] = {}
    for name, ms in top_steps + top_decode:
        merged[name] = merged.get(name, 0.0) + ms
    top = sorted(merged.items(), key=lambda kv: -kv[1])[:15]
    return {
        "what": f"{job.width}x{job.height} {job.num_frames} frames, 2 denoising steps (after 1 warm-up) + 1 decode",
        "time": "kernel (CUDA) self time" if cuda else "operator self CPU time",
        "steps_wall_s": round(times.get("steps_s", 0.0), 4), "decode_wall_s": round(decode_s, 4),
        "total_ms": round(total, 2),
        "groups": [{"group": k, "ms": round(v, 2), "per_step_ms": round(steps[k] / 2, 2),
                    "share": round(v / total, 4) if total else 0.0} for k, v in groups.items()],
        "top_kernels": [{"name": n, "ms": round(ms, 3), "share": round(ms / total, 4) if total else 0.0}
                        for n, ms in top],
    }
