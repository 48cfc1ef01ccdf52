"""`earmark serve` in a real headless Chromium (Debian's, through playwright): upload a WAV and an MP3, record
through Chromium's fake microphone, play a stretch of the timeline, open a confusion-matrix cell, play a clip
and mark it; the labels the page shows equal `earmark predict`'s and the mark lands in corrections.csv.

Screenshots go to the test's temporary folder, or to $EARMARK_SCREENSHOTS when it is set (never committed).
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import write_tone
from tests.test_serve import cli_predict, copy_run

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", "--autoplay-policy=no-user-gesture-required",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
ANSWER = "window.earmarkLastAnswer"


def require_browser() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = False
    else:
        found = CHROMIUM is not None
    if not found:
        if os.environ.get("EARMARK_REQUIRE_BROWSER"):
            pytest.fail("EARMARK_REQUIRE_BROWSER is set but chromium or playwright is missing")
        pytest.skip("needs Debian's chromium and the playwright package (installed by .ci/run)")


@pytest.fixture(scope="module")
def site(tone_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_browser()
    from earmark.serve.app import create_app
    from earmark.serve.command import serving
    from earmark.serve.models import load_models

    root = tmp_path_factory.mktemp("site")
    run = copy_run(tone_run, root / "run")
    with serving(create_app(load_models([run, run / "checkpoints" / "best.ckpt"]))) as url:
        yield {"url": url, "run": run, "root": root}


def wait_answer(page: Any) -> dict[str, Any]:
    page.wait_for_function(f"() => {ANSWER} !== null", timeout=30_000)
    answer: dict[str, Any] = page.evaluate(ANSWER)
    assert "error" not in answer, answer
    return answer


def test_the_page_in_chromium(site: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("EARMARK_SCREENSHOTS") or tmp_path)
    rng = np.random.default_rng(5)
    wav, mp3, mic = tmp_path / "low then high.wav", tmp_path / "low.mp3", tmp_path / "mic.wav"
    low, high = tmp_path / "low.wav", tmp_path / "high.wav"
    write_tone(low, 300.0, 1.5, 44100, rng, channels=2)
    write_tone(high, 2400.0, 1.5, 44100, rng, channels=2)
    sf.write(str(wav), np.concatenate([sf.read(str(low))[0], sf.read(str(high))[0]]), 44100, subtype="PCM_16")
    t = np.arange(int(1.4 * 22050)) / 22050
    sf.write(str(mp3), 0.5 * np.sin(2 * np.pi * 300.0 * t), 22050, format="MP3")
    write_tone(mic, 900.0, 4.0, 48000, rng)  # Chromium's fake microphone plays it (16-bit PCM WAV) in a loop
    errors: list[str] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM,
                                         args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic}"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(site["url"], wait_until="load")
            page.wait_for_selector("#model option", state="attached")
            for path in (wav, mp3):  # choose a file, as a user does; the label shown equals `earmark predict`'s
                page.evaluate(f"{ANSWER} = null")
                page.set_input_files("#file", str(path))
                answer = wait_answer(page)
                expected = cli_predict(site["run"], path, capsys)
                assert page.inner_text("#result-label") == expected["label"]
                assert answer["top_k"] == expected["top_k"] and answer["windows"] == expected["windows"]
                runs = [w["label"] for i, w in enumerate(expected["windows"])
                        if i == 0 or w["label"] != expected["windows"][i - 1]["label"]]
                assert page.locator("#timeline button").all_inner_texts() == runs  # which label when
                if path == wav:
                    page.screenshot(path=str(shots / "serve-timeline.png"), full_page=True)
            assert page.locator("#timeline button").count() == 1  # the MP3 is one tone
            _drop(page, low)
            assert wait_answer(page)["label"] == cli_predict(site["run"], low, capsys)["label"]
            page.evaluate(f"{ANSWER} = null")
            page.click("#record")
            page.wait_for_timeout(2000)
            page.click("#record")
            answer = wait_answer(page)
            assert answer["file"].startswith("microphone.") and answer["duration_s"] > 1.0
            assert page.inner_text("#result-label") == cli_predict(site["run"], mic, capsys)["label"]
            page.click("#timeline button >> nth=0")
            page.wait_for_function("() => document.getElementById('player').currentTime > 0", timeout=10_000)
            assert page.evaluate("document.getElementById('spectrogram').naturalWidth") > 0
            page.screenshot(path=str(shots / "serve-try.png"), full_page=True)
            marked = _look_inside(page)
            page.screenshot(path=str(shots / "serve-inside.png"), full_page=True)
            page.select_option("#model", "1")  # the bare checkpoint: something to try, no run to look inside
            assert page.is_hidden("#tab-inside") and page.is_visible("#try")
        finally:
            browser.close()
    assert errors == []  # no script error, no refused resource (the page's CSP would log one)
    with (site["run"] / "corrections.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["path"], r["action"], r["label"], r["previous_label"]) for r in rows] == [(marked, "relabel", "low",
                                                                                          "high")]


def _look_inside(page: Any) -> str:
    """Open the run's confusion cell true=high, predicted=high, play its first clip and mark it; its path."""
    page.click("#tab-inside")
    page.click('#confusion button[data-true="high"][data-predicted="high"]')
    title = page.inner_text("#cell-title")
    count = int(page.inner_text('#confusion button[data-true="high"][data-predicted="high"]'))
    assert title.endswith(f"({count} clips)") and page.locator("#cell-clips button").count() == count
    page.click("#cell-clips button >> nth=0")
    page.wait_for_function("() => document.getElementById('clip-audio').readyState >= 1", timeout=10_000)
    assert page.evaluate("document.getElementById('clip-audio').duration") > 0.1
    page.evaluate("document.getElementById('clip-audio').play()")
    page.wait_for_function("() => document.getElementById('clip-audio').currentTime > 0", timeout=10_000)
    page.wait_for_function("() => document.getElementById('clip-spectrogram').naturalWidth > 0", timeout=10_000)
    path = page.inner_text("#clip-title").split(" (clip ")[0]
    page.select_option("#relabel-to", "low")
    page.click("#relabel")
    page.wait_for_function("() => document.getElementById('mark-status').textContent.startsWith('saved')")
    assert page.inner_text("#corrections").count("relabel") == 1
    return path


def _drop(page: Any, path: Path) -> None:
    """Drop `path` on the page's drop zone, as a file dragged from the desktop."""
    page.evaluate(f"{ANSWER} = null")
    data = list(path.read_bytes())
    transfer = page.evaluate_handle("""([bytes, name]) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "audio/wav"}));
        return transfer;
    }""", [data, path.name])
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
