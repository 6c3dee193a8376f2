"""What ``python -m i2v models`` lists: every model of every family, with its size on disk, whether it is
downloaded here, and the card it needs.  Pure: huggingface_hub's cache lookup only (no torch)."""

from __future__ import annotations

from . import DEFAULT, FAMILIES, Model


def downloaded(model: Model) -> bool | None:
    """Is the hub model in the local cache (HF_HOME) at its pinned revision (or main)?  None: nothing to
    download (random weights)."""
    if model.synthetic:
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model.hub_id, "model_index.json", revision=model.revision or "main")
    return isinstance(found, str)


def model_rows() -> list[dict]:
    rows = []
    for fam in FAMILIES:
        for m in fam.models:
            v = fam.variant_of(m)
            # random-full is the real architecture: it needs the real model's card
            real = next((h for h in fam.models if h.kind == "hub" and h.variant == m.variant), m) \
                if m.kind == "random-full" else m
            rows.append({"name": m.name, "family": fam.name, "variant": v.title, "kind": m.kind,
                         "hub_id": m.hub_id, "revision": m.revision, "disk_gb": m.disk_gb,
                         "downloaded": downloaded(m), "card_gb": real.card_gb, "card_note": real.card_note,
                         "default": fam is DEFAULT and m.kind == "hub",
                         "frames": f"{v.geometry.frames_min}-{v.geometry.frames_max}"
                                   + (f" (steps of {v.geometry.frames_step})" if v.geometry.frames_step > 1 else ""),
                         "frames_min": v.geometry.frames_min, "frames_max": v.geometry.frames_max,
                         "frames_step": v.geometry.frames_step,
                         "fps": v.geometry.fps, "native": "x".join(map(str, v.geometry.native))})
    return rows
