"""The generation engine: I2VGen-XL's denoising loop, owned by us.

diffusers' ``I2VGenXLPipeline.__call__`` has no step callback, no interrupt and
no way to vary guidance per step.  This module runs the same computation on the
pipeline's own components and helpers, step by numbered step like the
pipeline, and adds:

* a per-step callback (step, total, elapsed, ETA, the guidance used, latents for previews);
* a cancel token honoured between steps;
* a guidance value per step (a schedule; a constant one is bit-identical to plain CFG);
* text and image encodings cached, so N seeds of one prompt and image encode once;
* clip_skip=1 prompt embeddings computed here (penultimate hidden state + final
  layer norm), since diffusers' own clip_skip path breaks on transformers 5;
* approximate speed-ups, each off by default and bit-exact when off (tested): fast mode
  (:mod:`.deepcache`), step skipping (:mod:`.stepskip`) and late guidance skipping: from step
  ceil(guidance_stop x steps) on (never the first), the UNet runs the conditional pass alone (batch 1,
  DeepCache's and step skipping's conditional pass key 1) and the guided prediction is
  cond + (g - 1) x diff, where diff = cond - uncond of the last step that ran both and g the step's
  guidance: the same formula as CFG with the difference frozen, so the step's guidance (and a schedule)
  still applies.  Conditional-only (Adaptive Guidance's late steps, Castillo et al.) would equal
  guidance 1 there; a schedule that drops to 1 gets exactly that.

``tests/test_engine.py`` proves the frames equal ``I2VGenXLPipeline.__call__``'s.
"""

from __future__ import annotations

import gc
import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from ..base.cancel import CancelToken
from .chunking import SLICES, set_ff_slicing
from .deepcache import DeepCache
from .fitting import center_crop_wide, resize_bilinear
from .models import LoadedModel
from .stepskip import StepSkip

# The VAE's posterior is sampled (as the original pipeline does) with a fixed generator, so the
# image latents are deterministic and can be cached across seeds.  Tests seed diffusers' global RNG
# with the same number to compare against ``__call__``.
IMAGE_LATENT_SEED = 0
CLIP_SKIP = 1


@dataclass
class StepInfo:
    step: int            # 1-based, steps done so far
    total: int
    elapsed: float       # seconds since denoising began
    eta: float           # seconds left (estimate)
    guidance: float      # guidance scale applied at this step
    timestep: int
    latents: torch.Tensor | None = None   # (1, C, F, h, w) current noisy latents; read-only, for previews
    denoised: torch.Tensor | None = None  # (1, C, F, h, w) the scheduler's estimate of the clean result


@dataclass
class EngineJob:
    image: Image.Image            # RGB, exactly width x height
    prompt: str
    negative_prompt: str
    guidance_scale: float
    num_inference_steps: int
    num_frames: int
    width: int
    height: int
    seed: int                     # resolved (>= 0)
    target_fps: int = 16
    scheduler: str = "ddim"
    decode_chunk_size: int = 8
    guidance_schedule: Sequence[float] | None = None  # one value per step; None = constant
    fast: int = 1                 # fast mode (approximate): the UNet's deep blocks run on one step in N
    skip_threshold: float = 0.0   # step skipping (approximate): reuse the last full step's residual while
    #                               the cheap indicator changed less than this (relative L1); 0 = off
    guidance_stop: float = 1.0    # late guidance skipping (approximate): after this fraction of the steps the
    #                               UNet runs the conditional pass only and reuses the last guidance difference;
    #                               1 = never (exact); Adaptive Guidance's finding: 0.5
    # the memory rung (i2v.planning.vram.Rung's fields), set by the studio's planner; the engine applies it
    offload: str = "none"         # none | model | sequential
    vae_tiling: bool = False
    cfg_split: bool = False       # guidance as two UNet passes of batch 1 (half the working memory)
    ff_sliced: bool = False       # the UNet's feed-forward layers a slice at a time (about half again)
    # knobs of flow-matching families (Wan): None = the model's own
    flow_shift: float | None = None
    guidance_scale_2: float | None = None  # the low-noise expert's guidance (two experts); None = guidance_scale
    speed: str = "exact"          # a family's own speed tier (Wan: a cache hook); I2VGen-XL's set the fields above

    def rung(self) -> tuple[str, int, bool, bool, bool]:
        """(offload, decode chunk, tiling, split, sliced): the memory rung this job runs on."""
        return self.offload, self.decode_chunk_size, self.vae_tiling, self.cfg_split, self.ff_sliced

    def use_rung(self, offload: str, chunk: int, tiling: bool, split: bool = False, sliced: bool = False) -> None:
        self.offload, self.decode_chunk_size, self.vae_tiling, self.cfg_split, self.ff_sliced = \
            offload, chunk, tiling, split, sliced

    @property
    def uses_cfg(self) -> bool:
        """As in diffusers: guidance 1 (at every step) means no unconditional prediction at all."""
        return any(g > 1 for g in (self.guidance_schedule or [self.guidance_scale]))


@dataclass
class EngineResult:
    frames: np.ndarray            # (F, H, W, 3) float32 in [0, 1]
    seed: int
    guidance_per_step: list[float]
    timings: dict = field(default_factory=dict)
    cache_hits: dict = field(default_factory=dict)
    knobs: dict = field(default_factory=dict)  # a family's knobs as they ran (Wan: the shift, the 2nd guidance)

    def total_timing(self) -> None:
        self.timings["total"] = round(sum(v for k, v in self.timings.items() if k != "total"), 4)


StepCallback = Callable[[StepInfo], None]


@dataclass
class _Denoising:
    """What the denoising loop works with, prepared by :meth:`Engine.denoise` (steps 1-3)."""
    job: EngineJob
    scheduler: Any
    schedule: list[float]      # guidance per step
    cfg: bool                  # classifier-free guidance (an unconditional prediction too)
    text: torch.Tensor         # prompt embeddings (negative first under guidance)
    fps: torch.Tensor
    image_latents: torch.Tensor
    image_embeds: torch.Tensor
    extra: dict                # the scheduler's step options
    deep: Any                  # the fast-mode cache (DeepCache)
    skip: Any                  # step skipping (StepSkip)
    t_loop: float
    on_step: StepCallback | None
    cancel: CancelToken | None
    want_latents: bool


def guidance_stop_index(steps: int, guidance_stop: float) -> int:
    """The first step (0-based) of late guidance skipping: ceil(guidance_stop x steps), ``steps`` (none) at 1.
    Never the first step: late steps reuse a guidance difference, so one step computes it."""
    return min(steps, max(1, math.ceil(guidance_stop * steps - 1e-9)))


def make_scheduler(name: str, config) -> DDIMScheduler | DPMSolverMultistepScheduler:
    """A fresh scheduler per job (they are stateful) from the model's own scheduler config."""
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "dpm++":
        # v-prediction with zero-terminal-SNR betas: DPM-Solver++ needs the final sigma at zero.
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++", solver_order=2,
                                                       final_sigmas_type="zero")
    raise ValueError(f"unknown scheduler {name!r}")


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key], True
        value = make()
        self[key] = value
        while len(self) > self.size:
            self.popitem(last=False)
        return value, False


def image_key(image: Image.Image) -> str:
    return hashlib.sha1(image.tobytes() + repr(image.size).encode()).hexdigest()


class DeviceMemory:
    """What an engine of any family (``self.device``) tells the studio about its card's memory."""

    def free_memory(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def free_vram_gb(self) -> float | None:
        """GPU memory this process may use: free memory plus what it already holds (its own weights are
        part of the planner's estimate), or None when running on the CPU."""
        if self.device.type != "cuda":
            return None
        free, _ = torch.cuda.mem_get_info(self.device)
        return (free + torch.cuda.memory_reserved(self.device)) / 2**30

    # the pipeline's memory configuration now (a job's rung is applied by the engine's ``use``)
    _offload, _tiling = "none", False

    def apply_memory_plan(self, offload: str, vae_tiling: bool) -> list[tuple[str, dict]]:
        """Offload mode and VAE tiling for the next jobs (the family's engine knows its offload modes:
        ``_switch_offload``).  Offloading only means something on a GPU."""
        notes = []
        pipe = self.pipe
        if vae_tiling != self._tiling:
            pipe.vae.enable_tiling() if vae_tiling else pipe.vae.disable_tiling()
            self._tiling = vae_tiling
        if offload != self._offload:
            if self.info.device.startswith("cuda"):
                # The hooks moved weights inside a job's inference mode, so the weights are inference
                # tensors now; taking the hooks off outside that mode raises ("Setting requires_grad=True
                # on inference tensor"), first seen on an H200 going from sequential offload back to none.
                with torch.inference_mode():
                    self._switch_offload(offload)
                self._offload = offload
            else:
                notes.append(("offload_not_needed", {"offload": offload}))
        return notes


class Engine(DeviceMemory):
    """Runs jobs on one loaded pipeline.  Not thread-safe: the service holds a lock around it."""

    def __init__(self, loaded: LoadedModel, cache_size: int = 4):
        self.loaded = loaded
        self.pipe = loaded.pipe
        self.info = loaded.info
        self._text_cache = _LRU(cache_size)
        self._image_cache = _LRU(cache_size)
        self.stage = "idle"           # encode | denoise | decode | done: where an error happened
        self.notes: list[tuple[str, dict]] = []  # what the engine did on its own: (note code, parameters)
        self.speed: dict | None = None  # the speed levers applied (:meth:`apply_speed`)
        # the pipeline's memory configuration now (a job's rung is applied by :meth:`use`)
        self._ff_sliced = False

    # -- encodings ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device

    @property
    def dtype(self) -> torch.dtype:
        return self.pipe.text_encoder.dtype

    def _embed_text(self, text: str) -> torch.Tensor:
        """clip_skip=1: the penultimate hidden state through the final layer norm."""
        tok = self.pipe.tokenizer
        ids = tok(text, padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(self.device)
        enc = self.pipe.text_encoder
        hidden = enc(ids, output_hidden_states=True).hidden_states[-(CLIP_SKIP + 1)]
        return enc.final_layer_norm(hidden).to(dtype=self.dtype, device=self.device)

    @torch.inference_mode()
    def encode_text(self, prompt: str, negative_prompt: str) -> tuple[tuple[torch.Tensor, torch.Tensor], bool]:
        """(negative, positive) embeddings, each (1, 77, D)."""
        return self._text_cache.get_or((prompt, negative_prompt),
                                       lambda: (self._embed_text(negative_prompt), self._embed_text(prompt)))

    @torch.inference_mode()
    def encode_image(self, image: Image.Image, width: int, height: int):
        """(CLIP image embedding (1, 1, D), VAE latent of the first frame (1, C, 1, h, w))."""

        def make():
            pipe = self.pipe
            # CLIP embedding of the square center crop, as the original I2VGen-XL inference does.
            crop = resize_bilinear(center_crop_wide(image, (width, width)),
                                    (pipe.feature_extractor.crop_size["width"],
                                     pipe.feature_extractor.crop_size["height"]))
            pixels = pipe.video_processor.numpy_to_pt(pipe.video_processor.pil_to_numpy(crop))
            pixels = pipe.feature_extractor(images=pixels, do_normalize=True, do_center_crop=False,
                                            do_resize=False, do_rescale=False, return_tensors="pt").pixel_values
            enc_dtype = next(pipe.image_encoder.parameters()).dtype
            embeds = pipe.image_encoder(pixels.to(self.device, enc_dtype)).image_embeds.unsqueeze(1)
            # VAE latent of the (already fitted) image.
            fitted = center_crop_wide(image, (width, height))
            x = pipe.video_processor.preprocess(fitted).to(device=self.device, dtype=embeds.dtype)
            gen = torch.Generator(device="cpu").manual_seed(IMAGE_LATENT_SEED)
            latent = pipe.vae.encode(x).latent_dist.sample(generator=gen) * pipe.vae.config.scaling_factor
            return embeds, latent.unsqueeze(2)

        return self._image_cache.get_or((image_key(image), width, height), make)

    @staticmethod
    def frame_conditioning(first: torch.Tensor, num_frames: int) -> torch.Tensor:
        """The first frame's latent followed by a position mask (k/(F-1)) for every later frame."""
        masks = [torch.ones_like(first) * ((k + 1) / (num_frames - 1)) for k in range(num_frames - 1)]
        # contiguous: the VAE may hand back another memory layout, and the UNet's kernels (hence its
        # rounding) depend on the layout.  diffusers' ``repeat`` makes the same contiguous copy.
        return (torch.cat([first, *masks], dim=2) if masks else first).contiguous()

    def compile_unet(self) -> None:
        """``torch.compile`` the UNet in place (its calls compile on first use, once per shape and mode)."""
        self.pipe.unet.compile()

    def apply_speed(self, speed: dict) -> dict:
        """The config's ``speed:`` levers on this pipeline, once, before any job (see :mod:`.speed`); what
        was done is kept in ``self.speed`` for every result's metadata."""
        from .speed import SpeedLevers, apply_speed

        self.speed = apply_speed(self.pipe, SpeedLevers.from_config(speed))
        return self.speed

    def use(self, job: EngineJob) -> None:
        """Put the pipeline on the memory rung ``job`` carries: offload, VAE tiling, sliced feed-forward
        layers (what this device has no use for is noted)."""
        self.notes += self.apply_memory_plan(job.offload, job.vae_tiling)
        if job.ff_sliced != self._ff_sliced:
            set_ff_slicing(self.pipe.unet, SLICES if job.ff_sliced else 0)
            self._ff_sliced = job.ff_sliced

    def _switch_offload(self, offload: str) -> None:
        pipe = self.pipe
        pipe.remove_all_hooks()
        if offload == "model":
            pipe.enable_model_cpu_offload()
        elif offload == "sequential":
            pipe.enable_sequential_cpu_offload()
        else:
            pipe.to(self.info.device)

    # -- the loop ----------------------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, job: EngineJob, on_step: StepCallback | None = None,
                 cancel: CancelToken | None = None, want_latents: bool = False) -> EngineResult:
        """Denoise then decode (the two halves are public so a failed decode can be retried alone)."""
        latents, result = self.denoise(job, on_step, cancel, want_latents)
        if cancel is not None:
            cancel.check()
        result.frames = self.decode_job(latents, job, result.timings)
        result.total_timing()
        return result

    @torch.inference_mode()
    def denoise(self, job: EngineJob, on_step: StepCallback | None = None, cancel: CancelToken | None = None,
                want_latents: bool = False) -> tuple[torch.Tensor, EngineResult]:
        pipe, device = self.pipe, self.device
        self.use(job)
        self.stage = "encode"
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        steps = job.num_inference_steps
        schedule = [float(g) for g in job.guidance_schedule] if job.guidance_schedule is not None \
            else [job.guidance_scale] * steps
        if len(schedule) != steps:
            raise ValueError(f"guidance schedule has {len(schedule)} values for {steps} steps")
        cfg = job.uses_cfg

        # 1. Encode the prompt (cached).
        (neg, pos), text_hit = self.encode_text(job.prompt, job.negative_prompt)
        text = torch.cat([neg, pos]) if cfg else pos
        timings["encode_text"] = time.perf_counter() - t0

        # 2. Encode the image (cached): CLIP embedding and first-frame latent.
        t = time.perf_counter()
        (image_embeds, first_latent), image_hit = self.encode_image(job.image, job.width, job.height)
        image_latents = self.frame_conditioning(first_latent, job.num_frames)
        if cfg:
            image_embeds = torch.cat([torch.zeros_like(image_embeds), image_embeds])
            image_latents = torch.cat([image_latents] * 2)
        timings["encode_image"] = time.perf_counter() - t

        # 3. Conditions, timesteps, initial noise.
        fps = torch.tensor([job.target_fps] * (2 if cfg else 1)).to(device)
        scheduler = make_scheduler(job.scheduler, pipe.scheduler.config)
        scheduler.set_timesteps(steps, device=device)
        generator = torch.Generator(device="cpu").manual_seed(job.seed)
        shape = (1, pipe.unet.config.in_channels, job.num_frames,
                 job.height // pipe.vae_scale_factor, job.width // pipe.vae_scale_factor)
        latents = randn_tensor(shape, generator=generator, device=device, dtype=text.dtype)
        latents = latents * scheduler.init_noise_sigma
        extra = {"eta": 0.0, "generator": generator} if isinstance(scheduler, DDIMScheduler) else {}

        # 4. Denoise.
        self.stage = "denoise"
        t_loop = time.perf_counter()
        # the methods' kept tensors are dropped and the UNet's forwards restored however the loop ends
        with DeepCache(pipe.unet, job.fast) as deep, StepSkip(pipe.unet, job.skip_threshold, steps) as skip:
            latents = self._loop(_Denoising(job, scheduler, schedule, cfg, text, fps, image_latents, image_embeds,
                                            extra, deep, skip, t_loop, on_step, cancel, want_latents), latents)
        timings["denoise"] = time.perf_counter() - t_loop
        result = EngineResult(frames=np.empty(0, np.float32), seed=job.seed, guidance_per_step=schedule,
                              timings={k: round(v, 4) for k, v in timings.items()},
                              cache_hits={"text": text_hit, "image": image_hit})
        if job.fast > 1:
            result.cache_hits["deep_features"] = deep.reused_steps
            self.notes.append(("fast_mode", {"interval": job.fast, "full": deep.full_steps,
                                             "steps": deep.full_steps + deep.reused_steps}))
        late = guidance_stop_index(steps, job.guidance_stop)
        if cfg and late < steps:
            self.notes.append(("late_guidance", {"stop": job.guidance_stop, "from_step": late + 1, "steps": steps}))
        if skip.enabled:
            result.cache_hits["skipped_steps"] = skip.skipped_steps
            self.notes.append(("step_skip", skip.summary()))
        return latents, result

    def _loop(self, d: _Denoising, latents: torch.Tensor) -> torch.Tensor:
        pipe, device = self.pipe, self.device
        job, scheduler, schedule, cfg, deep, skip = d.job, d.scheduler, d.schedule, d.cfg, d.deep, d.skip
        text, fps, image_latents, image_embeds = d.text, d.fps, d.image_latents, d.image_embeds
        step_numbers = scheduler.timesteps.tolist()  # read once: no GPU sync per step for progress
        total = len(step_numbers)
        # late guidance skipping: from step ``stop`` on, the conditional pass alone (key 1), with the guidance
        # difference (cond - uncond) of the last step that had both
        stop = guidance_stop_index(total, job.guidance_stop) if cfg else total
        diff = None

        def unet(model_in, ts, rows: slice):
            return pipe.unet(model_in, ts, encoder_hidden_states=text[rows], fps=fps[rows],
                             image_latents=image_latents[rows], image_embeddings=image_embeds[rows],
                             return_dict=False)[0]

        def set_key(k: int) -> None:
            deep.key = skip.key = k
        for i, ts in enumerate(scheduler.timesteps):
            if d.cancel is not None:
                d.cancel.check()
            deep.begin_step(i)
            skip.begin_step(i)
            late = i >= stop
            if late:
                if i == stop and not job.cfg_split:  # key 0 held the batch of 2: its conditional half is key 1's
                    deep.adopt_conditional()
                    skip.adopt_conditional()
                set_key(1)
                model_in = scheduler.scale_model_input(latents, ts)
                noise = unet(model_in, ts, slice(1, 2))
            elif cfg and job.cfg_split:  # the same two predictions, one at a time: equal within float rounding
                model_in = scheduler.scale_model_input(latents, ts)
                parts = []
                for k in (0, 1):
                    set_key(k)
                    parts.append(unet(model_in, ts, slice(k, k + 1)))
                noise = torch.cat(parts)
            else:
                set_key(0)
                model_in = torch.cat([latents] * 2) if cfg else latents
                model_in = scheduler.scale_model_input(model_in, ts)
                noise = unet(model_in, ts, slice(None))
            if skip.decision:
                deep.step_skipped()
            g = schedule[i]
            if late:  # uncond + g (cond - uncond) = cond + (g - 1)(cond - uncond), the difference kept
                noise = noise + (g - 1) * diff
            elif cfg:
                uncond, cond = noise.chunk(2)
                if stop < total:
                    diff = cond - uncond
                noise = uncond + g * (cond - uncond)
            b, c, f, h, w = latents.shape
            flat = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
            noise = noise.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
            stepped = scheduler.step(noise, ts, flat, **d.extra)
            latents = stepped.prev_sample[None, :].reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)
            if d.on_step is not None:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)  # honest elapsed/ETA: the one sync progress needs
                elapsed = time.perf_counter() - d.t_loop
                info = StepInfo(step=i + 1, total=total, elapsed=elapsed, eta=elapsed / (i + 1) * (total - i - 1),
                                guidance=g, timestep=int(step_numbers[i]))
                if d.want_latents:
                    x0 = getattr(stepped, "pred_original_sample", None)
                    info.latents = latents
                    info.denoised = latents if x0 is None else \
                        x0[None, :].reshape(b, f, c, h, w).permute(0, 2, 1, 3, 4)
                d.on_step(info)
        return latents

    def decode_job(self, latents: torch.Tensor, job: EngineJob, timings: dict | None = None) -> np.ndarray:
        """Decode on the memory rung ``job`` carries (a retried decode may have a lower one)."""
        self.use(job)
        return self.decode(latents, job.decode_chunk_size, timings)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor, decode_chunk_size: int, timings: dict | None = None) -> np.ndarray:
        """VAE-decode to (F, H, W, 3) float32 in [0, 1].  An fp16 decode that overflows to NaN/Inf is
        redone once with the VAE in float32 (the SD VAE is known to overflow in half precision)."""
        pipe = self.pipe
        self.stage = "decode"
        t = time.perf_counter()
        video = pipe.decode_latents(latents, decode_chunk_size=decode_chunk_size)
        if pipe.vae.dtype == torch.float16 and not torch.isfinite(video).all():
            self.notes.append(("fp16_redecode", {}))
            pipe.vae.to(torch.float32)
            try:
                video = pipe.decode_latents(latents.float(), decode_chunk_size=decode_chunk_size)
            finally:
                pipe.vae.to(torch.float16)
        frames = pipe.video_processor.postprocess_video(video=video, output_type="np")[0]
        if self._offload != "none":
            pipe.maybe_free_model_hooks()
        if timings is not None:
            timings["decode"] = round(time.perf_counter() - t, 4)
        self.stage = "done"
        return np.asarray(frames, dtype=np.float32)
