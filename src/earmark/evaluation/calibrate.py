"""Fit the temperature and the `unknown` threshold on a run's validation clips and store them in its checkpoint.

Called at the end of `earmark train` (before the final evaluation, so metrics.json, report.html, predict and
every export use the calibrated scores) and by `earmark robustness` for a checkpoint that has none yet. What is
fitted is in `CalibrationConfig` (`--set calibration.reject_coverage=0.95`...).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from earmark.checkpoint import LoadedModel, store_in_checkpoint
from earmark.config import CalibrationConfig
from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.evaluation.aggregate import AggregateMethod, aggregate_windows
from earmark.evaluation.calibration import (
    choose_threshold,
    clip_probabilities,
    fit_temperature,
    negative_log_likelihood,
    selective,
    temper_clips,
)
from earmark.evaluation.metrics import expected_calibration_error
from earmark.evaluation.runner import ClipScores, score_clips


def fit_calibration(logits: np.ndarray, clip: np.ndarray, y_true: np.ndarray, method: str,
                    options: CalibrationConfig, split: str = "val") -> dict[str, Any]:
    """The checkpoint's `calibration` record from window logits `[W, K]`, clip ids `[W]` and clip labels `[C]`."""
    temperature = fit_temperature(logits, clip, y_true, method) if options.temperature else 1.0
    known = np.asarray(y_true) >= 0
    y = np.asarray(y_true)[known]
    before = evaluation_probabilities(logits, clip, 1.0, method)[known]
    after = evaluation_probabilities(logits, clip, temperature, method)[known]
    record: dict[str, Any] = {
        "temperature": temperature, "fitted_on": split, "n_clips": int(known.sum()), "aggregate": method,
        "method": "temperature scaling, clip-level NLL, bounded 1-D search" if options.temperature else "none",
        "ece_before": round(expected_calibration_error(y, before), 6),
        "ece_after": round(expected_calibration_error(y, after), 6),
        "nll_before": round(negative_log_likelihood(y, before), 6),
        "nll_after": round(negative_log_likelihood(y, after), 6),
    }
    if options.reject_coverage is not None or options.reject_precision is not None:
        threshold = choose_threshold(y, after, options.reject_coverage, options.reject_precision)
        record.update(reject_threshold=threshold.value, reject_target=threshold.target,
                      reject_reached=threshold.reached)
    return record


def evaluation_probabilities(logits: np.ndarray, clip: np.ndarray, temperature: float, method: str) -> np.ndarray:
    """Clip probabilities computed as `score_clips` computes them (float32 softmax of the logits, the
    aggregation, then the temperature), so that a threshold chosen on them splits the validation clips as
    evaluation will."""
    probs = torch.softmax(torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32)), dim=1).numpy()
    return temper_clips(aggregate_windows(probs, np.asarray(clip), cast(AggregateMethod, method))[1], temperature)


def calibrate_checkpoint(path: Path, loaded: LoadedModel, data: PreparedData, rows: list[ManifestRow],
                         options: CalibrationConfig, log: Callable[[str], None] = lambda line: None) -> bool:
    """Fit on `rows` (the validation clips) and store the record in the checkpoint at `path` and in `loaded`;
    False (nothing stored) when nothing is asked for or no clip has a label the model knows."""
    asked = options.temperature or options.reject_coverage is not None or options.reject_precision is not None
    if not asked or not any(row.label in loaded.labels for row in rows):
        return False
    config = loaded.config
    scores = score_clips(loaded.model, data, rows, loaded.labels, config.data, config.trainer.batch_size,
                         keep_windows=True)
    assert scores.window_logits is not None and scores.window_clip is not None
    record = fit_calibration(scores.window_logits, scores.window_clip, scores.y_true, config.data.aggregate, options)
    store_in_checkpoint(path, loaded, calibration=record)
    threshold = (f"; unknown below {record['reject_threshold']:.4f} ({record['reject_target']}"
                 f"{'' if record['reject_reached'] else ', not reached: the most precise threshold'})"
                 if "reject_threshold" in record else "")
    log(f"calibration on {record['n_clips']} validation clips: temperature {record['temperature']:.3f}, "
        f"ECE {record['ece_before']:.3f} → {record['ece_after']:.3f}{threshold}")
    return True


def split_extras(scores: ClipScores, loaded: LoadedModel) -> dict[str, Any]:
    """What a split's metrics block adds for a calibrated model: the ECE before the temperature and, with a
    threshold, the coverage and the accuracy on the clips answered."""
    known = scores.y_true >= 0
    extras: dict[str, Any] = {}
    if scores.window_logits is not None and scores.window_clip is not None and known.any():
        raw = clip_probabilities(scores.window_logits, scores.window_clip, 1.0, loaded.config.data.aggregate)
        extras["ece_before_temperature"] = round(expected_calibration_error(scores.y_true[known], raw[known]), 6)
    if loaded.reject_threshold is not None and known.any():
        extras["selective"] = selective(scores.y_true[known], scores.probs[known], loaded.reject_threshold)
    return extras
