"""Real recordings: the Free Spoken Digit Dataset (CC BY-SA 4.0) read from the shared data folder."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from earmark.data.dataset import PreparedData
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.presets import source_options

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"

pytestmark = pytest.mark.skipif(not (FSDD / "recordings").is_dir(), reason="shared FSDD data not present")


def test_fsdd_preset_reproduces_the_official_split(tmp_path: Path) -> None:
    source = source_options("fsdd")
    report = prepare(FSDD, tmp_path, source.spec, PrepareOptions(split=source.split, seed=0))
    assert "source's own split" in report["split_protocol"]
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


def test_fsdd_speaker_groups_never_cross_splits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from earmark.cli import main

    argv = ["prepare", str(FSDD), str(tmp_path), "--preset", "fsdd", "--group", "regex:_(?P<group>[a-z]+)_",
            "--split", "4/1/1"]
    assert main(argv) == 0
    assert "leakage check: OK" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["leakage"]["ok"] and report["n_groups"] == 6 and "grouped by group" in report["split_protocol"]
    splits_of: dict[str, set[str]] = {}
    for row in PreparedData.open(tmp_path).rows:
        splits_of.setdefault(row.group, set()).add(row.split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert {s for v in splits_of.values() for s in v} == {"train", "val", "test"}


def test_fsdd_official_split_with_speaker_groups_is_reported_as_leakage(tmp_path: Path) -> None:
    source = source_options("fsdd", group="regex:_(?P<group>[a-z]+)_")
    report = prepare(FSDD, tmp_path, source.spec, PrepareOptions(split=source.split))
    assert "source's own split" in report["split_protocol"]
    assert not report["leakage"]["ok"] and report["leakage"]["n_groups_across_splits"] == 6
    assert "PROBLEM" in (tmp_path / "report.md").read_text()
