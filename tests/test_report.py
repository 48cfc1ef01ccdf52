"""Report files: all written, self-contained HTML, user strings escaped, JSON and CSV readable back."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from earmark.evaluation import (
    build_predictions,
    compute_metrics,
    confused_pairs,
    format_summary_table,
    plot_confusion,
    write_reports,
)
from earmark.evaluation.examples import ClipExample, wav_bytes
from earmark.evaluation.plots import spectrogram_png

EVIL = "<script>alert(1)</script>"
LABELS = ["zero", "one", EVIL]
SECTION_IDS = ("summary", "dataset", "config", "curves", "per-class", "confusion", "confused-pairs", "misclassified")


def _split(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, len(LABELS), size=n)
    probs = rng.dirichlet(np.ones(len(LABELS)), size=n)
    probs[np.arange(n), y_true] += 1.0
    return y_true, probs / probs.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A run directory written once per module (plots cost ~1 s) from fake val/test results and a history."""
    metrics: dict[str, Any] = {}
    predictions = {}
    for split, seed, n in (("val", 0, 20), ("test", 1, 30)):
        y_true, probs = _split(seed, n)
        metrics[split] = compute_metrics(y_true, probs, LABELS, n_boot=100)
        clips = [f"clips/{split}_{i}<&>.wav" for i in range(n)]
        predictions[split] = build_predictions(clips, y_true, probs, LABELS, top_k=2)
    metrics.update({"labels": LABELS, "model": "cnn", "seconds_train": 12.5})
    history: list[dict[str, Any]] = [
        {
            "epoch": 1,
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "val_loss": 1.1,
            "val_accuracy": 0.4,
            "lr": 1e-3,
        },
        {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.8, "val_loss": None},  # missing values tolerated
        {"epoch": 3, "train_loss": "0.3", "val_accuracy": "0.9", "seconds": 1.0},  # as read back from CSV
    ]
    metrics["baselines"] = {
        name: {"test": {"n": 30, "accuracy": acc, "accuracy_ci95": [acc - 0.1, acc + 0.1], "macro_f1": acc,
                        "macro_f1_ci95": [acc - 0.1, acc + 0.1], "balanced_accuracy": acc}}
        for name, acc in (("majority", 0.333), ("logreg", 0.612))
    } | {"protocol": "fitted on the train split"}
    context = {
        "dataset": "digits from /data/<x>",
        "split_protocol": "grouped 80/10/10",
        "config_yaml": "a: 1",
        "command": "earmark train data --out run",
        "data_report": {"source": "/data/<x>", "labels_from": "folder", "groups_from": None, "n_groups": 50,
                        "n_kept": 50, "n_rejected": 1, "sample_rate": 16000, "source_sample_rates": {"8000": 50},
                        "class_counts": {"zero": 20, "one": 25, EVIL: 5},
                        "leakage": {"ok": False, "n_groups_across_splits": 2, "duplicates_across_splits": [],
                                    "n_near_duplicates_across_splits": 0}},
        "split_counts": {"val": {"zero": 8, "one": 12}, "test": {"zero": 10, "one": 10, EVIL: 10}},
    }
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(8000) / 8000)
    examples = [ClipExample(clip=f"clips/wrong_{i}<&>.wav", true="zero", predicted=EVIL, score=0.9 - i / 10,
                            duration_s=12.0, excerpt_s=1.0, wav=wav_bytes(tone, 8000),
                            png=spectrogram_png(np.random.default_rng(i).random((40, 20))))
                for i in range(2)]
    run_dir = tmp_path_factory.mktemp("reports") / "run"
    write_reports(run_dir, metrics, history, LABELS, predictions, context, examples)
    return run_dir, metrics


def test_all_files_written_and_no_temp_files_left(run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, _ = run
    expected = {"metrics.json", "per_class.csv", "predictions.csv", "report.html", "model_card.md"}
    expected |= {"confusion_matrix.png", "curves.png"}
    assert {p.name for p in run_dir.iterdir()} == expected
    for name in ("confusion_matrix.png", "curves.png"):
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG")


def test_report_files_get_the_usual_permissions(run: tuple[Path, dict[str, Any]]) -> None:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    for name in ("metrics.json", "report.html", "confusion_matrix.png", "model_card.md"):
        assert stat.S_IMODE((run[0] / name).stat().st_mode) == 0o666 & ~umask, name  # not mkstemp's 0600


def test_metrics_json_round_trips(run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, metrics = run
    assert json.loads((run_dir / "metrics.json").read_text(encoding="utf-8")) == metrics


def test_html_is_self_contained_with_sections(run: tuple[Path, dict[str, Any]]) -> None:
    page = run[0].joinpath("report.html").read_text(encoding="utf-8")
    for section in SECTION_IDS:
        assert f'<section id="{section}">' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    sources = re.findall(r"""src="([^"]*)\"""", page)
    assert sum(src.startswith("data:image/png;base64,") for src in sources) == 2 + 2  # plots + examples
    assert sum(src.startswith("data:audio/wav;base64,") for src in sources) == 2 == page.count("<audio")
    assert len(sources) == 6
    assert "clips/wrong_0&lt;&amp;&gt;.wav" in page and "first 1.0 s" in page
    assert "Leakage check FAILED" in page and 'id="baselines"' in page and "0.612 [0.512, 0.712]" in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "/data/&lt;x&gt;" in page and "<pre>a: 1</pre>" in page


def test_csv_files(run: tuple[Path, dict[str, Any]]) -> None:
    run_dir, metrics = run
    with (run_dir / "per_class.csv").open(encoding="utf-8", newline="") as handle:
        per_class = list(csv.DictReader(handle))
    assert len(per_class) == 2 * len(LABELS)
    row = next(r for r in per_class if r["split"] == "test" and r["label"] == EVIL)
    assert float(row["f1"]) == metrics["test"]["per_class"][EVIL]["f1"]
    with (run_dir / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 50
    assert list(predictions[0]) == ["split", "clip", "true", "predicted", "score", "top_k"]
    first_label, first_score = predictions[0]["top_k"].split(";")[0].split(":")
    assert first_label == predictions[0]["predicted"] and float(first_score) == float(predictions[0]["score"])


def test_predictions_optional_and_single_split(tmp_path: Path) -> None:
    y_true, probs = _split(2, 15)
    metrics = {"val": compute_metrics(y_true, probs, LABELS, n_boot=50), "labels": LABELS, "model": "m"}
    write_reports(tmp_path, metrics, [], LABELS, None, {}, model_card=False)
    assert not (tmp_path / "predictions.csv").exists() and not (tmp_path / "model_card.md").exists()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Confusion matrix (val)" in page and "(not recorded)" in page
    assert "Baselines: not computed" in page and "No misclassified clips to show" in page


def test_model_card_states_protocol_baselines_limitations_and_command(run: tuple[Path, dict[str, Any]]) -> None:
    card = (run[0] / "model_card.md").read_text(encoding="utf-8")
    for heading in ("## Intended use", "## Data and protocol", "## Results", "## Limitations", "## How to reproduce"):
        assert heading in card
    assert "grouped 80/10/10" in card and "Leakage check (groups and identical" in card and "FAILED" in card
    assert "| logreg | 0.612 [0.512, 0.712]" in card and "| majority | 0.333" in card
    assert "Files were not grouped" in card and "leakage check failed" in card
    assert "content above 4000 Hz was never seen" in card and "test split has only 30 clips" in card
    assert "```sh\nearmark train data --out run\n```" in card


def test_summary_table() -> None:
    metrics = {
        "val": {"n": 20, "accuracy": 0.9, "accuracy_ci95": [0.8, 0.95], "balanced_accuracy": 0.85,
                "macro_f1": 0.84, "per_class": {}},
        "test": {"n": 300, "accuracy": 0.99, "accuracy_ci95": [0.975, 0.997], "balanced_accuracy": 0.98,
                 "macro_f1": 0.97, "per_class": {}},
        "model": "cnn",
    }  # fmt: skip
    lines = format_summary_table(metrics).splitlines()
    assert lines[0].split()[:2] == ["split", "n"]
    assert lines[2].startswith("val") and lines[3].startswith("test")
    assert "0.990 [0.975, 0.997]" in lines[3] and "0.970" in lines[3]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_confused_pairs_orders_off_diagonal_counts() -> None:
    confusion = np.array([[5, 3, 0], [1, 4, 0], [0, 6, 2]])
    assert confused_pairs(confusion) == [(2, 1, 6), (0, 1, 3), (1, 0, 1)]
    assert confused_pairs(np.eye(3, dtype=int)) == []


def test_confusion_plot_handles_many_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = [f"a rather long class name {i}" for i in range(30)]
    confusion = rng.integers(0, 5, size=(30, 30)) + np.diag(np.full(30, 30))
    plot_confusion(confusion, labels, tmp_path / "big.png")
    assert (tmp_path / "big.png").read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="K=3"):
        plot_confusion(confusion, labels[:3], tmp_path / "bad.png")
