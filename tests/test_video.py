"""MP4/sidecar writing: codec, frame count, fps, embedded metadata, atomicity, bad frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from i2v.base.errors import GenerationFailed, OutOfResources
from i2v.media.video import atomic_path, check_frames, probe, read_comment, read_frames, to_uint8, write_json, write_mp4


def frames(n=8, h=128, w=192):
    """Smooth colour gradients panning right: real pictures survive yuv420p, per-pixel noise does not."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([np.stack([(x + 4 * i) % w / w, y / h, 0.5 + 0.4 * np.sin((x + y + 4 * i) / 20)], -1)
                     for i in range(n)]).astype(np.float32)


def test_mp4_is_h264_yuv420p_with_requested_frames_and_fps(tmp_path):
    f = frames()
    comment = json.dumps({"seed": 7, "prompt": "镜头缓慢推进; a=b #tag \\ end"}, ensure_ascii=False)
    path = write_mp4(to_uint8(f), tmp_path / "v.mp4", fps=12, comment=comment)
    info = probe(path)
    assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert (info["width"], info["height"], info["frames"]) == (192, 128, 8)
    assert info["fps"] == pytest.approx(12)
    assert json.loads(read_comment(path)) == json.loads(comment)
    back = read_frames(path)
    assert back.shape == (8, 128, 192, 3)
    assert np.abs(back.astype(int) - to_uint8(f).astype(int)).mean() < 3  # lossy, but the same picture


def test_no_partial_file_when_writing_fails(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash between write and rename")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_is_out_of_resources_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutOfResources, match="disk space"):
        write_json({"a": 1}, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


def test_nan_and_constant_frames_refused():
    f = frames()
    f[3, 5, 5, 0] = np.nan
    with pytest.raises(GenerationFailed, match=r"NaN/Inf\) in frame\(s\) \[3\]"):
        check_frames(f)
    with pytest.raises(GenerationFailed, match="constant"):
        check_frames(np.zeros((4, 64, 64, 3), np.float32))
    check_frames(frames())
