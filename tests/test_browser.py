"""A real browser (Debian's chromium through Playwright) using the studio like a person."""

from __future__ import annotations

import re
import shutil

import pytest

from .apphelpers import ROOT, running_app

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                     "--disable-background-networking", "--disable-component-update",
                                     "--disable-sync"])
        yield b
        b.close()


def slider_value(page, elem_id: str) -> float:
    return float(page.locator(f"#{elem_id} input[type=number]").input_value())


def set_slider(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def open_studio(browser, app, image=None, prompt=None, **context):
    """A fresh tab on the studio, optionally with a picture uploaded and a prompt typed."""
    ctx = browser.new_context(**{"locale": "en-US", **context})
    page = ctx.new_page()
    page.goto(app.url)
    page.locator("#prompt textarea").wait_for(timeout=30000)
    if image is not None:
        page.locator("#input-image input[type=file]").set_input_files(str(image))
    if prompt is not None:
        page.locator("#prompt textarea").fill(prompt)
    return ctx, page


def test_upload_preset_generate_watch_download(browser, tmp_path, photo_path):
    with running_app(tmp_path) as app:
        ctx, page = open_studio(browser, app, accept_downloads=True, viewport={"width": 1400, "height": 1300})

        assert (slider_value(page, "steps"), slider_value(page, "guidance")) == (50, 9)
        page.locator("#input-image input[type=file]").set_input_files(str(photo_path))
        page.locator("#prompt textarea").fill("a dog jumping over a fence")
        # the recommendation follows the prompt: strong action -> 11-12, 60 steps
        page.get_by_text("Strong action (jumping)").wait_for(timeout=20000)
        page.wait_for_function("() => document.querySelector('#guidance input[type=number]').value === '11.5'",
                               timeout=10000)

        page.locator("#preset input").click()
        page.get_by_role("option", name="high_motion").click()
        page.get_by_text("11.0 — strong motion").wait_for(timeout=10000)  # the seed article's zone
        assert (slider_value(page, "steps"), slider_value(page, "guidance")) == (60, 11)

        # keep the CPU run short: fewer steps and frames, typed into the sliders' number boxes
        set_slider(page, "steps", 12)
        set_slider(page, "frames", 6)
        page.locator("#generate").click()

        page.wait_for_function("() => /Step \\d+\\/12/.test(document.querySelector('#status').innerText)",
                               timeout=60000)
        video = page.locator("#result-video video")
        video.wait_for(timeout=120000)
        src = video.get_attribute("src")
        assert src and ".mp4" in src
        assert re.search(r"Done in", page.locator("#status").inner_text())
        assert page.locator("#used-seed input").input_value().isdigit()
        assert "Measured motion" in page.locator("#motion").inner_text()
        assert "Demo model" in page.locator("#model-banner").inner_text()

        # one click on "motion too weak": guidance up by 1.5, the same seed kept
        seed_used = page.locator("#used-seed input").input_value()
        page.locator("#fix-weak").click()
        page.wait_for_function("() => document.querySelector('#guidance input[type=number]').value === '12.5'",
                               timeout=10000)
        page.get_by_text("Motion too weak: guidance raised").wait_for(timeout=10000)
        assert page.locator("#status").inner_text().count("guidance_scale: 11.0 → 12.5") == 1
        assert seed_used

        with page.expect_download(timeout=30000) as dl:
            page.locator("#result-video").get_by_role("button", name=re.compile("download", re.I)).first.click()
        saved = tmp_path / "download.mp4"
        dl.value.save_as(saved)
        assert saved.stat().st_size > 1000 and saved.read_bytes()[4:8] == b"ftyp"

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "studio.png"), full_page=True)
        ctx.close()


def test_chinese_browser_gets_chinese_labels_and_errors(browser, tmp_path):
    with running_app(tmp_path) as app:
        ctx, page = open_studio(browser, app, locale="zh-CN",
                                extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        page.get_by_text("提示词：描述运动").wait_for(timeout=30000)
        page.locator("#generate").click()  # no image yet
        page.get_by_text("请先上传图片").wait_for(timeout=15000)
        ctx.close()


def test_bad_upload_in_the_browser_gets_a_clear_error(browser, tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_bytes(b"this is a text file pretending to be a picture\n" * 50)
    with running_app(tmp_path) as app:
        ctx, page = open_studio(browser, app, bad, "a dog jumping")
        page.locator("#generate").click()
        page.get_by_text("the file is not a readable image").first.wait_for(timeout=20000)
        assert page.locator("#prompt textarea").input_value() == "a dog jumping"  # the page still works
        ctx.close()


def test_closing_the_tab_stops_its_job(browser, tmp_path, photo_path):
    from gradio_client import Client, handle_file

    with running_app(tmp_path) as app:
        ctx, page = open_studio(browser, app, photo_path, "waves crashing")
        set_slider(page, "steps", 150)
        page.locator("#generate").click()
        page.wait_for_function("() => /Step [2-9]\\d*\\/150/.test(document.querySelector('#status').innerText)",
                               timeout=60000)
        ctx.close()  # the tab goes away mid-run
        import time

        t = time.perf_counter()
        video, _ = Client(app.url, verbose=False).predict(
            image=handle_file(str(photo_path)), prompt="next", negative_prompt="", guidance_scale=9.0,
            num_inference_steps=2, num_frames=4, fps=8, resolution="256p", seed=1, api_name="/generate")
        assert time.perf_counter() - t < 25  # the abandoned 150-step job would hold the model for over a minute
        assert video
