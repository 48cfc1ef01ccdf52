from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from earmark.data.split import assign_folds, parse_ratios, split_items
from earmark.errors import DataError


def test_parse_ratios() -> None:
    assert parse_ratios("80/10/10") == pytest.approx((0.8, 0.1, 0.1))
    assert parse_ratios("80/20") == pytest.approx((0.8, 0.0, 0.2))
    with pytest.raises(DataError):
        parse_ratios("a/b")


@settings(max_examples=60, deadline=None)
@given(
    n_groups=st.integers(3, 40), n_labels=st.integers(2, 5), per=st.integers(1, 6), seed=st.integers(0, 1000)
)
def test_groups_never_cross_splits_and_every_split_is_used(n_groups: int, n_labels: int, per: int,
                                                           seed: int) -> None:
    labels, groups = [], []
    for g in range(n_groups):
        for i in range(per * n_labels):
            labels.append(f"c{i % n_labels}")
            groups.append(f"g{g}")
    splits = split_items(labels, groups, (0.8, 0.1, 0.1), seed)
    seen: dict[str, set[str]] = {}
    for group, split in zip(groups, splits):
        seen.setdefault(group, set()).add(split)
    assert all(len(s) == 1 for s in seen.values())
    assert set(splits) == {"train", "val", "test"}
    assert split_items(labels, groups, (0.8, 0.1, 0.1), seed) == splits  # reproducible


def test_stratified_when_each_file_is_its_own_group() -> None:
    labels = [f"c{i % 4}" for i in range(400)] + ["c4"] * 40
    splits = split_items(labels, [str(i) for i in range(len(labels))], (0.8, 0.1, 0.1), seed=3)
    for label in set(labels):
        counts = Counter(s for s, lab in zip(splits, labels) if lab == label)
        total = sum(counts.values())
        assert abs(counts["test"] / total - 0.1) < 0.03 and abs(counts["val"] / total - 0.1) < 0.03


def test_folds_are_grouped_and_balanced() -> None:
    labels = [f"c{i % 3}" for i in range(300)]
    groups = [f"g{i // 10}" for i in range(300)]
    folds = assign_folds(labels, groups, 5, seed=0)
    sizes = Counter(folds)
    assert set(sizes) == set(range(5)) and max(sizes.values()) - min(sizes.values()) <= 20
    with pytest.raises(DataError, match="only 30 groups"):
        assign_folds(labels, groups, 31, seed=0)
