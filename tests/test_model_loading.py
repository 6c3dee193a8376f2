"""What the page says while the model loads (issue 19, items 2 and 3): the first download's progress from a
local stand-in for the hub, and a failed load as one short line by cause, with the details behind a
disclosure and in the log, never under each result."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from i2v.modelload import DownloadProgress, banner_markdown, size_text

from .hubstandin import HubStandIn

ROOT = Path(__file__).resolve().parent.parent
PINNED = "39e1979ea27be737b0278c06755e321f2b4360d5"  # configs/default.yaml's model.revision

# A studio in a fresh process, as a user starts it: the default config (ali-vilab/i2vgen-xl at the pinned
# revision), the model loading in the background; it prints the status the banner reads every 10 ms.
CHILD = r"""
import json, sys, time
from i2v.studio import Studio
s = Studio(outputs=sys.argv[1])
th = s.load_in_background()
while th.is_alive():
    print(json.dumps(s.status()), flush=True)
    time.sleep(0.01)
i = s.model_info()
print(json.dumps({"final": s.status(), "source": i.source, "revision": i.revision}), flush=True)
"""


@pytest.mark.heavy
def test_first_download_shows_its_progress_in_the_banner(tmp_path, tiny_loaded):
    """Real bytes through the real client: the tiny model saved in diffusers layout, served as
    ali-vilab/i2vgen-xl at the pinned commit by an HTTP server on 127.0.0.1 (HF_ENDPOINT), downloaded into
    an empty HF_HOME by a studio in its own process."""
    repo = tmp_path / "repo"
    tiny_loaded.pipe.save_pretrained(repo, safe_serialization=True)
    from i2v.base.config import DEFAULT_CONFIG, load_config

    # the stand-in serves the repo and revision a user's studio asks for: the real pinning, unchanged
    assert load_config(DEFAULT_CONFIG).model["revision"] == PINNED
    sizes = {p.relative_to(repo).as_posix(): p.stat().st_size for p in repo.rglob("*") if p.is_file()}
    # 256 kB at a time with 10 ms between: the ~10 MB UNet takes at least 0.4 s, long enough to see it going
    with HubStandIn(repo, "ali-vilab/i2vgen-xl", PINNED, chunk=256 * 1024, pause_s=0.01) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "I2V_", "TQDM_"))}
        env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), CUDA_VISIBLE_DEVICES="",
                   HF_HUB_DISABLE_TELEMETRY="1", TQDM_POSITION="-1")  # bars on, as on a terminal
        run = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "outputs")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    final = lines[-1]
    assert final["final"]["state"] == "ready" and final["final"]["kind"] == "hub"
    assert (final["source"], final["revision"]) == ("ali-vilab/i2vgen-xl", PINNED)
    assert not final["final"]["demo"] and final["final"]["fallback"] is None
    assert hub.misses == [] and hub.bytes_sent == sum(sizes.values())
    cached = tmp_path / "hf" / "hub" / "models--ali-vilab--i2vgen-xl" / "snapshots" / PINNED
    assert (cached / "unet/diffusion_pytorch_model.safetensors").read_bytes() == \
        (repo / "unet/diffusion_pytorch_model.safetensors").read_bytes()

    seen = [st["download"] for st in lines[:-1] if st.get("download")]
    assert all(st["state"] == "loading" for st in lines[:-1])
    done = [d["bytes_done"] for d in seen]
    assert done == sorted(done) and len(set(done)) >= 3  # bytes done grows, seen at several points
    # diffusers fetches model_index.json first, on its own: the snapshot finds it cached and counts no bytes
    fetched = sum(sizes.values()) - sizes["model_index.json"]
    assert seen[-1]["bytes_total"] == fetched and seen[-1]["files_total"] == len(sizes)
    assert seen[-1]["complete"] and seen[-1]["files_done"] == len(sizes)
    files = [d["files_done"] for d in seen]
    assert files == sorted(files) and len(set(files)) >= 3  # files n/m, step by step
    middle = [d for d in seen if 0 < d["bytes_done"] < d["bytes_total"] and d["files_done"] < d["files_total"]
              and d["bytes_per_s"] and d["eta_s"] is not None]
    assert middle, seen  # caught in the middle, with a speed and a time left
    d = middle[0]
    en = banner_markdown({"state": "loading", "download": d}, "en")
    assert en.startswith("Loading the model")
    assert f"Downloading the model · {d['files_done']}/{d['files_total']} files · " \
           f"{size_text(d['bytes_done'])} of {size_text(d['bytes_total'])} · {size_text(d['bytes_per_s'])}/s · " \
           f"about " in en and en.endswith(" left")
    zh = banner_markdown({"state": "loading", "download": d}, "zh")
    assert f"正在下载模型 · {d['files_done']}/{d['files_total']} 个文件 · " \
           f"{size_text(d['bytes_done'])} / {size_text(d['bytes_total'])} · " \
           f"{size_text(d['bytes_per_s'])}/秒 · 约剩 " in zh
    done_text = banner_markdown({"state": "loading", "download": seen[-1]}, "en")
    assert f"Downloaded {len(sizes)} files ({size_text(fetched)})" in done_text
    # the CLI's progress on stderr is huggingface_hub's own bars, as before
    assert f"Fetching {len(sizes)} files" in run.stderr and "100%" in run.stderr


def test_download_speed_and_time_left():
    now = [100.0]
    p = DownloadProgress(clock=lambda: now[0])
    assert p.snapshot() is None  # a cached model never downloads: the banner says "loading" alone
    p.files(0, 4)
    p.bytes(0, 5 * 2**30)
    now[0] += 2.0
    p.bytes(100 * 2**20, 5 * 2**30)
    d = p.snapshot()
    assert d["bytes_per_s"] == pytest.approx(50 * 2**20) and d["eta_s"] == pytest.approx((5 * 1024 - 100) / 50)
    assert banner_markdown({"state": "loading", "download": d}, "en").endswith(
        "Downloading the model · 0/4 files · 100.0 MB of 5.0 GB · 50.0 MB/s · about 2 min left")
    assert banner_markdown({"state": "loading", "download": d}, "zh").endswith(
        "正在下载模型 · 0/4 个文件 · 100.0 MB / 5.0 GB · 50.0 MB/秒 · 约剩 2 分钟")
    now[0] += 60.0  # a stall, then 10 MB in a second: the speed is the last 20 seconds', not the average
    p.bytes(100 * 2**20, 5 * 2**30)  # since the start (110 MB in 63 s)
    now[0] += 1.0
    p.bytes(110 * 2**20, 5 * 2**30)
    assert p.snapshot()["bytes_per_s"] == pytest.approx(10 * 2**20 / 20)
    now[0] += 25.0
    assert p.snapshot()["bytes_per_s"] is None and p.snapshot()["eta_s"] is None  # stalled: no guess


# -- a failed load -------------------------------------------------------------------------------

class Request:
    def __init__(self, lang: str):
        self.headers = {"accept-language": lang}


class Names:
    """Components stand-in: each component is its name."""

    def __getattr__(self, name: str) -> str:
        return name


@pytest.fixture
def offline_studio(tmp_path, monkeypatch, tiny_loaded):
    """The default studio on a machine whose DNS fails: the hub probe meets a real gaierror."""
    import dataclasses

    import huggingface_hub.constants as hub_constants

    import i2v.engine.models as models
    from i2v.base.config import load_config
    from i2v.studio import Studio

    for var in ("I2V_MODEL", "I2V_CONFIG", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))  # read at import

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(models.socket, "create_connection", no_dns)
    # the fallback is the session's tiny model (its own build is tested elsewhere), with fresh info
    monkeypatch.setattr(models, "load_synthetic", lambda name, seed=0, device=None: models.LoadedModel(
        tiny_loaded.pipe, dataclasses.replace(tiny_loaded.info, notices=list(tiny_loaded.info.notices))))
    logs: list[str] = []
    s = Studio(load_config(), outputs=tmp_path / "outputs", log=logs.append)
    s.engine()
    s.logs = logs
    return s


def test_no_internet_is_one_short_line_with_the_details_apart(offline_studio):
    from i2v.jobs import JobService
    from i2v.ui import StudioUI

    st = offline_studio.status()
    assert st["fallback"]["cause"] == "no_internet" and st["fallback"]["source"] == "ali-vilab/i2vgen-xl"
    assert any("gaierror: [Errno -2] Name or service not known" in m for m in offline_studio.logs)  # in the log
    ui = StudioUI(offline_studio, JobService(offline_studio))
    ui.build_blocks()
    for lang, line, hint in (("en", "⚠️ No internet: using the demo model (output is noise).",
                              "To fix: connect to the internet once"),
                             ("zh", "⚠️ 无法联网：正在使用演示模型（输出是噪声）。", "解决办法：请联网一次")):
        text = ui.banner(Request(lang))[ui.c.banner]
        shown, _, details = text.partition("<details>")
        assert shown.splitlines()[0] == line  # one short line, first
        assert "gaierror" not in shown and "Could not load" not in shown and "无法连接" not in shown
        assert details.startswith(f"<summary>{'Details' if lang == 'en' else '详情'}</summary>")
        assert "gaierror: [Errno -2] Name or service not known" in details and hint in details
        assert details.count("<br>") == 1 and details.rstrip().endswith("</details>")
        assert "))" not in text and ") (" not in text and "）（" not in text
        assert text.count(line) == 1 and "Demo model: output is noise" not in text  # said once


def test_a_result_from_the_fallback_leaves_the_failure_out_of_its_notes(offline_studio, photo_path):
    import threading

    from i2v.jobs import DONE, JobService
    from i2v.ui.follow import generation_updates

    jobs = JobService(offline_studio)
    job = jobs.submit_generate(image=str(photo_path), prompt="leaves gently swaying", width=256, height=192,
                               num_frames=4, num_inference_steps=2, seed=3)
    stop = threading.Event()
    jobs.run_worker(stop, idle=stop.set, poll=0.05)
    job = jobs.get(job.id)
    assert job.status == DONE
    meta = jobs.metadata(job)
    assert meta["model"]["fallback"]["cause"] == "no_internet"  # the record keeps why, by cause
    for lang, demo in (("en", "Demo model: the output is noise."), ("zh", "演示模型：输出是噪声。")):
        notes = generation_updates(Names(), jobs, job, lang)["notes"]
        assert f"- {demo}" in notes.splitlines()
        assert "gaierror" not in notes and "Could not load" not in notes and "unreachable" not in notes


def test_each_cause_is_its_own_short_line(tmp_path):
    from i2v.base.config import load_config
    from i2v.base.errors import ModelUnavailable
    from i2v.modelload import cause_of
    from i2v.studio import Studio

    assert [cause_of(ModelUnavailable(code, source="m", path="p", detail="d")) for code in
            ("model_unreachable", "model_offline", "model_no_index", "model_folder", "model_download")] == \
        ["no_internet", "offline", "folder", "folder", "other"]
    # with no fallback, a broken folder fails the load: one line by cause, the error itself in the details
    logs: list[str] = []
    folder = tmp_path / "broken"  # a model folder when the studio starts, broken by the time it loads
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "I2VGenXLPipeline"}')
    s = Studio(load_config(model=str(folder)), outputs=tmp_path / "outputs", log=logs.append)
    (folder / "model_index.json").unlink()
    s.cfg.data["model"]["fallback"] = None
    s.load_in_background().join(60)
    st = s.status()
    assert st["state"] == "failed" and st["failure"]["cause"] == "folder"
    assert any("has no model_index.json" in m for m in logs)
    for lang, line in (("en", "⚠️ The model folder is broken: no model to run."),
                       ("zh", "⚠️ 模型目录有问题：没有可运行的模型。")):
        shown, _, details = banner_markdown(st, lang).partition("<details>")
        assert shown.strip() == line and "model_index.json" in details
