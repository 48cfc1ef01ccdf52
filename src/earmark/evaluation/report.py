"""A run's report files: metrics.json, per_class.csv, predictions.csv, PNGs, a self-contained report.html."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from earmark.evaluation.guard import guard_lines
from earmark.evaluation.model_card import render_model_card
from earmark.evaluation.plots import plot_confusion, plot_curves
from earmark.evaluation.robustness_report import calibration_html
from earmark.evaluation.sections import baselines_table, candidates_section, dataset_section, misclassified_section
from earmark.evaluation.text import esc, fmt, headline_split, with_ci
from earmark.fileio import make_dir, write_text_atomic

if TYPE_CHECKING:  # examples.py needs torch; the report is written without it
    from earmark.evaluation.examples import ClipExample

SPLIT_ORDER = ("val", "test")
TOP_CONFUSED_PAIRS = 10
PREDICTION_COLUMNS = ("split", "clip", "true", "predicted", "score", "top_k")
PER_CLASS_COLUMNS = ("split", "label", "precision", "recall", "f1", "support")

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;padding:.25rem .6rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}
.ok{color:#11632b}.warn{color:#a30000;font-weight:bold}
figure.clip{display:inline-block;margin:.5rem;padding:.5rem;border:1px solid #ddd;vertical-align:top;max-width:400px}
figure.clip audio{width:100%;margin:.25rem 0}
figure.clip img{width:100%;height:150px;image-rendering:pixelated;border:1px solid #ccc}
pre{background:#f7f7f7;padding:1rem;overflow:auto}img{max-width:100%;height:auto}
.headline{font-size:1.25rem}
"""


def write_reports(
    run_dir: Path,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    labels: list[str],
    predictions: dict[str, list[dict[str, Any]]] | None,
    context: dict[str, Any],
    examples: Sequence[ClipExample] = (),
    model_card: bool = True,
) -> None:
    """Write every report file of a run into `run_dir`; predictions.csv only when `predictions` is given.

    `context` keys read: `dataset` (description), `split_protocol`, `config_yaml` (resolved config text),
    `data_report` (the prepared dataset's report.json), `split_counts` (clips per split and label), and for the
    model card `command`, `prepare_command`, `sample_rate`, `window_s`, `aggregate`, `versions`; any other
    str/number values are listed under the summary. `examples` are misclassified clips to play and show.
    """
    run_dir = Path(run_dir)
    make_dir(run_dir)
    blocks = split_blocks(metrics)
    write_text_atomic(run_dir / "per_class.csv", _per_class_csv(blocks))
    if predictions is not None:
        write_text_atomic(run_dir / "predictions.csv", _predictions_csv(predictions))
    matrix_split = headline_split(blocks)
    images: dict[str, bytes] = {}
    if matrix_split is not None:
        plot_confusion(blocks[matrix_split]["confusion"], labels, run_dir / "confusion_matrix.png")
        images["confusion"] = (run_dir / "confusion_matrix.png").read_bytes()
    plot_curves(history, run_dir / "curves.png")
    images["curves"] = (run_dir / "curves.png").read_bytes()
    if model_card:
        write_text_atomic(run_dir / "model_card.md", render_model_card(metrics, blocks, context))
    page = _render_html(metrics, blocks, labels, context, images, matrix_split, examples)
    write_text_atomic(run_dir / "report.html", page)
    # Last: metrics.json marks a finished run (cv and sweep reuse such runs), so it must not precede the rest.
    write_text_atomic(run_dir / "metrics.json", json.dumps(metrics, indent=2, allow_nan=False) + "\n")


def split_blocks(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-split blocks of a metrics dict, val then test first, then any other evaluated split."""
    found = {key: value for key, value in metrics.items() if isinstance(value, dict) and "per_class" in value}
    ordered = [key for key in SPLIT_ORDER if key in found] + [key for key in found if key not in SPLIT_ORDER]
    return {key: found[key] for key in ordered}


def build_predictions(
    clips: Sequence[str], y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str], top_k: int = 3
) -> list[dict[str, Any]]:
    """Rows for `write_reports(predictions={split: rows})` from clip names, true `[N]` and probs `[N, K]`."""
    scores = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]  # ties → lower index, as argmax
    rows = []
    for i, clip in enumerate(clips):
        ranked = [[labels[j], round(float(scores[i, j]), 6)] for j in order[i]]
        rows.append(
            {
                "clip": clip,
                "true": labels[int(y_true[i])],
                "predicted": ranked[0][0],
                "score": ranked[0][1],
                "top_k": ranked,
            }
        )
    return rows


def format_summary_table(metrics: Mapping[str, Any]) -> str:
    """Plain-text table for the terminal: a row per split: n, accuracy [95% CI], BA, macro-F1."""
    header = ["split", "n", "accuracy [95% CI]", "balanced acc", "macro-F1"]
    rows = [header]
    for split, block in split_blocks(metrics).items():
        rows.append(
            [
                split,
                str(block.get("n", "")),
                with_ci(block),
                fmt(block.get("balanced_accuracy")),
                fmt(block.get("macro_f1")),
            ]
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if c == 0 else cell.rjust(w)
            for c, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([*lines, *guard_lines(metrics)])


def _per_class_csv(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """per_class.csv text: one row per split and class."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PER_CLASS_COLUMNS)
    for split, block in blocks.items():
        for label, scores in block["per_class"].items():
            writer.writerow([split, label, *(scores.get(key, "") for key in PER_CLASS_COLUMNS[2:])])
    return buffer.getvalue()


def _predictions_csv(predictions: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """predictions.csv text; top_k is written as `label:score;label:score`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PREDICTION_COLUMNS)
    for split, rows in predictions.items():
        for row in rows:
            writer.writerow(
                [
                    split,
                    row.get("clip", ""),
                    row.get("true", ""),
                    row.get("predicted", ""),
                    row.get("score", ""),
                    _top_k_text(row.get("top_k", "")),
                ]
            )
    return buffer.getvalue()


def _top_k_text(top_k: Any) -> str:
    """`label:score;...` from a list of (label, score) pairs; a string is taken as already formatted."""
    if isinstance(top_k, str):
        return top_k
    return ";".join(f"{label}:{float(score):.6f}" for label, score in top_k)


def _render_html(
    metrics: Mapping[str, Any],
    blocks: Mapping[str, Mapping[str, Any]],
    labels: Sequence[str],
    context: Mapping[str, Any],
    images: Mapping[str, bytes],
    matrix_split: str | None,
    examples: Sequence[ClipExample],
) -> str:
    """The whole report.html page: inline CSS, base64 PNGs and WAVs, no scripts, no external resources."""
    title = f"earmark report: {metrics.get('model', 'model')}"
    wrong = 0
    if matrix_split is not None:
        confusion = np.asarray(blocks[matrix_split]["confusion"])
        wrong = int(confusion.sum() - np.trace(confusion))
    sections = [
        _summary_section(metrics, blocks, context),
        candidates_section(metrics),
        dataset_section(context),
        _config_section(context),
        _image_section("curves", "Training curves", images.get("curves"), "loss and accuracy per epoch"),
        _per_class_section(blocks),
        _image_section(
            "confusion",
            f"Confusion matrix ({matrix_split or 'none'})",
            images.get("confusion"),
            f"confusion matrix of the {matrix_split} split",
        ),
        _confused_pairs_section(blocks, labels, matrix_split),
        misclassified_section(examples, matrix_split, wrong),
        calibration_html(metrics),
    ]
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{esc(title)}</title>\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{esc(title)}</h1>\n"
        + _guard_block(metrics)
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )


def _guard_block(metrics: Mapping[str, Any]) -> str:
    """The baseline guard's warning, first on the page, when it fired."""
    lines = guard_lines(metrics)
    if not lines:
        return ""
    return '<div id="baseline-guard">' + "".join(f'<p class="warn">{esc(line)}</p>' for line in lines) + "</div>\n"


def _summary_section(
    metrics: Mapping[str, Any], blocks: Mapping[str, Mapping[str, Any]], context: Mapping[str, Any]
) -> str:
    """Model, data, split protocol and the headline numbers, each with its split and n."""
    headline = ""
    split = headline_split(blocks)
    if split is not None:
        block = blocks[split]
        headline = (
            f'<p class="headline">{esc(split)} accuracy {esc(with_ci(block))} (95% interval) '
            f"on n = {esc(block.get('n', '?'))} clips</p>"
        )
    header = "".join(
        f"<th>{name}</th>" for name in ("split", "n", "accuracy [95% CI]", "balanced accuracy", "macro-F1")
    )
    rows = "".join(
        f"<tr><td>{esc(split)}</td><td class=num>{esc(block.get('n', ''))}</td>"
        f"<td class=num>{esc(with_ci(block))}</td>"
        f"<td class=num>{fmt(block.get('balanced_accuracy'))}</td>"
        f"<td class=num>{fmt(block.get('macro_f1'))}</td></tr>"
        for split, block in blocks.items()
    )
    return (
        f'<section id="summary">\n<h2>Summary</h2>\n{headline}\n{_facts_table(metrics, context)}\n'
        f"<table><tr>{header}</tr>{rows}</table>\n<p>Metrics are per clip: a clip's windows are aggregated "
        f"before scoring. {esc(_ci_note(blocks))}</p>\n{baselines_table(metrics, blocks)}\n</section>"
    )


def _ci_note(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """How the headline split's intervals were computed, as a sentence."""
    split = headline_split(blocks)
    method = blocks[split].get("ci_method") if split is not None else None
    return f"Intervals ({split}): {method}." if method else ""


def _facts_table(metrics: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    """Key/value table of what was run on what: model, dataset, split protocol, other context facts."""
    facts = [
        ("model", metrics.get("model", "–")),
        ("dataset", context.get("dataset", "–")),
        ("split protocol", context.get("split_protocol", "–")),
    ]
    if isinstance(metrics.get("seconds_train"), (int, float)):
        facts.append(("training time", f"{float(metrics['seconds_train']):.1f} s"))
    known = {"dataset", "data", "split_protocol", "config_yaml", "command", "prepare_command"}
    facts += [
        (key, value)
        for key, value in context.items()
        if key not in known and isinstance(value, (str, int, float, Path))
    ]
    rows = "".join(f"<tr><th>{esc(key)}</th><td>{esc(value)}</td></tr>" for key, value in facts)
    return f"<table>{rows}</table>"


def _config_section(context: Mapping[str, Any]) -> str:
    """The resolved configuration exactly as the run used it."""
    text = context.get("config_yaml") or "(not recorded)"
    return f'<section id="config">\n<h2>Configuration</h2>\n<pre>{esc(text)}</pre>\n</section>'


def _image_section(section_id: str, heading: str, png: bytes | None, alt: str) -> str:
    """A section holding one PNG inlined as a data URI."""
    if png is None:
        body = "<p>Not available.</p>"
    else:
        data = base64.b64encode(png).decode("ascii")
        body = f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
    return f'<section id="{section_id}">\n<h2>{esc(heading)}</h2>\n{body}\n</section>'


def _per_class_section(blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """One precision/recall/F1/support table per evaluated split."""
    parts = ['<section id="per-class">', "<h2>Per-class metrics</h2>"]
    for split, block in blocks.items():
        parts.append(f"<h3>{esc(split)} (n = {esc(block.get('n', '?'))})</h3>")
        parts.append(
            "<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
        )
        for label, scores in block["per_class"].items():
            parts.append(
                f"<tr><td>{esc(label)}</td><td class=num>{fmt(scores.get('precision'))}</td>"
                f"<td class=num>{fmt(scores.get('recall'))}</td><td class=num>{fmt(scores.get('f1'))}</td>"
                f"<td class=num>{esc(scores.get('support', ''))}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)


def confused_pairs(
    confusion: np.ndarray | Sequence[Sequence[int]], top: int = TOP_CONFUSED_PAIRS
) -> list[tuple[int, int, int]]:
    """The `top` most frequent off-diagonal (true, predicted, count) cells, largest first."""
    counts = np.asarray(confusion, dtype=np.int64).copy()
    np.fill_diagonal(counts, 0)
    flat = np.argsort(-counts, axis=None, kind="stable")[:top]
    cells = [divmod(int(index), counts.shape[1]) for index in flat]
    return [(row, col, int(counts[row, col])) for row, col in cells if counts[row, col] > 0]


def _confused_pairs_section(
    blocks: Mapping[str, Mapping[str, Any]], labels: Sequence[str], split: str | None
) -> str:
    """Table of the most frequent true → predicted mistakes in the confusion-matrix split."""
    parts = ['<section id="confused-pairs">', "<h2>Most confused pairs</h2>"]
    pairs = confused_pairs(blocks[split]["confusion"]) if split is not None else []
    if not pairs:
        parts.append("<p>No off-diagonal confusions.</p>")
    else:
        support = np.asarray(blocks[split or ""]["confusion"]).sum(axis=1)
        parts.append(f"<p>Split: {esc(split)}. Share is of the true class's clips.</p>")
        parts.append("<table><tr><th>true</th><th>predicted</th><th>count</th><th>share</th></tr>")
        for row, col, count in pairs:
            parts.append(
                f"<tr><td>{esc(labels[row])}</td><td>{esc(labels[col])}</td><td class=num>{count}</td>"
                f"<td class=num>{count / max(int(support[row]), 1):.1%}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</section>")
    return "\n".join(parts)
