"""`earmark train` on real recordings (FSDD) writes every report file, with numbers scikit-learn agrees with,
and report.html renders in a real headless Chromium: no console errors, every section, playable audio."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from earmark.cli import main

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REPORT_SECTIONS = ("summary", "baselines", "dataset", "config", "curves", "per-class", "confusion",
                   "confused-pairs", "misclassified")
RUN_FILES = ("config.yaml", "run.json", "metrics.json", "history.csv", "per_class.csv", "predictions.csv",
             "confusion_matrix.png", "curves.png", "report.html", "model_card.md", "checkpoints/best.ckpt",
             "checkpoints/last.ckpt")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason="shared FSDD data not present")]


@pytest.fixture(scope="module")
def fsdd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """FSDD prepared with its official split (test = takes 0-4) and the default model trained briefly."""
    root = tmp_path_factory.mktemp("fsdd")
    data, run = root / "data", root / "run"
    assert main(["prepare", str(FSDD), str(data), "--preset", "fsdd"]) == 0
    assert main(["train", str(data), "--out", str(run), "--set", "trainer.epochs=2"]) == 0
    return data, run


def test_train_writes_every_report_file(fsdd_run: tuple[Path, Path]) -> None:
    _, run = fsdd_run
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["n"] == 300 and metrics["labels"] == [str(d) for d in range(10)]
    baselines = metrics["baselines"]
    assert {"majority", "logreg", "protocol"} <= set(baselines)
    assert baselines["majority"]["test"]["n"] == 300
    assert baselines["majority"]["test"]["accuracy"] == pytest.approx(0.1, abs=1e-9)  # FSDD is balanced
    assert baselines["logreg"]["test"]["accuracy"] > 0.5
    card = (run / "model_card.md").read_text(encoding="utf-8")
    assert "source's own split" in card and "| logreg |" in card and "earmark train" in card


def test_metrics_agree_with_sklearn(fsdd_run: tuple[Path, Path]) -> None:
    skm = pytest.importorskip("sklearn.metrics")
    _, run = fsdd_run
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    with (run / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    true, predicted = [row["true"] for row in rows], [row["predicted"] for row in rows]
    labels = metrics["labels"]
    test = metrics["test"]
    assert test["accuracy"] == pytest.approx(skm.accuracy_score(true, predicted), abs=1e-6)
    assert test["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(true, predicted), abs=1e-6)
    assert test["macro_f1"] == pytest.approx(
        skm.f1_score(true, predicted, average="macro", labels=sorted(set(true) | set(predicted)), zero_division=0),
        abs=1e-6)
    assert test["confusion"] == skm.confusion_matrix(true, predicted, labels=labels).tolist()


def test_evaluate_is_reproducible_and_writes_its_own_report(fsdd_run: tuple[Path, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _, run = fsdd_run
    saved = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert main(["evaluate", str(run)]) == 0  # a fresh process state, same seed: the same interval
    folder = next((run / "evaluations").iterdir())
    again = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert again["accuracy_ci95"] == saved["accuracy_ci95"]  # the seeded bootstrap repeats exactly
    assert again["macro_f1_ci95"] == saved["macro_f1_ci95"] and again["confusion"] == saved["confusion"]
    assert (folder / "report.html").is_file() and "report:" in capsys.readouterr().out


def test_cross_dataset_evaluation_and_label_mismatch(fsdd_run: tuple[Path, Path], tmp_path: Path,
                                                     tone_prepared: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, run = fsdd_run
    other = tmp_path / "by-speaker"  # the same recordings split another way: speakers held out
    assert main(["prepare", str(FSDD), str(other), "--preset", "fsdd", "--split", "80/10/10",
                 "--group", "regex:_(?P<group>[a-z]+)_"]) == 0
    assert main(["evaluate", str(run), "--data", str(other), "--split", "test"]) == 0
    report = run / "evaluations" / "by-speaker-test" / "report.html"
    assert report.is_file() and "by-speaker" in report.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data", str(tone_prepared)]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "not known to the model: high, low, mid" in err and "the model's labels absent here: 0, 1" in err


def test_report_renders_in_headless_chromium(fsdd_run: tuple[Path, Path]) -> None:
    if CHROMIUM is None or not _has_playwright():
        if os.environ.get("EARMARK_REQUIRE_BROWSER"):
            pytest.fail("EARMARK_REQUIRE_BROWSER is set but chromium or playwright is missing")
        pytest.skip("needs Debian's chromium and the playwright package (installed by .ci/run)")
    _, run = fsdd_run
    seen = _render(run / "report.html", run / "report_screenshot.png")
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    assert seen["requests"] == []  # self-contained: nothing fetched beyond the file itself
    assert set(REPORT_SECTIONS) <= set(seen["ids"])
    assert seen["broken_images"] == 0 and seen["images"] >= 3
    wrong = int(300 - np.trace(np.array(json.loads((run / "metrics.json").read_text())["test"]["confusion"])))
    assert len(seen["audio_durations"]) == min(12, wrong)
    assert all(duration > 0.1 for duration in seen["audio_durations"])  # Chromium decodes every clip
    assert (run / "report_screenshot.png").read_bytes().startswith(b"\x89PNG")


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


_AUDIO_DURATIONS = """() => Promise.all([...document.querySelectorAll('audio')].map(a => new Promise(done => {
    a.onloadedmetadata = () => done(a.duration); a.onerror = () => done(-1); a.preload = 'metadata'; a.load();
})))"""


def _render(page_path: Path, screenshot: Path) -> dict[str, Any]:
    """Open the page in headless Chromium; what it logged, requested and shows."""
    from playwright.sync_api import sync_playwright

    seen: dict[str, Any] = {"console_errors": [], "page_errors": [], "requests": []}
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=flags)
        try:
            page = browser.new_page()
            page.on("console", lambda m: seen["console_errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: seen["page_errors"].append(str(error)))
            page.on("request", lambda r: None if r.url.startswith(("data:", "file:")) else seen["requests"].append(
                r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            seen["ids"] = page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
            seen["images"] = page.eval_on_selector_all("img", "nodes => nodes.length")
            seen["broken_images"] = page.eval_on_selector_all(
                "img", "nodes => nodes.filter(n => !(n.complete && n.naturalWidth > 0)).length")
            seen["audio_durations"] = page.evaluate(_AUDIO_DURATIONS)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen
