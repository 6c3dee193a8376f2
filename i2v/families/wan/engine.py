"""Wan 2.2's engine: diffusers' ``WanImageToVideoPipeline``, run by its own ``__call__``.

The pipeline's step callback (``callback_on_step_end``) gives what the studio adds on every step: progress
with an ETA, the latents for a preview, and Stop between steps (the callback raises :class:`Cancelled`, so a
stopped job decodes nothing).  Nothing here needs a loop of our own, so the frames are diffusers' own, bit for
bit (tests/test_wan.py compares them with a direct ``__call__`` for both variants).  A fresh scheduler per job
carries the job's flow shift.

Models (declared in i2v/families/wan/__init__.py):

* the hub (``Wan-AI/Wan2.2-TI2V-5B-Diffusers``, ``Wan-AI/Wan2.2-I2V-A14B-Diffusers``) or a local folder in
  diffusers layout: safetensors only, bf16 on CUDA, fp32 on CPU;
* ``wan-tiny`` / ``wan-tiny-a14b``: the real classes and geometry (VAE scale, latent channels, patch size,
  the boundary of the two experts, the schedulers' configs) at toy widths, seeded random weights;
* ``wan-random-full`` / ``wan-random-full-a14b``: the real architecture from configs/wan2.2-*/ with random
  weights, for memory, FLOPs and speed.

UMT5's tokenizer (google/umt5-xxl's sentencepiece model) cannot be downloaded here.  The synthetic models use
:func:`offline_tokenizer`: a unigram tokenizer built in memory with one piece per printable ASCII character
and per common CJK character (transformers 5's ``T5Tokenizer(vocab=[(piece, score), ...])``).  It splits
text into characters, so token counts are not the real model's; the real models load the real tokenizer.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

# i2v.engine first: it quiets the libraries' chatter before diffusers and transformers import their models
from ...engine.engine import DeviceMemory, EngineJob, EngineResult, StepCallback, StepInfo  # isort: skip
from ...engine.models import LoadedModel, ModelInfo, _read_json, default_device  # isort: skip
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanImageToVideoPipeline, WanTransformer3DModel
from transformers import T5Tokenizer, UMT5Config, UMT5EncoderModel

from ...base.cancel import CancelToken
from ...base.config import CONFIG_DIR
from . import FAMILY

DEMO_NOTICE = ("Demo model: output is noise. The tiny Wan model has random weights and exists for tests and "
               "demos; download Wan 2.2 (or set --model to a downloaded copy) for real videos.")


@lru_cache(maxsize=1)
def offline_tokenizer() -> T5Tokenizer:
    """A T5 unigram tokenizer built without the hub: <pad> 0, </s> 1, <unk> 2 (T5's ids), then the word
    boundary and one piece per printable ASCII character and per CJK unified ideograph (U+4E00..U+9FA5),
    plus CJK punctuation."""
    pieces = ["<pad>", "</s>", "<unk>", "\u2581"]
    pieces += [chr(c) for c in range(0x21, 0x7F)]
    pieces += [chr(c) for c in range(0x4E00, 0x9FA6)] + list("，。！？、：；（）“”‘’《》…—")
    return T5Tokenizer(vocab=[(p, 0.0 if i < 3 else -1.0) for i, p in enumerate(pieces)], extra_ids=0)


def variant_of(pipe):
    """The variant a loaded pipeline is: by its number of experts (one transformer, or two)."""
    experts = sum(m is not None for m in (pipe.transformer, pipe.transformer_2))
    return next(v for v in FAMILY.variants.values() if v.experts == experts)


def cache_config(tier: dict):
    """diffusers' TaylorSeer cache on every transformer block (``blocks.N``), its factors in float32."""
    from diffusers import TaylorSeerCacheConfig

    return TaylorSeerCacheConfig(**tier, cache_identifiers=[r"blocks\.\d+"], taylor_factors_dtype=torch.float32)


def dtype_for(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (the authors' param_dtype), fp32 on CPU."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _pipeline(transformer, transformer_2, vae, text_encoder, tokenizer, scheduler, boundary_ratio,
              expand_timesteps) -> WanImageToVideoPipeline:
    pipe = WanImageToVideoPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                                   transformer=transformer, transformer_2=transformer_2,
                                   boundary_ratio=boundary_ratio, expand_timesteps=expand_timesteps)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _real_folder(variant_key: str) -> Path:
    return CONFIG_DIR / FAMILY.variants[variant_key].configs


def build_tiny(variant_key: str, seed: int = 0, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> WanImageToVideoPipeline:
    """The tiny model of a variant: real classes, the real VAE geometry and latent statistics, the real
    scheduler config and expert boundary; toy widths; seeded random weights."""
    model = next(m for m in FAMILY.models if m.kind == "tiny" and m.variant == variant_key)
    folder = CONFIG_DIR / model.tiny_configs
    tok = offline_tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(**_read_json(folder / "text_encoder.json"), vocab_size=len(tok),
                                               pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id))
    vae = AutoencoderKLWan(**_read_json(folder / "vae.json"))
    shape = _read_json(folder / "transformer.json")
    experts = [WanTransformer3DModel(**shape) for _ in range(FAMILY.variants[variant_key].experts)]
    for m in (text_encoder, vae, *experts):
        m.eval()
    pipe_cfg = _read_json(folder / "pipeline.json")
    scheduler = UniPCMultistepScheduler.from_config(
        _read_json(_real_folder(variant_key) / "scheduler" / "scheduler_config.json"))
    pipe = _pipeline(experts[0], experts[1] if len(experts) > 1 else None, vae, text_encoder, tok, scheduler,
                     pipe_cfg["boundary_ratio"], pipe_cfg["expand_timesteps"])
    return pipe.to(device=device, dtype=dtype)


def build_random_full(variant_key: str, seed: int = 0, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None, text_encoder: bool = True) -> WanImageToVideoPipeline:
    """The real architecture from configs/wan2.2-*/ with random weights (the tokenizer: offline_tokenizer's
    ids, in the real 256,384-row embedding).  ``text_encoder=False``: the pipeline without its 5.7 B-parameter
    encoder (calls give ``prompt_embeds``: :func:`random_full_embeddings`), so the rest fits beside nothing."""
    device = torch.device(device) if device else default_device()
    dtype = dtype or dtype_for(device)
    folder = _real_folder(variant_key)
    index = json.loads((folder / "model_index.json").read_text())
    te_cfg = {k: v for k, v in _read_json(folder / "text_encoder" / "config.json").items()
              if k not in ("architectures", "model_type", "torch_dtype")}
    torch.manual_seed(seed)
    # built in the target dtype on the target device: 2 x 14.3 B parameters in fp32 first would not fit a card
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype.is_floating_point else default)
    try:
        with torch.device(device):
            text_encoder = UMT5EncoderModel(UMT5Config(**te_cfg)) if text_encoder else None
            vae = AutoencoderKLWan.from_config(_read_json(folder / "vae" / "config.json"))
            experts = [WanTransformer3DModel.from_config(_read_json(folder / name / "config.json"))
                       for name in ("transformer", "transformer_2") if index.get(name, [None])[0]]
    finally:
        torch.set_default_dtype(default)
    for m in (text_encoder, vae, *experts):
        if m is not None:
            m.eval()
    scheduler = UniPCMultistepScheduler.from_config(_read_json(folder / "scheduler" / "scheduler_config.json"))
    pipe = _pipeline(experts[0], experts[1] if len(experts) > 1 else None, vae, text_encoder, offline_tokenizer(),
                     scheduler, index["boundary_ratio"], index["expand_timesteps"])
    return pipe.to(dtype=dtype) if device.type != "meta" else pipe


def random_full_embeddings(variant_key: str, prompt: str, negative: str, seed: int = 0,
                           device: torch.device | str = "cpu", dtype: torch.dtype = torch.bfloat16):
    """(prompt_embeds, negative_prompt_embeds) of random-full's text encoder (the real UMT5-XXL architecture,
    random weights, seeded as :func:`build_random_full` seeds it), through the pipeline's own ``encode_prompt``;
    the encoder is freed on return."""
    folder = _real_folder(variant_key)
    te_cfg = {k: v for k, v in _read_json(folder / "text_encoder" / "config.json").items()
              if k not in ("architectures", "model_type", "torch_dtype")}
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            encoder = UMT5EncoderModel(UMT5Config(**te_cfg)).eval()
    finally:
        torch.set_default_dtype(default)
    pipe = _pipeline(None, None, None, encoder, offline_tokenizer(), None, None, False)
    with torch.inference_mode():
        embeds = pipe.encode_prompt(prompt, negative, do_classifier_free_guidance=True, max_sequence_length=512,
                                    device=torch.device(device), dtype=dtype)
    del pipe, encoder
    return embeds


def load_synthetic(name: str, seed: int = 0, device: torch.device | None = None) -> LoadedModel:
    model = FAMILY.model(name)
    if model is None or not model.synthetic:
        raise ValueError(f"not a synthetic Wan model: {name!r}")
    if model.kind == "tiny":
        pipe = build_tiny(model.variant, seed, device=device or "cpu")
        model_id = f"{name} (random weights, configs/{model.tiny_configs})"
    else:
        pipe = build_random_full(model.variant, seed, device=device)
        model_id = f"{name} (random weights, configs/{FAMILY.variants[model.variant].configs})"
    dev = next(pipe.transformer.parameters()).device
    info = ModelInfo(source=name, kind=model.kind, model_id=model_id, revision=None, device=str(dev),
                     dtype=str(pipe.transformer.dtype).replace("torch.", ""), demo=True, notices=[DEMO_NOTICE])
    return LoadedModel(pipe, info)


class WanEngine(DeviceMemory):
    """Runs jobs on one loaded Wan pipeline.  Not thread-safe: the service holds a lock around it."""

    family = FAMILY

    def __init__(self, loaded: LoadedModel):
        self.loaded, self.pipe, self.info = loaded, loaded.pipe, loaded.info
        self.stage = "idle"
        self.notes: list[tuple[str, dict]] = []
        self._scheduler_config = dict(self.pipe.scheduler.config)
        self.variant = variant_of(self.pipe)

    @property
    def boundary_timestep(self) -> float | None:
        ratio = self.pipe.config.boundary_ratio
        return None if ratio is None else ratio * self._scheduler_config["num_train_timesteps"]

    def call_arguments(self, job: EngineJob) -> dict:
        """What ``WanImageToVideoPipeline.__call__`` is given for ``job`` (the equivalence tests give the same
        to a direct call)."""
        kw = dict(image=job.image, prompt=job.prompt, negative_prompt=job.negative_prompt, height=job.height,
                  width=job.width, num_frames=job.num_frames, num_inference_steps=job.num_inference_steps,
                  guidance_scale=job.guidance_scale, generator=torch.Generator().manual_seed(job.seed),
                  output_type="np")
        if self.boundary_timestep is not None:
            kw["guidance_scale_2"] = job.guidance_scale if job.guidance_scale_2 is None else job.guidance_scale_2
        return kw

    def scheduler_for(self, job: EngineJob) -> UniPCMultistepScheduler:
        """A fresh scheduler (they keep state) with the job's flow shift, else the model's."""
        shift = self._scheduler_config["flow_shift"] if job.flow_shift is None else job.flow_shift
        return UniPCMultistepScheduler.from_config(self._scheduler_config, flow_shift=shift)

    def check(self, job: EngineJob) -> None:
        geo = self.variant.geometry
        if not geo.frames_allowed(job.num_frames):
            raise ValueError(f"{self.variant.title} makes {geo.frames_min}..{geo.frames_max} frames in steps of "
                             f"{geo.frames_step} (4k+1), not {job.num_frames}")
        if not geo.fits(job.width, job.height):
            raise ValueError(f"{self.variant.title} needs a width and height that are multiples of "
                             f"{geo.multiple}, not {job.width}x{job.height}")

    def check_knobs(self, job: EngineJob) -> None:
        """What the pipeline's loop cannot do: a guidance that changes from step to step (it has one per
        expert), and I2VGen-XL's approximate methods (deep-block reuse, step skipping, late guidance
        skipping); refused in the user's language, never silently dropped."""
        from ...base.errors import InvalidInput

        sched = job.guidance_schedule
        if sched is not None and len({float(g) for g in sched}) > 1:
            raise InvalidInput("family_knob", name="guidance schedule", model=self.variant.title)
        for knob, off in (("fast", 1), ("skip_threshold", 0.0), ("guidance_stop", 1.0)):
            if getattr(job, knob) != off:
                raise InvalidInput("family_knob", name=knob, model=self.variant.title)

    @torch.inference_mode()
    def denoise(self, job: EngineJob, on_step: StepCallback | None = None, cancel: CancelToken | None = None,
                want_latents: bool = False) -> tuple[torch.Tensor, EngineResult]:
        """``__call__`` up to the latents (``output_type="latent"``: the pipeline's own loop, its first-frame
        mask re-applied at the end), with progress, previews and Stop from its step callback."""
        self.check(job)
        self.check_knobs(job)
        self.use(job)
        pipe = self.pipe
        pipe.scheduler = self.scheduler_for(job)
        kw = {**self.call_arguments(job), "output_type": "latent"}
        boundary, g1, g2 = self.boundary_timestep, kw["guidance_scale"], kw.get("guidance_scale_2")
        applied: list[float] = []
        t0 = time.perf_counter()
        self.stage = "denoise"

        def step_end(p, i, t, tensors):
            applied.append(g1 if boundary is None or t >= boundary else g2)
            if on_step is not None:
                done, total = i + 1, job.num_inference_steps
                elapsed = time.perf_counter() - t0  # from the call: the text and image encodings included
                info = StepInfo(step=done, total=total, elapsed=elapsed, eta=elapsed / done * (total - done),
                                guidance=applied[-1], timestep=int(t))
                if want_latents:
                    # UniPC keeps its latest prediction of the clean latents (predict_x0) for the next step
                    outputs = getattr(p.scheduler, "model_outputs", None) or [None]
                    info.latents = tensors["latents"]
                    info.denoised = outputs[-1] if outputs[-1] is not None else tensors["latents"]
                on_step(info)
            if cancel is not None:
                cancel.check()  # raises Cancelled: the call ends here, nothing is decoded
            return {}

        experts = [m for m in (pipe.transformer, pipe.transformer_2) if m is not None]
        tier = self.variant.knobs.cache_tiers.get(job.speed)
        if tier is not None:  # the speed tier: diffusers' own cache hook on every expert, for this call only
            for m in experts:
                m.enable_cache(cache_config(tier))
        try:
            latents = pipe(**kw, callback_on_step_end=step_end).frames
        finally:
            if tier is not None:
                for m in experts:
                    m.disable_cache()
        timings = {"denoise": round(time.perf_counter() - t0, 4)}
        knobs = {"flow_shift": pipe.scheduler.config.flow_shift}  # what ran, the model's own where not given
        if tier is not None:
            knobs["cache"] = {"tier": job.speed, "method": "TaylorSeer", **tier}
        if g2 is not None:
            knobs["guidance_scale_2"] = g2
        return latents, EngineResult(frames=np.empty(0, np.float32), seed=job.seed, guidance_per_step=applied,
                                     timings=timings, knobs=knobs)

    @torch.inference_mode()
    def decode_job(self, latents: torch.Tensor, job: EngineJob, timings: dict | None = None) -> np.ndarray:
        """The rest of ``__call__``: the latents' statistics undone, the VAE's decode, frames in [0, 1]."""
        from diffusers.utils.torch_utils import get_module_execution_device

        self.use(job)  # (a retried decode may be on a lower rung)
        pipe, vae = self.pipe, self.pipe.vae
        self.stage = "decode"
        t = time.perf_counter()
        latents = latents.to(device=get_module_execution_device(vae), dtype=vae.dtype)
        shape = (1, vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device, latents.dtype)
        inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(latents.device, latents.dtype)
        video = vae.decode(latents / inv_std + mean, return_dict=False)[0]
        frames = pipe.video_processor.postprocess_video(video, output_type="np")[0]
        pipe.maybe_free_model_hooks()
        self.stage = "done"
        if timings is not None:
            timings["decode"] = round(time.perf_counter() - t, 4)
        return np.asarray(frames, dtype=np.float32)

    def generate(self, job: EngineJob, on_step: StepCallback | None = None, cancel: CancelToken | None = None,
                 want_latents: bool = False) -> EngineResult:
        latents, result = self.denoise(job, on_step, cancel, want_latents)
        result.frames = self.decode_job(latents, job, result.timings)
        result.timings["total"] = round(sum(result.timings.values()), 4)
        return result

    # -- memory: the studio's planner (i2v/planning/dit_vram.py) puts each job on a rung -------------
    def use(self, job: EngineJob) -> None:
        """The memory rung ``job`` carries: VAE tiling, and model or group offload (on a card)."""
        self.notes += self.apply_memory_plan(job.offload, job.vae_tiling)

    def _switch_offload(self, offload: str) -> None:
        """diffusers' own mechanisms: model CPU offload (one component on the card at a time, so one A14B
        expert), or group offloading of the transformer(s) and the text encoder block by block with a CUDA
        stream (the next block is fetched while one runs), the VAE staying on the card."""
        pipe = self.pipe
        big = [m for m in (pipe.transformer, pipe.transformer_2, pipe.text_encoder) if m is not None]
        pipe.remove_all_hooks()
        for m in big:  # group offloading's hooks are diffusers' own registry's, not accelerate's
            _remove_group_offload(m)
        device = torch.device(self.info.device)
        if offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif offload == "group":
            from diffusers.hooks import apply_group_offloading

            pipe.vae.to(device)
            for m in big:
                m.to("cpu")
                apply_group_offloading(m, onload_device=device, offload_device=torch.device("cpu"),
                                       offload_type="block_level", num_blocks_per_group=1, use_stream=True)
        else:
            pipe.to(device)

    # -- what the studio asks of every engine ----------------------------------------------------
    plans_memory = True
    speed: dict | None = None

    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device

    def apply_speed(self, speed: dict) -> dict:
        """I2VGen-XL's UNet levers (memory format, fused QKV, attention kernels, compile) are not this family's:
        none is applied, and the metadata says so."""
        self.speed = {"levers": "none for this family"}
        return self.speed


def _remove_group_offload(module: torch.nn.Module) -> None:
    from diffusers.hooks import HookRegistry
    from diffusers.hooks.group_offloading import _GROUP_OFFLOADING, _LAZY_PREFETCH_GROUP_OFFLOADING

    for sub in module.modules():
        registry = getattr(sub, "_diffusers_hook", None)
        if isinstance(registry, HookRegistry):
            for name in (_GROUP_OFFLOADING, _LAZY_PREFETCH_GROUP_OFFLOADING):
                registry.remove_hook(name, recurse=False)


def load_model(source: str, *, revision: str | None = None, fallback: str | None = None,
               probe_timeout: float = 3.0, seed: int = 0, progress=None,
               device: torch.device | None = None) -> LoadedModel:
    """A Wan model by name (``wan2.2-ti2v-5b``, ``wan-tiny`` ...), hub id or local folder.  On failure, the
    ``fallback``'s kind of random-weight model of this family (the studio's default fallback is ``tiny``, so
    a Wan model falls back to ``wan-tiny``), with the failure by cause in ``info.fallback``."""
    from ...base.errors import ModelUnavailable
    from ...base.i18n import t
    from ...engine import models
    from ...modelload import failure_record
    from .. import find_model

    t0 = time.perf_counter()
    found = find_model(source)
    model = found[1] if found else None
    if model is not None and model.synthetic:
        loaded = load_synthetic(model.name, seed, device)
    else:
        device = device or default_device()
        repo = model.hub_id if model else source
        try:
            loaded = models.load_pretrained(repo, revision or (model.revision if model else None),
                                            probe_timeout=probe_timeout, device=device, progress=progress,
                                            pipeline_cls=WanImageToVideoPipeline, dtype=dtype_for(device))
            loaded.info.source = source  # what the user named (the hub id is the info's model_id)
        except ModelUnavailable as exc:
            if not fallback:
                raise
            kind = (find_model(fallback) or (None, None))[1]
            same_kind = next((m for m in FAMILY.models if m.synthetic and kind is not None and m.kind == kind.kind
                              and m.variant == (model.variant if model else "ti2v-5b")), None)
            name = same_kind.name if same_kind else "wan-tiny"
            loaded = load_synthetic(name, seed, device if device.type != "cuda" else None)
            loaded.info.fallback = {"source": source, **failure_record(exc)}
            why = t(f"cause_{loaded.info.fallback['cause']}", "en").lower()
            loaded.info.notices.insert(0, f"Could not load {source} ({why}): using the {name} model instead.")
    loaded.info.load_seconds = round(time.perf_counter() - t0, 3)
    loaded.info.family, loaded.info.variant = FAMILY.name, variant_of(loaded.pipe).key  # recorded in every result
    return loaded


def load_engine(source: str, **kw) -> WanEngine:
    return WanEngine(load_model(source, **kw))
