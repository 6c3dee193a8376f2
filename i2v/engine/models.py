"""Where the model comes from: the hub, a local folder, or random weights built from configs.

* hub repo id (default ``ali-vilab/i2vgen-xl`` at a pinned revision): safetensors
  only, the fp16 variant in fp16 on CUDA, fp32 on CPU; honours ``HF_HOME`` and
  ``HF_HUB_OFFLINE``; download progress is huggingface_hub's own bars on stderr, and the same bars
  (a ``tqdm_class`` given to ``snapshot_download``) fill a :class:`~i2v.modelload.DownloadProgress`
  that the page's banner shows.
* a local folder in diffusers layout (same loading rules).
* ``tiny``: the real component classes and geometry at toy widths, seeded
  random weights, CLIP's tokenizer built offline (i2v/motion/tokens.py).  Runs the whole pipeline on a CPU in seconds.
  Its output is noise: it exists for tests, CI and the demo.
* ``random-full``: the real architecture from ``configs/i2vgen-xl`` with random
  weights, for speed and memory measurement only.

When the configured real model cannot be loaded, :func:`load_model` raises
:class:`ModelUnavailable` saying why and how to fix it, or, if a fallback is
configured, loads that and marks the result as a demo model (``ModelInfo.fallback`` says why, by cause).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline
from diffusers.models.unets.unet_i2vgen_xl import I2VGenXLUNet
from diffusers.video_processor import VideoProcessor
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

try:  # transformers 5 without torchvision: the PIL-backed processor, by its own name (no fallback warning)
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:  # pragma: no cover - older transformers
    from transformers import CLIPImageProcessor

from ..base.config import CONFIG_DIR
from ..families.i2vgenxl import FAMILY
from ..base.errors import ModelUnavailable
from ..base.i18n import t
from ..modelload import DownloadProgress, failure_record
from ..motion.tokens import clip_tokenizer

REAL_CONFIG_DIR = CONFIG_DIR / "i2vgen-xl"
TINY_CONFIG_DIR = CONFIG_DIR / "tiny"
SYNTHETIC = ("tiny", "random-full")

DEMO_NOTICE = ("Demo model: output is noise. The tiny model has random weights and exists for tests and demos; "
               "connect to the internet once (or set --model to a downloaded copy) to use the real I2VGen-XL.")


@dataclass
class ModelInfo:
    """What was loaded, recorded in every result's metadata."""

    source: str                 # what the user asked for
    kind: str                   # hub | local | tiny | random-full
    model_id: str               # repo id, folder, or synthetic name
    revision: str | None
    device: str
    dtype: str
    demo: bool = False          # True when the output is meaningless (random weights)
    notices: list[str] = field(default_factory=list)
    load_seconds: float = 0.0
    # why the configured model was not loaded, when this is its fallback: {"source", "cause", "error"}
    fallback: dict | None = None
    family: str = ""            # the model family and variant that ran (i2v/families)
    variant: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class I2VGenXLParts(DiffusionPipeline):
    """I2VGen-XL's components, loaded and moved as one, without diffusers' ``I2VGenXLPipeline``.

    diffusers keeps that pipeline in its ``deprecated`` package; the engine owns the denoising loop anyway
    (i2v/engine/engine.py), so all it needs from a pipeline is what every ``DiffusionPipeline`` gives: loading
    a diffusers-layout folder or hub repo (``from_pretrained`` reads ``model_index.json`` and loads each
    component by its own library and class), ``.to``, model and sequential CPU offload and their hooks.  This
    class adds the VAE scale, the video processor and the latent decode, the three things the loop reads.
    ``tests/test_engine.py`` builds diffusers' pipeline from the same components and checks the frames equal.
    """

    model_cpu_offload_seq = "text_encoder->image_encoder->unet->vae"

    def __init__(self, vae, text_encoder, tokenizer, image_encoder, feature_extractor, unet, scheduler):
        super().__init__()
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                              image_encoder=image_encoder, feature_extractor=feature_extractor, unet=unet,
                              scheduler=scheduler)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor, do_resize=False)

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int | None = None) -> torch.Tensor:
        """Latents (batch, channels, frames, h, w) to pixels in [-1, 1] (batch, 3, frames, H, W), float32,
        ``decode_chunk_size`` frames per VAE call (all at once when None)."""
        latents = latents / self.vae.config.scaling_factor
        b, c, f, h, w = latents.shape
        flat = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        step = decode_chunk_size or flat.shape[0]
        image = torch.cat([self.vae.decode(flat[i:i + step]).sample for i in range(0, flat.shape[0], step)])
        return image.reshape(b, f, *image.shape[1:]).permute(0, 2, 1, 3, 4).float()


REFERENCE_GONE = "diffusers no longer has I2VGenXLPipeline (it was in its deprecated package): nothing to compare to"


def reference_pipeline(parts: I2VGenXLParts):
    """diffusers' own ``I2VGenXLPipeline`` over the same components, for the equivalence tests and the bench
    only (the studio never calls it), or None once diffusers has dropped the class (see ``REFERENCE_GONE``).
    Looked up by name, so that no module of ours imports from diffusers' deprecated package."""
    import diffusers

    cls = getattr(diffusers, "I2VGenXLPipeline", None)
    if cls is None:
        return None
    pipe = cls(**parts.components)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@dataclass
class LoadedModel:
    pipe: I2VGenXLParts
    info: ModelInfo


# -- helpers -------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def _dtype_for(device: torch.device) -> torch.dtype:
    return torch.float16 if device.type == "cuda" else torch.float32


def _scheduler(folder: Path) -> DDIMScheduler:
    return DDIMScheduler.from_config(json.loads((folder / "scheduler_config.json").read_text()))


def _feature_extractor() -> CLIPImageProcessor:
    cfg = json.loads((REAL_CONFIG_DIR / "feature_extractor" / "preprocessor_config.json").read_text())
    cfg.pop("image_processor_type", None)
    return CLIPImageProcessor(**cfg)


def _assemble(unet, vae, text_encoder, image_encoder, scheduler, device, dtype) -> I2VGenXLParts:
    pipe = I2VGenXLParts(vae=vae, text_encoder=text_encoder, tokenizer=clip_tokenizer(),
                          image_encoder=image_encoder, feature_extractor=_feature_extractor(),
                          unet=unet, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


# -- synthetic models ----------------------------------------------------------------------------

def build_tiny(seed: int = 0, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
               ) -> I2VGenXLParts:
    """The tiny model: real classes, real geometry (VAE x8, 4 latent channels, 8-channel UNet input,
    the hub's scheduler config), toy widths, seeded random weights."""
    tok = clip_tokenizer()
    torch.manual_seed(seed)
    unet = I2VGenXLUNet(**_read_json(TINY_CONFIG_DIR / "unet.json"))
    vae = AutoencoderKL(**_read_json(TINY_CONFIG_DIR / "vae.json"))
    text_cfg = CLIPTextConfig(**_read_json(TINY_CONFIG_DIR / "text_encoder.json"), vocab_size=len(tok),
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)
    text_encoder = CLIPTextModel(text_cfg)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**_read_json(TINY_CONFIG_DIR /
                                                                                "image_encoder.json")))
    for m in (unet, vae, text_encoder, image_encoder):
        m.eval()
    return _assemble(unet, vae, text_encoder, image_encoder, _scheduler(TINY_CONFIG_DIR),
                     torch.device(device), dtype)


def build_random_full(seed: int = 0, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None) -> I2VGenXLParts:
    """The full I2VGen-XL architecture from the hub's configs with random weights.

    Parameter counts equal the published model's (UNet 1,420,469,224; VAE 83,653,863; text encoder
    352,984,064; image encoder 632,076,800), so speed and memory are the real model's.
    """
    device = torch.device(device) if device else default_device()
    dtype = dtype or _dtype_for(device)
    torch.manual_seed(seed)
    with torch.device(device):  # initialise on the target device: minutes faster for 2.5 B parameters
        unet = I2VGenXLUNet.from_config(_read_json(REAL_CONFIG_DIR / "unet" / "config.json"))
        vae = AutoencoderKL.from_config(_read_json(REAL_CONFIG_DIR / "vae" / "config.json"))
        text_encoder = CLIPTextModel(CLIPTextConfig(**_read_json(REAL_CONFIG_DIR / "text_encoder" /
                                                                 "config.json")))
        image_encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(**_read_json(REAL_CONFIG_DIR / "image_encoder" / "config.json")))
    for m in (unet, vae, text_encoder, image_encoder):
        m.eval()
    return _assemble(unet, vae, text_encoder, image_encoder, _scheduler(REAL_CONFIG_DIR / "scheduler"),
                     device, dtype)


# -- pretrained ----------------------------------------------------------------------------------

def hub_reachable(timeout: float) -> tuple[bool, str]:
    """Can we open a TCP connection to the hub within ``timeout`` seconds?"""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    u = urlparse(endpoint)
    host, port = u.hostname or "huggingface.co", u.port or (443 if u.scheme != "http" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, host
    except OSError as exc:
        return False, f"{host}:{port} ({exc.__class__.__name__}: {exc})"


def reporting_tqdm(progress: DownloadProgress):
    """huggingface_hub's own progress bar class (the same bars on stderr as without it), which also reports
    to ``progress``: the files bar (``Fetching N files``) and the bytes-written bar of ``snapshot_download``.
    Counted here, not read from the bar: a bar that is off (stderr not a terminal) does not count."""
    from huggingface_hub.utils import tqdm as hf_tqdm

    class ReportingTqdm(hf_tqdm):
        def __init__(self, *args, **kwargs):
            name, unit = kwargs.get("name"), kwargs.get("unit", "it")
            # the files bar has no name and counts items; the bytes written by every file go to the bar named
            # "huggingface_hub.snapshot_download" (the "transfer" bar counts network bytes: not reported)
            self._role = "files" if unit != "B" and name is None else \
                "bytes" if name == "huggingface_hub.snapshot_download" else None
            self._done = int(kwargs.get("initial") or 0)
            super().__init__(*args, **kwargs)
            self._report()

        def _report(self) -> None:
            if self._role == "files":
                progress.files(self._done, self.total or 0)
            elif self._role == "bytes":
                progress.bytes(self._done, self.total or 0)

        def update(self, n=1):
            self._done += n or 0
            out = super().update(n)
            self._report()
            return out

        def refresh(self, *args, **kwargs):  # snapshot_download grows the bytes total, then refreshes
            out = super().refresh(*args, **kwargs)
            self._report()
            return out

    return ReportingTqdm


_HOOK_LOCK = threading.Lock()


@contextmanager
def hub_progress(progress: DownloadProgress | None):
    """While loading: diffusers' call to ``snapshot_download`` gets ``tqdm_class=reporting_tqdm(progress)``
    (diffusers has no parameter for it).  Restored on exit; one load at a time in a process."""
    if progress is None:
        yield
        return
    from diffusers.pipelines import pipeline_utils

    with _HOOK_LOCK:
        real = pipeline_utils.snapshot_download
        cls = reporting_tqdm(progress)

        def snapshot_download(*args, **kwargs):
            kwargs.setdefault("tqdm_class", cls)
            return real(*args, **kwargs)

        pipeline_utils.snapshot_download = snapshot_download
        try:
            yield
        finally:
            pipeline_utils.snapshot_download = real


def _from_pretrained(source: str, revision: str | None, device: torch.device, local_only: bool,
                     progress: DownloadProgress | None = None, pipeline_cls=None, dtype=None, variant=None):
    """``pipeline_cls.from_pretrained`` (I2VGen-XL's container by default) in the device's dtype, safetensors
    only; ``variant`` (I2VGen-XL's "fp16" files on CUDA) when given."""
    pipeline_cls = pipeline_cls or I2VGenXLParts
    kw = dict(dtype=dtype or _dtype_for(device), use_safetensors=True, local_files_only=local_only)
    if revision:
        kw["revision"] = revision
    if variant is None and pipeline_cls is I2VGenXLParts and device.type == "cuda":
        variant = "fp16"
    if variant:
        kw["variant"] = variant
    with hub_progress(None if local_only else progress):
        pipe = pipeline_cls.from_pretrained(source, **kw)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_pretrained(source: str, revision: str | None, *, probe_timeout: float = 3.0,
                    device: torch.device | None = None, progress: DownloadProgress | None = None,
                    pipeline_cls=None, dtype: torch.dtype | None = None) -> LoadedModel:
    """A hub repo (cached copy first, then a download after a short reachability probe) or a local folder in
    diffusers layout, as ``pipeline_cls`` (I2VGen-XL's by default; a family's engine gives its own)."""
    device = device or default_device()
    load = dict(pipeline_cls=pipeline_cls, dtype=dtype)
    local = Path(source).expanduser()
    is_local = local.exists() or source.startswith((".", "/", "~"))
    if is_local:
        if not (local / "model_index.json").is_file():
            raise ModelUnavailable("model_no_index", path=local)
        try:
            pipe = _from_pretrained(str(local), None, device, local_only=True, **load)
        except (OSError, ValueError) as exc:
            raise ModelUnavailable("model_folder", path=local, detail=_first_line(exc)) from None
        kind, model_id, revision = "local", str(local), None
    else:
        try:  # cached already? then no network at all
            pipe = _from_pretrained(source, revision, device, local_only=True, **load)
        except (OSError, ValueError):
            if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
                raise ModelUnavailable("model_offline", source=source) from None
            ok, where = hub_reachable(probe_timeout)
            if not ok:
                raise ModelUnavailable("model_unreachable", source=source, detail=where) from None
            try:
                pipe = _from_pretrained(source, revision, device, local_only=False, progress=progress, **load)
            except Exception as exc:  # noqa: BLE001 - every hub/IO failure becomes one clear message
                raise ModelUnavailable("model_download", source=source, detail=_first_line(exc)) from None
        kind, model_id = "hub", source
    info = ModelInfo(source=source, kind=kind, model_id=model_id, revision=revision, device=str(device),
                     dtype=str(pipe.dtype).replace("torch.", ""))
    return LoadedModel(pipe, info)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


def load_synthetic(name: str, seed: int = 0, device: torch.device | None = None) -> LoadedModel:
    if name == "tiny":
        device = torch.device("cpu") if device is None else device
        pipe = build_tiny(seed, device=device)
        model_id = "tiny (random weights, configs/tiny)"
    else:
        pipe = build_random_full(seed, device=device)
        model_id = "random-full (random weights, configs/i2vgen-xl)"
    info = ModelInfo(source=name, kind=name, model_id=model_id, revision=None, device=str(pipe.device),
                     dtype=str(pipe.unet.dtype).replace("torch.", ""), demo=True, notices=[DEMO_NOTICE])
    return LoadedModel(pipe, info)


def load_model(source: str, *, revision: str | None = None, fallback: str | None = None,
               probe_timeout: float = 3.0, seed: int = 0, progress: DownloadProgress | None = None) -> LoadedModel:
    """Load ``source``; on failure fall back to ``fallback`` (with a short notice, and the failure by cause in
    ``info.fallback``) or raise ModelUnavailable.  ``progress`` follows a download from the hub."""
    t0 = time.perf_counter()
    if source in SYNTHETIC:
        loaded = load_synthetic(source, seed)
    else:
        try:
            loaded = load_pretrained(source, revision, probe_timeout=probe_timeout, progress=progress)
        except ModelUnavailable as exc:
            if not fallback:
                raise
            loaded = load_synthetic(fallback, seed)
            loaded.info.fallback = {"source": source, **failure_record(exc)}
            why = t(f"cause_{loaded.info.fallback['cause']}", "en").lower()
            loaded.info.notices.insert(0, f"Could not load {source} ({why}): using the {fallback} model instead.")
    loaded.info.load_seconds = round(time.perf_counter() - t0, 3)
    loaded.info.family, loaded.info.variant = FAMILY.name, FAMILY.default_variant.key  # recorded in every result
    return loaded
