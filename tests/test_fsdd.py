"""Real recordings: the Free Spoken Digit Dataset (CC BY-SA 4.0) read from the shared data folder."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from earmark.data.dataset import PreparedData
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.presets import load_preset
from earmark.data.sources import LabelSpec

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"

pytestmark = pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason="shared FSDD data not present")


def test_fsdd_preset_reproduces_the_official_split(tmp_path: Path) -> None:
    preset = load_preset("fsdd")
    report = prepare(FSDD, tmp_path, LabelSpec(labels=preset["labels"]), PrepareOptions(seed=0))
    assert report["n_kept"] == 3000 and report["n_rejected"] == 0
    data = PreparedData.open(tmp_path)
    assert data.labels == [str(d) for d in range(10)]
    take = re.compile(r"_(\d+)\.wav$")
    for row in data.rows:
        is_test = int(take.search(row.path).group(1)) <= 4  # type: ignore[union-attr]
        assert (row.split == "test") == is_test, row.path
        assert row.source_sample_rate == 8000
    sizes = Counter(row.split for row in data.rows)
    assert sizes["test"] == 300 and sizes["train"] + sizes["val"] == 2700 and sizes["val"] > 0


def test_fsdd_speaker_groups_never_cross_splits(tmp_path: Path) -> None:
    spec = LabelSpec(labels=r"regex:(?P<label>\d)_(?P<group>[a-z]+)_\d+\.wav$")
    report = prepare(FSDD, tmp_path, spec, PrepareOptions(split="4/1/1", seed=0))
    assert report["leakage"]["ok"] and report["n_groups"] == 6
    splits_of: dict[str, set[str]] = {}
    for row in PreparedData.open(tmp_path).rows:
        splits_of.setdefault(row.group, set()).add(row.split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert {s for v in splits_of.values() for s in v} == {"train", "val", "test"}
