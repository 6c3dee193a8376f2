"""Speed levers of the UNet that keep its math: memory format, fused projections, the attention kernel per
kind of attention, and regional compilation.  Each is a setting of ``speed:`` in the config (and an option
of the app and the CLI); :func:`apply_speed` puts them on a loaded pipeline once, at load time, and returns
what it did, which every result's metadata records.

* ``memory_format``: ``channels_last`` stores the Conv2d weights as NHWC
  and the temporal Conv3d ones as NDHWC (``channels_last_3d``); cuDNN's fastest convolution kernels want
  it, and on PyTorch 2.9 with cuDNN >= 9.8 it also avoided the slow non-cuDNN path of the (3, 1, 1) Conv3d.
* ``fuse_qkv``: diffusers' fused projections: one matmul for query, key and value of a self-attention, one
  for key and value of a cross-attention.
* ``attention``: the scaled-dot-product kernel for each kind: ``spatial`` (self-attention over a frame's
  pixels: 14,080 tokens a frame at native size), ``temporal`` (over the 16 frames of each pixel) and
  ``cross`` (to the prompt's 77 tokens).  ``auto`` lets PyTorch choose; ``math``, ``flash``, ``efficient``
  or ``cudnn`` force one (the last three exist for CUDA; PyTorch's CPU build has ``math`` and ``flash``).
* ``compile``: ``regional`` compiles the UNet's repeated blocks one by one (the transformer, ResNet and
  temporal-convolution blocks), the published way to cut compile time (Flux: 67 s to under 10 s; not yet
  measured here); a second job of the same size compiles nothing (tested).  ``full`` compiles the whole UNet.

Nothing here changes what the UNet computes: tests hold each lever to the eager result (1e-4 on the CPU).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import torch
from diffusers.models.attention_processor import Attention

from ..config import ATTENTION_KINDS, BACKENDS, COMPILE_MODES, MEMORY_FORMATS  # noqa: F401  (the values)

# the UNet's repeated blocks, by class name (every instance of one class and shape shares compiled code)
REPEATED_BLOCKS = ("BasicTransformerBlock", "ResnetBlock2D", "TemporalConvLayer")
_SDPA = {"math": "MATH", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION"}


@dataclass
class SpeedLevers:
    memory_format: str = "contiguous"
    fuse_qkv: bool = False
    attention: dict = field(default_factory=lambda: dict.fromkeys(ATTENTION_KINDS, "auto"))
    compile: str = "off"

    @classmethod
    def from_config(cls, speed: dict | None) -> SpeedLevers:
        s = dict(speed or {})
        return cls(memory_format=s.get("memory_format", "contiguous"), fuse_qkv=bool(s.get("fuse_qkv", False)),
                   attention={**dict.fromkeys(ATTENTION_KINDS, "auto"), **(s.get("attention") or {})},
                   compile=s.get("compile", "off"))

    def to_json(self) -> dict:
        return asdict(self)


def attention_kind(name: str) -> str:
    """The kind of an attention module of the I2VGen-XL UNet, from its place in the model."""
    if re.search(r"(^|\.)(temp_attentions|transformer_in|image_latents_temporal_encoder)(\.|$)", name):
        return "temporal"
    return "cross" if name.endswith("attn2") else "spatial"


class KernelChoice:
    """An attention processor that runs another one under :func:`torch.nn.attention.sdpa_kernel` with one
    backend (the processors call ``F.scaled_dot_product_attention``).  ``calls`` counts what it ran."""

    def __init__(self, inner, backend: str):
        from torch.nn.attention import SDPBackend

        self.inner, self.backend = inner, backend
        self._sdpa = getattr(SDPBackend, _SDPA[backend])
        self.calls = 0

    def __call__(self, attn: Attention, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 temb=None, *args, **kwargs):
        from torch.nn.attention import sdpa_kernel

        self.calls += 1
        with sdpa_kernel(self._sdpa):
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)


def set_memory_format(modules, fmt: str) -> int:
    """Conv2d weights in ``channels_last`` and Conv3d ones in ``channels_last_3d`` (or both back to
    contiguous).  Returns how many convolutions it touched."""
    n = 0
    for module in modules:
        for m in module.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d):
                mf = torch.contiguous_format if fmt == "contiguous" else \
                    (torch.channels_last if isinstance(m, torch.nn.Conv2d) else torch.channels_last_3d)
                m.weight.data = m.weight.data.contiguous(memory_format=mf)
                n += 1
    return n


def set_attention_backends(unet, attention: dict[str, str]) -> dict[str, int]:
    """Each attention module's processor, wrapped in the kernel chosen for its kind (``auto``: unwrapped).
    Returns how many modules of each kind got a forced kernel."""
    counts = dict.fromkeys(ATTENTION_KINDS, 0)
    for name, module in unet.named_modules():
        if not isinstance(module, Attention):
            continue
        inner = module.processor.inner if isinstance(module.processor, KernelChoice) else module.processor
        kind = attention_kind(name)
        backend = attention.get(kind, "auto")
        module.set_processor(inner if backend == "auto" else KernelChoice(inner, backend))
        counts[kind] += backend != "auto"
    return counts


def compile_regions(unet) -> int:
    """``torch.compile`` each repeated block in place (compiled on first use, once per shape)."""
    n = 0
    for m in unet.modules():
        if type(m).__name__ in REPEATED_BLOCKS:
            m.compile()
            n += 1
    return n


def apply_speed(pipe, levers: SpeedLevers) -> dict:
    """Put ``levers`` on ``pipe`` (at load, before any job).  Returns what was done, for the metadata."""
    unet = pipe.unet
    done: dict = {"levers": levers.to_json()}
    if levers.fuse_qkv:
        unet.fuse_qkv_projections()
        done["fused_attention"] = sum(1 for m in unet.modules() if isinstance(m, Attention) and m.fused_projections)
    done["forced_kernels"] = set_attention_backends(unet, levers.attention)
    if levers.memory_format != "contiguous":
        done["convolutions"] = set_memory_format([unet, pipe.vae], levers.memory_format)
    if levers.compile == "regional":
        done["compiled_blocks"] = compile_regions(unet)
    elif levers.compile == "full":
        unet.compile()
        done["compiled_blocks"] = 1
    return done


def reset_speed(pipe) -> None:
    """Undo the levers that can be undone on a loaded pipeline (kernels, memory format, fused projections),
    so that one pipeline serves several rows of the benchmark.  Compilation is not undone: a compiled
    pipeline is built afresh."""
    unet = pipe.unet
    set_attention_backends(unet, dict.fromkeys(ATTENTION_KINDS, "auto"))
    set_memory_format([unet, pipe.vae], "contiguous")
    if getattr(unet, "original_attn_processors", None) is not None:
        unet.unfuse_qkv_projections()
        unet.original_attn_processors = None
        for m in unet.modules():
            if isinstance(m, Attention) and m.fused_projections:
                for name in ("to_qkv", "to_kv"):
                    if hasattr(m, name):
                        delattr(m, name)
                m.fused_projections = False


def recompiles() -> int:
    """How many times dynamo has compiled a frame so far in this process (a second job of a size seen before
    must add none)."""
    from torch._dynamo.utils import counters

    return int(sum(counters["stats"].get(k, 0) for k in ("unique_graphs",)))


__all__ = ["SpeedLevers", "apply_speed", "attention_kind", "KernelChoice", "set_memory_format",
           "set_attention_backends", "compile_regions", "recompiles", "reset_speed", "ATTENTION_KINDS", "BACKENDS",
           "MEMORY_FORMATS", "COMPILE_MODES"]
