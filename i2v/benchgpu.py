"""``python -m i2v bench --gpu --profile`` and ``--gpu --speed``: where the time of a step goes, and each
speed lever measured alone and combined against stock diffusers, in one process (issue 20).

On CUDA: the full architecture with random weights in fp16 at 512x512 and native 1280x704, 16 frames.
With ``--device cpu``: the tiny model at one small size, the same code paths (a smoke test).  Every result
is written as soon as it is measured.  Torch is imported inside the functions only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .config import ROOT
from .speedplan import card_slug

DOCS = ROOT / "docs"


def _table(rows: list[dict], cols: list[str]) -> str:
    from .bench import _table as table

    return table(rows, cols)


def load_engine(device: str, log=print, **speed):
    """An engine on ``device``: the full architecture in fp16 on CUDA (random weights, built on the card:
    seconds), the tiny model on the CPU; ``speed``: levers applied at load (as the studio does)."""
    import torch

    from .engine import Engine, load_model
    from .engine.models import LoadedModel, ModelInfo, build_random_full

    dev = torch.device(device)
    t = time.perf_counter()
    if dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        pipe = build_random_full(device=dev, dtype=torch.float16)
        loaded = LoadedModel(pipe, ModelInfo("random-full", "random-full", "random-full", None, str(dev), "float16",
                                             demo=True))
    else:
        loaded = load_model("tiny")
    engine = Engine(loaded)
    if speed:
        engine.apply_speed(speed)
    log(f"  model ready in {time.perf_counter() - t:.1f}s on {dev}")
    return engine


def device_info(device: str) -> dict:
    import torch

    dev = torch.device(device)
    info = {"device": "cpu", "card": "cpu", "torch": torch.__version__}
    try:
        import diffusers

        info["diffusers"] = diffusers.__version__
    except ImportError:  # pragma: no cover - a dependency
        pass
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        cap = torch.cuda.get_device_capability(dev)
        info.update(device=name, card=card_slug(name), capability=f"{cap[0]}.{cap[1]}",
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    memory_gib=round(torch.cuda.get_device_properties(dev).total_memory / 2**30, 1))
        try:
            import subprocess

            info["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                            capture_output=True, text=True, timeout=20).stdout.split("\n")[0].strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = None
    return info


def make_job(width: int, height: int, frames: int, steps: int):
    from PIL import Image

    from .engine import EngineJob

    image = Image.fromarray((np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8))
    return EngineJob(image=image, prompt="a dog jumping over a fence", negative_prompt="blurry", guidance_scale=9.0,
                     num_inference_steps=steps, num_frames=frames, width=width, height=height, seed=1)


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def result_path(kind: str, info: dict, out: str | None) -> Path:
    """``docs/<kind>-<card>.json`` on CUDA; on the CPU (a smoke run) in ``out`` or the current folder,
    never in docs/."""
    name = f"{kind}-{info['card']}.json"
    if out:
        p = Path(out)
        return p / name if p.is_dir() or not p.suffix else p
    return DOCS / name if info["card"] != "cpu" else Path.cwd() / name


def run_profile(device: str = "cuda", out: str | None = None, size: tuple[int, int] | None = None,
                frames: int | None = None, log=print) -> dict:
    """The profile of two denoising steps and one decode; written at once, then returned."""
    from .engine.profile import profile_denoising

    cuda = device.startswith("cuda")
    w, h = size or ((1280, 704) if cuda else (128, 128))
    frames = frames or (16 if cuda else 4)
    info = device_info(device)
    engine = load_engine(device, log)
    res = {"info": {**info, "model": "random-full fp16" if cuda else "tiny fp32"},
           **profile_denoising(engine, make_job(w, h, frames, 3), log)}
    path = write_json(result_path("profile", info, out), res)
    log(f"  written {path}")
    res["written"] = str(path)
    return res


def print_profile(res: dict) -> None:
    i = res["info"]
    print(f"\nProfile: {i['device']}, {i['model']}, torch {i['torch']}; {res['what']}; {res['time']}")
    rows = [{**g, "share": f"{100 * g['share']:.1f}%"} for g in res["groups"]]
    print(_table(rows, ["group", "ms", "per_step_ms", "share"]))
    print("\nTop 15 by self time")
    print(_table([{**k, "name": k["name"][:90], "share": f"{100 * k['share']:.1f}%"} for k in res["top_kernels"]],
                 ["name", "ms", "share"]))
