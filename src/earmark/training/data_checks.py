"""Refuse datasets that cannot train an honest model, and weigh classes when the training split is skewed."""

from __future__ import annotations

from collections import Counter

import torch

from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.data.split import SPLITS
from earmark.errors import DataError

IMBALANCE_RATIO = 1.5  # largest / smallest class count above which the loss is class-weighted


def check_splits(data: PreparedData) -> dict[str, list[ManifestRow]]:
    """Rows per split, or a clear error when training or validation is impossible."""
    rows = {split: data.split_rows(split) for split in SPLITS}
    if not rows["train"]:
        raise DataError(f"{data.root}: the train split is empty; check the split options of `earmark prepare`")
    present = {row.label for row in rows["train"]}
    if len(present) < 2:
        raise DataError(f"{data.root}: the train split has {len(present)} class(es); a classifier needs at least 2: "
                        "add recordings of another class (one folder or label per class) and prepare again")
    missing = [label for label in data.labels if label not in present]
    if missing:
        raise DataError(f"{data.root}: classes with no training clip: {', '.join(missing[:10])}; "
                        "add data or re-split with `earmark prepare`")
    if not rows["val"]:
        groups = len({row.group for row in data.rows})
        raise DataError(f"{data.root}: the val split is empty ({groups} group(s) to share among the splits); prepare "
                        "with a split that keeps some, e.g. 80/10/10, and enough groups (a finer --group or more data)")
    return rows


def class_weights(rows: list[ManifestRow], labels: list[str]) -> tuple[torch.Tensor | None, str]:
    """Inverse-frequency loss weights when the training split is imbalanced, plus a note saying what was done."""
    counts = Counter(row.label for row in rows)
    values = torch.tensor([counts[label] for label in labels], dtype=torch.float32)
    ratio = float(values.max() / values.min())
    if ratio <= IMBALANCE_RATIO:
        return None, f"classes balanced (max/min {ratio:.2f}), unweighted loss"
    weights = values.sum() / (len(labels) * values)
    return weights, f"classes imbalanced (max/min {ratio:.1f}), class-weighted loss"
