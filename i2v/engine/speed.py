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
* ``temporal_conv``: ``matmul`` runs each (3, 1, 1) Conv3d of the UNet's temporal convolution layers as one
  matmul over channels (the three frame taps' weights side by side, ``(3 * out, in)``) followed by two
  shifted adds over neighbouring frames, with the convolution's zero padding at the first and last frame:
  the same sums, on a GEMM instead of a 3-D convolution kernel.
* ``fp8``: ``on`` quantizes the UNet's linear layers with torchao's dynamic float8 activations and weights
  (per row); CUDA cards of compute capability 8.9 or more only, refused elsewhere at load.  Not exact:
  the benchmark measures its drift.
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

from ..base.config import ATTENTION_KINDS, BACKENDS, COMPILE_MODES, FP8_MODES, MEMORY_FORMATS, TEMPORAL_CONVS
from ..base.errors import InvalidInput

# the UNet's repeated blocks, by class name (every instance of one class and shape shares compiled code)
REPEATED_BLOCKS = ("BasicTransformerBlock", "ResnetBlock2D", "TemporalConvLayer")
_SDPA = {"math": "MATH", "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION"}


@dataclass
class SpeedLevers:
    memory_format: str = "contiguous"
    fuse_qkv: bool = False
    attention: dict = field(default_factory=lambda: dict.fromkeys(ATTENTION_KINDS, "auto"))
    compile: str = "off"
    temporal_conv: str = "native"
    fp8: str = "off"

    @classmethod
    def from_config(cls, speed: dict | None) -> SpeedLevers:
        s = dict(speed or {})
        return cls(memory_format=s.get("memory_format", "contiguous"), fuse_qkv=bool(s.get("fuse_qkv", False)),
                   attention={**dict.fromkeys(ATTENTION_KINDS, "auto"), **(s.get("attention") or {})},
                   compile=s.get("compile", "off"), temporal_conv=s.get("temporal_conv", "native"),
                   fp8=s.get("fp8", "off"))

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


class FrameMatmul(torch.nn.Module):
    """A Conv3d of kernel (3, 1, 1), stride 1, padding (1, 0, 0) as one matmul over channels and two shifted
    adds over frames: ``out[f] = W0 x[f-1] + W1 x[f] + W2 x[f+1] + b``, a missing neighbour counting as
    zero (the convolution's padding).  ``weight`` holds ``W0; W1; W2`` stacked, ``(3 * out, in)``: the
    same numbers as the convolution's, no copy kept."""

    def __init__(self, conv: torch.nn.Conv3d):
        super().__init__()
        w = conv.weight.detach()
        self.out_channels, self.in_channels = w.shape[0], w.shape[1]
        self.weight = torch.nn.Parameter(w[:, :, :, 0, 0].permute(2, 0, 1).reshape(3 * w.shape[0], w.shape[1])
                                         .contiguous(), requires_grad=False)
        self.bias = None if conv.bias is None else torch.nn.Parameter(conv.bias.detach(), requires_grad=False)

    @staticmethod
    def fits(m: torch.nn.Module) -> bool:
        return (isinstance(m, torch.nn.Conv3d) and tuple(m.kernel_size) == (3, 1, 1) and tuple(m.stride) == (1, 1, 1)
                and tuple(m.padding) == (1, 0, 0) and tuple(m.dilation) == (1, 1, 1) and m.groups == 1
                and m.padding_mode == "zeros")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, F, H, W) -> (B, O, F, H, W)
        o = self.out_channels
        y = torch.nn.functional.linear(x.movedim(1, -1), self.weight)  # (B, F, H, W, 3 * O)
        out = y[..., o:2 * o] + self.bias if self.bias is not None else y[..., o:2 * o].clone()
        out[:, 1:] += y[:, :-1, ..., :o]       # the tap on the frame before
        out[:, :-1] += y[:, 1:, ..., 2 * o:]   # the tap on the frame after
        return out.movedim(-1, 1)

    def to_conv(self) -> torch.nn.Conv3d:
        """The Conv3d again (to undo the lever)."""
        conv = torch.nn.Conv3d(self.in_channels, self.out_channels, (3, 1, 1), padding=(1, 0, 0),
                               bias=self.bias is not None, device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.weight.reshape(3, self.out_channels, self.in_channels).permute(1, 2, 0)
                              [..., None, None])
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv.requires_grad_(False)


def set_temporal_conv(unet, mode: str) -> int:
    """The (3, 1, 1) Conv3d layers inside the UNet's ``TemporalConvLayer`` blocks as :class:`FrameMatmul`
    (``matmul``) or as convolutions (``native``).  Returns how many layers are in the asked form."""
    n = 0
    for block in unet.modules():
        if type(block).__name__ != "TemporalConvLayer":
            continue
        for seq in block.children():
            for name, m in list(seq.named_children()):
                if mode == "matmul" and FrameMatmul.fits(m):
                    setattr(seq, name, FrameMatmul(m))
                elif mode == "native" and isinstance(m, FrameMatmul):
                    setattr(seq, name, m.to_conv())
                else:
                    continue
                n += 1
    return n


def card_of(device) -> tuple[str, float] | None:
    """The CUDA card's name and compute capability (e.g. 9.0), None off CUDA."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), major + minor / 10


def fp8_refusal(device: torch.device) -> InvalidInput | None:
    """Why fp8 cannot run here (None: it can): CUDA with compute capability 8.9 or more, and torchao."""
    device = torch.device(device)
    if device.type != "cuda":
        return InvalidInput("fp8_unsupported", device=str(device), capability="-")
    cap = torch.cuda.get_device_capability(device)
    if cap < (8, 9):
        return InvalidInput("fp8_unsupported", device=torch.cuda.get_device_name(device),
                            capability=f"{cap[0]}.{cap[1]}")
    try:
        import torchao  # noqa: F401
    except ImportError:
        return InvalidInput("fp8_no_torchao")
    return None


def quantize_fp8(unet) -> int:
    """torchao's dynamic float8 (e4m3, per-row scales) activations and weights for the UNet's linear layers
    whose sizes the float8 matmul takes (multiples of 16).  Returns how many layers it quantized."""
    refusal = fp8_refusal(unet.device)
    if refusal is not None:
        raise refusal
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    def eligible(m, _name=""):
        return isinstance(m, torch.nn.Linear) and m.in_features % 16 == 0 and m.out_features % 16 == 0

    n = sum(1 for m in unet.modules() if eligible(m))
    quantize_(unet, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()), filter_fn=eligible)
    return n


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
    if levers.fp8 == "on" and (refusal := fp8_refusal(unet.device)) is not None:
        raise refusal  # at load, before anything is changed
    if levers.fuse_qkv:
        unet.fuse_qkv_projections()
        done["fused_attention"] = sum(1 for m in unet.modules() if isinstance(m, Attention) and m.fused_projections)
    done["forced_kernels"] = set_attention_backends(unet, levers.attention)
    if levers.fp8 == "on":
        done["fp8_linears"] = quantize_fp8(unet)
    if levers.memory_format != "contiguous":
        done["convolutions"] = set_memory_format([unet, pipe.vae], levers.memory_format)
    if levers.temporal_conv == "matmul":
        done["temporal_convs"] = set_temporal_conv(unet, "matmul")
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
    set_temporal_conv(unet, "native")
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
           "set_attention_backends", "compile_regions", "recompiles", "reset_speed",
           "FrameMatmul", "set_temporal_conv", "card_of", "fp8_refusal", "quantize_fp8", "ATTENTION_KINDS", "BACKENDS",
           "MEMORY_FORMATS", "COMPILE_MODES", "TEMPORAL_CONVS", "FP8_MODES"]
