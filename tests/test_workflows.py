"""Motion analysis on synthetic videos, guidance sweeps, batches and smoothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from i2v.motion.analysis import analyze_frames, flow_visualisation, interpolate, make_loop
from i2v.base.errors import InvalidInput
from i2v.media.video import probe, read_comment, read_frames, to_uint8, write_mp4
from i2v.jobs.batch import run_batch
from i2v.workflows.sweep import parse_guidance_list, sweep
from i2v.workflows.smooth import smooth

from .conftest import make_photo
from .synthetic import flashing_scene, jumping_square, moving_square, static_scene

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("speed", [2.0, 4.0, 7.0])
def test_motion_matches_known_speed_within_10_percent(speed):
    r = analyze_frames(moving_square(speed=speed))
    assert r.motion == pytest.approx(speed, rel=0.10)
    assert r.motion_norm == pytest.approx(100 * r.motion / np.hypot(256, 192), abs=1e-3)


def test_metrics_order_the_synthetic_videos():
    square, still, jumps, flash = (analyze_frames(v) for v in
                                   (moving_square(speed=4), static_scene(), jumping_square(), flashing_scene()))
    assert still.motion == 0 and still.jitter == 0 and still.flicker < 0.5
    assert still.motion < square.motion < jumps.motion            # motion strength
    assert square.jitter < 0.25 < jumps.jitter                    # smooth vs flow vectors jumping
    assert flash.flicker > 30 > max(square.flicker, still.flicker, jumps.flicker) * 10  # brightness flashes
    assert len(square.per_frame) == 11 and {"motion", "jitter", "flicker"} <= set(square.per_frame[0])


def test_analyze_cli_json_and_flow_video(tmp_path):
    video = write_mp4(moving_square(speed=4), tmp_path / "sq.mp4", fps=8)
    flow = tmp_path / "flow.mp4"
    r = subprocess.run([sys.executable, "-m", "i2v", "analyze", str(video), "--json", "--flow-video", str(flow)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert {"motion", "jitter", "flicker", "per_frame"} <= set(d)
    assert d["motion"] == pytest.approx(4, rel=0.15)  # through H.264 compression
    info = probe(flow)
    assert info["frames"] == 11 and info["codec"] == "h264"
    vis = flow_visualisation(moving_square(speed=4))
    assert vis.shape == (11, 192, 256, 3) and vis[:, 90, 100].max() > vis[:, 10, 10].max()


def test_interpolation_x2_gives_2n_minus_1_frames_at_double_fps(tmp_path):
    src = write_mp4(moving_square(n=9, speed=4), tmp_path / "sq.mp4", fps=8,
                    comment=json.dumps({"app": "i2v-studio", "params": {"prompt": "square"}}))
    out, meta = smooth(src, factor=2)
    info = probe(out)
    assert (info["frames"], info["fps"]) == (17, 16)
    assert meta["source"] == src.name and meta["source_metadata"]["params"]["prompt"] == "square"  # relative
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["factor"] == 2 and side["frames"] == 17
    # the in-between frame puts the square half way: motion per frame halves
    assert analyze_frames(read_frames(out)).motion == pytest.approx(2.0, rel=0.2)
    out4, meta4 = smooth(src, factor=4, loop="pingpong")
    assert meta4["frames"] == 2 * (4 * 8 + 1) - 2 and probe(out4)["fps"] == 32


def test_loops_and_minterpolate(tmp_path):
    f = moving_square(n=6)
    assert len(make_loop(f, "pingpong")) == 10
    cf = make_loop(f, "crossfade", crossfade=2)
    assert len(cf) == 6 and np.abs(cf[-1].astype(int) - f[0]).mean() < np.abs(f[-1].astype(int) - f[0]).mean()
    assert interpolate(f, 4).shape[0] == 4 * 5 + 1
    src = write_mp4(moving_square(n=8), tmp_path / "m.mp4", fps=8)
    out, meta = smooth(src, factor=2, method="minterpolate")
    assert probe(out)["fps"] == 16 and meta["frames"] >= 12  # ffmpeg times it: about 2N-3 (README)


@pytest.mark.heavy
def test_sweep_grid_table_and_single_encoding(studio):
    engine = studio.engine()
    engine._text_cache.clear()
    engine._image_cache.clear()
    res = sweep(studio, [5.0, 9.0, 14.0], image=make_photo(seed=7), prompt="waves crashing", width=256,
                height=192, num_frames=4, num_inference_steps=3, seed=11)
    assert [r["guidance_scale"] for r in res.results] == [5.0, 9.0, 14.0]
    assert sum(r["best"] for r in res.results) == 1 and res.results[res.best]["best"]
    metas = [json.loads(Path(r["metadata"]).read_text()) for r in res.results]
    assert [m["seed"] for m in metas] == [11, 11, 11]
    assert [m["cache_hits"] for m in metas][1:] == [{"text": True, "image": True}] * 2  # encoded once
    info = probe(res.grid)
    assert info["frames"] == 4 and info["width"] >= 3 * 256 * 0.9  # three tiles in a row
    side = json.loads(res.sidecar.read_text())
    assert side["kind"] == "guidance_sweep" and len(side["results"]) == 3
    assert json.loads(read_comment(res.grid))["best"] == res.best


def test_guidance_list_validation():
    assert parse_guidance_list("5, 7,9") == [5.0, 7.0, 9.0]
    for bad in ("5", "5,abc", "5,25"):
        with pytest.raises(InvalidInput, match="guidance values|2 to 12"):
            parse_guidance_list(bad)


@pytest.mark.heavy
def test_batch_bad_entry_reported_rest_complete_and_rerun_skips(studio, tmp_path):
    img = tmp_path / "in.png"
    make_photo().save(img)
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(yaml.safe_dump([
        {"image": "in.png", "prompt": "leaves swaying", "width": 256, "height": 192, "frames": 4, "steps": 2,
         "seed": 1},
        {"image": "missing.png", "prompt": "broken entry", "frames": 4, "steps": 2},
        {"image": "in.png", "prompt": "a dog jumping", "width": 256, "height": 192, "frames": 4, "steps": 2,
         "seed": 5, "count": 2},
    ]))
    from i2v.jobs import JobService

    service = JobService(studio)
    first = run_batch(service, jobs)
    assert len(first.done) == 3 and len(first.failed) == 1 and first.failed[0]["entry"] == 2
    assert "not found" in first.failed[0]["error"]
    assert sorted(d["seed"] for d in first.done) == [1, 5, 6]
    again = run_batch(service, jobs)
    assert len(again.done) == 0 and len(again.skipped) == 3 and len(again.failed) == 1


def test_generation_metadata_carries_motion(studio, monkeypatch):
    """The motion in the metadata is measured on the video's own frames (before the lossy H.264 encode:
    on the tiny model's noise, the encode alone moved the measured flow by 30% on one machine)."""
    import i2v.studio

    seen = []
    monkeypatch.setattr(i2v.studio, "analyze_frames", lambda f: seen.append(f.copy()) or analyze_frames(f))
    res = studio.generate(studio.build_request(image=make_photo(), prompt="waves", width=256, height=192,
                                               num_frames=4, num_inference_steps=2, seed=3))
    m = res.metadata["motion"]
    assert {"motion", "jitter", "flicker", "per_frame"} <= set(m) and len(m["per_frame"]) == 3
    assert res.summary()["motion"]["motion"] == m["motion"]
    (measured,) = seen
    assert analyze_frames(measured).to_json() == m
    assert read_frames(res.video).shape == measured.shape  # the frames measured are the result's:
    assert (np.asarray(Image.open(res.thumbnail).convert("RGB")) == measured[0]).all()  # the lossless first one
    assert to_uint8(np.zeros((1, 2, 2, 3))).dtype == np.uint8


@pytest.mark.parametrize("size", [64, 128, 256, 704])
def test_grid_captions_fit_their_tiles(size):
    """No caption runs past its tile's edge (the sweep's grid clipped 'motion 12.60px … BEST' before)."""
    from i2v.workflows.sweep import grid_frames

    labels = [f"g={g:g}  motion 12.60px  jitter 0.12" + ("  BEST" if g == 9 else "") for g in (5, 7, 9, 11, 14, 18)]
    grid = grid_frames([np.zeros((1, size, size, 3), np.uint8) for _ in labels], labels, best=None)[0]
    t = int(size * min(1.0, 1280 / (3 * size))) // 2 * 2  # square tiles, as grid_frames scales them
    cap = next(y for y in range(grid.shape[0]) if (grid[y, :t] == 0).all())  # the picture (black) starts here
    for i in range(6):
        r, c = divmod(i, 3)
        caption = grid[r * (t + cap):r * (t + cap) + cap, c * t:(c + 1) * t]
        assert (caption > 128).any(), f"tile {i}: no caption drawn"
        edge = np.concatenate([caption[:, :3], caption[:, -3:]], axis=1)
        assert (edge <= 40).all(), f"tile {i} at {size}px: the caption touches the tile's edge"
