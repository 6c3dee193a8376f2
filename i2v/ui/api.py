"""The named API endpoints: ``generate`` (blocking), ``submit``, ``job``, ``result`` and ``cancel``.

They go through the same job service as the page: ``generate`` submits a job and waits for it, and a
client that disconnects while it waits cancels its job.  Every argument but ``image`` and ``prompt`` has
the documented default (the hidden components' values).
"""

from __future__ import annotations

import time

import gradio as gr
from gradio.data_classes import FileData
from gradio_client.utils import is_file_obj_with_meta
from pydantic import ValidationInfo, model_validator

from ..base.errors import I2VError, InvalidInput, echo
from ..planning.longplan import long_wanted
from ..jobs import DONE, error_of
from ..base.settings import API_PARAMS
from .common import RawNumber, RawText, lang_of, user_error


NOT_A_FILE = "\x00not-a-file"  # the name a value that is no file object is given, for the handler to refuse


class _AnyFileData(FileData):
    """gradio's FileData, which also takes a value that is none (gradio_client sends a plain string given for a
    file as it is): it becomes an empty file object marked :data:`NOT_A_FILE`, which the handler refuses in
    the caller's language.  (gradio refused it with a validation error: the client got "The upstream Gradio
    app has raised an exception", the log a traceback.)"""

    @model_validator(mode="before")
    @classmethod
    def validate_model(cls, v, info: ValidationInfo):  # (replaces FileData's check, which raised)
        checked = info.context is not None and info.context.get("validate_meta")  # (a caller's value)
        if not checked or v is None or is_file_obj_with_meta(v) or isinstance(v, FileData):
            return v
        return {"path": "", "orig_name": NOT_A_FILE, "meta": {"_type": "gradio.FileData"}}


class ApiFile(gr.File):
    """The API's picture: a file object as gradio.File takes it, or (anything else) :data:`NOT_A_FILE`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.data_model = _AnyFileData  # (gr.File sets its own in __init__)

    @classmethod
    def get_block_name(cls) -> str:
        return "file"

    def preprocess(self, payload):
        if isinstance(payload, FileData) and payload.orig_name == NOT_A_FILE:
            return NOT_A_FILE
        return super().preprocess(payload)


def api_inputs() -> list:
    """The components of ``API_PARAMS["generate"]``, in its order.  The settings default to None: the call runs
    with the *standard* preset of the model the studio runs then (:meth:`ApiHandlers.request_of`), which a switch
    on the page changes."""
    return [ApiFile(type="filepath"), RawText(), RawText(value=None), RawNumber(value=None),
            RawNumber(value=None, precision=0), RawNumber(value=None, precision=0), RawNumber(value=None, precision=0),
            RawText(value=None), RawNumber(value=-1, precision=0)]


class ApiHandlers:
    def __init__(self, ui):
        self.ui, self.jobs = ui, ui.jobs

    def request_of(self, args: dict) -> dict:
        """The call's settings by name (``API_PARAMS["generate"]``), each one not given (None) from the standard
        preset of the model the studio runs now, else from that model's defaults."""
        from ..planning.presets import presets_dir
        from .common import settings_of

        cfg = self.ui.cfg
        std = {**cfg.defaults, "resolution": cfg.resolution["default_tier"],
               **settings_of("standard", presets_dir(cfg))}
        return {k: std.get(k) if args[k] is None else args[k] for k in API_PARAMS["generate"]}

    def _submit(self, args: dict, request: gr.Request):
        """Queue the call's job: ``args`` are the handler's arguments, of which those named in
        ``API_PARAMS["generate"]`` are the request (the signatures below name them for Gradio's API page)."""
        try:
            if args["image"] == NOT_A_FILE:  # the message the door gives a raw call (docs/api.md)
                raise InvalidInput("api_file_value", name="image")
            return self.jobs.submit_generate(client=request.session_hash, **self.request_of(args))
        except I2VError as exc:
            raise user_error(exc, lang_of(request)) from None

    def result(self, job) -> dict:
        """What the API returns about a result: paths relative to the outputs folder (no server paths)."""
        s = dict((job.result or {}).get("summary") or {})
        return {**s, "params": self.jobs.metadata(job).get("params"), "job": job.id}

    # (settings default to None: gradio_client then treats them as optional, and request_of fills them)
    def generate(self, image, prompt, negative_prompt=None, guidance_scale=None, num_inference_steps=None,
                 num_frames=None, fps=None, resolution=None, seed=-1, request: gr.Request = None):
        """Blocking: submit, wait, return (video, metadata).  Yields while waiting so that Gradio notices a
        client that went away; then the job is cancelled (it would hold the model for nobody)."""
        lang = lang_of(request)
        job = self._submit(locals(), request)
        ended = False
        try:
            while True:
                snap = self.jobs.get(job.id)
                if snap.final:
                    break
                yield gr.skip(), gr.skip()
                time.sleep(0.3)
            ended = True
        finally:
            if not ended:
                self.jobs.cancel(job.id)
        if snap.status != DONE:
            raise user_error(error_of(snap), lang)
        yield self.jobs.summary(snap)["video"], self.result(snap)

    def submit(self, image, prompt, negative_prompt=None, guidance_scale=None, num_inference_steps=None,
               num_frames=None, fps=None, resolution=None, seed=-1, segments=1, storyboard="", target_motion="",
               request: gr.Request = None):
        """Queue a video, or a long one (``segments`` > 1 or a ``storyboard``), or an auto-tuned one (a
        ``target_motion``), and return its job id."""
        args = locals()
        long = long_wanted(segments, storyboard)
        if target_motion in (None, "") and long is None:
            job = self._submit(args, request)
        else:
            try:
                request_kw = self.request_of(args)
                job = self.jobs.submit_autotune(client=request.session_hash, target_motion=target_motion, long=long,
                                                **request_kw) if target_motion not in (None, "") else \
                    self.jobs.submit_long(client=request.session_hash, **long, **request_kw)
            except I2VError as exc:
                raise user_error(exc, lang_of(request)) from None
        return {"job": job.id, "status": job.status}

    def job(self, job_id):
        job_id = str(job_id or "").strip()
        job = self.jobs.get(job_id)  # an over-long id is not looked up
        if job is None:  # the id is echoed by a bounded prefix (a 100,000-character one is not sent back)
            return {"job": echo(job_id), "status": None,
                    "error": {"code": "not_found", "message": InvalidInput("no_job", id=echo(job_id)).text("en")}}
        out = job.to_json()
        out["job"] = job.id
        if job.status == DONE:
            out["result"] = self.result(job)
        return out

    def result_of(self, job_id, request: gr.Request):
        """A finished job's video (a file the client downloads, as ``/generate``'s) and what ``/job`` says of
        its result; a job without a video yet is one line saying what it is."""
        job_id = str(job_id or "").strip()
        job = self.jobs.get(job_id)  # an over-long id is not looked up
        if job is None:
            raise user_error(InvalidInput("no_job", id=echo(job_id)), lang_of(request))
        if job.status != DONE:
            exc = error_of(job) if job.final else InvalidInput("job_not_done", id=job.id, status=job.status)
            raise user_error(exc, lang_of(request))
        return self.jobs.summary(job)["video"], self.result(job)

    def cancel(self, job_id):
        job_id = str(job_id or "").strip()
        status = self.jobs.cancel(job_id)
        return {"job": echo(job_id), "status": status, "cancel_requested": status == "running"}


def wire(ui) -> None:
    h = ApiHandlers(ui)
    with gr.Row(visible=False):
        gen_in = api_inputs()
        sub_in = api_inputs() + [RawNumber(value=1, precision=0), RawText(value=""), RawText(value="")]
        assert len(gen_in) == len(API_PARAMS["generate"]) and len(sub_in) == len(API_PARAMS["submit"])
        gen_out = [gr.Video(), gr.JSON()]
        sub_out, job_in, job_out, cancel_in, cancel_out = gr.JSON(), gr.Textbox(), gr.JSON(), gr.Textbox(), gr.JSON()
        result_in, result_out = gr.Textbox(), [gr.Video(), gr.JSON()]
        buttons = [gr.Button() for _ in range(5)]
    # Waiting is cheap (the worker runs the job, one at a time): no concurrency limit on the calls themselves.
    buttons[0].click(h.generate, gen_in, gen_out, api_name="generate", concurrency_limit=None, show_progress="hidden")
    buttons[1].click(h.submit, sub_in, sub_out, api_name="submit", concurrency_limit=None)
    buttons[2].click(h.job, job_in, job_out, api_name="job", concurrency_limit=None)
    buttons[3].click(h.cancel, cancel_in, cancel_out, api_name="cancel", concurrency_limit=None)
    buttons[4].click(h.result_of, result_in, result_out, api_name="result", concurrency_limit=None)
