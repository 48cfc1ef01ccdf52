"""Evaluation: aggregate windows into clips, score them with pure metric functions, write report files."""

from __future__ import annotations

from earmark.evaluation.aggregate import AGGREGATE_METHODS, AggregateMethod, aggregate_windows
from earmark.evaluation.metrics import (
    ClassScores,
    accuracy,
    balanced_accuracy,
    bootstrap_ci,
    compute_metrics,
    confusion_matrix,
    exact_binomial_ci,
    expected_calibration_error,
    macro_f1,
    per_class,
    top_k_accuracy,
)
from earmark.evaluation.plots import plot_confusion, plot_curves
from earmark.evaluation.report import (
    build_predictions,
    confused_pairs,
    format_summary_table,
    split_blocks,
    write_reports,
)

__all__ = [
    "AGGREGATE_METHODS",
    "AggregateMethod",
    "ClassScores",
    "accuracy",
    "aggregate_windows",
    "balanced_accuracy",
    "bootstrap_ci",
    "build_predictions",
    "compute_metrics",
    "confused_pairs",
    "confusion_matrix",
    "exact_binomial_ci",
    "expected_calibration_error",
    "format_summary_table",
    "macro_f1",
    "per_class",
    "plot_confusion",
    "plot_curves",
    "split_blocks",
    "top_k_accuracy",
    "write_reports",
]
