"""Property-based tests (hypothesis) of the pure parts: windows, splits, metrics, resampling lengths."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earmark.audio.resample import output_length, resample
from earmark.audio.windows import window_starts
from earmark.data.split import split_items
from earmark.evaluation import accuracy, balanced_accuracy, macro_f1

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(total=st.integers(1, 50_000), window=st.integers(1, 5000), hop=st.integers(1, 5000))
def test_window_starts_cover_the_clip(total: int, window: int, hop: int) -> None:
    starts = window_starts(total, window, hop)
    assert starts[0] == 0 and np.all(np.diff(starts) > 0)
    if total <= window:
        assert starts.tolist() == [0]
        return
    assert starts[-1] == total - window  # the tail is scored
    assert np.all(starts + window <= total)
    assert np.all(np.diff(starts) <= hop)  # no gap wider than the hop: every sample is in some window
    assert len(starts) <= -(-(total - window) // hop) + 1


@FAST
@given(groups=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5)), min_size=1, max_size=40),
       seed=st.integers(0, 10_000))
def test_groups_never_cross_splits_and_train_is_never_empty(groups: list[tuple[int, int]], seed: int) -> None:
    labels, names = [], []
    for g, (label, size) in enumerate(groups):
        labels += [f"c{label}"] * size
        names += [f"g{g}"] * size
    splits = split_items(labels, names, (0.8, 0.1, 0.1), seed)
    seen: dict[str, set[str]] = {}
    for name, split in zip(names, splits):
        seen.setdefault(name, set()).add(split)
    assert all(len(s) == 1 for s in seen.values())
    assert "train" in splits
    if len(groups) >= 3:
        assert set(splits) == {"train", "val", "test"}


@FAST
@given(counts=st.lists(st.integers(20, 120), min_size=2, max_size=5), seed=st.integers(0, 10_000))
def test_singleton_splits_are_stratified_within_tolerance(counts: list[int], seed: int) -> None:
    """Every clip its own group: each class is cut 80/10/10 to within one clip per split."""
    labels = [f"c{k}" for k, n in enumerate(counts) for _ in range(n)]
    splits = split_items(labels, [str(i) for i in range(len(labels))], (0.8, 0.1, 0.1), seed)
    for k, n in enumerate(counts):
        got = Counter(s for s, label in zip(splits, labels) if label == f"c{k}")
        for split, ratio in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
            assert abs(got[split] - ratio * n) <= 1.0, (split, got, n)


skm = pytest.importorskip("sklearn.metrics")


@FAST
@given(pairs=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=200))
def test_metrics_are_bounded_and_agree_with_sklearn(pairs: list[tuple[int, int]]) -> None:
    y_true, y_pred = (np.array(column) for column in zip(*pairs))
    acc = accuracy(y_true, y_pred)
    assert 0.0 <= acc <= 1.0 and acc == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert 0.0 <= balanced_accuracy(y_true, y_pred) <= 1.0
    assert 0.0 <= macro_f1(y_true, y_pred) <= 1.0
    assert macro_f1(y_true, y_pred) == pytest.approx(skm.f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert accuracy(y_true, y_true) == 1.0


RATES = st.sampled_from([8000, 11025, 16000, 22050, 32000, 44100, 48000, 96000, 192000])


@settings(max_examples=30, deadline=None)
@given(samples=st.integers(1, 20_000), from_rate=RATES, to_rate=RATES)
def test_resample_returns_the_length_the_formula_gives(samples: int, from_rate: int, to_rate: int) -> None:
    clip = np.random.default_rng(samples).standard_normal(samples).astype(np.float32)
    out = resample(clip, from_rate, to_rate)
    assert out.dtype == np.float32 and out.size == output_length(samples, from_rate, to_rate)
    assert abs(out.size - samples * to_rate / from_rate) <= 0.5 + 1e-9
