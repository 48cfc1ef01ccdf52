"""Clip-level classification metrics as pure functions over numpy arrays (no scikit-learn at runtime).

Conventions: `y_true`, `y_pred` are int class indices `[N]`; `probs` are class probabilities `[N, K]`.
A ratio whose denominator is zero (precision of a never-predicted class...) is 0.0, as sklearn's
`zero_division=0`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

MetricFn = Callable[[np.ndarray, np.ndarray], float]
TOP_KS = (2, 3, 5)
DECIMALS = 6
_BOOT_CHUNK_VALUES = 4_000_000  # resampled indices held at once: bounds memory for large n


@dataclass(frozen=True)
class ClassScores:
    """Per-class precision, recall, F1 (float64 `[K]`) and support (int64 `[K]`, true clips per class)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Count matrix `[K, K]` of int64: rows are true classes, columns predicted classes."""
    t, p = _check_pair(y_true, y_pred, num_classes)
    codes = t * num_classes + p
    return np.bincount(codes, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of clips whose predicted class is the true class."""
    t, p = _check_pair(y_true, y_pred)
    return float(np.mean(t == p))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in `y_true` (sklearn's `balanced_accuracy_score`)."""
    cm = confusion_matrix(y_true, y_pred, _infer_num_classes(y_true, y_pred))
    support = cm.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(cm)[present] / support[present]))


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean F1 over classes that occur in `y_true` or `y_pred`.

    Classes in neither have no defined F1 and are left out; a class only predicted scores 0.
    Equals sklearn `f1_score(average="macro", labels=np.union1d(y_true, y_pred), zero_division=0)`.
    """
    cm = confusion_matrix(y_true, y_pred, _infer_num_classes(y_true, y_pred))
    present = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    return float(np.mean(_f1_from_confusion(cm)[present]))


def per_class(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> ClassScores:
    """Precision, recall, F1 and support for every one of the `num_classes` classes."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    return ClassScores(
        precision=_safe_divide(tp, predicted),
        recall=_safe_divide(tp, support),
        f1=_f1_from_confusion(cm),
        support=support.astype(np.int64),
    )


def top_k_accuracy(y_true: np.ndarray, probs: np.ndarray, k: int) -> float:
    """Fraction of clips whose true class is among the `k` highest-scoring classes.

    Ties are broken towards the lower class index, as argmax does, so top-1 equals `accuracy`.
    """
    scores = _check_probs(y_true, probs)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    t = np.asarray(y_true, dtype=np.int64)
    true_score = scores[np.arange(len(t)), t][:, None]
    columns = np.arange(scores.shape[1])[None, :]
    # Rank of the true class = classes scoring higher, plus equal-scoring ones with a lower index.
    ahead = (scores > true_score) | ((scores == true_score) & (columns < t[:, None]))
    return float(np.mean(ahead.sum(axis=1) < k))


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE: |accuracy - confidence| averaged over `n_bins` equal-width confidence bins, by count."""
    scores = _check_probs(y_true, probs)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = scores.max(axis=1)
    correct = (scores.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    # Bins are (lo, hi] as in Guo et al. 2017; a confidence of exactly 0 joins the first bin.
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    gap = np.bincount(bins, weights=correct, minlength=n_bins) - np.bincount(
        bins, weights=confidence, minlength=n_bins
    )
    return float(np.abs(gap).sum() / len(confidence))


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    metric_fn: MetricFn,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric_fn(y_true, y_pred)` over resampled clips; seeded, repeatable.

    `y_pred` may be labels `[N]` or probabilities `[N, K]`, whatever `metric_fn` takes.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    n = len(t)
    if n == 0 or len(p) != n:
        raise ValueError(f"bootstrap needs matching non-empty arrays, got {len(t)} and {len(p)}")
    if not 0.0 < level < 1.0 or n_boot < 1:
        raise ValueError(f"need 0 < level < 1 and n_boot >= 1, got level={level}, n_boot={n_boot}")
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot, dtype=np.float64)
    chunk = max(1, _BOOT_CHUNK_VALUES // n)
    batched = _BATCHED.get(metric_fn) if p.ndim == 1 else None
    if batched is not None:
        _check_pair(t, p)
    for start in range(0, n_boot, chunk):
        rows = rng.integers(0, n, size=(min(chunk, n_boot - start), n))  # [B, n] resampled clip indices
        if batched is not None:  # every resample at once: the same numbers without a Python call per resample
            stats[start : start + len(rows)] = batched(t[rows], p[rows])
            continue
        for offset, idx in enumerate(rows):
            stats[start + offset] = metric_fn(t[idx], p[idx])
    alpha = 1.0 - level
    lo, hi = np.quantile(stats, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _accuracy_batched(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """`accuracy` of each row of `[B, n]` label arrays, `[B]`."""
    return np.asarray((t == p).mean(axis=1), dtype=np.float64)


def _macro_f1_batched(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """`macro_f1` of each row of `[B, n]` label arrays, `[B]`: one confusion matrix per row, counted at once."""
    b, k = t.shape[0], int(max(t.max(), p.max())) + 1
    codes = (np.arange(b)[:, None] * k + t) * k + p
    cm = np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    counted = cm.sum(axis=1) + cm.sum(axis=2)  # [B, K] predicted + true clips per class
    f1 = _safe_divide(2.0 * tp, counted)
    present = counted > 0
    return np.asarray((f1 * present).sum(axis=1) / present.sum(axis=1), dtype=np.float64)


_BATCHED: dict[MetricFn, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    accuracy: _accuracy_batched, macro_f1: _macro_f1_batched}


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    labels: list[str],
    seed: int = 0,
    *,
    n_boot: int = 1000,
) -> dict[str, Any]:
    """One split's block of `metrics.json` from clip labels `[N]` and clip probabilities `[N, K]`."""
    scores = _check_probs(y_true, probs)
    if scores.shape[1] != len(labels):
        raise ValueError(f"probs has {scores.shape[1]} classes but {len(labels)} labels were given")
    t = np.asarray(y_true, dtype=np.int64)
    pred = scores.argmax(axis=1)
    num_classes = len(labels)
    return {
        "n": len(t),
        "accuracy": _r(accuracy(t, pred)),
        "balanced_accuracy": _r(balanced_accuracy(t, pred)),
        "macro_f1": _r(macro_f1(t, pred)),
        **_intervals(t, pred, n_boot, seed),
        "top_k": {f"top_{k}": _r(top_k_accuracy(t, scores, k)) for k in TOP_KS if k < num_classes},
        "ece": _r(expected_calibration_error(t, scores)),
        "per_class": _per_class_block(t, pred, labels),
        "confusion": confusion_matrix(t, pred, num_classes).tolist(),
    }


def exact_binomial_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a proportion in closed form for the extreme cases 0/n and n/n.

    These are the cases a resampling interval cannot see: with no error (or no hit) to resample,
    every bootstrap replicate repeats the estimate and the percentile interval collapses to a point.
    """
    if n < 1 or successes not in (0, n):
        raise ValueError(f"closed form only for 0 or n successes out of n >= 1, got {successes}/{n}")
    edge = ((1.0 - level) / 2.0) ** (1.0 / n)  # P(all n correct | p = edge) = (1 - level) / 2
    return (edge, 1.0) if successes == n else (0.0, 1.0 - edge)


def _intervals(t: np.ndarray, pred: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """95% intervals of accuracy and macro-F1 and how they were obtained.

    Normally a seeded percentile bootstrap over clips. When every clip is right (or every clip wrong) the
    bootstrap has nothing to resample, so both intervals are the exact binomial (Clopper-Pearson) interval
    of the accuracy: a 300/300 result reads [0.988, 1.0], not a misleading [1.0, 1.0].
    """
    correct = int(np.sum(t == pred))
    if correct in (0, len(t)):
        exact = _r_pair(exact_binomial_ci(correct, len(t)))
        return {"accuracy_ci95": exact, "macro_f1_ci95": list(exact),
                "ci_method": "exact binomial (Clopper-Pearson): no clip to resample on one side"}
    return {
        "accuracy_ci95": _r_pair(bootstrap_ci(t, pred, accuracy, n_boot=n_boot, seed=seed)),
        "macro_f1_ci95": _r_pair(bootstrap_ci(t, pred, macro_f1, n_boot=n_boot, seed=seed)),
        "ci_method": f"percentile bootstrap over clips, {n_boot} resamples, seed {seed}",
    }


def _per_class_block(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """The `per_class` mapping of `metrics.json`, keyed by label name in label order."""
    scores = per_class(y_true, y_pred, len(labels))
    return {
        label: {
            "precision": _r(scores.precision[i]),
            "recall": _r(scores.recall[i]),
            "f1": _r(scores.f1[i]),
            "support": int(scores.support[i]),
        }
        for i, label in enumerate(labels)
    }


def _f1_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class F1 = 2TP / (2TP + FP + FN); equals the harmonic mean of P and R where both exist."""
    tp = np.diag(cm).astype(np.float64)
    return _safe_divide(2.0 * tp, cm.sum(axis=0) + cm.sum(axis=1))


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise num / den with 0.0 where den == 0."""
    den_f = np.asarray(den, dtype=np.float64)
    out: np.ndarray = np.divide(num, den_f, out=np.zeros_like(den_f), where=den_f > 0)
    return out


def _check_pair(
    y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two label vectors (1-D, same non-zero length, ints in range) and return them as int64."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.ndim != 1 or p.shape != t.shape or len(t) == 0:
        raise ValueError(f"y_true and y_pred must be non-empty [N] arrays, got {t.shape} and {p.shape}")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)):
        raise ValueError(f"labels must be integer class indices, got {t.dtype} and {p.dtype}")
    low = min(int(t.min()), int(p.min()))
    if low < 0 or (num_classes is not None and max(int(t.max()), int(p.max())) >= num_classes):
        raise ValueError(f"class indices must lie in [0, {num_classes}), got {low}..{max(t.max(), p.max())}")
    return t.astype(np.int64, copy=False), p.astype(np.int64, copy=False)


def _check_probs(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Validate labels `[N]` against scores `[N, K]` and return the scores as float64."""
    scores = np.asarray(probs, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"probs must be [N, K] with K >= 1, got shape {scores.shape}")
    _check_pair(y_true, scores.argmax(axis=1), scores.shape[1])
    return scores


def _infer_num_classes(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    """Smallest K that holds every label seen; absent higher classes cannot change these metrics."""
    t, p = _check_pair(y_true, y_pred)
    return int(max(t.max(), p.max())) + 1


def _r(value: float | np.floating[Any]) -> float:
    """A plain Python float rounded for JSON."""
    return round(float(value), DECIMALS)


def _r_pair(pair: tuple[float, float]) -> list[float]:
    """A rounded `[lo, hi]` list for JSON."""
    return [_r(pair[0]), _r(pair[1])]
