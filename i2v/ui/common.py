"""Pieces every tab of the page shares: the user's language, errors at the edge, components that hand
their raw value to our validation, where settings come from (presets, templates) and how a settings
dict becomes control updates."""

from __future__ import annotations

from types import SimpleNamespace
from pathlib import Path

import gradio as gr

from ..base.errors import I2VError, echo
from ..base.i18n import pick_lang, t
from ..planning.presets import load_presets
from ..base.settings import CONTROLS  # setting name -> the component showing it (an attribute of ``ui.c``)
from ..base.settings import SETTINGS
from ..planning.templates import list_templates

TEMPLATE_PREFIX = "★ "
# The preset list's last entry: settings that are no preset's (restored ones that differ from the preset they
# came from).  A job from it records no preset, as a CLI run without --preset does.
CUSTOM_PRESET = "custom"



class Components(SimpleNamespace):
    """The page's components by name, so handlers return ``{c.status: ..., c.video: ...}``."""

    def __call__(self, *names: str) -> list:
        return [getattr(self, n) for n in names]


def lang_of(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return pick_lang(headers.get("accept-language"))


def error_text(exc: I2VError, lang: str) -> str:
    return exc.text(lang)


def user_error(exc: I2VError, lang: str) -> gr.Error:
    """The one place a typed error becomes a Gradio error (API callers get it as an exception)."""
    return gr.Error(error_text(exc, lang), title=t("error_title", lang), print_exception=False)


def warn(text: str) -> str:
    return f"⚠️ {text}"


class UploadImage(gr.Image):
    """gr.Image whose upload reaches us unopened, as a file path.

    gr.Image opens every upload with PIL before our code runs, so a damaged or fake image would fail
    inside Gradio with a generic message.  Our own reader (i2v.media.images.open_image) checks it instead and
    answers in the user's language.
    """

    max_bytes = 50 * 1024 * 1024  # the page sets the configured limit

    @classmethod
    def get_block_name(cls) -> str:
        return "image"

    def preprocess(self, payload):
        """The file's path; a ``data:`` URL (a paste, an API caller's inline picture) is saved as a file
        first, never decoded here (Gradio's own would decode every pixel before any check)."""
        from pathlib import Path

        from ..media.images import save_data_url

        if payload is None:
            return None
        url = getattr(payload, "url", None)
        if isinstance(url, str) and url[:5].lower() == "data:":
            try:
                return str(save_data_url(url, Path(self.GRADIO_CACHE) / "pasted", max_bytes=self.max_bytes))
            except I2VError as exc:  # no request here to tell the language: both
                raise gr.Error(f"{exc.text('en')} / {exc.text('zh')}", print_exception=False) from None
        return str(payload.path) if getattr(payload, "path", None) else None


class RawNumber(gr.Number):
    """gr.Number for the API whose value reaches our validation untouched: "abc" or 1e9 then gets our
    clear one-line message (naming the setting and its range) instead of a conversion error in Gradio."""

    @classmethod
    def get_block_name(cls) -> str:
        return "number"

    def preprocess(self, payload):
        return payload


class RawText(gr.Textbox):
    """gr.Textbox for the API, untouched likewise: a number or null where text belongs gets our line."""

    @classmethod
    def get_block_name(cls) -> str:
        return "textbox"

    def preprocess(self, payload):
        return payload


class _BoundedChoice:
    """A choice whose refusal of a value that is not one of its choices quotes a bounded prefix of it.
    Gradio's own message quotes the whole value (200,000 characters sent, 200,000 sent back) and the list
    of choices; a page event called directly (by fn_index) with such a value now gets one short line."""

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except gr.Error:
            raise gr.Error(f"not one of this control's choices: {echo(payload)}", print_exception=False) from None


class Dropdown(_BoundedChoice, gr.Dropdown):
    @classmethod
    def get_block_name(cls) -> str:
        return "dropdown"


class Radio(_BoundedChoice, gr.Radio):
    @classmethod
    def get_block_name(cls) -> str:
        return "radio"


# -- where settings come from ------------------------------------------------------------------------

def choices(lang: str = "en", folder: Path | None = None) -> list[tuple[str, str]]:
    """(label, value) of the presets (``folder``: the model family's, :func:`presets_dir`), then the user's
    templates (read from disk each time: a reloaded page sees new ones).  Presets show their titles in the
    page's language ('Strong action', not high_motion)."""
    presets = [(p.title(lang), p.name) for p in load_presets(folder).values()]
    return presets + [(TEMPLATE_PREFIX + n, TEMPLATE_PREFIX + n) for n in list_templates()] + \
        [(t("preset_custom", lang), CUSTOM_PRESET)]


def without_control(settings: dict) -> dict:
    """The preset settings in ``settings`` that no control shows (sampler, decode chunk): a restored result
    keeps them in ``c.restored`` while the preset list says custom, so Reuse runs what the result ran."""
    from ..base.settings import PRESET_KEYS

    return {k: settings[k] for k in PRESET_KEYS if k not in CONTROLS and settings.get(k) is not None}


def preset_of_values(settings: dict, folder: Path | None = None) -> str:
    """The preset to show for restored settings: the one they record, if every value it sets is still its
    own (a speed tier's cap on the steps aside: the tier is shown beside it); else :data:`CUSTOM_PRESET`."""
    preset = load_presets(folder).get(settings.get("preset") or "")
    if preset is None:
        return CUSTOM_PRESET
    for key, value in preset.settings.items():
        if key not in settings:
            continue
        if key == "num_inference_steps" and settings.get("speed") not in (None, "exact", "custom") \
                and settings[key] <= value:
            continue
        if settings[key] != value:
            return CUSTOM_PRESET
    return preset.name


def settings_of(choice: str | None, folder: Path | None = None) -> dict:
    if choice and choice.startswith(TEMPLATE_PREFIX):
        tpl = list_templates().get(choice[len(TEMPLATE_PREFIX):])
        return dict(tpl.settings) if tpl else {}
    p = load_presets(folder).get(choice or "")
    return dict(p.settings) if p else {}


def preset_name(choice: str | None, folder: Path | None = None) -> str | None:
    return choice if choice in load_presets(folder) else None


def fill(c: Components, settings: dict | None, tiers) -> dict:
    """Control updates for the settings present in ``settings`` (others untouched).  A seed >= 0 is
    shown and the random-seed box unticked, so the next run repeats it."""
    s = settings or {}
    out = {}
    for key, attr in CONTROLS.items():
        v = s.get(key)
        if v is None or (key == "resolution" and v not in tiers):
            continue
        out[getattr(c, attr)] = v
    seed = s.get("seed")
    if isinstance(seed, int) and seed >= 0:
        out[c.seed] = seed
        out[c.random_seed] = False
    return out


def long_fill(c, settings: dict) -> dict:
    """The Length and storyboard a result was made with (a plain video: one segment, no storyboard); a
    storyboard of one prompt repeated is that prompt, shown in the prompt box already."""
    n = settings.get("segments") or 1
    board = [str(x) for x in settings.get("storyboard") or []]
    return {c.segments: int(n), c.storyboard: "\n".join(board) if len(set(board)) > 1 else ""}


def control_values(c: Components, values: dict) -> dict:
    """Settings from the current control values (``values`` keyed by component)."""
    s = {key: values[getattr(c, attr)] for key, attr in CONTROLS.items() if getattr(c, attr) in values}
    for setting in SETTINGS:  # sliders send 11 for 11.0, and 11.0 for 11
        v = s.get(setting.name)
        if setting.kind in _NUMBER and isinstance(v, (int, float)) and not isinstance(v, bool):
            s[setting.name] = _NUMBER[setting.kind](v)
    if c.random_seed in values and not values[c.random_seed] and values.get(c.seed) is not None:
        s["seed"] = int(values[c.seed])
    return s


_NUMBER = {"float": float, "int": int}


def page_request(c: Components, values: dict) -> dict:
    """The settings a job from the page runs with: every control's value (from the settings registry), and
    what the chosen preset or template holds that no control shows (sampler, decode chunk); the schedule's
    end only where the schedule uses it.  The Create and Compare tabs and template saving all use this."""
    choice = values.get(c.preset)
    held = values.get(c.restored) if choice == CUSTOM_PRESET else None  # a restored result's own (sampler, …)
    folder = getattr(c, "presets", None)  # the model family's presets (StudioUI sets it)
    s = {k: v for k, v in (held or settings_of(choice, folder)).items() if k not in CONTROLS}
    s.update(control_values(c, values))
    if s.get("guidance_schedule") in (None, "constant"):
        s["guidance_end"] = None  # the slider's value means nothing for constant guidance
    s["preset"] = preset_name(choice, folder)
    return s


__all__ = ["Components", "lang_of", "error_text", "user_error", "UploadImage", "RawNumber", "RawText", "choices",
           "settings_of", "preset_name", "preset_of_values", "without_control",
           "CUSTOM_PRESET", "fill",
           "long_fill", "control_values", "page_request", "TEMPLATE_PREFIX",
           "CONTROLS", "t", "warn"]


def model_value(source: str) -> str:
    """The Model choice's value for a model source (a hub id shows as its model's name)."""
    from ..families.catalog import model_rows

    row = next((r for r in model_rows() if source in (r["name"], r["hub_id"])), None)
    return row["name"] if row else source


def check_shown_model(ui, values: dict) -> None:
    """A page submits for the model it shows: if another page switched the studio since, say so (one line)
    rather than run its settings, checked for one model, on another."""
    shown, now = values.get(getattr(ui.c, "model", None)), ui.studio.selected
    if shown and shown not in (now, model_value(now)):
        from ..base.errors import InvalidInput

        raise InvalidInput("model_switched", shown=shown, now=model_value(now))


def family_text(key: str, fam: dict) -> str:
    """The key of a control's note for the model's family: I2VGen-XL's own (zones from the seed article, CLIP,
    a UNet) or the general one of a family that runs diffusers' pipeline (Wan)."""
    return key if "approximate" in fam.get("takes", ()) else f"{key}_family"


# Controls of I2VGen-XL's own loop (approximate methods, guidance per step) and its motion-speed input: shown
# only for a family that takes them
LOOP_CONTROLS = {"fast": "approximate", "skip_threshold": "approximate", "guidance_stop": "approximate",
                 "schedule": "guidance_schedule", "guidance_end": "guidance_schedule", "target_fps": "target_fps"}


def control_names() -> tuple[str, ...]:
    """The components a settings dict can fill (from the settings schema), plus the seed's two."""
    return (*CONTROLS.values(), "seed", "random_seed")


def restore_form(ui, settings: dict, image: str | None = None, *, switched: dict | None = None) -> dict:
    """The Create tab's controls for restored settings: the one form behind Reuse, a dropped file and a
    reloaded page.  Every control a setting has, the Length and storyboard (a plain video: 1, none), the preset
    the values came from if they still are its values (else *custom*, which a job records as no preset),
    and the input picture where the job still keeps it."""
    c = ui.c
    switched = switched or {}  # a result of another model (History's Reuse, a dropped file): i2v.ui.models.switch
    out = {**fill(c, settings, ui.cfg.resolution["tiers"]), **long_fill(c, settings),
           c.preset: preset_of_values(settings, ui.presets), c.restored: without_control(settings), c.manual: True}
    for comp, update in switched.items():  # the model's ranges, with the restored values in them
        out[comp] = {**update, "value": out[comp]} if comp in out and isinstance(update, dict) else \
            out.get(comp, update)
    if image:
        out[c.image] = image
    return out


def kept_picture(jobs, params: dict | None) -> str | None:
    """A job's input picture, where the studio still keeps it (a finished job's is removed soon after)."""
    rel = (params or {}).get("image")
    path = jobs.abs(rel) if isinstance(rel, str) else None
    return str(path) if path is not None and path.is_file() else None
