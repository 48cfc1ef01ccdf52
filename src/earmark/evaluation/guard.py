"""The baseline guard: does a baseline beat the model on validation by more than noise?

Rule: on the validation clips, the model and the logistic-regression baseline are compared clip by clip
(paired). The guard fires when the baseline is right on more clips than the model and the exact two-sided
McNemar test over the clips where exactly one of them is right gives p < 0.05. Only validation is read, so
the test split stays untouched by the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

GUARDED = "logreg"  # the baseline a trained model must beat (the majority class is beaten by anything that learns)
ALPHA = 0.05
ADVICE = ("try `earmark train DATA --out RUN --auto` (trains several candidates and keeps the best on validation), "
          "a longer window (--set data.window_s=S), another model (--model cnn), or more epochs (--epochs N)")
RULE = (f"{GUARDED} right on more validation clips than the model, exact two-sided McNemar test on the clips "
        f"where exactly one is right p < {ALPHA}")


def mcnemar_p(model_only: int, baseline_only: int) -> float:
    """Exact two-sided McNemar p-value from the two discordant counts (binomial test at 1/2)."""
    n = model_only + baseline_only
    if n == 0:
        return 1.0
    k = min(model_only, baseline_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def discordant(a_right: np.ndarray, b_right: np.ndarray) -> tuple[int, int]:
    """Paired clips only A got right, and only B: what McNemar's test reads."""
    a, b = np.asarray(a_right, dtype=bool), np.asarray(b_right, dtype=bool)
    return int(np.sum(a & ~b)), int(np.sum(b & ~a))


def baseline_guard(y_true: np.ndarray, model_probs: np.ndarray, baseline_probs: np.ndarray,
                   baseline: str = GUARDED) -> dict[str, Any]:
    """The guard's verdict on paired validation clips: `fired`, both accuracies, the discordant counts, p."""
    truth = np.asarray(y_true)
    model_right = np.asarray(model_probs).argmax(1) == truth
    base_right = np.asarray(baseline_probs).argmax(1) == truth
    model_only, base_only = discordant(model_right, base_right)
    p = mcnemar_p(model_only, base_only)
    return {"split": "val", "baseline": baseline, "n": int(truth.size),
            "model_accuracy": round(float(model_right.mean()), 6) if truth.size else None,
            "baseline_accuracy": round(float(base_right.mean()), 6) if truth.size else None,
            "model_only_right": model_only, "baseline_only_right": base_only, "p_value": round(p, 6),
            "fired": bool(base_only > model_only and p < ALPHA), "rule": RULE,
            "advice": ADVICE}


def guard_lines(metrics: Mapping[str, Any]) -> list[str]:
    """The warning a person must read first, when the guard fired; nothing otherwise."""
    guard = metrics.get("baseline_guard")
    if not isinstance(guard, Mapping) or not guard.get("fired"):
        return []
    return [f"WARNING: the {guard['baseline']} baseline beats this model on validation beyond noise: "
            f"{guard['baseline_accuracy']:.3f} against {guard['model_accuracy']:.3f} on n = {guard['n']} clips "
            f"({guard['baseline_only_right']} clips only the baseline got right, {guard['model_only_right']} only "
            f"the model; McNemar p = {guard['p_value']:.3g}).",
            f"What to try: {guard['advice']}."]
