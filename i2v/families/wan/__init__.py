"""Wan 2.2 (Wan-AI, 2025, Apache-2.0): TI2V-5B (one 5B transformer, 1280 x 704 at 24 fps) and I2V-A14B (two
14B experts, one for the high-noise steps and one for the low-noise steps, switched at a boundary timestep).

Sources of every default below: the Wan2.2 repository's configs (github.com/Wan-Video/Wan2.2 at commit
42bf4cfaa384bc21833865abc2f9e6c0e67233dc: wan/configs/wan_ti2v_5B.py, wan_i2v_A14B.py, shared_config.py)
and its README (cards, speed).  configs/wan2.2-*/SOURCES.md says how the diffusers-layout configs were made.
Its engine (engine.py) runs diffusers' ``WanImageToVideoPipeline``.
"""

from ..spec import Family, Geometry, Knobs, Model, Variant

REPO = "Wan-Video/Wan2.2@42bf4cfaa384bc21833865abc2f9e6c0e67233dc"
# shared_config.py's sample_neg_prompt: the negative prompt the authors sample with (Chinese)
NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，"
            "整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，"
            "画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，"
            "静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")
NO_REVISION = ("no published commit of this hub repository was found in the material reachable from here "
               "(the Wan2.2 repository, diffusers' code, tests and issues); it loads the repository's main "
               "until one is pinned")

# No guidance zones for Wan 2.2 are published (the authors give one default per model).  Until they are
# measured on the real weights (a card), auto-tune stays within a zone around that default, and Compare
# guidance spans the family's range around it: the studio's assumption, said as such on the page and in docs.
ZONES = ("not published: the studio's assumption around the authors' default (wan/configs), to be measured "
         "on the real weights")

# The speed tiers: diffusers' TaylorSeer cache hook (TaylorSeerCacheConfig, applied by the transformer's
# enable_cache) predicting every transformer block's output from a first-order Taylor expansion between full
# steps.  Full steps: the first 3, then one in `cache_interval` (diffusers' own rule): 19 of 50 for fast,
# 11 of 50 for fastest; i2v/families/wan/flops.py counts what that saves.
CACHE_TIERS = {"fast": {"cache_interval": 3, "disable_cache_before_step": 3},
               "fastest": {"cache_interval": 6, "disable_cache_before_step": 3}}
CACHE_SOURCE = ("diffusers' TaylorSeerCacheConfig (hooks/taylorseer_cache.py; TaylorSeer, arXiv 2503.06923) on "
                "every transformer block")

TI2V_5B = Variant(
    key="ti2v-5b", title="Wan 2.2 TI2V-5B",
    # VAE 16 x 16 spatial x patch 2 = 32; 121 frames (4k+1) at 24 fps is 5 s: wan_ti2v_5B.py
    geometry=Geometry(multiple=32, native=(1280, 704), frames_default=121, frames_min=5, frames_max=121,
                      frames_step=4, fps=24),
    knobs=Knobs(samplers=("unipc",), steps_default=50, guidance_default=5.0, guidance_range=(1.0, 10.0),
                shift_default=5.0, negative_default=NEGATIVE, safe_zone=(2.0, 8.0),
                sweep_values=(2.0, 3.5, 5.0, 6.5, 8.0, 10.0), zones_source=ZONES, cache_tiers=CACHE_TIERS,
                cache_source=CACHE_SOURCE, cache_flop_ratio={"fast": 2.63, "fastest": 4.54},
                source=f"{REPO} wan/configs/wan_ti2v_5B.py (sample_steps 50, sample_guide_scale 5.0, "
                       "sample_shift 5.0, frame_num 121, sample_fps 24); the solver: generate.py's default unipc"),
    configs="wan2.2-ti2v-5b", index_match={"expand_timesteps": True}, presets="wan2.2-ti2v-5b")

I2V_A14B = Variant(
    key="i2v-a14b", title="Wan 2.2 I2V-A14B",
    # VAE 8 x 8 x patch 2 = 16; 81 frames at 16 fps: shared_config.py
    geometry=Geometry(multiple=16, native=(1280, 720), frames_default=81, frames_min=5, frames_max=121,
                      frames_step=4, fps=16),
    knobs=Knobs(samplers=("unipc",), steps_default=40, guidance_default=3.5, guidance_range=(1.0, 10.0),
                shift_default=5.0, guidance_2_default=3.5, negative_default=NEGATIVE, safe_zone=(1.5, 6.5),
                sweep_values=(1.5, 2.5, 3.5, 4.5, 6.0, 8.0), zones_source=ZONES, cache_tiers=CACHE_TIERS,
                cache_source=CACHE_SOURCE, cache_flop_ratio={"fast": 2.67, "fastest": 4.44},
                source=f"{REPO} wan/configs/wan_i2v_A14B.py (sample_steps 40, sample_guide_scale (3.5, 3.5) "
                       "low and high noise, sample_shift 5.0, boundary 0.900); shared_config.py (81 frames, 16 fps)"),
    configs="wan2.2-i2v-a14b", experts=2, index_match={"expand_timesteps": False}, presets="wan2.2-i2v-a14b")

FAMILY = Family(
    name="wan2.2",
    title="Wan 2.2",
    pipeline_classes=("WanImageToVideoPipeline",),
    engine="i2v.families.wan.engine",
    variants={v.key: v for v in (TI2V_5B, I2V_A14B)},
    models=(
        # disk: parameters x 2 bytes (bf16): transformer 5.00 B, UMT5-XXL encoder 5.68 B, VAE 0.70 B (5B);
        # two experts of 14.29 B, the encoder, VAE 0.13 B (A14B).  Counted from configs/ by tests/test_families.py
        Model("wan2.2-ti2v-5b", "ti2v-5b", "hub", hub_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers", revision=None,
              revision_note=NO_REVISION, disk_gb=22.8, card_gb=24.0,
              card_note="24 GB per the Wan2.2 README (one GPU, with offloading and the text encoder on the CPU); "
                        "about 8 GB with offloading per ComfyUI's note"),
        Model("wan2.2-i2v-a14b", "i2v-a14b", "hub", hub_id="Wan-AI/Wan2.2-I2V-A14B-Diffusers", revision=None,
              revision_note=NO_REVISION, disk_gb=68.8, card_gb=80.0,
              card_note="80 GB per the Wan2.2 README for one GPU"),
        Model("wan-tiny", "ti2v-5b", "tiny", tiny_configs="wan-tiny/ti2v-5b"),
        Model("wan-tiny-a14b", "i2v-a14b", "tiny", tiny_configs="wan-tiny/i2v-a14b"),
        Model("wan-random-full", "ti2v-5b", "random-full"),
        Model("wan-random-full-a14b", "i2v-a14b", "random-full"),
    ),
    requirements=("ftfy",),  # diffusers' Wan pipelines clean prompts with it (a NameError without it)
    memory="memory-wan.yaml",  # measured with fake tensors by i2v/families/wan/memory.py
)
