"""The generation settings, defined once.  Pure (no torch, no gradio).

Each :class:`Setting` says its type, where its limits come from, its CLI option and batch-file aliases,
whether presets and templates may set it, whether Reuse/restore brings it back, which control of the
page shows it and its label.  Everything that lists settings derives from :data:`SETTINGS`: request
validation (:mod:`i2v.planning.request`), the CLI options (:mod:`i2v.cli`), the page's controls and the updates
its handlers return (:mod:`i2v.ui`), presets and templates (:mod:`i2v.planning.presets`), batch-file keys
(:mod:`i2v.workflows`), restore and the job parameters (:mod:`i2v.studio`, :mod:`i2v.jobs`).

The default values are not here: they are read from ``configs/default.yaml`` (``defaults:``), the one
source, and checked against this schema when the config is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


MAX_SEED = 2**32 - 1
SCHEDULERS = ("ddim", "dpm++", "unipc")  # each family serves some (i2v/families: Knobs.samplers)
SCHEDULES = ("constant", "linear", "cosine", "strong-early")
# The speed tiers a request may name, and "custom" (no tier).  What each one sets is i2v.planning.tiers' (policy, which
# imports this registry and checks that its tiers are these names: the registry imports no policy).
SPEEDS = ("exact", "fast", "fastest", "custom")


@dataclass(frozen=True)
class Setting:
    name: str                         # the key in requests, presets, sidecars and job parameters
    kind: str                         # "text" | "float" | "int" | "choice"
    display: str | None = None        # how messages name it (default: name)
    limit: str | tuple | None = None  # a key of the config's limits, or a fixed (lo, hi)
    choices: tuple[str, ...] | str | None = None  # fixed choices, or "tiers" (the config's tiers)
    flag: str | None = None           # CLI option
    aliases: tuple[str, ...] = ()     # other keys a batch file may use
    preset: bool = False              # presets and templates may set it
    restorable: bool = True           # Reuse / restore from a sidecar brings it back
    control: str | None = None        # the page's component showing it
    nullable: bool = False            # None is allowed (meaning: derive it)
    help: str = ""

    @property
    def label(self) -> str:
        return self.display or self.name

    @property
    def dest(self) -> str:
        """The argparse attribute of the CLI option."""
        return (self.flag or "").lstrip("-").replace("-", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting("prompt", "text", limit="prompt_max_chars", flag="--prompt", control="prompt",
            help="what should move, e.g. 'a dog jumping over a fence'"),
    Setting("negative_prompt", "text", display="negative prompt", limit="prompt_max_chars", flag="--negative-prompt",
            preset=True, control="negative", help="what to avoid (default: the config's)"),
    Setting("guidance_scale", "float", limit="guidance", flag="--guidance", aliases=("guidance",), preset=True,
            control="guidance", help="guidance scale (motion strength)"),
    Setting("num_inference_steps", "int", display="steps", limit="steps", flag="--steps", aliases=("steps",),
            preset=True, control="steps", help="denoising steps"),
    Setting("num_frames", "int", display="frames", limit="frames", flag="--frames", aliases=("frames",),
            preset=True, control="frames", help="number of frames"),
    Setting("fps", "int", limit="fps", flag="--fps", preset=True, control="fps", help="frames per second of the MP4"),
    Setting("target_fps", "int", limit="target_fps", flag="--target-fps", preset=True, control="target_fps",
            help="motion-speed conditioning given to the model"),
    Setting("resolution", "choice", choices="tiers", flag="--resolution", preset=True, control="resolution",
            nullable=True, help="resolution tier (a pixel budget; the picture's aspect ratio is kept)"),
    Setting("seed", "int", limit=(-1, MAX_SEED), flag="--seed", help="-1 for random; the used seed is always reported"),
    Setting("scheduler", "choice", choices=SCHEDULERS, flag="--scheduler", preset=True, help="sampler"),
    Setting("decode_chunk_size", "int", limit="decode_chunk_size", flag="--decode-chunk-size", preset=True,
            help="frames decoded by the VAE at once"),
    Setting("guidance_schedule", "choice", display="guidance schedule", choices=SCHEDULES,
            flag="--guidance-schedule", preset=True, control="schedule",
            help="how guidance varies over the steps (from --guidance to --guidance-end)"),
    Setting("guidance_end", "float", limit="guidance", flag="--guidance-end", preset=True, control="guidance_end",
            nullable=True, help="guidance at the last step of a varying schedule (default 60%% of --guidance)"),
    Setting("fast", "int", display="fast mode", limit="fast", flag="--fast", preset=True, control="fast",
            help="fast mode, approximate: the UNet's deep blocks run on one step in N and their features are "
                 "reused in between (DeepCache's method); 1 = exact (default)"),
    Setting("skip_threshold", "float", display="step skipping", limit="skip_threshold", flag="--skip-threshold",
            preset=True, control="skip_threshold",
            help="step skipping, approximate: while the UNet's input changed less than this since the last full "
                 "step (relative L1), the step reuses that step's result; 0 = off (default)"),
    Setting("guidance_stop", "float", display="guidance stop", limit="guidance_stop", flag="--guidance-stop",
            preset=True, control="guidance_stop",
            help="late guidance skipping, approximate: after this fraction of the steps only the conditional "
                 "pass runs, with the last guidance difference reused; 1 = never (default)"),
    # knobs of some families only (i2v/families: a family without them refuses a value); not in presets and
    # templates yet: the page has no control for them (the page's model choice is a later step of issue 30)
    Setting("flow_shift", "float", display="flow shift", limit=(0.5, 20.0), flag="--shift", aliases=("shift",),
            nullable=True,
            help="Wan: the flow-matching shift of the sampler (default: the model's, 5.0); a larger shift spends "
                 "more of the steps at high noise, on the large shapes and the motion"),
    Setting("guidance_scale_2", "float", display="low-noise guidance", limit="guidance", flag="--guidance-2",
            aliases=("guidance_2",), nullable=True,
            help="Wan A14B: guidance of the low-noise expert, the later steps (default: --guidance)"),
    Setting("speed", "choice", display="speed", choices=SPEEDS, flag="--speed", preset=True, control="speed_tier",
            help="speed tier: exact (default), fast or fastest (approximate: DPM-Solver++ at fewer steps, "
                 "DeepCache, step skipping and late guidance skipping together)"),
)
BY_NAME = {s.name: s for s in SETTINGS}
NAMES = tuple(BY_NAME)
# What a request holds besides the settings: the picture, the preset it started from, an explicit size.
REQUEST_EXTRAS = ("image", "preset", "width", "height")
PRESET_KEYS = tuple(s.name for s in SETTINGS if s.preset)
RESTORABLE = tuple(s.name for s in SETTINGS if s.restorable) + ("preset",)
ALIASES = {alias: s.name for s in SETTINGS for alias in s.aliases}
CONTROLS = {s.name: s.control for s in SETTINGS if s.control}


def tier_order(tiers: dict) -> tuple[str, ...]:
    """The configured resolution tiers from the smallest pixel budget to the largest."""
    return tuple(sorted(tiers, key=lambda name: tiers[name]))


def bounds(setting: Setting, limits: dict) -> tuple[float, float] | None:
    if setting.limit is None:
        return None
    if isinstance(setting.limit, tuple):
        return setting.limit
    value = limits[setting.limit]
    return (0, value) if not isinstance(value, (list, tuple)) else (value[0], value[1])


def choices_of(setting: Setting, tiers: dict | None) -> tuple[str, ...]:
    return tuple(tiers or ()) if setting.choices == "tiers" else tuple(setting.choices or ())


def check_defaults(defaults: dict, limits: dict, tiers: dict) -> tuple[str, str] | None:
    """(key, problem) for the first default outside the schema (the config loader reports it), else None."""
    unknown = sorted(set(defaults) - set(NAMES))
    if unknown:
        return unknown[0], "is not a generation setting"
    for name, value in defaults.items():
        s = BY_NAME[name]
        if value is None:
            if s.nullable or s.name == "resolution":
                continue
            return name, "must be set"
        if s.kind == "text" and not isinstance(value, str):
            return name, f"must be text (got {value!r})"
        if s.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    (s.kind == "int" and not float(value).is_integer()):
                return name, f"must be {'a whole number' if s.kind == 'int' else 'a number'} (got {value!r})"
            lo, hi = bounds(s, limits) or (None, None)
            if lo is not None and not lo <= value <= hi:
                return name, f"must be between {lo:g} and {hi:g} (got {value!r})"
        if s.kind == "choice" and value not in choices_of(s, tiers):
            return name, f"must be one of {', '.join(choices_of(s, tiers))} (got {value!r})"
    return None


def canonical(entry: dict[str, Any]) -> dict[str, Any]:
    """Batch-file and CLI aliases ("guidance", "steps", "frames") to setting names."""
    return {ALIASES.get(k, k): v for k, v in entry.items()}


# The named API's values, in order (docs/api.md; Gradio's /gradio_api/info lists the same).  gradio_client
# fills in the defaults; a raw HTTP call sends every value.
API_PARAMS: dict[str, tuple[str, ...]] = {
    "generate": ("image", "prompt", "negative_prompt", "guidance_scale", "num_inference_steps", "num_frames", "fps",
                 "resolution", "seed"),
    "job": ("job",),
    "result": ("job",),  # a finished job's video, downloaded by the client as /generate's is
    "cancel": ("job",),
}
# submit also queues a long video: more than one segment, or a storyboard (one prompt per line)
# and an auto-tuned one: a motion target (subtle, natural, strong or analyze's motion_norm)
API_PARAMS["submit"] = API_PARAMS["generate"] + ("segments", "storyboard", "target_motion")
API_FILES = {"image"}  # values that are uploaded files ({"path": ..., "meta": {"_type": "gradio.FileData"}})

