"""What a model family declares: plain data that the rest of the studio reads instead of a model's name.

A family (one package under ``i2v/families/``, one line in its registry) is mostly this data plus one engine:
where its weights come from (:class:`Model`), the picture sizes and frame counts it makes (:class:`Geometry`),
and the knobs a user turns (:class:`Knobs`), per variant (:class:`Variant`).  The shape follows ComfyUI's
``supported_models.py`` (a small declaration per model, a registry list) and Wan2GP's per-model defaults
files.  Pure: no torch, no diffusers; the engine is named by its module and loaded by the engine layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Geometry:
    """Sizes and frames a variant makes."""

    multiple: int                  # width and height are multiples of this (VAE scale x patch size)
    native: tuple[int, int]        # (width, height) the model was trained at
    frames_default: int
    frames_min: int
    frames_max: int
    frames_step: int = 1           # allowed counts are frames_min + k * frames_step (Wan: 4k+1)
    fps: int = 16                  # frames per second of the video it makes

    def frames_allowed(self, n: int) -> bool:
        return self.frames_min <= n <= self.frames_max and (n - self.frames_min) % self.frames_step == 0

    def nearest_frames(self, n: int) -> int:
        """The allowed count nearest ``n`` (the smaller of two at the same distance)."""
        n = min(max(n, self.frames_min), self.frames_max)
        k, r = divmod(n - self.frames_min, self.frames_step)
        return self.frames_min + (k + (1 if 2 * r > self.frames_step else 0)) * self.frames_step

    def fits(self, width: int, height: int) -> bool:
        return width > 0 and height > 0 and width % self.multiple == 0 and height % self.multiple == 0


@dataclass(frozen=True)
class Knobs:
    """What a user turns, with the defaults the model's authors publish (``source`` says where)."""

    samplers: tuple[str, ...]
    steps_default: int
    guidance_default: float
    guidance_range: tuple[float, float]
    source: str
    # motion control: the guidance auto-tune may choose, the values Compare guidance tries by default, and
    # whether the studio's recommender (fitted to I2VGen-XL's zones) applies; else auto-tune starts at the
    # published default.  ``zones_source`` says where the zone comes from.
    safe_zone: tuple[float, float] = (1.0, 20.0)
    sweep_values: tuple[float, ...] = ()
    recommender: bool = False
    zones_source: str = ""
    # I2VGen-XL's engine's own: approximate speed tiers (DeepCache, step skipping, late guidance skipping) and a
    # guidance that varies from step to step
    approximate: bool = False
    fps_conditioning: bool = False  # the model takes the motion's speed as an input (I2VGen-XL's target_fps)
    # speed tiers through diffusers' own cache hooks (Wan): tier name -> the hook's settings
    cache_tiers: dict = field(default_factory=dict)
    cache_source: str = ""
    # exact's transformer FLOPs over each tier's, counted at native size over the default steps (a test holds
    # these to the count: i2v/families/wan/flops.py)
    cache_flop_ratio: dict = field(default_factory=dict)
    shift_default: float | None = None       # flow-matching shift (Wan)
    guidance_2_default: float | None = None  # the low-noise expert's guidance (Wan A14B)
    negative_default: str = ""


@dataclass(frozen=True)
class Variant:
    """One architecture of a family (Wan: the 5B with one transformer, the A14B with two experts)."""

    key: str
    title: str
    geometry: Geometry
    knobs: Knobs
    configs: str                   # folder under configs/ holding the real configs in diffusers layout
    experts: int = 1               # transformers switched by timestep (A14B: 2)
    index_match: dict = field(default_factory=dict)  # model_index.json values that tell this variant's folder
    presets: str = ""              # its presets: a folder under presets/ ("": presets/ itself)

    def matches(self, index: dict) -> bool:
        return all(index.get(k) == v for k, v in self.index_match.items())


@dataclass(frozen=True)
class Model:
    """A name ``--model`` takes: real weights from the hub, or random weights (tiny, random-full)."""

    name: str
    variant: str                   # a key of the family's variants
    kind: str                      # hub | tiny | random-full
    hub_id: str | None = None
    revision: str | None = None    # pinned commit; None where no published commit could be found
    revision_note: str = ""        # where the revision comes from, or why there is none
    disk_gb: float | None = None   # size of the download on disk
    card_gb: float | None = None   # the card it needs (the authors' published figure)
    card_note: str = ""
    tiny_configs: str | None = None  # folder under configs/ of the toy widths (kind tiny)

    @property
    def synthetic(self) -> bool:
        return self.kind != "hub"


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    pipeline_classes: tuple[str, ...]   # the diffusers pipelines (model_index.json's _class_name) it serves
    engine: str                         # module of its engine (loaded by the engine layer)
    variants: dict[str, Variant]
    models: tuple[Model, ...]
    requirements: tuple[str, ...] = field(default=())  # extra Python packages its pipelines need
    # its memory model: a file under configs/ measured on the real architecture (i2v/planning/dit_vram.py reads
    # it); "" for the UNet model of i2v/planning/vram.py (configs/memory.yaml)
    memory: str = ""

    def model(self, name: str) -> Model | None:
        return next((m for m in self.models if m.name == name), None)

    def variant_of(self, model: Model) -> Variant:
        return self.variants[model.variant]

    @property
    def default_variant(self) -> Variant:
        return next(iter(self.variants.values()))
