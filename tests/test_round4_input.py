"""Issue 28, round 4 of input validation, through the doors where the failures were found: the CLI (as a
subprocess), a batch file and the config file.  400-digit whole numbers, NaN in the config, a batch count of a
hundred million, storyboards that are too long, not UTF-8 at a cut, or a FIFO; the CLI's messages name its
options and speak its words."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import yaml

from .conftest import ROOT
from .test_long import cli

BIG = "9" * 400


def one_error_line(r) -> str:
    lines = [x for x in r.stderr.strip().splitlines() if x.startswith("error:")]
    assert r.returncode == 2 and len(lines) == 1, (r.returncode, r.stderr)
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def test_cli_400_digit_numbers_are_one_invalid_input_line_naming_the_option(photo_path, tmp_path):
    base = ("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "waves", "--outputs",
            str(tmp_path / "out"))
    for extra, option in ((["--segments", BIG], "--segments"), (["--seed", BIG], "--seed"),
                          (["--steps", BIG], "--steps"), (["--segments", "2", "--overlap", BIG], "--overlap"),
                          (["--target-motion", BIG], "--target-motion"),
                          (["--target-motion", "natural", "--draft-steps", BIG], "--draft-steps")):
        line = one_error_line(cli(*base, *extra))
        assert line.startswith(f"error: {option} must be"), line
        assert len(line) < 400, line  # the number is quoted cut short


def test_cli_messages_name_the_option_and_speak_cli_words(photo_path, tmp_path):
    base = ("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "waves", "--outputs",
            str(tmp_path / "out"))
    assert one_error_line(cli(*base, "--segments", "9")) == "error: --segments must be between 1 and 8 (got 9)"
    line = one_error_line(cli(*base, "--target-motion", "natural", "--segments", "2"))
    assert line.startswith("error: --target-motion makes one video: leave out --segments") and "Length" not in line
    board = tmp_path / "board.txt"
    board.write_text("waves\nsea\n", encoding="utf-8")
    line = one_error_line(cli("generate", "--model", "tiny", "--image", str(board), "--prompt", "waves"))
    assert line.startswith("error: board.txt is not a readable image"), line


def test_the_page_keeps_its_own_words_for_the_same_errors():
    from i2v.base.errors import InvalidInput

    e = InvalidInput("long_segments", hi=8, got=9)
    assert e.text("en") == "segments must be between 1 and 8 (got 9)" and e.text("zh").startswith("片段数必须在")
    assert InvalidInput("tune_long").text("en").startswith("auto-tune makes one video: set Length to 1")
    assert InvalidInput("image_unreadable", name="board.txt").message == "the file is not a readable image"


def test_cli_storyboards_too_long_not_utf8_at_the_cut_or_a_fifo(photo_path, tmp_path):
    base = ("generate", "--model", "tiny", "--image", str(photo_path), "--prompt", "waves", "--outputs",
            str(tmp_path / "out"), "--storyboard")
    accents = tmp_path / "accents.txt"
    accents.write_text("é" * 20_000, encoding="utf-8")  # valid UTF-8, cut mid-character by a bounded read
    huge = tmp_path / "huge.txt"
    huge.write_text(("a" * 79 + "\n") * 25_000, encoding="utf-8")  # 2,000,000 characters
    for board in (accents, huge):
        line = one_error_line(cli(*base, str(board)))
        assert line == "error: --storyboard is too long (over 8000 characters) (at most 8000)", line
    fifo = tmp_path / "board.fifo"
    os.mkfifo(fifo)  # nothing writes it: opening it for reading would block for ever
    line = one_error_line(cli(*base, str(fifo)))
    assert line == "error: cannot read the storyboard " + str(fifo) + ": not a regular file", line


@pytest.mark.parametrize("key,value", [("long", {"colour_strength": float("nan")}),
                                       ("limits", {"video_max_seconds": float("nan")}),
                                       ("retention", {"max_age_days": float("nan")}),
                                       ("retention", {"max_total_gb": float("inf")}),
                                       ("retention", {"min_free_mb": float("nan")}),
                                       ("model", {"hub_probe_timeout_s": float("nan")})])
def test_nan_in_the_config_is_refused_naming_the_key(tmp_path, key, value):
    from i2v.base.config import load_config
    from i2v.base.errors import InvalidInput

    f = tmp_path / "nan.yaml"
    f.write_text(yaml.safe_dump({key: value}), encoding="utf-8")
    with pytest.raises(InvalidInput) as e:
        load_config(f)
    name = f"{key}.{next(iter(value))}"
    assert f"'{name}' must be a finite number" in str(e.value) and "\n" not in str(e.value)


def test_cli_with_nan_in_the_config_is_one_line(tmp_path, photo_path):
    f = tmp_path / "nan.yaml"
    f.write_text("long:\n  colour_strength: .nan\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "i2v", "generate", "--model", "tiny", "--image", str(photo_path),
                        "--prompt", "waves", "--outputs", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "I2V_CONFIG": str(f)})
    assert "'long.colour_strength' must be a finite number (got nan)" in one_error_line(r)


@pytest.mark.heavy
def test_batch_entries_with_huge_numbers_fail_alone_and_counts_are_capped(tmp_path, photo_path):
    out = tmp_path / "out"
    entry = {"image": str(photo_path), "prompt": "waves", "steps": 1, "frames": 2, "resolution": "256p"}
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(yaml.safe_dump([
        {**entry, "segments": 2, "overlap": int(BIG)}, {**entry, "seed": int(BIG)}, {**entry, "steps": int(BIG)},
        {**entry, "target_motion": int(BIG)}, {**entry, "target_motion": "natural", "segments": 2},
        {**entry, "seed": 3}]), encoding="utf-8")
    r = cli("batch", str(jobs), "--model", "tiny", "--outputs", str(out), "--json")
    assert r.returncode == 1 and "internal error" not in r.stderr, r.stderr
    report = json.loads(r.stdout)
    assert report["counts"] == {"done": 1, "skipped": 0, "failed": 5}, report
    why = {f["entry"]: f["error"] for f in report["failed"]}
    assert why[1].startswith("overlap must be between 0") and why[2].startswith("seed must be between")
    assert why[3].startswith("steps must be between") and why[4].startswith("target motion must be")
    assert why[5].startswith("target_motion (auto-tune) makes one video: leave out segments"), why[5]
    # a count is checked before anything is expanded: a hundred million, .inf, and too many in all
    for counts, expect in (([100_000_000], "error: job 1: count must be a whole number from 1 to 1000 (got "
                                           "100000000)"),
                           ([1, float("inf")], "error: job 2: count must be a whole number from 1 to 1000 (got inf)"),
                           ([600, 600], "error: the job file asks for 1200 videos in all (at most 1000)")):
        jobs.write_text(yaml.safe_dump([{**entry, "count": c} for c in counts]), encoding="utf-8")
        line = one_error_line(cli("batch", str(jobs), "--model", "tiny", "--outputs", str(out)))
        assert line.startswith(expect), line


@pytest.mark.heavy
def test_sigterm_stops_a_batch(tmp_path, photo_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(yaml.safe_dump([{"image": str(photo_path), "prompt": "waves", "steps": 30, "frames": 8,
                                     "resolution": "256p", "seed": 1, "count": 50}]), encoding="utf-8")
    p = subprocess.Popen([sys.executable, "-m", "i2v", "batch", str(jobs), "--model", "tiny", "--outputs",
                          str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    seen = ""
    while "batch:" not in seen:  # the batch's progress bar: its first video is under way
        ch = p.stderr.read(1)
        assert ch, seen
        seen += ch
    p.send_signal(signal.SIGTERM)
    rest = p.communicate(timeout=300)[1]
    assert p.returncode == 130, (p.returncode, seen + rest)
