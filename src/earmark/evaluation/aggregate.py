"""Turn per-window class probabilities into one probability row per clip, so metrics count clips."""

from __future__ import annotations

from typing import Literal

import numpy as np

AggregateMethod = Literal["mean", "vote", "max"]
AGGREGATE_METHODS: tuple[AggregateMethod, ...] = ("mean", "vote", "max")


def aggregate_windows(
    window_probs: np.ndarray,
    clip_index: np.ndarray,
    method: AggregateMethod = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate window probabilities `[W, K]` into clip probabilities `[C, K]`, clips sorted by id.

    mean: average probability; vote: fraction of windows whose argmax is each class;
    max: per-class maximum over windows, renormalised so each row sums to 1.
    Returns `(clip_ids [C], clip_probs [C, K])`, float64.
    """
    probs = np.asarray(window_probs, dtype=np.float64)  # [W, K]
    index = np.asarray(clip_index)
    _check_inputs(probs, index, method)
    clip_ids, inverse = np.unique(index, return_inverse=True)
    inverse = inverse.reshape(-1)  # numpy 2.0 briefly returned the input's shape here
    num_clips, num_classes = len(clip_ids), probs.shape[1]
    if method == "max":
        return clip_ids, _renormalise(_group_max(probs, inverse, num_clips))
    if method == "vote":
        # A one-hot row per window turns "fraction of votes" into the same grouped mean.
        probs = np.eye(num_classes, dtype=np.float64)[probs.argmax(axis=1)]
    return clip_ids, _group_mean(probs, inverse, num_clips)


def _check_inputs(probs: np.ndarray, index: np.ndarray, method: str) -> None:
    """Reject shapes and methods that would silently give wrong per-clip numbers."""
    if method not in AGGREGATE_METHODS:
        choices = ", ".join(AGGREGATE_METHODS)
        raise ValueError(f"unknown aggregation method {method!r}; choose one of {choices}")
    if probs.ndim != 2:
        raise ValueError(f"window_probs must be [W, K], got shape {probs.shape}")
    if index.ndim != 1 or len(index) != len(probs):
        raise ValueError(f"clip_index must be [W] with W={len(probs)}, got shape {index.shape}")
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"clip_index must hold integer clip ids, got dtype {index.dtype}")


def _group_mean(values: np.ndarray, inverse: np.ndarray, num_groups: int) -> np.ndarray:
    """Mean of the rows of `values` [W, K] within each group."""
    sums = np.zeros((num_groups, values.shape[1]), dtype=np.float64)
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse, minlength=num_groups).astype(np.float64)
    result: np.ndarray = sums / counts[:, None]
    return result


def _group_max(values: np.ndarray, inverse: np.ndarray, num_groups: int) -> np.ndarray:
    """Per-column maximum of the rows of `values` [W, K] within each group."""
    maxima = np.full((num_groups, values.shape[1]), -np.inf, dtype=np.float64)
    np.maximum.at(maxima, inverse, values)
    return maxima


def _renormalise(rows: np.ndarray) -> np.ndarray:
    """Scale each row to sum to 1; an all-zero row becomes uniform rather than NaN."""
    totals = rows.sum(axis=1, keepdims=True)
    uniform = np.full_like(rows, 1.0 / max(rows.shape[1], 1))
    safe = np.where(totals > 0, totals, 1.0)
    result: np.ndarray = np.where(totals > 0, rows / safe, uniform)
    return result
