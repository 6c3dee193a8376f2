"""The docs are tests: every command README.md and docs/*.md show runs as written (placeholders filled by
the one rule in tests/doccommands.py, told in docs/development.md), on the tiny model in a temporary studio
folder, as a subprocess; so do every subcommand's ``--help`` and ``-h``, and the gradio_client snippets
against a running studio.  A command added to the docs is run here without a new test."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .doccommands import DOCS, MEASURES, ROOT, VIDEO_WORDS, Fill, all_commands, commands, snippets

# What a documented command may end with: the exit codes docs/cli.md gives (0 done, 2 invalid input, 3 out of
# memory or disk, 4 model unavailable, 5 unusable frames, 75 interrupted, 130 cancelled).
DOCUMENTED_EXITS = {0, 2, 3, 4, 5, 75, 130}
# A documented command that answers 2 must say why in one line that is not a usage slip of ours: one of these
# (what this machine lacks), else a 2 fails the test.
MACHINE_LACKS = re.compile(r"CUDA|GPU|Ray|ray", re.I)
BROKEN = re.compile(r"Traceback \(most recent call last\)|internal error", re.I)
SERVES = ("worker",)  # runs until stopped: a polite stop (SIGTERM) after a few seconds must end it cleanly
RUN_S = 300


def _env(folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("I2V_", "PYTEST"))}
    env.update(I2V_MODEL="tiny", I2V_OUTPUTS=str(folder / "outputs"), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


def _studio_folder(tmp: Path) -> Fill:
    from .conftest import make_photo

    (tmp / "outputs").mkdir(parents=True, exist_ok=True)
    photo = tmp / "photo.jpg"
    make_photo(320, 240).save(photo)
    board = tmp / "board.txt"
    board.write_text("waves roll in\nthe tide rises\n", encoding="utf-8")
    batch = tmp / "jobs.yaml"
    batch.write_text(f"- image: {photo}\n  prompt: a dog jumping over a fence\n  steps: 2\n  frames: 4\n"
                     "  resolution: 256p\n", encoding="utf-8")
    return Fill(tmp, photo, board, batch)


def _video_of(out: str, folder: Path) -> str | None:
    """The MP4 a command reports (its --json object's ``video``, or the first ``….mp4`` of its text), as a
    reader in the studio's folder writes it: ``outputs/DAY/NAME.mp4``."""
    found = _reported(out)
    if found is None:
        return None
    p = Path(found)
    for candidate in (p, folder / p, folder / "outputs" / p):
        if candidate.is_absolute() and candidate.is_file():
            return os.path.relpath(candidate, folder)
    return None


def _reported(out: str) -> str | None:
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                v = json.loads(line).get("video")
            except ValueError:
                v = None
            if v:
                return str(v)
        m = re.match(r"^(\S+\.mp4)\b", line)
        if m:
            return m.group(1)
    return None


def _run(argv: list[str], fill: Fill) -> tuple[int, str, str]:
    cmd = [sys.executable, "-m", "i2v", *argv]
    serves = argv[:1] == ["worker"] and "--exit-when-idle" not in argv
    with subprocess.Popen(cmd, cwd=fill.folder, env=_env(fill.folder), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as p:
        try:
            out, errs = p.communicate(timeout=8 if serves else RUN_S)
        except subprocess.TimeoutExpired:
            if not serves:
                os.killpg(p.pid, signal.SIGKILL)
                out, errs = p.communicate()
                return -9, out, errs + f"\n(still running after {RUN_S} s)"
            os.killpg(p.pid, signal.SIGTERM)  # a worker serves until stopped: stopped politely, it ends at once
            out, errs = p.communicate(timeout=60)
        return p.returncode, out, errs


def _judge(rc: int, out: str, errs: str) -> str | None:
    if BROKEN.search(out + errs):
        return f"crashed (rc {rc}): {(errs or out).strip()[-600:]}"
    if rc not in DOCUMENTED_EXITS:
        return f"exit {rc}, which the docs do not give: {(errs or out).strip()[-400:]}"
    if rc == 2 and not MACHINE_LACKS.search(errs):
        return f"refused as invalid input: {errs.strip()[-400:]}"
    return None


def _remember(fill: Fill, argv: list[str], rc: int, out: str) -> None:
    """What a command made, for the placeholders of those after it: its video, the job ``submit`` queued."""
    if rc != 0:
        return
    video = _video_of(out, fill.folder)
    if video:
        fill.last_video = video
    if argv[:1] == ["submit"]:
        last = out.strip().splitlines()[-1].strip()
        fill.last_job, fill.job_status = (json.loads(last)["job"] if last.startswith("{") else last), "queued"


def _prepare(fill: Fill, text: str) -> None:
    """What a command's placeholders need that the file's commands before it did not make (the rule's last
    part): a video for VIDEO; for ID, a job that ``wait`` sees end, a queued one for ``cancel``, and a
    cancelled one for ``requeue``."""
    words = text.replace("[", " ").replace("]", " ").split()
    sub = _sub(text)
    if any(VIDEO_WORDS.match(w) for w in words) and fill.last_video is None:
        argv = ["generate", "--image", str(fill.photo), "--prompt", "waves", "--steps", "2", "--frames", "4",
                "--resolution", "256p"]
        _remember(fill, argv, *_run(argv, fill)[:2])
    if "ID" not in words:
        return
    if fill.last_job is None or sub == "cancel" or (sub == "requeue" and fill.job_status != "cancelled"):
        argv = ["submit", "--image", str(fill.photo), "--prompt", "waves", "--steps", "2", "--frames", "4",
                "--resolution", "256p"]
        _remember(fill, argv, *_run(argv, fill)[:2])
        if sub == "requeue":
            _run(["cancel", fill.last_job], fill)
            fill.job_status = "cancelled"
    if sub == "wait" and fill.job_status == "queued":
        _run(["worker", "--exit-when-idle"], fill)  # the queue runs what was submitted: `wait` then ends
        fill.job_status = "ran"


def _step(fill: Fill, text: str) -> str | None:
    _prepare(fill, text)
    argv = fill.argv(text)
    rc, out, errs = _run(argv, fill)
    _remember(fill, argv, rc, out)
    if argv[:1] == ["cancel"] and rc == 0:
        fill.job_status = "cancelled"
    return _judge(rc, out, errs)


def test_the_commands_are_found_and_filled():
    """The collector sees what a reader sees: README's taste of the CLI, in order, with every placeholder
    filled (no word of the rule left over)."""
    readme = [c.text for c in commands(ROOT / "README.md")]
    assert readme[0].startswith("python -m i2v generate --image photo.jpg")
    assert "python -m i2v wait ID" in readme and any(c.startswith("python -m i2v extend outputs/") for c in readme)
    fill = Fill(Path("/f"), Path("/f/p.jpg"), Path("/f/b.txt"), Path("/f/j.yaml"), last_job="job1",
                last_video="outputs/d/v.mp4")
    assert fill.argv("python -m i2v extend outputs/2026-11-26/VIDEO.mp4 --prompt x [--segments N]") == \
        ["extend", "outputs/d/v.mp4", "--prompt", "x", "--steps", "2", "--frames", "5"]  # at the test size
    assert fill.argv("python -m i2v generate --image photo.jpg --prompt x --steps 50 --preset standard") == \
        ["generate", "--image", "/f/p.jpg", "--prompt", "x", "--steps", "50", "--preset", "standard",
         "--frames", "5", "--resolution", "256p"]
    assert fill.argv("python -m i2v calibrate [--device cuda|cpu]") == ["calibrate", "--out", "/f/memory.yaml"]
    assert fill.argv("./start.sh cli wait ID --json") == ["wait", "job1", "--json"]
    assert fill.argv("python -m i2v smooth outputs/…/video.mp4 --factor 2 [--method flow|minterpolate]") == \
        ["smooth", "outputs/d/v.mp4", "--factor", "2"]
    words = {"photo.jpg", "board.txt", "jobs.yaml", "ID", "VIDEO", "FILE", "DIR"}
    for c in all_commands():
        if c.runs:
            assert not words & set(fill.argv(c.text)), c.where


def _measures(text: str) -> bool:
    return _sub(text) in MEASURES


def _asks_for_a_card(text: str) -> bool:
    return ("--gpu" in text or "--fast-tiers" in text) and "--device cpu" not in text


def _sub(text: str) -> str:
    words = text.split()
    return words[3] if words[:3] == ["python", "-m", "i2v"] else words[2]


def _run_doc(doc: str, tmp_path: Path, which) -> None:
    fill = _studio_folder(tmp_path)
    failures, seen = [], set()
    path = next(d for d in DOCS if d.name == doc)
    for c in commands(path):
        if not c.runs or not which(c.text):
            continue
        if c.text in seen:
            continue
        seen.add(c.text)
        why = _step(fill, c.text)
        if why:
            failures.append(f"{c.where}: {c.text}\n    -> {why}")
    assert not failures, "\n".join(failures)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.heavy
@pytest.mark.parametrize("doc", [d.name for d in DOCS if any(c.runs for c in commands(d))])
def test_every_documented_command_runs_as_written(doc, tmp_path):
    """Each file's commands in the order it shows them, in one studio folder (what one makes, the next one
    uses: a video for extend, smooth and analyze, a job id for wait).  A line repeated in a file runs once.
    Measuring commands run in the slow tier below, but those that ask for a card where there is none run
    here: they must refuse in one line (they were an internal error)."""
    _run_doc(doc, tmp_path, lambda t: not _measures(t) or (_asks_for_a_card(t) and not _cuda()))


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d.name for d in DOCS if any(c.runs and _measures(c.text) for c in commands(d))])
def test_every_documented_measurement_runs_as_written(doc, tmp_path):
    """bench and calibrate as the docs show them (minutes and gigabytes on a CPU: the slow tier)."""
    _run_doc(doc, tmp_path, _measures)


def test_commands_named_in_prose_are_real():
    """A command named in running text (`python -m i2v wait ID --json`) names a real subcommand and its
    real options."""
    from i2v.cli import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    bad = []
    for c in all_commands():
        words = c.text.split()
        sub = (words[3:4] if words[:3] == ["python", "-m", "i2v"] else words[2:3]) or [""]
        sub = sub[0]
        if sub in ("", "--help", "…"):  # the tool itself (`python -m i2v …`), or its help
            continue
        if sub not in subs:
            bad.append(f"{c.where}: no command {sub!r}")
            continue
        known = {s for a in subs[sub]._actions for s in a.option_strings}
        for w in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", c.text):
            if w not in known:
                bad.append(f"{c.where}: {sub} has no option {w}")
    assert not bad, "\n".join(bad)


def test_every_subcommand_help_runs(tmp_path):
    """``--help`` and ``-h`` of the tool and of each subcommand: exit 0 and a usage text (``generate --help``
    was a traceback: a bare % in an option's help)."""
    from i2v.cli import build_parser

    subs = next(a for a in build_parser()._actions if a.dest == "command").choices
    fill = _studio_folder(tmp_path)
    script = ("import sys, runpy\n"
              "for argv in sys.argv[1:]:\n"
              "    sys.argv = ['python -m i2v', *argv.split()]\n"
              "    try:\n"
              "        runpy.run_module('i2v', run_name='__main__')\n"
              "    except SystemExit as e:\n"
              "        print(f'@@ {argv} -> {e.code}', flush=True)\n")
    forms = ["--help", "-h", *(f"{s} {h}" for s in subs for h in ("--help", "-h"))]
    r = subprocess.run([sys.executable, "-c", script, *forms], cwd=tmp_path, env=_env(fill.folder),
                       capture_output=True, text=True, timeout=120)
    assert not BROKEN.search(r.stdout + r.stderr), r.stderr[-2000:]
    ends = dict(re.findall(r"^@@ (.+?) -> (\S+)$", r.stdout, re.M))
    assert ends == {f: "0" for f in forms}, ends
    assert r.stdout.count("usage: python -m i2v") == len(forms)


@pytest.mark.heavy
def test_the_api_snippets_run_against_a_running_studio(app, photo_path, tmp_path, monkeypatch):
    """README's and docs/api.md's gradio_client blocks, as written, against a running studio: the address
    is that studio's, ``photo.jpg`` a picture in the working folder; a file's blocks share one namespace."""
    import shutil

    shutil.copy(photo_path, tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    ran = 0
    for doc in DOCS:
        ns: dict = {}
        for line, code in snippets(doc):
            code = code.replace("http://127.0.0.1:7860/", app.url)
            try:
                exec(compile(code, f"{doc.name}:{line}", "exec"), ns)  # noqa: S102 - the docs' own code
            except Exception as exc:  # noqa: BLE001 - the failure, named by file and line
                pytest.fail(f"{doc.name}:{line}: {type(exc).__name__}: {exc}")
            ran += 1
    assert ran >= 3
