"""Score a trained model on prepared splits and write everything a person reads about it.

Shared by `train` (at the end of a run) and `evaluate` (later, on the run's own data or another dataset):
clip metrics and predictions, the baselines on the same clips, the most confident mistakes with their
audio, report.html and, for a run, model_card.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from earmark.checkpoint import LoadedModel
from earmark.classifier import AudioClassifier
from earmark.config import FeatureConfig, dump_yaml
from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.evaluation.baselines import BaselineScores, baseline_scores, summarise_baselines
from earmark.evaluation.calibrate import split_extras
from earmark.evaluation.examples import misclassified_examples
from earmark.evaluation.guard import GUARDED, baseline_guard
from earmark.evaluation.metrics import compute_metrics
from earmark.evaluation.report import build_predictions, write_reports
from earmark.evaluation.runner import ClipScores, score_clips
from earmark.evaluation.text import headline_split
from earmark.features import FrontEnd
from earmark.fileio import read_json_object
from earmark.item_classifier import ItemClassifier


@dataclass
class Scored:
    """Clip-level results of one model on some splits: metrics blocks, prediction rows and the raw scores."""

    metrics: dict[str, Any]
    predictions: dict[str, list[dict[str, Any]]]
    scores: dict[str, ClipScores]


def evaluate_splits(loaded: LoadedModel, data: PreparedData, splits: Mapping[str, list[ManifestRow]],
                    batch_size: int, seed: int = 0) -> Scored:
    """Clip-level metrics and per-clip predictions for each non-empty split."""
    result = Scored({}, {}, {})
    for split, rows in splits.items():
        if not rows:
            continue
        scores = score_clips(loaded.model, data, rows, loaded.labels, loaded.config.data, batch_size,
                             temperature=loaded.temperature, keep_windows=loaded.temperature != 1.0)
        result.scores[split] = scores
        result.metrics[split] = compute_metrics(scores.y_true, scores.probs, loaded.labels, seed=seed)
        result.metrics[split].update(split_extras(scores, loaded))
        result.predictions[split] = build_predictions([row.path for row in scores.rows], scores.y_true,
                                                      scores.probs, loaded.labels)
    return result


def report_frontend(loaded: LoadedModel) -> torch.nn.Module:
    """The front-end of the baselines and the example spectrograms: the model's own, or for a pretrained
    backbone (whose front-end is its own business) the default log-mel at the dataset's rate."""
    if isinstance(loaded.model, AudioClassifier):
        return loaded.model.frontend
    if isinstance(loaded.model, ItemClassifier):  # images, tables: the baseline is logreg on the raw values
        return loaded.model.baseline_frontend
    return FrontEnd(FeatureConfig(), loaded.sample_rate).eval()


def _guard(scored: Scored, baselines: BaselineScores) -> dict[str, Any] | None:
    """The baseline guard on the validation clips both scored (paired by clip path); None without val."""
    if "val" not in scored.scores or "val" not in baselines.probs:
        return None
    scores = scored.scores["val"]
    where = {path: i for i, path in enumerate(baselines.paths["val"])}
    pairs = [(i, where[row.path]) for i, row in enumerate(scores.rows) if row.path in where and scores.y_true[i] >= 0]
    if not pairs:
        return None
    mine, theirs = (list(index) for index in zip(*pairs))
    return baseline_guard(scores.y_true[mine], scores.probs[mine], baselines.probs["val"][GUARDED][theirs])


def write_model_report(out: Path, loaded: LoadedModel, data: PreparedData, splits: Mapping[str, list[ManifestRow]],
                       train: tuple[PreparedData, Sequence[ManifestRow]] | None, history: list[dict[str, Any]],
                       extra: Mapping[str, Any], context: Mapping[str, Any], model_card: bool) -> dict[str, Any]:
    """Evaluate `loaded` on `splits` of `data` and write the report files into `out`; returns metrics.json.

    `train` is the data and rows the model was fitted on: the baselines are fitted there (none without it).
    `extra` goes into metrics.json beside the split blocks; `context` is added to what the report states.
    """
    seed = loaded.config.trainer.seed
    scored = evaluate_splits(loaded, data, splits, loaded.config.trainer.batch_size, seed)
    metrics: dict[str, Any] = {**scored.metrics, "labels": loaded.labels, "model": loaded.config.model.name, **extra}
    if loaded.calibration:
        metrics["calibration"] = loaded.calibration
    frontend, window = report_frontend(loaded), loaded.window_samples
    if train is not None and scored.metrics:
        baselines = baseline_scores(frontend, train[0], train[1], data, splits, loaded.labels, window, seed)
        if baselines is not None:
            metrics["baselines"] = summarise_baselines(baselines, loaded.labels, seed)
            guard = _guard(scored, baselines)
            if guard is not None:
                metrics["baseline_guard"] = guard
    split = headline_split(scored.scores)
    examples = []
    if split is not None and data.kind == "audio":  # the examples are clips to listen to
        scores = scored.scores[split]
        examples = misclassified_examples(frontend, data, scores.rows, scores.y_true, scores.probs, loaded.labels,
                                          window)
    counts = {name: dict(sorted(Counter(row.label for row in rows).items())) for name, rows in splits.items()}
    if train is not None:
        counts = {"train": dict(sorted(Counter(row.label for row in train[1]).items())), **counts}
    data_report = read_json_object(data.root / "report.json")
    facts = {
        "config_yaml": dump_yaml(loaded.config), "data": str(data.root),
        "dataset": f"{data.root} ({len(data.rows)} clips, {len(data.labels)} classes)",
        "data_report": data_report, "split_counts": counts,
        "split_protocol": str(data_report.get("split_protocol", "–")),
        "prepare_command": read_json_object(data.root / "prepare.json").get("command"),
        "sample_rate": loaded.sample_rate, "window_s": loaded.config.data.window_s,
        "aggregate": loaded.config.data.aggregate,
        "backbone": loaded.state.get("backbone"),  # a pretrained backbone's weights, sha256 and licence
        "reject_threshold": loaded.reject_threshold,  # the model card says when it answers `unknown`
    }
    write_reports(out, metrics, history, loaded.labels, scored.predictions, {**facts, **context}, examples,
                  model_card=model_card)
    return metrics

