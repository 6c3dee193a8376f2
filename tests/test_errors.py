"""Errors by code: every code the studio can raise has its words in English and Chinese, with the same
parameters, and turns into one line in either language; a bug becomes an InternalError."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from i2v.base import errors
from i2v.base.errors import MESSAGES, CLASSES, I2VError, InternalError, InvalidInput, OutOfResources, rebuild

ROOT = Path(__file__).resolve().parent.parent
RAISE = re.compile(r"\b(" + "|".join(c.__name__ for c in CLASSES.values()) + r")\(\s*\"(\w+)\"")


def raised_codes() -> dict[str, set[str]]:
    """Every (class, code) constructed anywhere in the package's source and the app."""
    out: dict[str, set[str]] = {}
    for path in [*(ROOT / "i2v").rglob("*.py"), ROOT / "app.py"]:
        for cls, code in RAISE.findall(path.read_text(encoding="utf-8")):
            out.setdefault(code, set()).add(cls)
    return out


def fields(template: str) -> set[str]:
    return {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_raised_code_has_both_languages_with_the_same_parameters():
    codes = raised_codes()
    assert len(codes) >= 50  # the scan finds the raise sites
    for code in codes:
        entry = MESSAGES.get(code)
        assert entry, f"{code} is raised but has no text"
        assert entry["en"] and entry["zh"], code
        assert ("hint_en" in entry) == ("hint_zh" in entry), code
        zh_fields = {"what" if f == "what_zh" else f for f in fields(entry["zh"])}  # the word, translated
        en_fields = fields(entry["en"])
        assert zh_fields == en_fields, code
        if "hint_en" in entry:
            assert fields(entry["hint_en"]) == fields(entry["hint_zh"]), code
    unused = set(MESSAGES) - set(codes) - {"cancelled", "interrupted", "internal"}  # raised through defaults
    assert not unused, f"texts nobody raises: {sorted(unused)}"


def test_each_code_renders_one_line_in_both_languages():
    for code, entry in MESSAGES.items():
        params = {f: "X" for f in fields(entry["en"]) | fields(entry.get("hint_en", ""))}
        for name in ("need", "free"):  # formatted as numbers
            if name in params:
                params[name] = 1.5
        exc = InvalidInput(code, **params)
        en, zh = exc.text("en"), exc.text("zh")
        assert "\n" not in en and "\n" not in zh and en != zh, code
        assert not re.search(r"[\u4e00-\u9fff]", en), code
        assert re.search(r"[\u4e00-\u9fff]", zh), code


def test_typed_errors_round_trip_through_the_job_store_shape():
    exc = OutOfResources("queue_full", limit=3)
    again = rebuild(**{k: v for k, v in exc.to_json().items() if k in ("kind", "code", "params")})
    assert type(again) is OutOfResources and again.text("zh") == "队列已满（最多 3 个任务排队；请等一个完成后再试）"
    assert str(again) == "the queue is full (at most 3 jobs may wait; try again when one has finished)"
    assert isinstance(rebuild("nonsense", "no_such_code", {}), InternalError)


@pytest.mark.parametrize("exc,zh", [
    (InvalidInput("out_of_range", name="guidance_scale", lo="1", hi="20", got=42.0),
     "guidance_scale 必须在 1 到 20 之间（当前为 42.0）"),
    (InvalidInput("image_unreadable"), "文件不是可读取的图片（请使用 PNG、JPEG、WebP、BMP、TIFF 或 GIF）"),
    (InvalidInput("prompt_empty", name="prompt"), "提示词为空（请描述想要的运动，例如“一只狗跳过栅栏”）"),
    (InvalidInput("unknown_choice", what="guidance schedule", got="zigzag", choices="constant, linear"),
     "未知引导系数调度“zigzag”（可选：constant, linear）"),
])
def test_errors_in_chinese(exc, zh):
    assert exc.text("zh") == zh
    assert exc.text("en").startswith(exc.message)


def test_an_unknown_code_is_a_bug_in_the_caller():
    with pytest.raises(KeyError):
        I2VError("no_such_code")


def test_a_bug_in_the_cli_is_one_line_exit_70_with_the_traceback_logged(tmp_path):
    code = ("import sys; import i2v.cli as c\n"
            "def boom(a): raise ZeroDivisionError('kaboom')\n"
            "c.COMMANDS['presets'] = boom\nsys.exit(c.main(['presets']))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"I2V_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == errors.InternalError.exit_code == 70
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error: ZeroDivisionError: kaboom" in lines[0], r.stderr
    assert "kaboom" in (tmp_path / "logs" / "cli.log").read_text() and "Traceback" in \
        (tmp_path / "logs" / "cli.log").read_text()


def test_an_error_with_a_path_travels_as_json():
    """A broken model folder's error carries its path: as JSON (the store, a worker's heartbeat) it is text.
    Before, json.dumps raised and the studio's worker thread died: no job ever ran (the browser test with a
    broken model folder found it)."""
    import json
    from pathlib import Path

    from i2v.base.errors import ModelUnavailable, rebuild

    exc = ModelUnavailable("model_no_index", path=Path("/somewhere/my-model"))
    data = json.loads(json.dumps(exc.to_json()))
    assert data["params"]["path"] == "/somewhere/my-model"
    assert str(rebuild(data["kind"], data["code"], data["params"])) == str(exc)
