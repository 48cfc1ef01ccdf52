"""What a prepared dataset looks like: counts, formats, duplicates and the leakage check, as JSON and Markdown."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from earmark.data.manifest import ManifestRow
from earmark.data.sources import LabelSpec, Skipped
from earmark.fileio import write_json_atomic, write_text_atomic


def build_report(
    source: Path, rows: list[ManifestRow], rejected: list[Skipped], spec: LabelSpec, sample_rate: int,
    near_duplicates: list[list[str]] | None = None,
) -> dict:
    """The dataset report as a JSON-ready dict."""
    durations = np.array([row.duration_s for row in rows]) if rows else np.zeros(1)
    return {
        "source": str(source),
        "labels_from": spec.labels,
        "groups_from": spec.group or (f"column {spec.group_column}" if spec.labels.startswith("csv:") else None),
        "sample_rate": sample_rate,
        "n_kept": len(rows),
        "n_rejected": len(rejected),
        "rejected_reasons": dict(Counter(_reason_kind(r.reason) for r in rejected).most_common()),
        "class_counts": dict(sorted(Counter(row.label for row in rows).items())),
        "n_groups": len({row.group for row in rows}),
        "split_counts": _split_counts(rows),
        "duration_s": {"min": float(durations.min()), "median": float(np.median(durations)),
                       "max": float(durations.max()), "total": float(durations.sum())},
        "source_sample_rates": dict(sorted(Counter(str(row.source_sample_rate) for row in rows).items())),
        "source_channels": dict(sorted(Counter(str(row.source_channels) for row in rows).items())),
        "leakage": leakage_check(rows, near_duplicates or []),
    }


def _reason_kind(reason: str) -> str:
    """The reason without file-specific details, for counting."""
    return reason.split(" (")[0]


def _split_counts(rows: list[ManifestRow]) -> dict[str, dict[str, int]]:
    """Clips per split and label."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        counts[row.split][row.label] += 1
    return {split: dict(sorted(c.items())) for split, c in sorted(counts.items())}


def leakage_check(rows: list[ManifestRow], near_duplicates: list[list[str]]) -> dict:
    """Groups, exact duplicates and near duplicates that appear in more than one split."""
    group_splits: dict[str, set[str]] = defaultdict(set)
    hash_splits: dict[str, set[str]] = defaultdict(set)
    hash_paths: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        group_splits[row.group].add(row.split)
        hash_splits[row.sha1].add(row.split)
        hash_paths[row.sha1].append(row.path)
    crossing = sorted(g for g, s in group_splits.items() if len(s) > 1)
    duplicates = [paths for paths in hash_paths.values() if len(paths) > 1]
    crossing_dups = [hash_paths[h] for h, s in hash_splits.items() if len(s) > 1]
    split_of = {row.path: row.split for row in rows}
    crossing_near = [paths for paths in near_duplicates if len({split_of[p] for p in paths}) > 1]
    return {
        "ok": not crossing and not crossing_dups and not crossing_near,
        "groups_across_splits": crossing[:50],
        "n_groups_across_splits": len(crossing),
        "exact_duplicates": duplicates[:50],
        "n_exact_duplicate_sets": len(duplicates),
        "duplicates_across_splits": crossing_dups[:50],
        "near_duplicates": near_duplicates[:50],
        "n_near_duplicate_sets": len(near_duplicates),
        "near_duplicates_across_splits": crossing_near[:50],
        "n_near_duplicates_across_splits": len(crossing_near),
    }


def render_markdown(report: dict) -> str:
    """The report as a page a person reads."""
    leak = report["leakage"]
    lines = [
        f"# Dataset report: {report['source']}", "",
        f"- kept clips: {report['n_kept']}, rejected: {report['n_rejected']} (see rejected.csv)",
        f"- labels from: `{report['labels_from']}`; groups from: `{report['groups_from'] or 'each file alone'}`"
        f" ({report['n_groups']} groups)",
        f"- split: {report.get('split_protocol', 'unknown')}",
        *_format_lines(report),
        f"- leakage check: {'OK: no group or duplicate crosses splits' if leak['ok'] else 'PROBLEM'}"
        f" ({leak['n_groups_across_splits']} groups across splits, "
        f"{len(leak['duplicates_across_splits'])} exact and {leak['n_near_duplicates_across_splits']} near-duplicate"
        " sets across splits)",
        _duplicates_line(report),
        "", "## Clips per split and label", "",
    ]
    labels = list(report["class_counts"])
    splits = list(report["split_counts"])
    lines.append("| label | " + " | ".join(splits) + " |")
    lines.append("|---|" + "---:|" * len(splits))
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(str(report["split_counts"][s].get(label, 0)) for s in splits) + " |")
    lines += _duplicate_lines(leak, _NOUNS.get(report.get("kind", "audio"), "audio"))
    if report["rejected_reasons"]:
        lines += ["", "## Rejected files by reason", ""]
        lines += [f"- {reason}: {n}" for reason, n in report["rejected_reasons"].items()]
    return "\n".join(lines) + "\n"


def _format_lines(report: dict) -> list[str]:
    """What the items are: rates and durations of audio, or the shape of images and feature rows."""
    item = report.get("item")
    if item and item.get("kind") == "image":
        return [f"- images: {'x'.join(map(str, item['shape']))} (channels x height x width), resize policy "
                f"{item['resize']} (bilinear); source sizes (width x height): {item['source_sizes']}"]
    if item:
        more = ", ..." if len(item["columns"]) > 12 else ""
        return [f"- feature table: {len(item['columns'])} feature columns ({', '.join(item['columns'][:12])}{more});"
                f" ignored columns: {item['ignored_columns'] or 'none'}"]
    return [f"- sample rate: {report['sample_rate']} Hz (source rates: {report['source_sample_rates']})",
            f"- durations: min {report['duration_s']['min']:.2f} s, median {report['duration_s']['median']:.2f} s,"
            f" max {report['duration_s']['max']:.2f} s"]


_NOUNS = {"audio": "audio", "image": "images", "table": "feature rows"}


def _duplicates_line(report: dict) -> str:
    """How many sets of identical and near-identical items there are, in the words of their kind."""
    leak, kind = report["leakage"], report.get("kind", "audio")
    how = {"audio": "same recording re-encoded, re-gained or slightly trimmed",
           "image": "same picture re-encoded, resized or re-lit", "table": "equal once rounded to float16"}[kind]
    return (f"- duplicates: {leak['n_exact_duplicate_sets']} sets of identical {_NOUNS[kind]}, "
            f"{leak['n_near_duplicate_sets']} sets of near-identical {_NOUNS[kind]} ({how})")


def _duplicate_lines(leak: dict, noun: str = "audio") -> list[str]:
    """The leakage details a person must act on: what crosses splits, then the duplicate sets."""
    lines: list[str] = []
    sections = (("Groups in more than one split", [[g] for g in leak["groups_across_splits"]]),
                (f"Identical {noun} in more than one split", leak["duplicates_across_splits"]),
                (f"Near-identical {noun} in more than one split", leak["near_duplicates_across_splits"]),
                (f"Near-identical {noun} (all)", leak["near_duplicates"]))
    for title, sets in sections:
        if sets:
            lines += ["", f"## {title}", ""] + [f"- {', '.join(paths[:6])}" for paths in sets[:20]]
    return lines


def write_report(out: Path, report: dict) -> None:
    """`report.json` and `report.md` in `out`."""
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", render_markdown(report))
