"""The commands README.md and docs/*.md show, read from the Markdown, and the one rule that fills their
placeholders (docs/development.md, "The docs are tests").

A command is a line of a fenced shell block (``bash``, ``sh``, ``console``, ``shell`` or no language; a
``$ `` prompt and a trailing ``# comment`` dropped, ``\\`` continuations joined), or an inline code span,
that starts with ``python -m i2v`` or ``./start.sh cli``.  A Python block that uses ``gradio_client`` is a
snippet; the blocks of one file run in order, in one namespace.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CLI_PREFIXES = ("python -m i2v", "./start.sh cli")
SHELL_LANGS = ("", "bash", "sh", "console", "shell")
FENCE = re.compile(r"^```(\w*)\s*$")
FORM = re.compile(r"\b(ARGS|COMMAND)\b")  # `./start.sh cli ARGS…`, `python -m i2v COMMAND …`: the form, not a command


@dataclass(frozen=True)
class DocCommand:
    doc: str     # the file, relative to the checkout
    line: int    # where it starts
    text: str    # as written (continuations joined)
    fenced: bool = True  # a line of a shell block (run); else named in running text (checked, not run)

    @property
    def runs(self) -> bool:
        return self.fenced

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def _blocks(text: str):
    """(language, first line number, lines) of each fenced block."""
    lang, start, body = None, 0, []
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line.strip())
        if m and lang is None:
            lang, start, body = m.group(1).lower(), n + 1, []
        elif line.strip() == "```" and lang is not None:
            yield lang, start, body
            lang = None
        elif lang is not None:
            body.append(line)


def _strip_comment(line: str) -> str:
    """A shell line without its trailing ``# comment`` (a ``#`` inside quotes stays)."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def commands(doc: Path) -> list[DocCommand]:
    """Every CLI command ``doc`` shows, in the order it shows them."""
    text = doc.read_text(encoding="utf-8")
    rel = str(doc.relative_to(ROOT))
    found: list[tuple[int, str, bool]] = []
    for lang, start, body in _blocks(text):
        if lang not in SHELL_LANGS:
            continue
        pending, first = "", 0
        for n, raw in enumerate(body, start):
            line = raw.strip()
            if line.startswith("$ "):
                line = line[2:]
            line = _strip_comment(line)
            if not pending:
                first = n
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = (pending + line).strip(), ""
            if line.startswith(CLI_PREFIXES) and not FORM.search(line):
                found.append((first, line, True))
    in_fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line.strip()) or line.strip() == "```":
            in_fence = not in_fence
            continue
        if not in_fence:
            for span in re.findall(r"`([^`]+)`", line):
                if span.startswith(CLI_PREFIXES) and not FORM.search(span):
                    found.append((n, span.strip(), False))
    return [DocCommand(rel, n, t, f) for n, t, f in sorted(found)]


def snippets(doc: Path) -> list[tuple[int, str]]:
    """The Python blocks of ``doc`` that use gradio_client (and those after them, which continue them)."""
    out, started = [], False
    for lang, start, body in _blocks(doc.read_text(encoding="utf-8")):
        if lang != "python":
            continue
        code = "\n".join(body)
        started = started or "gradio_client" in code
        if started:
            out.append((start, code))
    return out


def all_commands() -> list[DocCommand]:
    return [c for doc in DOCS for c in commands(doc)]


# -- the rule that fills placeholders ---------------------------------------------------------------

# The commands that make videos run at the tiny model's test size unless they set these themselves (a preset
# gives way to them, as to any option given): the same code paths at a fraction of the time.
MAKES_VIDEOS = ("generate", "extend", "sweep", "submit")
# Commands that measure (the full-size architecture, minutes and gigabytes on a CPU) run as written in the slow
# tier; the quick suite runs those that ask for a CUDA card on a machine without one (a one-line refusal).
MEASURES = ("bench", "calibrate")
SMALL = (("--steps", "2"), ("--frames", "5"), ("--resolution", "256p"))  # 5: a count every family makes
VIDEO_WORDS = re.compile(r"^(VIDEO|outputs/[^ ]*\.mp4)$")


@dataclass
class Fill:
    """What the placeholders stand for in one run of a file's commands: files made for them, and what the
    commands before made (the last job id ``submit`` printed, the last video a command wrote)."""

    folder: Path
    photo: Path
    board: Path
    batch: Path
    last_job: str | None = None
    job_status: str | None = None  # what the commands did to it: queued, ran, cancelled
    last_video: str | None = None  # relative to the folder: outputs/<day>/<name>.mp4

    def argv(self, text: str) -> list[str]:
        """The command's arguments after ``python -m i2v``, placeholders filled, and a command that makes
        videos at the tiny model's test size unless it says otherwise (``SMALL``)."""
        text = re.sub(r"\[[^\[\]]*\]", " ", text)  # [optional parts] are left out
        words = shlex.split(text)
        words = words[3:] if words[:3] == ["python", "-m", "i2v"] else words[2:]  # ./start.sh cli
        out = []
        for w in words:
            if "|" in w and not w.startswith("-"):  # a choice (a|b): the first
                w = w.split("|")[0]
            if w == "photo.jpg":
                w = str(self.photo)
            elif w == "board.txt":
                w = str(self.board)
            elif w == "jobs.yaml":
                w = str(self.batch)
            elif w == "ID":
                w = self.last_job or "no-job-yet"
            elif w == "N":
                w = "2"
            elif w in ("FILE", "flow.mp4"):
                w = str(self.folder / ("out-" + w.lower().replace(".", "-")))
            elif w == "DIR":
                w = str(self.folder / "out-dir")
            elif w == "T1,T2,...":
                w = "3"
            elif VIDEO_WORDS.match(w):
                w = self.last_video or "outputs/none-yet.mp4"
            out.append(w)
        if out[:1] and out[0] in MAKES_VIDEOS:
            given = set(out)
            for opt, value in SMALL:
                if opt == "--resolution" and ({"--width", "--height"} & given or out[0] == "extend"):
                    continue  # an explicit size, or extend's (the source's)
                if opt not in given:
                    out += [opt, value]
        if out[:1] and out[0] in MEASURES and "--out" not in out:  # into the folder, never the checkout's files
            out += ["--out", str(self.folder / ("memory.yaml" if out[0] == "calibrate" else "measured"))]
        return out
