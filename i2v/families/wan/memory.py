"""Wan 2.2's working memory, measured (not derived from a formula) on the real architecture with fake tensors.

PyTorch's ``MemTracker`` under ``FakeTensorMode`` follows every tensor's allocation and free through the real
forward pass of a module built from configs/wan2.2-*/, on tensors that hold no data: the peak of activations
(what the weights do not account for) at native size, on a CPU, in seconds to a minute.  Each stage of a
generation is measured on its own, in bf16 (the dtype Wan runs in on CUDA):

- ``text``: the UMT5-XXL encoder over the pipeline's 512 tokens (the prompt, then the negative prompt);
- ``encode``: the VAE encoding the conditioning (the 5B: the picture, one frame; the A14B: the picture and
  the frames to make, zeros, as one video);
- ``transformer``: one transformer pass, batch 1 (the pipeline runs the prompt and the negative prompt as two
  passes), as a function of the tokens (latent frames x latent height x latent width / the patch's 2 x 2);
- ``decode``: the VAE decoding the latents (frame-causal: four frames at a time from a cache), whole or tiled.

:func:`measure` writes what ``configs/memory-wan.yaml`` holds; the pure planner
(:mod:`i2v.planning.wanplan`) fits the transformer and the VAE linearly in their work and predicts each stage,
and tests/test_wan_memory.py holds its plans to these measurements within 1%.
"""

from __future__ import annotations

import gc
import time
import weakref
from functools import lru_cache

import torch

from . import FAMILY
from .flops import TEXT_TOKENS, latent_shape

DTYPE = torch.bfloat16


@lru_cache(maxsize=4)
def _fake(variant_key: str, part: str):
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from torch._subclasses.fake_tensor import FakeTensorMode
    from transformers import UMT5Config, UMT5EncoderModel

    from ...base.config import CONFIG_DIR
    from .engine import _read_json

    folder = CONFIG_DIR / FAMILY.variants[variant_key].configs
    mode = FakeTensorMode()
    default = torch.get_default_dtype()
    with mode:
        torch.set_default_dtype(DTYPE)
        try:
            if part == "transformer":
                model = WanTransformer3DModel.from_config(_read_json(folder / "transformer" / "config.json"))
            elif part == "vae":
                model = AutoencoderKLWan.from_config(_read_json(folder / "vae" / "config.json"))
            else:
                cfg = {k: v for k, v in _read_json(folder / "text_encoder" / "config.json").items()
                       if k not in ("architectures", "model_type", "torch_dtype")}
                model = UMT5EncoderModel(UMT5Config(**cfg))
        finally:
            torch.set_default_dtype(default)
    return mode, model.eval()


class _Peak:
    """Peak bytes of the storages that ops create while it is on (the weights, made before, do not count):
    each new storage is counted once and uncounted when it is freed.  (PyTorch's MemTracker does the same
    by module, but refuses a module called more than once in one pass, as the VAE's causal decoder is.)"""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        peak = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in torch.utils._pytree.tree_leaves(out):
                    if isinstance(t, torch.Tensor):
                        peak.add(t.untyped_storage())
                return out
        self.mode = Mode()
        self.now = self.peak = 0
        self.seen: set[int] = set()

    def add(self, st) -> None:
        key = st._cdata
        if key in self.seen:
            return
        n = st.nbytes()
        self.seen.add(key)
        self.now += n
        self.peak = max(self.peak, self.now)
        weakref.finalize(st, self._free, key, n)

    def _free(self, key: int, n: int) -> None:
        self.seen.discard(key)
        self.now -= n


def _peak(mode, model, fn) -> int:
    """Peak bytes of what ``fn()`` allocates, on fake tensors (no data: nothing is really allocated)."""
    gc.collect()
    p = _Peak()
    with mode, torch.inference_mode(), p.mode:
        fn()
    return p.peak


def transformer_activations(variant_key: str, width: int, height: int, frames: int) -> int:
    mode, model = _fake(variant_key, "transformer")
    f, h, w = latent_shape(variant_key, width, height, frames)
    cfg = model.config

    def run():
        x = torch.randn(1, cfg.in_channels, f, h, w, dtype=DTYPE)
        text = torch.randn(1, TEXT_TOKENS, cfg.text_dim, dtype=DTYPE)
        model(hidden_states=x, timestep=torch.tensor([500]), encoder_hidden_states=text, return_dict=False)
    return _peak(mode, model, run)


def text_activations(variant_key: str) -> int:
    mode, model = _fake(variant_key, "text")

    def run():
        ids = torch.ones(1, TEXT_TOKENS, dtype=torch.long)
        model(ids, attention_mask=torch.ones_like(ids))
    return _peak(mode, model, run)


def _tiled(model, tiling: bool):
    (model.enable_tiling if tiling else model.disable_tiling)()


def encode_activations(variant_key: str, width: int, height: int, frames: int, tiling: bool = False) -> int:
    """The VAE encoding the conditioning: one frame (the 5B) or the whole video (the A14B: ``expand_timesteps``
    off), as the pipeline's prepare_latents does."""
    mode, model = _fake(variant_key, "vae")
    n = frames if FAMILY.variants[variant_key].experts > 1 else 1
    _tiled(model, tiling)

    def run():
        model.encode(torch.randn(1, 3, n, height, width, dtype=DTYPE))
    try:
        return _peak(mode, model, run)
    finally:
        _tiled(model, False)


def decode_activations(variant_key: str, width: int, height: int, frames: int, tiling: bool = False) -> int:
    mode, model = _fake(variant_key, "vae")
    f, h, w = latent_shape(variant_key, width, height, frames)
    spatial = FAMILY.variants[variant_key].geometry.multiple // 2
    h, w = height // (spatial // (model.config.patch_size or 1)) // (model.config.patch_size or 1), \
        width // (spatial // (model.config.patch_size or 1)) // (model.config.patch_size or 1)
    _tiled(model, tiling)

    def run():
        model.decode(torch.randn(1, model.config.z_dim, f, h, w, dtype=DTYPE))
    try:
        return _peak(mode, model, run)
    finally:
        _tiled(model, False)


def parameters(variant_key: str) -> dict[str, int]:
    """Parameters per component, and of one transformer block and of the transformer outside its blocks (what
    group offloading keeps resident), counted on the fake modules."""
    out = {}
    for part in ("transformer", "vae", "text"):
        _, model = _fake(variant_key, part)
        out[part] = sum(p.numel() for p in model.parameters())
        blocks = getattr(model, "blocks", None) or getattr(getattr(model, "encoder", None), "block", None)
        if blocks is not None:
            out[f"{part}_block"] = max(sum(p.numel() for p in b.parameters()) for b in blocks)
            out[f"{part}_outside_blocks"] = out[part] - sum(sum(p.numel() for p in b.parameters()) for b in blocks)
    return out


# Sizes for the fit (small, cheap) and the checks (the sizes users plan for), (width, height, frames) per variant
# (frames <= 41: the VAE's peak is in the work on one tile or one chunk; 81 frames and more: in what holds
# the whole video, see i2v/planning/dit_vram.py)
FIT_SIZES = {"ti2v-5b": [(640, 352, 21), (960, 544, 41), (1280, 704, 21), (1280, 704, 41),
                         (640, 352, 121), (960, 544, 81), (1280, 704, 81)],
             "i2v-a14b": [(640, 352, 21), (960, 544, 41), (1280, 720, 21), (1280, 720, 41),
                          (640, 352, 121), (960, 544, 81), (1280, 720, 61)]}
CHECK_SIZES = {"ti2v-5b": [(1280, 704, 121), (832, 480, 81)],
               "i2v-a14b": [(1280, 720, 81), (832, 480, 81)]}


def measure(variants=None, log=print) -> dict:
    """Everything configs/memory-wan.yaml holds, per variant: parameters, the text encoder's activations,
    and the transformer's, the VAE encode's and decode's (whole and tiled) at the fit and the check sizes."""
    out = {}
    for key in variants or FAMILY.variants:
        t = time.perf_counter()
        rows = []
        for kind, sizes in (("fit", FIT_SIZES[key]), ("check", CHECK_SIZES[key])):
            for w, h, f in sizes:
                r = {"kind": kind, "width": w, "height": h, "frames": f,
                     "transformer": transformer_activations(key, w, h, f),
                     "encode": encode_activations(key, w, h, f),
                     "encode_tiled": encode_activations(key, w, h, f, tiling=True),
                     "decode": decode_activations(key, w, h, f),
                     "decode_tiled": decode_activations(key, w, h, f, tiling=True)}
                rows.append(r)
                log(f"  {key} {w}x{h}x{f}: " + ", ".join(f"{k} {v / 2**30:.2f} GiB" for k, v in r.items()
                                                         if isinstance(v, int) and k not in ("width", "height",
                                                                                            "frames")))
        out[key] = {"parameters": parameters(key), "text": text_activations(key), "rows": rows,
                    "seconds": round(time.perf_counter() - t, 1)}
    return out


HEADER = ("# Wan 2.2's working memory, per stage, counted on the real architecture with fake tensors in bf16\n"
          "# (i2v/families/wan/memory.py; written by `python -m i2v calibrate --wan`, about 20 minutes on a CPU).\n"
          "# Bytes of activations (what the weights do not account for); parameters per component and per block.\n"
          "# i2v/planning/dit_vram.py fits the 'fit' rows; tests/test_wan_memory.py holds it to the 'check' rows.\n")


def write(data: dict, path) -> None:
    import yaml

    out = {"dtype": "bfloat16", "variants": {k: {"experts": FAMILY.variants[k].experts, **v} for k, v in data.items()}}
    with open(path, "w") as f:
        f.write(HEADER)
        yaml.safe_dump(out, f, sort_keys=False)
