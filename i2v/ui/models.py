"""The model choice above the tabs: every model the studio serves, with its size on disk, whether it is
downloaded here and the card it needs.  Choosing one switches the studio's model with no restart (it loads in
the background, the banner showing its progress), and the Create tab follows it: presets, slider ranges, frame
counts, the guidance zone and the speed tiers are that model's.  History's Reuse and a dropped file bring back
the model a result was made with, the same way."""

from __future__ import annotations

import gradio as gr

from ..base.errors import I2VError
from ..base.i18n import t
from ..families.catalog import model_rows
from ..planning.presets import presets_dir
from .common import LOOP_CONTROLS, Dropdown, error_text, family_text, lang_of, model_value, settings_of, warn
from .common import choices as preset_choices

# what a switch updates besides the controls a preset fills
OUTPUTS = ("model", "model_md", "preset", "frames", "guidance", "guidance_end", "zone", "speed_md", "negative",
           "sweep_values", "timer", "speed_tier", "rec_md", "fast", "skip_threshold", "guidance_stop", "schedule",
           "target_fps")


def _label(row: dict, lang: str) -> str:
    if row["kind"] == "hub":
        state = t("model_downloaded" if row["downloaded"] else "model_not_downloaded", lang)
        return t("model_row_hub", lang, name=row["name"], variant=row["variant"], gb=f"{row['disk_gb']:g}",
                 state=state, card=f"{row['card_gb']:g}")
    return t("model_row_synthetic", lang, name=row["name"], variant=row["variant"])


def choices(current: str, lang: str = "en") -> list[tuple[str, str]]:
    """Every model of every family but the random-weight full-size ones (for measurements: the CLI has
    them), and the current one if it is a folder or another hub id."""
    rows = [r for r in model_rows() if r["kind"] != "random-full" or r["name"] == current]
    out = [(_label(r, lang), r["name"]) for r in rows]
    if current not in {v for _, v in out} and current not in {r["hub_id"] for r in rows}:
        out.append((current, current))
    return out


value_of = model_value


def info(cfg, lang: str) -> str:
    """One line under the choice: the family's defaults and where they come from."""
    fam = cfg.family
    return t("model_info", lang, title=fam.get("title", ""), frames=cfg.defaults["num_frames"],
             fps=cfg.defaults["fps"], steps=cfg.defaults["num_inference_steps"],
             guidance=f"{cfg.defaults['guidance_scale']:g}")


def layout(ui) -> None:
    c = ui.c
    with gr.Row():
        # (the bounded dropdown: a value not among its choices is one short line, as for every choice)
        c.model = Dropdown(choices(ui.studio.selected), value=value_of(ui.studio.selected), label=ui.i18n("model"),
                           info=ui.i18n("model_choice_info"), elem_id="model-choice", scale=3)
        c.model_md = gr.Markdown(info(ui.cfg, "en"), elem_id="model-info")


def notes(fam: dict, lang: str) -> dict[str, str]:
    """The family's notes under guidance, the speed tier and the negative prompt, by control name."""
    lo, hi = fam["safe_zone"]
    return {"guidance": t(family_text("guidance_info", fam), lang, lo=f"{lo:g}", hi=f"{hi:g}",
                          default=f"{fam['guidance_default']:g}"),
            "speed_tier": t(family_text("speed_tier_info", fam), lang),
            "negative": t(family_text("negative_info", fam), lang)}


def form(ui, lang: str, values: dict | None = None) -> dict:
    """The Create tab for the page's model: its presets (``standard`` unless ``values`` say otherwise), the
    ranges and steps of its sliders, its zone and speed text, its negative prompt; ``values`` (a restored
    result's) go into the ranged sliders here."""
    from .create import speed_text, zone_text

    c, cfg = ui.c, ui.cfg
    c.presets = presets_dir(cfg)  # (every handler reads the family's presets from here)
    lim, fam = cfg.limits, cfg.family
    std = settings_of("standard", c.presets)
    v = {**std, **(values or {})}
    g = float(v.get("guidance_scale", cfg.defaults["guidance_scale"]))
    takes = fam.get("takes", ())
    n = notes(fam, lang)
    return {c.model: gr.update(choices=choices(ui.studio.selected, lang), value=value_of(ui.studio.selected)),
            c.model_md: info(cfg, lang),
            c.preset: gr.update(choices=preset_choices(lang, c.presets), value="standard"),
            c.frames: gr.update(minimum=lim["frames"][0], maximum=lim["frames"][1], step=fam["frames_step"],
                                value=int(v.get("num_frames", cfg.defaults["num_frames"]))),
            c.guidance: gr.update(minimum=lim["guidance"][0], maximum=lim["guidance"][1], value=g, info=n["guidance"]),
            **{getattr(c, name): gr.update(visible=need in takes) for name, need in LOOP_CONTROLS.items()},
            c.guidance_end: gr.update(minimum=lim["guidance"][0], maximum=lim["guidance"][1],
                                      visible="guidance_schedule" in takes),
            c.zone: zone_text(g, lang, fam), c.speed_md: speed_text(lang, fam),
            c.speed_tier: gr.update(info=n["speed_tier"]),
            c.rec_md: "",  # (a recommendation for the other model)
            c.negative: gr.update(value=cfg.defaults["negative_prompt"], info=n["negative"]),
            c.sweep_values: ", ".join(f"{g:g}" for g in fam["sweep_values"]),
            c.timer: gr.update(active=True)}  # the banner ticks again: it says when the model is loaded


def switch(ui, source: str | None, lang: str) -> dict | None:
    """Switch the page's model to ``source`` and return the form of that model (None: no source, or it already
    was the page's); raises the typed error of a bad one."""
    if source is None or not ui.studio.select(source, preload=not ui.pooled):
        return None
    return form(ui, lang)


class ModelHandlers:
    def __init__(self, ui):
        self.ui, self.c = ui, ui.c

    def on_model(self, source: str, request: gr.Request):
        """The choice changed: switch, then the preset ``standard`` of that model on every control it sets."""
        c, lang = self.c, lang_of(request)
        try:
            out = switch(self.ui, source, lang)
        except I2VError as exc:
            return {c.model: gr.update(value=value_of(self.ui.studio.selected)),
                    c.model_md: warn(error_text(exc, lang))}
        if out is None:
            return {c.model_md: info(self.ui.cfg, lang)}
        return self.with_standard(out)

    def with_standard(self, out: dict) -> dict:
        """``out`` (a :func:`form`) with the model's ``standard`` preset on every control it sets."""
        from .common import fill

        c = self.c
        filled = fill(c, settings_of("standard", c.presets), self.ui.cfg.resolution["tiers"])
        for comp, value in filled.items():  # a ranged slider keeps its new range and takes the value
            out[comp] = gr.update(value=value) if comp not in out else {**out[comp], "value": value}
        return {**out, c.manual: False, c.restored: {}}

    def page(self, lang: str) -> dict:
        """A page loading: the choice in its language; the whole form when the model is no longer the one the
        page was built for (it was switched since the studio started)."""
        c, ui = self.c, self.ui
        if ui.cfg.model["source"] != ui.built_for:
            return self.with_standard(form(ui, lang))
        # only what a page load needs in its language (values and ranges are the page's own): no preset files
        # read, the model list looked up once
        n = notes(ui.cfg.family, lang)
        return {c.model: gr.update(choices=choices(ui.studio.selected, lang)), c.model_md: info(ui.cfg, lang),
                **{getattr(c, name): gr.update(info=text) for name, text in n.items()}}


def wire(ui) -> None:
    from .common import control_names

    c = ui.c
    h = ModelHandlers(ui)
    ui.models = h
    outs = list(dict.fromkeys([*c(*OUTPUTS), *c(*control_names()), c.manual, c.restored]))
    # always_last: of picks made faster than a switch answers, the last one is made (none is dropped for good)
    c.model.input(h.on_model, c.model, outs, api_name=False, show_progress="hidden", concurrency_limit=1,
                  trigger_mode="always_last")
