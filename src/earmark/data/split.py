"""Stratified, grouped, seeded splits: a group (speaker, recording) never lands in two splits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from earmark.errors import DataError

SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1  # of the training items, held out as val when a source or a fold fixes only the test set


def parse_ratios(text: str) -> tuple[float, float, float]:
    """`80/10/10` → (0.8, 0.1, 0.1); also accepts `80/20` (no val) and fractions."""
    try:
        parts = [float(p) for p in text.split("/")]
    except ValueError:
        raise DataError(f"--split {text!r}: expected train/val/test percentages like 80/10/10") from None
    if len(parts) == 2:
        parts = [parts[0], 0.0, parts[1]]
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0 or parts[0] == 0:
        raise DataError(f"--split {text!r}: expected three non-negative parts with train > 0, like 80/10/10")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def assign_groups(
    labels: Sequence[str], groups: Sequence[str], ratios: Sequence[float], seed: int
) -> list[int]:
    """Assign every item to a bucket (one per ratio) so that groups stay whole and labels stay balanced.

    Groups are placed largest first (ties in seeded random order) into the bucket where they most reduce
    the squared distance between the bucket's label counts and its target; every bucket with a positive
    ratio gets at least one group when there are enough groups.
    """
    label_ids = {label: i for i, label in enumerate(sorted(set(labels)))}
    members: dict[str, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    if len(members) == len(labels):
        result = _assign_singletons(labels, ratios, seed)
        # Per-label rounding can leave a small bucket empty (2 clips a class at 80/10/10 all round to train);
        # the placement below then gives every wanted bucket at least one item.
        if {b for b, r in enumerate(ratios) if r > 0} <= set(result):
            return result
    counts = _group_label_counts(members, labels, label_ids)
    order = _placement_order(list(members), counts, seed)
    targets = np.outer(np.asarray(ratios, dtype=np.float64), counts.sum(axis=0) if counts.size else 0.0)
    filled = np.zeros_like(targets)
    bucket_of: dict[str, int] = {}
    names = list(members)
    for g in order:
        bucket = _best_bucket(filled, targets, counts[g], ratios, bucket_of, len(names) - len(bucket_of))
        bucket_of[names[g]] = bucket
        filled[bucket] += counts[g]
    result = [0] * len(labels)
    for group, indices in members.items():
        for index in indices:
            result[index] = bucket_of[group]
    return result


def _assign_singletons(labels: Sequence[str], ratios: Sequence[float], seed: int) -> list[int]:
    """Every item its own group: shuffle each label's items (seeded) and cut them by the ratios."""
    rng = np.random.default_rng(seed)
    result = [0] * len(labels)
    by_label: dict[str, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        by_label[label].append(index)
    cumulative = np.cumsum(ratios) / np.sum(ratios)
    for label in sorted(by_label):
        indices = [by_label[label][i] for i in rng.permutation(len(by_label[label]))]
        cuts = np.round(cumulative * len(indices)).astype(int)
        for bucket, (start, stop) in enumerate(zip([0, *cuts[:-1]], cuts)):
            for index in indices[start:stop]:
                result[index] = bucket
    return result


def _group_label_counts(
    members: dict[str, list[int]], labels: Sequence[str], label_ids: dict[str, int]
) -> np.ndarray:
    """`[G, L]` label counts per group."""
    counts = np.zeros((len(members), len(label_ids)), dtype=np.float64)
    for g, indices in enumerate(members.values()):
        for index in indices:
            counts[g, label_ids[labels[index]]] += 1
    return counts


def _placement_order(names: list[str], counts: np.ndarray, seed: int) -> list[int]:
    """Largest groups first; equal sizes in an order fixed by the seed (not by input order)."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(names))
    sizes = counts.sum(axis=1)
    return sorted(shuffled.tolist(), key=lambda g: -sizes[g])


def _best_bucket(
    filled: np.ndarray, targets: np.ndarray, add: np.ndarray, ratios: Sequence[float],
    bucket_of: dict[str, int], groups_left: int,
) -> int:
    """The bucket whose label counts get closest to target by adding `add`."""
    used = set(bucket_of.values())
    empty = [b for b, r in enumerate(ratios) if r > 0 and b not in used]
    if empty and groups_left < len(empty):
        # Too few groups left for every wanted bucket: the largest (train first) takes it, so train is never empty.
        return max(empty, key=lambda b: ratios[b])
    if empty and groups_left == len(empty):
        # Just enough groups left to give every wanted bucket one: the emptiest wanted bucket takes it.
        return min(empty, key=lambda b: ratios[b])
    gain = ((filled + add - targets) ** 2).sum(axis=1) - ((filled - targets) ** 2).sum(axis=1)
    gain[[r <= 0 for r in ratios]] = np.inf
    return int(np.argmin(gain))


def split_items(
    labels: Sequence[str], groups: Sequence[str], ratios: tuple[float, float, float], seed: int
) -> list[str]:
    """`train`/`val`/`test` for each item, stratified by label and grouped by group."""
    buckets = assign_groups(labels, groups, ratios, seed)
    return [SPLITS[b] for b in buckets]


def carve_val(labels: Sequence[str], groups: Sequence[str], fraction: float, seed: int) -> list[str]:
    """Split given training items into train/val (for sources that fix only the test set)."""
    buckets = assign_groups(labels, groups, (1.0 - fraction, fraction), seed)
    return ["train" if b == 0 else "val" for b in buckets]


def assign_folds(labels: Sequence[str], groups: Sequence[str], folds: int, seed: int) -> list[int]:
    """Fold id 0..K-1 for each item: K grouped, stratified folds of about equal size."""
    if folds < 2:
        raise DataError(f"--folds {folds}: need at least 2 folds")
    if len(set(groups)) < folds:
        raise DataError(f"--folds {folds}: only {len(set(groups))} groups; use fewer folds")
    return assign_groups(labels, groups, [1.0 / folds] * folds, seed)
