"""Security round 3 (issue 19), items 1, 4 and 5, through the doors the attacker used: the CLI as a
subprocess and the named API against a running studio.

1. Smoothing is bounded from the video's header (pixels per frame, seconds, frames of the result) before
   a frame is decoded; the page's Smooth x4 on its own result meets the same bound.
4. Every CLI command writes under --outputs; SIGTERM cancels like Ctrl-C; `jobs` and `wait` judge a
   running job by its worker's process.
5. `/job` gives no server path for a job the CLI's `smooth` ran.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from i2v.base.errors import InvalidInput
from i2v.jobs import CANCELLED, DONE, INTERRUPTED, RUNNING, JobStore

ROOT = Path(__file__).resolve().parent.parent


def ffmpeg_video(path: Path, size: str, frames: int, fps: int, source: str = "color=c=gray") -> Path:
    """A video that is tiny on disk whatever its size and length (flat or synthetic frames, crf 51)."""
    import imageio_ffmpeg

    lavfi = f"{source}{':' if '=' in source else '='}s={size}:r={fps}"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", lavfi, "-frames:v",
                    str(frames), "-c:v", "libx264", "-preset", "ultrafast", "-crf",
                    "51" if source.startswith("color") else "35", "-pix_fmt", "yuv420p", str(path)],
                   check=True, capture_output=True, timeout=120)
    return path


def cli(*args, timeout=120):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "i2v", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def start_cli(*args) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "i2v", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def files(folder: Path) -> list[str]:
    """Every file but the job store's."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.name.startswith("studio.db")) if folder.exists() else []


def running_job(outputs: Path, proc: subprocess.Popen, timeout: float = 60):
    """The job a CLI process runs, once the store says it runs."""
    deadline, store = time.time() + timeout, None
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        db = outputs / "studio.db"
        if store is None and db.exists() and db.stat().st_size > 0:  # not while the CLI creates it
            store = JobStore(outputs)  # one connection, not one per poll
        rows = store.list(status=[RUNNING], limit=None) if store is not None else []
        if rows:
            store.close()
            return rows[0]
        time.sleep(0.1)
    raise AssertionError("the CLI never started its job")


# -- 1. bounded smoothing ------------------------------------------------------------------------------

@pytest.mark.parametrize("size,frames,fps,words", [
    ("1600x800", 6, 8, "video is too large: 1600x800 = 1280000 pixels per frame (the limit is 1179648"),
    ("64x64", 10_000, 8, "video is too long: 1250.0 s (the limit is 120 s)"),
    ("64x64", 600, 60, "would make 1025+ frames (the limit is 512"),
])
def test_smoothing_an_oversized_video_is_one_line_before_any_frame_is_decoded(tmp_path, size, frames, fps, words):
    """The attack: a small MP4 with huge frames (9.3 GB and still running after 100 s), or with 10,000 frames
    (19,999 written).  Now: one line, exit 2, nothing written, no job recorded, in about a second."""
    src = ffmpeg_video(tmp_path / "attack.mp4", size, frames, fps)
    assert src.stat().st_size < 200_000
    out = tmp_path / "outputs"
    t0 = time.perf_counter()
    r = cli("smooth", str(src), "--outputs", str(out))
    took = time.perf_counter() - t0
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert took < 10, took  # the interpreter's start and two ffmpeg runs on the header and packets
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["attack.mp4"]  # not even a job


def test_smooth_x4_again_and_again_on_its_own_result_meets_the_bound(tmp_path):
    """What the page's Smooth x4 does, pressed on its own result: 16 frames, 61, 241, then 961 is refused
    when it is asked (the page shows the line, in the user's language), and nothing is queued."""
    from i2v.base.config import load_config
    from i2v.jobs import JobService
    from i2v.studio import Studio

    jobs = JobService(Studio(load_config(model="tiny"), outputs=tmp_path / "outputs", log=lambda m: None))
    day = jobs.outputs / "2026-01-01"
    day.mkdir(parents=True)
    video = ffmpeg_video(day / "base.mp4", "64x64", 16, 8, source="testsrc2")
    counts = []
    for _ in range(2):
        job = jobs.submit_smooth(video, factor=4)
        jobs.execute(jobs.store.claim(jobs.worker))
        job = jobs.get(job.id)
        assert job.status == DONE, job.error_message
        counts.append(jobs.summary(job)["frames"])
        video = jobs.summary(job)["video"]
    assert counts == [61, 241]
    queued = len(jobs.store.list(limit=None))
    with pytest.raises(InvalidInput) as e:
        jobs.submit_smooth(video, factor=4)
    assert e.value.code == "smooth_too_many_frames" and e.value.params["frames"] == 961
    assert e.value.text("zh").startswith("平滑 ") and "961 帧" in e.value.text("zh") and "512" in e.value.text("zh")
    assert len(jobs.store.list(limit=None)) == queued  # nothing queued
    jobs.submit_smooth(video, factor=2)  # x2 of the 241 frames: 481, within the bound


# -- 4. outputs, SIGTERM, dead CLI runs ------------------------------------------------------------------

def test_cli_smooth_writes_under_outputs_and_sigterm_cancels_it(tmp_path):
    src_dir, out = tmp_path / "src", tmp_path / "outputs"
    src_dir.mkdir()
    small = ffmpeg_video(src_dir / "base.mp4", "64x64", 8, 8, source="testsrc2")
    r = cli("smooth", str(small), "--outputs", str(out), "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert Path(res["video"]).parent.parent == out and Path(res["video"]).is_file() and res["frames"] == 15
    assert sorted(p.name for p in src_dir.iterdir()) == ["base.mp4"]  # nothing beside the source
    # without --outputs, a result of a studio's folder is smoothed into that folder (not the default one)
    r = cli("smooth", res["video"], "--json")
    assert r.returncode == 0, r.stderr
    assert Path(json.loads(r.stdout)["video"]).parent == Path(res["video"]).parent
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("jobs", "--outputs", str(empty))
    assert r.returncode == 0 and r.stdout == "" and r.stderr.startswith(f"no jobs in {empty}"), r.stderr
    assert list(empty.iterdir()) == []  # a listing leaves no store behind
    # SIGTERM while it interpolates: stops after the current step, writes nothing, the job is cancelled
    big = ffmpeg_video(src_dir / "long.mp4", "640x480", 120, 30, source="testsrc2")
    before = files(out)
    p = start_cli("smooth", str(big), "--factor", "4", "--outputs", str(out))
    job = running_job(out, p)
    time.sleep(1.0)  # into the interpolation
    p.send_signal(signal.SIGTERM)
    _, stderr = p.communicate(timeout=60)
    assert p.returncode == 130, stderr
    assert "cancel" in stderr and "Traceback" not in stderr
    assert JobStore(out).get(job.id).status == CANCELLED
    assert files(out) == before and sorted(p.name for p in src_dir.iterdir()) == ["base.mp4", "long.mp4"]


def test_jobs_and_wait_judge_a_running_job_by_its_process(tmp_path):
    """A CLI run killed with kill -9 shows as interrupted in `jobs` and `wait` (exit 75), no studio
    running; it can be re-queued."""
    out = tmp_path / "outputs"
    big = ffmpeg_video(tmp_path / "long.mp4", "640x480", 120, 30, source="testsrc2")
    p = start_cli("smooth", str(big), "--factor", "4", "--outputs", str(out))
    job = running_job(out, p)
    p.kill()
    p.communicate(timeout=30)
    assert JobStore(out).get(job.id).status == RUNNING  # what it stayed until a studio started
    r = cli("jobs", "--json", "--outputs", str(out))
    assert r.returncode == 0, r.stderr
    row = next(j for j in json.loads(r.stdout)["jobs"] if j["id"] == job.id)
    assert row["status"] == INTERRUPTED
    w = cli("wait", job.id, "--outputs", str(out))
    assert w.returncode == 75 and w.stderr.count("\n") == 1, w.stderr
    assert not [f for f in files(out) if ".partial" in f]
    assert cli("requeue", job.id, "--outputs", str(out)).returncode == 0


def test_wait_sees_its_job_die(tmp_path):
    """`wait` follows a running CLI job; when that process is killed, wait ends with exit 75 at once
    instead of waiting for ever."""
    out = tmp_path / "outputs"
    big = ffmpeg_video(tmp_path / "long.mp4", "640x480", 120, 30, source="testsrc2")
    p = start_cli("smooth", str(big), "--factor", "4", "--outputs", str(out))
    job = running_job(out, p)
    w = start_cli("wait", job.id, "--outputs", str(out))
    time.sleep(1.0)
    assert w.poll() is None
    p.kill()
    p.communicate(timeout=30)
    _, stderr = w.communicate(timeout=30)
    assert w.returncode == 75, stderr
    assert JobStore(out).get(job.id).status == INTERRUPTED


# -- 5. no server paths from /job ---------------------------------------------------------------------------

def absolute_paths(obj, found=None) -> list[str]:
    found = [] if found is None else found
    if isinstance(obj, dict):
        for v in obj.values():
            absolute_paths(v, found)
    elif isinstance(obj, list):
        for v in obj:
            absolute_paths(v, found)
    elif isinstance(obj, str) and (obj.startswith("/") or "/tmp" in obj or str(ROOT) in obj):
        found.append(obj)
    return found


@pytest.mark.heavy
def test_job_endpoint_gives_no_server_path_for_a_cli_smooth(app, tmp_path):
    """The attack: `/job` of a job started by the CLI's smooth answered "video": "/…/base_x2.mp4" and the
    source's path.  Every path that leaves the studio is relative to the outputs folder, or not given."""
    from gradio_client import Client

    src = ffmpeg_video(tmp_path / "base.mp4", "64x64", 8, 8, source="testsrc2")
    r = cli("smooth", str(src), "--outputs", str(app.outputs), "--json")
    assert r.returncode == 0, r.stderr
    job_id = json.loads(r.stdout)["job"]
    answer = Client(app.url, verbose=False).predict(job_id, api_name="/job")
    assert answer["status"] == "done" and answer["result"]["frames"] == 15
    assert absolute_paths(answer) == [], answer
    video = answer["result"]["video"]
    assert (app.outputs / video).is_file() and answer["result"]["source"] is None
    assert answer["result"]["source_name"] == "base.mp4"
    # the sidecar and the MP4's comment are served with the result: no server path in them either
    side = json.loads((app.outputs / answer["result"]["metadata"]).read_text())
    assert absolute_paths(side) == [] and side["source_name"] == "base.mp4"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.mp4"]
