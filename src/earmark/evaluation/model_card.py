"""model_card.md: what a run's model is for, what it was measured on, how well, and where not to trust it.

Every statement is derived from the run's own records (metrics, dataset report, config, command line); the
limitations are the ones those records can show, stated plainly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from earmark.evaluation.guard import guard_lines
from earmark.evaluation.robustness_report import calibration_lines
from earmark.evaluation.sections import BASELINE_NAMES
from earmark.evaluation.text import fmt, headline_split, pairs, with_ci

SMALL_TEST = 100  # clips below which the interval is called wide
FEW_CLIPS = 10  # per-class support below which a class's figures are called unreliable
IMBALANCE = 3.0  # largest / smallest class count that earns a note


def render_model_card(metrics: Mapping[str, Any], blocks: Mapping[str, Mapping[str, Any]],
                      context: Mapping[str, Any]) -> str:
    """The model card as Markdown."""
    labels = [str(label) for label in metrics.get("labels", [])]
    report = _mapping(context.get("data_report"))
    kind = {"image": "image", "table": "feature-table"}.get(str(report.get("kind")), "audio")
    lines = [f"# Model card: {metrics.get('model', 'model')} — {len(labels)}-class {kind} classifier", ""]
    lines += [*(f"> **{line}**" for line in guard_lines(metrics)), ""] if guard_lines(metrics) else []
    lines += _intended_use(labels, context, _mapping(report.get("item")))
    lines += _backbone(context)
    lines += _data_and_protocol(report, context)
    lines += _results(metrics, blocks)
    lines += _limitations(labels, report, blocks, context)
    lines += _reproduce(context)
    return "\n".join(lines) + "\n"


def _intended_use(labels: list[str], context: Mapping[str, Any], item: Mapping[str, Any]) -> list[str]:
    shown = ", ".join(f"`{label}`" for label in labels[:50]) + (" …" if len(labels) > 50 else "")
    return [
        "## Intended use", "",
        f"Assigns one of {len(labels)} labels to {_what(item)}: {shown}.",
        _input_line(context, item),
        "It is a closed-set classifier: it answers one of these labels for any input, including audio of none "
        "of these classes" + (", except that a score below its rejection threshold is answered `unknown`"
                              if context.get("reject_threshold") is not None else "")
        + ". Use it on recordings like those it was trained on (see below).", "",
    ]


def _what(item: Mapping[str, Any]) -> str:
    return "an image" if item.get("kind") == "image" else "a table row" if item else "a recording"


def _input_line(context: Mapping[str, Any], item: Mapping[str, Any]) -> str:
    """What the model takes: audio and its windows, an image and its resize policy, or a row of features."""
    shape = [int(n) for n in item.get("shape", [])]
    if item.get("kind") == "image" and len(shape) == 3:
        return (f"Input: a PNG, JPEG, BMP or GIF image, converted to {'grayscale' if shape[0] == 1 else 'RGB'} and "
                f"stretched to {shape[1]} × {shape[2]} pixels (policy `{item.get('resize')}`, bilinear) as in "
                "training; one decision per image.")
    if item:
        columns = [str(c) for c in item.get("columns", [])]
        return f"Input: a row of {len(columns)} numeric features ({', '.join(columns[:8])}); one decision per row."
    return (f"Input: audio of any format, rate and channel count, mixed to mono and resampled to "
            f"{context.get('sample_rate', '?')} Hz; scored in {fmt(context.get('window_s'), 2)}-s windows, "
            f"whose scores are aggregated per file by `{context.get('aggregate', 'mean')}`.")


def _backbone(context: Mapping[str, Any]) -> list[str]:
    """A pretrained backbone: whose weights, under which licence, trained how (none for models from scratch)."""
    record = _mapping(context.get("backbone"))
    if not record:
        return []
    return [
        "## Pretrained backbone", "",
        f"- Backbone: `{record.get('name', '?')}`; licence: {record.get('licence', '?')} — the licence of the "
        "weights applies to this model too.",
        f"- Weights: {record.get('weights_source', '?')} (sha256 `{record.get('weights_sha256', '?')}`).",
        f"- Input: {record.get('resampling', '?')}.", "",
    ]


def _data_and_protocol(report: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
    counts = _mapping(context.get("split_counts"))
    sizes = ", ".join(f"{split} {sum(c.values())}" for split, c in counts.items()) or "–"
    leak = _mapping(report.get("leakage"))
    verdict = "passed" if leak.get("ok") else ("FAILED" if leak else "not recorded")
    return [
        "## Data and protocol", "",
        f"- Dataset: `{context.get('data', report.get('source', '?'))}` (source `{report.get('source', '?')}`), "
        f"labels from `{report.get('labels_from', '?')}`.",
        f"- Split: {context.get('split_protocol', '?')}; clips per split: {sizes}.",
        f"- Groups (kept within one split): {report.get('groups_from') or 'none — each file is its own group'}.",
        f"- Leakage check (groups and identical or near-identical audio across splits): {verdict}.",
        f"- Source sample rates: {pairs(report.get('source_sample_rates'))}; "
        f"channels: {pairs(report.get('source_channels'))}.",
        "- Metrics are per clip (a clip's windows are aggregated first), with 95% intervals.", "",
    ]


def _results(metrics: Mapping[str, Any], blocks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = ["## Results", "", "| split | n | accuracy [95% CI] | balanced accuracy | macro-F1 [95% CI] | ECE |",
             "|---|---:|---|---:|---|---:|"]
    for name, block in blocks.items():
        lines.append(f"| {name} | {block.get('n', '')} | {with_ci(block)} | {fmt(block.get('balanced_accuracy'))} "
                     f"| {with_ci(block, 'macro_f1')} | {fmt(block.get('ece'))} |")
    split = headline_split(blocks)
    if split is not None and blocks[split].get("ci_method"):
        lines += ["", f"Intervals: {blocks[split]['ci_method']}."]
    baselines = metrics.get("baselines")
    if split is not None and isinstance(baselines, Mapping):
        lines += ["", f"Baselines on the same {split} clips ({baselines.get('protocol', '')}):", "",
                  "| model | accuracy [95% CI] | macro-F1 [95% CI] |", "|---|---|---|",
                  f"| {metrics.get('model', 'model')} (this model) | {with_ci(blocks[split])} "
                  f"| {with_ci(blocks[split], 'macro_f1')} |"]
        lines += [f"| {name} | {with_ci(baselines[name][split])} | {with_ci(baselines[name][split], 'macro_f1')} |"
                  for name in BASELINE_NAMES if split in baselines.get(name, {})]
    calibration = calibration_lines(metrics)
    return [*lines, *(["", *(f"- {line}" for line in calibration)] if calibration else []), ""]


def _limitations(labels: list[str], report: Mapping[str, Any], blocks: Mapping[str, Mapping[str, Any]],
                 context: Mapping[str, Any]) -> list[str]:
    notes = []
    if report.get("groups_from"):
        notes.append(f"Test groups ({report['groups_from']}) were not seen in training; a new speaker or source "
                     "of a different kind (microphone, room, language) may still score lower.")
    else:
        notes.append("Files were not grouped, so recordings of the same speaker or source may be in both training "
                     "and test: the test score can overstate accuracy on new speakers or sources. Re-prepare with "
                     "`--group` to measure that.")
    leak = report.get("leakage")
    if isinstance(leak, Mapping) and not leak.get("ok", True):
        notes.append("The leakage check failed: some groups or identical recordings are in more than one split.")
    split = headline_split(blocks)
    if split is not None:
        block = blocks[split]
        if int(block.get("n", 0)) < SMALL_TEST:
            notes.append(f"The {split} split has only {block.get('n')} clips: the interval is wide.")
        per_class = block.get("per_class", {})
        few = [label for label, s in per_class.items() if int(s.get("support", 0)) < FEW_CLIPS]
        if few:
            notes.append(f"Fewer than {FEW_CLIPS} {split} clips for: {', '.join(few[:10])}; their per-class figures "
                         "are unreliable.")
        weakest = sorted(per_class.items(), key=lambda item: item[1].get("recall", 1.0))[:3]
        weak = [f"{label} (recall {fmt(s.get('recall'))})" for label, s in weakest if s.get("recall", 1.0) < 0.9]
        if weak:
            notes.append(f"Weakest classes on {split}: {', '.join(weak)}.")
    counts = report.get("class_counts")
    if isinstance(counts, Mapping) and counts and min(counts.values()) > 0 \
            and max(counts.values()) / min(counts.values()) > IMBALANCE:
        notes.append("Classes are imbalanced (largest/smallest = "
                     f"{max(counts.values()) / min(counts.values()):.1f}): read balanced accuracy and macro-F1.")
    rates = report.get("source_sample_rates")
    if isinstance(rates, Mapping) and rates and not report.get("item"):
        top = max(int(rate) for rate in rates)
        notes.append(f"Trained on sources recorded at up to {top} Hz: content above {top // 2} Hz was never seen.")
    return ["## Limitations", "", *[f"- {note}" for note in notes], ""]


def _reproduce(context: Mapping[str, Any]) -> list[str]:
    commands = [str(context[key]) for key in ("prepare_command", "command") if context.get(key)]
    lines = ["## How to reproduce", ""]
    if commands:
        lines += ["```sh", *commands, "```"]
    else:
        lines.append("The command line was not recorded; the resolved configuration is in `config.yaml`.")
    versions = context.get("versions")
    if isinstance(versions, Mapping):
        lines += ["", "Versions: " + ", ".join(f"{key} {value}" for key, value in versions.items()) + "."]
    return lines


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a mapping (a record read from JSON may hold anything), else an empty one."""
    return value if isinstance(value, Mapping) else {}
