"""Sections of report.html about the data, the baselines and the clips the model got wrong."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from earmark.evaluation.text import esc, fmt, headline_split, pairs, with_ci

if TYPE_CHECKING:  # examples.py needs torch; the report is written without it
    from earmark.evaluation.examples import ClipExample

BASELINE_NAMES = ("majority", "logreg")


def baselines_table(metrics: Mapping[str, Any], blocks: Mapping[str, Mapping[str, Any]]) -> str:
    """The model's headline split next to the majority and logreg baselines on the very same clips."""
    split = headline_split(blocks)
    baselines = metrics.get("baselines")
    if split is None or not isinstance(baselines, Mapping):
        return "<p>Baselines: not computed for this run.</p>"
    rows = [(f"{metrics.get('model', 'model')} (this run)", blocks[split])]
    rows += [(name, baselines[name][split]) for name in BASELINE_NAMES
             if isinstance(baselines.get(name), Mapping) and split in baselines[name]]
    body = "".join(
        f"<tr><td>{esc(name)}</td><td class=num>{esc(block.get('n', ''))}</td>"
        f"<td class=num>{esc(with_ci(block))}</td><td class=num>{fmt(block.get('balanced_accuracy'))}</td>"
        f"<td class=num>{esc(with_ci(block, 'macro_f1'))}</td></tr>"
        for name, block in rows
    )
    return (
        f'<h3 id="baselines">Against baselines ({esc(split)} split)</h3>\n'
        "<table><tr><th>model</th><th>n</th><th>accuracy [95% CI]</th><th>balanced accuracy</th>"
        f"<th>macro-F1 [95% CI]</th></tr>{body}</table>\n<p>{esc(baselines.get('protocol', ''))}.</p>"
    )


def candidates_section(metrics: Mapping[str, Any]) -> str:
    """The `--auto` candidates, best first: validation (which chose) beside test (never used to choose)."""
    table = metrics.get("candidates")
    if not isinstance(table, Sequence) or not table:
        return ""
    body = "".join(
        f"<tr><td class=num>{esc(row.get('rank'))}</td><td>{esc(row.get('candidate'))}"
        f"{' (chosen)' if row.get('chosen') else ''}</td><td class=num>{fmt(row.get('val_accuracy'))}</td>"
        f"<td class=num>{fmt(row.get('val_macro_f1'))}</td><td class=num>{fmt(row.get('test_accuracy'))}</td>"
        f"<td class=num>{fmt(row.get('test_macro_f1'))}</td><td class=num>{fmt(row.get('seconds_train'), 1)}</td>"
        f"<td class=num>{esc(row.get('epochs'))}</td></tr>"
        for row in table if isinstance(row, Mapping)
    )
    decision = (metrics.get("auto") or {}).get("decision")
    summary = decision.get("summary") if isinstance(decision, Mapping) else None
    why = f"<p>{esc(summary)}.</p>\n" if summary else ""
    return (
        '<section id="candidates">\n<h2>Candidates (--auto)</h2>\n<p>Ranked on validation accuracy only (then '
        "validation macro-F1); a candidate ranked above the data-chosen model replaces it only when it is right on "
        "more validation clips beyond noise (exact McNemar p &lt; 0.05, the baseline guard's test). Test is shown "
        f"for the record and was never used to choose.</p>\n{why}"
        "<table><tr><th>rank</th><th>candidate</th><th>val accuracy</th><th>val macro-F1</th><th>test accuracy</th>"
        f"<th>test macro-F1</th><th>train s</th><th>epochs</th></tr>{body}</table>\n</section>"
    )


def dataset_section(context: Mapping[str, Any]) -> str:
    """Where the clips came from, how many of each class went to each split, and the leakage check."""
    report = context.get("data_report")
    counts = context.get("split_counts")
    parts = ['<section id="dataset">', "<h2>Dataset</h2>"]
    if isinstance(report, Mapping):
        facts = [
            ("source", report.get("source", "–")),
            ("labels from", report.get("labels_from", "–")),
            ("groups from", report.get("groups_from") or "each file alone"),
            ("groups", report.get("n_groups", "–")),
            ("clips kept / rejected", f"{report.get('n_kept', '–')} / {report.get('n_rejected', '–')}"),
            ("sample rate", f"{report.get('sample_rate', '–')} Hz "
                            f"(sources: {pairs(report.get('source_sample_rates'))})"),
            ("split protocol", context.get("split_protocol", report.get("split_protocol", "–"))),
        ]
        parts.append("<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts)
                     + "</table>")
        parts.append(_leakage_paragraph(report.get("leakage")))
    else:
        parts.append("<p>The prepared dataset's report.json was not found; only the split sizes are shown.</p>")
    if isinstance(counts, Mapping) and counts:
        parts.append(_split_table(counts))
    parts.append("</section>")
    return "\n".join(parts)


def _leakage_paragraph(leak: Any) -> str:
    """The leakage check's verdict in one sentence, marked when it failed."""
    if not isinstance(leak, Mapping):
        return "<p>Leakage check: not recorded.</p>"
    detail = (f"{leak.get('n_groups_across_splits', 0)} groups, {len(leak.get('duplicates_across_splits', []))} "
              f"identical and {leak.get('n_near_duplicates_across_splits', 0)} near-identical recordings "
              "appear in more than one split")
    if leak.get("ok"):
        return f'<p class="ok">Leakage check passed: {esc(detail)}.</p>'
    return (f'<p class="warn">Leakage check FAILED: {esc(detail)}. Test scores may be optimistic; '
            "see the dataset's report.md.</p>")


def _split_table(counts: Mapping[str, Mapping[str, int]]) -> str:
    """Clips per label (rows) and split (columns), with totals."""
    splits = [s for s in ("train", "val", "test") if s in counts] + [s for s in counts if s not in
                                                                     ("train", "val", "test")]
    labels = sorted({label for split in splits for label in counts[split]})
    head = "".join(f"<th>{esc(split)}</th>" for split in splits)
    body = "".join(
        f"<tr><td>{esc(label)}</td>" + "".join(f"<td class=num>{counts[s].get(label, 0)}</td>" for s in splits)
        + "</tr>" for label in labels
    )
    total = "".join(f"<td class=num><b>{sum(counts[s].values())}</b></td>" for s in splits)
    return (f"<h3>Clips per split</h3>\n<table><tr><th>label</th>{head}</tr>{body}"
            f"<tr><td><b>total</b></td>{total}</tr></table>")


def misclassified_section(examples: Sequence[ClipExample], split: str | None, total_wrong: int) -> str:
    """The most confident mistakes, each with a player for its audio and its spectrogram."""
    parts = ['<section id="misclassified">', "<h2>Misclassified clips</h2>"]
    if not examples:
        parts.append("<p>No misclassified clips to show.</p>" if split else "<p>No evaluated split.</p>")
    else:
        parts.append(f"<p>{len(examples)} of the {total_wrong} wrong clips of the {esc(split)} split, the most "
                     "confident mistakes first. Audio is the clip's start as the model heard it (its rate, "
                     "mono); the picture is the run's own feature map, time across and low bands at the bottom.</p>")
        for example in examples:
            wav = base64.b64encode(example.wav).decode("ascii")
            png = base64.b64encode(example.png).decode("ascii")
            cut = f", first {example.excerpt_s:.1f} s" if example.excerpt_s + 1e-6 < example.duration_s else ""
            parts.append(
                f'<figure class="clip"><figcaption><b>{esc(example.clip)}</b>: true {esc(example.true)}, '
                f"predicted {esc(example.predicted)} ({example.score:.2f}); {example.duration_s:.2f} s{cut}"
                f'</figcaption><audio controls preload="none" src="data:audio/wav;base64,{wav}"></audio>'
                f'<img src="data:image/png;base64,{png}" alt="spectrogram of {esc(example.clip)}"></figure>'
            )
    parts.append("</section>")
    return "\n".join(parts)
