"""Metrics against scikit-learn on random cases; bootstrap, ECE and window aggregation on hand-made ones."""

from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pytest

from earmark.evaluation import (
    accuracy,
    aggregate_windows,
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

skm = pytest.importorskip("sklearn.metrics")

# (K, N, seed): tiny, binary, many classes, and N smaller than K so classes go missing.
CASES = [(2, 1, 0), (2, 30, 1), (3, 7, 2), (5, 200, 3), (7, 40, 4), (10, 500, 5), (50, 30, 6), (50, 3000, 7)]


def _labels(num_classes: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """y_true from a subset of classes and y_pred from another, so some classes are absent from each."""
    rng = np.random.default_rng(seed)
    true_classes = rng.choice(num_classes, size=max(1, num_classes - 1), replace=False)
    pred_classes = rng.choice(num_classes, size=max(1, num_classes - 1), replace=False)
    y_true = rng.choice(true_classes, size=n)
    noise = rng.choice(pred_classes, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, noise)
    return y_true, y_pred


def _probs(num_classes: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and Dirichlet probabilities that lean towards the true class."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, size=n)
    probs = rng.dirichlet(np.ones(num_classes), size=n)
    probs[np.arange(n), y_true] += rng.random(n)
    return y_true, probs / probs.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("num_classes", "n", "seed"), CASES)
def test_confusion_and_accuracies_match_sklearn(num_classes: int, n: int, seed: int) -> None:
    y_true, y_pred = _labels(num_classes, n, seed)
    expected = skm.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes))
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, num_classes), expected)
    assert accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when y_pred holds classes absent from y_true
        expected_ba = skm.balanced_accuracy_score(y_true, y_pred)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(expected_ba)


@pytest.mark.parametrize(("num_classes", "n", "seed"), CASES)
def test_macro_f1_and_per_class_match_sklearn(num_classes: int, n: int, seed: int) -> None:
    y_true, y_pred = _labels(num_classes, n, seed)
    present = np.union1d(y_true, y_pred)
    expected_f1 = skm.f1_score(y_true, y_pred, average="macro", labels=present, zero_division=0)
    assert macro_f1(y_true, y_pred) == pytest.approx(expected_f1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(num_classes), zero_division=0
    )
    scores = per_class(y_true, y_pred, num_classes)
    np.testing.assert_allclose(scores.precision, precision)
    np.testing.assert_allclose(scores.recall, recall)
    np.testing.assert_allclose(scores.f1, f1)
    np.testing.assert_array_equal(scores.support, support)


def test_absent_classes_score_zero_and_are_kept_out_of_macro_f1() -> None:
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 1, 1])  # class 2 only predicted, class 3 nowhere
    scores = per_class(y_true, y_pred, 4)
    assert scores.precision[2] == 0.0 and scores.recall[2] == 0.0 and scores.f1[2] == 0.0
    assert scores.support.tolist() == [2, 2, 0, 0]
    assert macro_f1(y_true, y_pred) == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert balanced_accuracy(y_true, y_pred) == pytest.approx((0.5 + 1.0) / 2)


@pytest.mark.parametrize(("num_classes", "n", "seed"), [(3, 50, 0), (5, 200, 1), (10, 300, 2), (50, 400, 3)])
def test_top_k_matches_sklearn(num_classes: int, n: int, seed: int) -> None:
    y_true, probs = _probs(num_classes, n, seed)
    for k in (1, 2, 3, 5):
        if k >= num_classes:
            continue
        expected = skm.top_k_accuracy_score(y_true, probs, k=k, labels=np.arange(num_classes))
        assert top_k_accuracy(y_true, probs, k) == pytest.approx(expected)
    assert top_k_accuracy(y_true, probs, 1) == pytest.approx(accuracy(y_true, probs.argmax(axis=1)))
    assert top_k_accuracy(y_true, probs, num_classes) == 1.0


def test_top_1_with_ties_agrees_with_argmax() -> None:
    probs = np.full((4, 3), 1 / 3)  # an undecided model must not get credit for every class
    y_true = np.array([0, 1, 2, 0])
    assert top_k_accuracy(y_true, probs, 1) == accuracy(y_true, probs.argmax(axis=1)) == 0.5


def _ece_reference(y_true: np.ndarray, probs: np.ndarray, n_bins: int) -> float:
    """Textbook loop over (lo, hi] bins."""
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return total


def test_expected_calibration_error() -> None:
    y_true, probs = _probs(6, 500, 9)
    assert expected_calibration_error(y_true, probs) == pytest.approx(_ece_reference(y_true, probs, 15))
    confident = np.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(np.array([0, 1, 2, 0]), confident) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([1, 2, 0, 1]), confident) == pytest.approx(1.0)
    # 80% confident and right 4 times out of 5: perfectly calibrated.
    probs_08 = np.tile([0.8, 0.2], (5, 1))
    assert expected_calibration_error(np.array([0, 0, 0, 0, 1]), probs_08) == pytest.approx(0.0)


def test_batched_bootstrap_equals_one_metric_call_per_resample() -> None:
    """The vectorised path for accuracy and macro-F1 gives the numbers of calling the metric per resample."""
    y_true, y_pred = _labels(7, 400, 5)
    y_pred[:40] = 6  # a class only predicted: it counts in macro-F1 with F1 0
    for metric in (accuracy, macro_f1):
        fast = bootstrap_ci(y_true, y_pred, metric, n_boot=300, seed=2)
        slow = bootstrap_ci(y_true, y_pred, lambda t, p, m=metric: m(t, p), n_boot=300, seed=2)  # not in the table
        assert fast == pytest.approx(slow, abs=1e-12)


def test_bootstrap_is_seeded_contains_estimate_and_narrows() -> None:
    y_true, y_pred = _labels(5, 300, 11)
    first = bootstrap_ci(y_true, y_pred, accuracy, n_boot=500, seed=3)
    assert first == bootstrap_ci(y_true, y_pred, accuracy, n_boot=500, seed=3)
    assert first != bootstrap_ci(y_true, y_pred, accuracy, n_boot=500, seed=4)
    for metric in (accuracy, balanced_accuracy, macro_f1):
        lo, hi = bootstrap_ci(y_true, y_pred, metric, n_boot=500)
        assert lo <= metric(y_true, y_pred) <= hi
    big_true, big_pred = _labels(5, 3000, 11)
    big_lo, big_hi = bootstrap_ci(big_true, big_pred, accuracy, n_boot=500)
    assert big_hi - big_lo < 0.5 * (first[1] - first[0])


def test_bootstrap_accepts_probabilities() -> None:
    y_true, probs = _probs(5, 100, 13)
    lo, hi = bootstrap_ci(y_true, probs, lambda t, p: top_k_accuracy(t, p, 2), n_boot=200)
    assert 0.0 <= lo <= top_k_accuracy(y_true, probs, 2) <= hi <= 1.0


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        accuracy(np.array([], dtype=int), np.array([], dtype=int))
    with pytest.raises(ValueError, match="class indices"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="integer"):
        accuracy(np.array([0.0, 1.0]), np.array([0, 1]))


def test_aggregate_mean_vote_max() -> None:
    window_probs = np.array(
        [[0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.7, 0.3, 0.0], [0.1, 0.1, 0.8], [0.0, 0.5, 0.5]]
    )
    clip_index = np.array([7, 7, 7, 2, 2])  # ids need not be contiguous or sorted
    ids, mean = aggregate_windows(window_probs, clip_index, "mean")
    assert ids.tolist() == [2, 7]
    np.testing.assert_allclose(mean, [[0.05, 0.3, 0.65], [0.5, 0.5, 0.0]])
    _, vote = aggregate_windows(window_probs, clip_index, "vote")
    np.testing.assert_allclose(vote, [[0.0, 0.5, 0.5], [2 / 3, 1 / 3, 0.0]])
    _, peak = aggregate_windows(window_probs, clip_index, "max")
    np.testing.assert_allclose(peak, [[0.1 / 1.4, 0.5 / 1.4, 0.8 / 1.4], [0.7 / 1.5, 0.8 / 1.5, 0.0]])
    np.testing.assert_allclose(peak.sum(axis=1), 1.0)


def test_aggregate_single_window_clips_are_unchanged() -> None:
    window_probs = np.random.default_rng(0).dirichlet(np.ones(4), size=6).astype(np.float32)
    for method in ("mean", "max"):
        ids, probs = aggregate_windows(window_probs, np.arange(6), method)
        assert ids.tolist() == list(range(6))
        np.testing.assert_allclose(probs, window_probs, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_windows(window_probs, np.arange(6), "median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="clip_index"):
        aggregate_windows(window_probs, np.arange(5))


def test_compute_metrics_block_is_json_ready() -> None:
    y_true, probs = _probs(6, 120, 14)
    labels = [f"class_{i}" for i in range(6)]
    block = compute_metrics(y_true, probs, labels, seed=0, n_boot=200)
    expected_keys = {
        "n", "accuracy", "balanced_accuracy", "macro_f1", "accuracy_ci95", "macro_f1_ci95", "ci_method",
        "top_k", "ece", "per_class", "confusion",
    }  # fmt: skip
    assert set(block) == expected_keys
    assert json.loads(json.dumps(block, allow_nan=False)) == block
    assert block["n"] == 120 and isinstance(block["n"], int)
    assert list(block["per_class"]) == labels
    assert set(block["per_class"]["class_0"]) == {"precision", "recall", "f1", "support"}
    assert list(block["top_k"]) == ["top_2", "top_3", "top_5"]
    lo, hi = block["accuracy_ci95"]
    assert lo <= block["accuracy"] <= hi
    assert sum(map(sum, block["confusion"])) == 120
    assert block == compute_metrics(y_true, probs, labels, seed=0, n_boot=200)


def test_compute_metrics_top_k_only_below_num_classes() -> None:
    y_true, probs = _probs(3, 40, 15)
    assert list(compute_metrics(y_true, probs, ["a", "b", "c"], n_boot=50)["top_k"]) == ["top_2"]
    y_true, probs = _probs(2, 40, 16)
    assert compute_metrics(y_true, probs, ["a", "b"], n_boot=50)["top_k"] == {}
    with pytest.raises(ValueError, match="labels"):
        compute_metrics(y_true, probs, ["a", "b", "c"])


def test_perfect_and_hopeless_results_get_an_exact_interval_not_a_point() -> None:
    scipy_stats = pytest.importorskip("scipy.stats")
    labels = ["a", "b", "c"]
    y_true = np.arange(300) % 3
    perfect = compute_metrics(y_true, np.eye(3)[y_true], labels, n_boot=200)
    lo, hi = perfect["accuracy_ci95"]
    assert perfect["accuracy"] == 1.0 and hi == 1.0 and 0.98 < lo < 0.99  # the bootstrap would say [1, 1]
    assert "exact binomial" in perfect["ci_method"] and perfect["macro_f1_ci95"] == [lo, hi]
    reference = scipy_stats.binomtest(300, 300).proportion_ci(confidence_level=0.95, method="exact")
    assert lo == pytest.approx(reference.low, abs=1e-6)
    wrong = compute_metrics(y_true, np.eye(3)[(y_true + 1) % 3], labels, n_boot=200)
    assert wrong["accuracy_ci95"][0] == 0.0 and wrong["accuracy_ci95"][1] == pytest.approx(1 - lo, abs=1e-6)
    assert exact_binomial_ci(1, 1) == pytest.approx((0.025, 1.0))
    with pytest.raises(ValueError, match="closed form"):
        exact_binomial_ci(5, 10)
    one_error = compute_metrics(y_true, np.eye(3)[np.where(np.arange(300) == 7, 0, y_true)], labels, n_boot=200)
    assert "bootstrap" in one_error["ci_method"] and one_error["accuracy_ci95"][0] < 1.0
