"""Held-out folds: re-split a prepared dataset so one fold (or one group) is the test set."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.data.split import VAL_FRACTION, carve_val
from earmark.errors import DataError

SCHEMES = ("fold", "group")


def fold_keys(data: PreparedData, scheme: str) -> tuple[list[str], Callable[[ManifestRow], str]]:
    """The fold names and a row → fold function: the manifest's folds, or one fold per group (LOGO)."""
    if scheme == "fold":
        keys = sorted({row.fold for row in data.rows if row.fold >= 0})
        if len(keys) < 2:
            raise DataError(f"{data.root}: the manifest has no folds; prepare with --folds K, or use leave-one-group-"
                            "out (`earmark cv ... --by group`)")
        return [str(k) for k in keys], lambda row: str(row.fold)
    if scheme == "group":
        groups = sorted({row.group for row in data.rows})
        if len(groups) < 2:
            raise DataError(f"{data.root}: leave-one-group-out needs at least 2 groups, found {len(groups)}")
        return groups, lambda row: row.group
    raise DataError(f"unknown fold scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def open_for_training(data_dir: Path, holdout: tuple[str, str] | None, seed: int) -> PreparedData:
    """The prepared dataset a run trains on: with `holdout` = (scheme, key), fold or group `key` as its test."""
    data = PreparedData.open(data_dir)
    return hold_out(data, holdout[1], holdout[0], seed) if holdout is not None else data


def hold_out(data: PreparedData, key: str, scheme: str, seed: int) -> PreparedData:
    """`data` with fold `key` as test and a grouped, stratified 10% of the rest as val."""
    keys, fold_of = fold_keys(data, scheme)
    if key not in keys:
        raise DataError(f"fold {key!r} not in this dataset; folds: {', '.join(keys[:20])}")
    rest = [row for row in data.rows if fold_of(row) != key]
    carved = carve_val([row.label for row in rest], [row.group for row in rest], VAL_FRACTION, seed)
    split_of = {row.path: split for row, split in zip(rest, carved)}
    rows = [dataclasses.replace(row, split=split_of.get(row.path, "test")) for row in data.rows]
    return dataclasses.replace(data, rows=rows)
