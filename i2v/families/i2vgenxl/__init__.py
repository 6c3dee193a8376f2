"""I2VGen-XL (ali-vilab, 2023): the family the studio was built around, and its default.

Sources: the hub repository's configs (configs/i2vgen-xl/, provenance in its SOURCES.md) and diffusers'
``I2VGenXLPipeline`` defaults (512 x 512 up to 1280 x 704, 16 frames conditioned at 16 fps and written at
8, 50 DDIM steps, guidance 9).
Its engine is i2v/engine/ (the studio's own denoising loop, proved equal to diffusers' pipeline).
"""

from ..spec import Family, Geometry, Knobs, Model, Variant

KNOBS = Knobs(
    samplers=("ddim", "dpm++"),
    steps_default=50,
    guidance_default=9.0,
    guidance_range=(1.0, 20.0),
    source="diffusers I2VGenXLPipeline.__call__ defaults (num_inference_steps=50, guidance_scale=9.0); "
           "configs/i2vgen-xl/scheduler (DDIM, v-prediction)",
    safe_zone=(4.0, 15.0), sweep_values=(5.0, 7.0, 9.0, 11.0, 14.0, 18.0), recommender=True, approximate=True,
    fps_conditioning=True,
    zones_source="the seed article's guidance zones (../shared/seed/): 4-6 subtle, 7-9 natural, 10-13 strong, "
                 "above 15 artifacts and flicker",
)

FAMILY = Family(
    name="i2vgen-xl",
    title="I2VGen-XL",
    pipeline_classes=("I2VGenXLPipeline",),
    engine="i2v.engine",
    variants={"i2vgen-xl": Variant(
        key="i2vgen-xl", title="I2VGen-XL",
        # the UNet halves the latents three times after the VAE's 8: multiples of 64; 16 frames, an MP4 at 8 fps
        geometry=Geometry(multiple=64, native=(1280, 704), frames_default=16, frames_min=2, frames_max=64, fps=8),
        knobs=KNOBS, configs="i2vgen-xl")},
    models=(
        Model("ali-vilab/i2vgen-xl", "i2vgen-xl", "hub", hub_id="ali-vilab/i2vgen-xl",
              revision="39e1979ea27be737b0278c06755e321f2b4360d5",
              revision_note="main of ali-vilab/i2vgen-xl as seen on huggingface.co (configs/i2vgen-xl/SOURCES.md)",
              disk_gb=5.0, card_gb=8.0,
              card_note="fp16; the studio's memory ladder (offload, tiling, split guidance) fits 8 GB cards"),
        Model("tiny", "i2vgen-xl", "tiny", tiny_configs="tiny"),
        Model("random-full", "i2vgen-xl", "random-full"),
    ),
)
