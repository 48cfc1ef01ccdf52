"""Report baselines: the logistic regression is the textbook one (checked against scikit-learn), and both
baselines are fitted on train clips and scored on the split's clips exactly as the model is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmark.config import FeatureConfig
from earmark.data.dataset import PreparedData
from earmark.evaluation.baselines import L2, baseline_metrics, fit_logreg
from earmark.features import FrontEnd

linear_model = pytest.importorskip("sklearn.linear_model")


@pytest.mark.parametrize(("num_classes", "n", "dims", "seed"), [(2, 60, 3, 0), (4, 200, 12, 1), (10, 500, 40, 2)])
def test_logreg_matches_sklearn(num_classes: int, n: int, dims: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, num_classes, size=n)
    centres = rng.normal(size=(num_classes, dims))
    x = 5.0 + 3.0 * (centres[y] + 1.5 * rng.normal(size=(n, dims)))  # offset and scale: standardised inside
    w, b = fit_logreg(x, y, num_classes)
    ours = x @ w + b
    standardised = (x - x.mean(axis=0)) / x.std(axis=0)
    # Our loss is mean CE + L2/2 |W|^2; sklearn's is C * sum CE + 1/2 |W|^2, the same optimum at C = 1/(L2 n).
    # With two classes sklearn fits one vector d = w1 - w0, and |w0|^2 + |w1|^2 = |d|^2 / 2 at our optimum.
    c = (2.0 if num_classes == 2 else 1.0) / (L2 * n)
    reference = linear_model.LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(standardised, y)
    theirs = reference.decision_function(standardised)
    if num_classes == 2:  # sklearn keeps one logit for two classes: compare the logit difference
        np.testing.assert_allclose(ours[:, 1] - ours[:, 0], theirs, atol=2e-3, rtol=2e-3)
    else:
        np.testing.assert_allclose(ours - ours.mean(axis=1, keepdims=True), theirs - theirs.mean(axis=1, keepdims=True),
                                   atol=2e-3, rtol=2e-3)
    assert (ours.argmax(axis=1) == reference.predict(standardised)).all()


def test_baselines_on_prepared_tones(tone_prepared: Path) -> None:
    data = PreparedData.open(tone_prepared)
    frontend = FrontEnd(FeatureConfig(), data.sample_rate)
    train, test = data.split_rows("train"), data.split_rows("test")
    window = data.sample_rate // 2
    result = baseline_metrics(frontend, data, train, data, {"test": test}, data.labels, window, seed=0)
    majority, logreg = result["majority"]["test"], result["logreg"]["test"]
    assert majority["n"] == logreg["n"] == len(test)
    counts = {label: sum(row.label == label for row in train) for label in data.labels}
    most = max(data.labels, key=lambda label: (counts[label], -data.labels.index(label)))
    assert majority["accuracy"] == pytest.approx(sum(row.label == most for row in test) / len(test), abs=1e-6)
    assert logreg["accuracy"] >= 0.9  # three tones an octave and more apart: mean log-mel separates them
    assert logreg["accuracy_ci95"][0] <= logreg["accuracy"] <= logreg["accuracy_ci95"][1]
    assert "train split" in result["protocol"]
    assert result == baseline_metrics(frontend, data, train, data, {"test": test}, data.labels, window, seed=0)
