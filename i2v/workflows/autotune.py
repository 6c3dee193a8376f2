"""Auto-tune: cheap drafts at a few guidance values, then the final video at the guidance whose motion hits
the target (a workflow over the studio service, like the sweep; the policy is :mod:`i2v.motion.tuning`).

* **One seed** for every draft and the final (a random one is drawn once), so the loop tunes against
  guidance, not seed noise.
* **Drafts** keep the request's picture, prompt, sampler, speed settings and guidance schedule, at the
  smallest resolution tier, with few frames and few steps (``autotune:`` in the config, or the options).
  Motion is compared as ``motion_norm`` (% of the frame's diagonal per frame): the same at every size.
* The first draft is at the recommendation for the prompt and picture; the next ones follow the fit.
* Each draft is a committed result (a child row of the job): an interrupted auto-tune resumes from the
  drafts it has.
* The final video's metadata holds the drafts, the fit and the choice (``autotune``).  When the drafts leave
  no guidance within the limits (``none_allowed``), no final video is made: the job fails with one line.

With the tiny or random-weight models, motion does not follow guidance: the loop runs, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

from ..base.errors import GenerationFailed
from ..motion.guidance import recommend
from ..base.settings import tier_order
from ..studio import GenerationResult, Studio
from ..motion.tuning import MAX_DRAFTS, TARGETS, Decision, Draft, decide

# what a request may add to be auto-tuned (the CLI's options, a batch entry's keys, the API's value)
TUNE_KEYS = ("target_motion", "draft_steps", "draft_frames")


@dataclass
class TuneResult:
    final: GenerationResult
    record: dict
    made: int  # drafts made in this run (the others were committed before)


def draft_settings(studio: Studio, steps: int, frames: int, draft_steps=None, draft_frames=None) -> dict:
    """The drafts' size, frames and steps (never more than the final's)."""
    a, fam = studio.cfg.data["autotune"], studio.cfg.family
    n = max(fam["frames_min"], min(frames, int(draft_frames or a["draft_frames"])))
    n -= (n - fam["frames_min"]) % fam["frames_step"]  # a count the model makes (Wan: 4k+1), never more
    return {"resolution": tier_order(studio.cfg.resolution["tiers"])[0],
            "num_frames": n,
            "num_inference_steps": max(1, min(steps, int(draft_steps or a["draft_steps"])))}


def autotune(studio: Studio, target: float, *, done: list[dict] | None = None, draft_steps=None, draft_frames=None,
             on_draft: Callable[[int, dict, GenerationResult], None] | None = None,
             on_progress: Callable[[str, int, float], None] | None = None, on_step=None, cancel=None,
             on_commit=None, part_of: dict | None = None, **request_kw) -> TuneResult:
    """Drafts until the policy decides, then the final video.  ``done``: drafts committed by an earlier run
    of the same job (``{"draft": {...}, "seed": ...}``), taken as measured.  ``part_of``: the job the drafts
    belong to (``{"job": id}``), written into each draft's sidecar (a draft is never taken for the result)."""
    done = list(done or [])
    kw = dict(request_kw)
    seed = kw.pop("seed", None)
    base = studio.build_request(**kw, seed=seed if seed not in (None, -1) else -1)
    seed = int(done[0]["seed"]) if done else studio.resolve_seed(base.seed)
    fam = studio.cfg.family
    safe = tuple(fam["safe_zone"])
    # the recommender is fitted to I2VGen-XL's zones: another family starts at its published default
    start = recommend(base.prompt, base.source).guidance_scale if fam["recommender"] else fam["guidance_default"]
    size = draft_settings(studio, base.num_inference_steps, base.num_frames, draft_steps, draft_frames)
    ratio = (base.guidance_end / base.guidance_scale) if base.guidance_end else None
    drafts = [Draft(**d["draft"]) for d in done]
    rows = [dict(d["draft"], video=d.get("video")) for d in done]
    made = 0
    while True:
        decision = decide(drafts, target, start, safe=safe)
        if decision.done:
            break
        if cancel is not None:
            cancel.check()
        g = decision.guidance
        if on_progress:
            on_progress("draft", len(drafts), g)
        over = {**kw, **size, "width": None, "height": None, "guidance_scale": g, "seed": seed}
        if ratio is not None:
            over["guidance_end"] = round(min(max(g * ratio, 1.0), 20.0), 2)
        mark = {"part_of": {**part_of, "kind": "draft", "draft": len(drafts)}} if part_of else None
        res = studio.generate(studio.build_request(**over), on_step=on_step, cancel=cancel, on_commit=on_commit,
                              extra=mark)
        m = res.metadata["motion"]
        d = Draft(g, float(m["motion_norm"]), float(m["jitter"]), float(m["flicker"]))
        drafts.append(d)
        rows.append({**d.__dict__, "video": res.video.relative_to(studio.outputs).as_posix()})
        made += 1
        if on_draft:
            on_draft(len(drafts) - 1, {"draft": dict(d.__dict__), "seed": seed}, res)
    if decision.guidance is None:  # every guidance the safe zone allows is over a limit: said, none chosen
        lowest = min(d.guidance for d in drafts if not d.within_limits)
        raise GenerationFailed("tune_none_allowed", lowest=f"{lowest:g}", lo=f"{safe[0]:g}", hi=f"{safe[1]:g}")
    record = tune_record(target, start, seed, size, rows, decision)
    if cancel is not None:
        cancel.check()
    if on_progress:
        on_progress("final", len(drafts), decision.guidance)
    final = {**kw, "guidance_scale": decision.guidance, "seed": seed}
    if ratio is not None:
        final["guidance_end"] = round(min(max(decision.guidance * ratio, 1.0), 20.0), 2)
    res = studio.generate(studio.build_request(**final), on_step=on_step, cancel=cancel, on_commit=on_commit,
                          extra={"autotune": record})
    return TuneResult(res, record, made)


def tune_record(target: float, start: float, seed: int, size: dict, rows: list[dict], decision: Decision) -> dict:
    """What the sidecar keeps: the target, the drafts, the fit and the choice."""
    word = next((k for k, v in TARGETS.items() if v == target), None)
    return {"target": target, "target_word": word, "tolerance": 0.10, "start": start, "seed": seed,
            "max_drafts": MAX_DRAFTS, "draft_settings": size, "drafts": rows,
            "fit": decision.fit, "choice": {"guidance": decision.guidance, "why": decision.why,
                                            "predicted": decision.predicted, "ceiling": decision.ceiling}}


__all__ = ["autotune", "TuneResult", "draft_settings", "tune_record", "TUNE_KEYS"]
