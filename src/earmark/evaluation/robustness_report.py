"""The files of `earmark robustness`: robustness.json, robustness.csv, two PNGs, and a section spliced into the
run's report.html and model_card.md (replaced, not repeated, when the command runs again)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.evaluation.calibration import reliability
from earmark.evaluation.plots import _new_figure, _save
from earmark.evaluation.text import esc, fmt, with_ci
from earmark.fileio import make_dir, write_csv_atomic, write_text_atomic

CSV_COLUMNS = ("key", "family", "condition", "n", "accuracy", "accuracy_lo", "accuracy_hi", "macro_f1",
               "macro_f1_lo", "macro_f1_hi", "ece", "delta_accuracy", "coverage", "accuracy_accepted", "seconds")
HTML_START, HTML_END = "<!-- earmark robustness: start -->", "<!-- earmark robustness: end -->"
CARD_START, CARD_END = "<!-- earmark robustness: start -->", "<!-- earmark robustness: end -->"


def write_files(out: Path, result: dict[str, Any], reliability_probs: Mapping[str, tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]]) -> None:
    """robustness.json, robustness.csv, robustness.png (accuracy per condition) and reliability.png."""
    make_dir(out)
    rows = [result["clean"], *result["conditions"]]
    write_csv_atomic(out / "robustness.csv", CSV_COLUMNS, [_csv_row(row, result["clean"]) for row in rows])
    plot_conditions(rows, out / "robustness.png")
    plot_reliability(reliability_probs, out / "reliability.png")
    write_text_atomic(out / "robustness.json", json.dumps(result, indent=2, allow_nan=False) + "\n")


def _csv_row(row: Mapping[str, Any], clean: Mapping[str, Any]) -> list[Any]:
    chosen = row.get("selective") or {}
    return [row["key"], row["family"], row["condition"], row["n"], row["accuracy"], *row["accuracy_ci95"],
            row["macro_f1"], *row["macro_f1_ci95"], row["ece"], round(row["accuracy"] - clean["accuracy"], 6),
            chosen.get("coverage", ""), chosen.get("accuracy_accepted", ""), row.get("seconds", "")]


def plot_conditions(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Accuracy per condition with its 95% interval, the clean score as a line across."""
    fig = _new_figure(8.0, 0.28 * len(rows) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(rows))[::-1]
    acc = np.array([row["accuracy"] for row in rows])
    lo = acc - np.array([row["accuracy_ci95"][0] for row in rows])
    hi = np.array([row["accuracy_ci95"][1] for row in rows]) - acc
    ax.errorbar(acc, y, xerr=[np.maximum(lo, 0), np.maximum(hi, 0)], fmt="o", color="#1f5f9f", capsize=2)
    ax.axvline(rows[0]["accuracy"], color="#11632b", linestyle="--", linewidth=1, label="clean")
    ax.set_yticks(y, [str(row["condition"]) for row in rows], fontsize=8)
    ax.set_xlim(0.0, 1.02)
    ax.set_xlabel("accuracy (95% interval)")
    ax.legend(loc="lower left", fontsize=8)
    _save(fig, path)


def plot_reliability(splits: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]], path: Path) -> None:
    """One reliability diagram per split: accuracy against confidence in 15 bins, before and after the
    temperature, with the diagonal of perfect calibration."""
    fig = _new_figure(4.2 * max(len(splits), 1), 4.0)
    for i, (split, (y_true, before, after)) in enumerate(splits.items()):
        ax = fig.add_subplot(1, max(len(splits), 1), i + 1)
        ax.plot([0, 1], [0, 1], color="#999999", linewidth=1)
        for probs, name, colour in ((before, "before", "#a30000"), (after, "after T", "#1f5f9f")):
            bins = reliability(y_true, probs)
            used = bins.count > 0
            ax.plot(bins.confidence[used], bins.accuracy[used], "o-", color=colour, label=name, markersize=4)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence (top score)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{split} (n = {len(y_true)})")
        ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)


def html_section(result: Mapping[str, Any], out: Path) -> str:
    """The report.html section: the condition table, the calibration table and both figures inlined."""
    clean = result["clean"]
    rows = "".join(
        f"<tr><td>{esc(row['family'])}</td><td>{esc(row['condition'])}</td>"
        f"<td class=num>{esc(with_ci(row))}</td><td class=num>{esc(with_ci(row, 'macro_f1'))}</td>"
        f"<td class=num>{row['accuracy'] - clean['accuracy']:+.3f}</td><td class=num>{fmt(row['ece'])}</td></tr>"
        for row in [clean, *result["conditions"]])
    images = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode((out / name).read_bytes()).decode("ascii")}" '
        f'alt="{esc(alt)}">' for name, alt in (("robustness.png", "accuracy per condition"),
                                               ("reliability.png", "reliability diagrams")))
    return (f'{HTML_START}\n<section id="robustness">\n<h2>Robustness and calibration</h2>\n'
            f"<p>{esc(describe(result))}</p>\n<table><tr><th>family</th><th>condition</th><th>accuracy [95% CI]</th>"
            f"<th>macro-F1 [95% CI]</th><th>Δ accuracy</th><th>ECE</th></tr>{rows}</table>\n"
            f"{_calibration_table(result)}\n{images}\n</section>\n{HTML_END}")


def _calibration_table(result: Mapping[str, Any]) -> str:
    calibration = result["calibration"]
    body = "".join(
        f"<tr><td>{esc(split)}</td><td class=num>{esc(block['n'])}</td><td class=num>{fmt(block['ece_before'])}</td>"
        f"<td class=num>{fmt(block['ece_after'])}</td><td class=num>{fmt(block['nll_before'])}</td>"
        f"<td class=num>{fmt(block['nll_after'])}</td></tr>"
        for split, block in calibration["splits"].items())
    return (f"<h3>Calibration (temperature {fmt(calibration['temperature'])}, {esc(calibration['source'])})</h3>\n"
            "<table><tr><th>split</th><th>n</th><th>ECE before</th><th>ECE after</th><th>NLL before</th>"
            f"<th>NLL after</th></tr>{body}</table>\n<p>{esc(unknown_sentence(result))}</p>")


def describe(result: Mapping[str, Any]) -> str:
    """What was measured on what, in one sentence."""
    return (f"The {result['split']} clips of {result['data']} (n = {result['clean']['n']}), each condition applied "
            f"to every clip (seed {result['seed']}) and scored like the clean ones; intervals: "
            f"{result['clean']['ci_method']}. Codecs, sample rates and the telephone line are real files read back "
            "through earmark's decoder; whole sweep "
            f"{result['seconds']['total']:.1f} s.")


def unknown_sentence(result: Mapping[str, Any]) -> str:
    """Where the model answers `unknown`, and what that gave on the clean clips."""
    threshold = result.get("reject_threshold")
    chosen = result["clean"].get("selective")
    if threshold is None or not chosen:
        return ("No rejection threshold is stored: the model always answers one of its labels (set one with "
                "--reject-coverage or --reject-precision).")
    return (f"Below a score of {threshold:.4f} the model answers `unknown`: on the clean {result['split']} clips it "
            f"answers {chosen['coverage']:.1%} of them, {chosen['accuracy_accepted']:.1%} of those right.")


def card_section(result: Mapping[str, Any]) -> str:
    """The model card's section: the worst conditions, the calibration and the threshold."""
    clean = result["clean"]
    worst = sorted(result["conditions"], key=lambda row: row["accuracy"])[:5]
    lines = [CARD_START, "## Robustness and calibration", "", describe(result), "",
             "| condition | accuracy [95% CI] | Δ accuracy |", "|---|---|---:|",
             f"| {clean['condition']} | {with_ci(clean)} | – |"]
    lines += [f"| {row['condition']} | {with_ci(row)} | {row['accuracy'] - clean['accuracy']:+.3f} |" for row in worst]
    calibration = result["calibration"]
    lines += ["", f"The five weakest of {len(result['conditions'])} conditions; all of them in "
              "`robustness/robustness.csv`.", "",
              f"Calibration: temperature {calibration['temperature']:.3f} ({calibration['source']}); "
              + "; ".join(f"{split} ECE {block['ece_before']:.3f} → {block['ece_after']:.3f} (n = {block['n']})"
                          for split, block in calibration["splits"].items()) + ".", "",
              unknown_sentence(result), CARD_END]
    return "\n".join(lines)


def splice(path: Path, start: str, end: str, section: str, before: str | None) -> bool:
    """Put `section` (which starts with `start` and ends with `end`) into the file at `path`: in place of an
    earlier one, else before the text `before` (None: at the end); False when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    first, last = text.find(start), text.find(end)
    if first >= 0 and last > first:
        text = text[:first] + section + text[last + len(end):]
    elif before is not None and before in text:
        at = text.rfind(before)
        text = text[:at] + section + "\n" + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    write_text_atomic(path, text)
    return True


def calibration_lines(metrics: Mapping[str, Any]) -> list[str]:
    """What a run's metrics.json says about its calibration and `unknown` answer, as sentences (none if absent)."""
    record = metrics.get("calibration")
    if not isinstance(record, Mapping):
        return []
    lines = [f"Calibration: temperature {fmt(record.get('temperature'))} fitted on {record.get('n_clips', '?')} "
             f"{record.get('fitted_on', 'val')} clips ({record.get('method', '?')}); validation ECE "
             f"{fmt(record.get('ece_before'))} → {fmt(record.get('ece_after'))}; no window's or clip's top "
             "label is changed by it."]
    for split in ("val", "test"):
        block = metrics.get(split)
        if isinstance(block, Mapping) and "ece_before_temperature" in block:
            lines.append(f"{split}: ECE {fmt(block['ece_before_temperature'])} before, {fmt(block.get('ece'))} after.")
    threshold = record.get("reject_threshold")
    if threshold is not None:
        lines.append(f"Below a clip (or window) score of {float(threshold):.4f} the model answers `unknown` "
                     f"(chosen on validation for {record.get('reject_target')}"
                     f"{'' if record.get('reject_reached', True) else ', not reached: the most precise threshold'}).")
        for split in ("val", "test"):
            chosen = metrics.get(split, {}).get("selective") if isinstance(metrics.get(split), Mapping) else None
            if isinstance(chosen, Mapping):
                lines.append(f"{split}: answers {chosen['coverage']:.1%} of clips, {chosen['accuracy_accepted']:.1%} "
                             "of those right.")
    return lines


def calibration_html(metrics: Mapping[str, Any]) -> str:
    """The report.html section of `calibration_lines` (empty for a run without calibration)."""
    lines = calibration_lines(metrics)
    if not lines:
        return ""
    return ('<section id="calibration">\n<h2>Calibration and unknown</h2>\n'
            + "".join(f"<p>{esc(line)}</p>" for line in lines) + "\n</section>")
