"""Degenerate datasets: each refused with one line that says what is wrong and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile import write_good_clips
from tests.test_hostile import TINY_TRAIN, cli, expect_handled, expect_refusal


def _prepare(source: Path, out: Path, *options: str) -> Path:
    result = cli("prepare", source, out, "--workers", "1", *options)
    assert result.rc == 0 and not result.crash, result.crash or result.err
    return out


def test_one_class_only(tmp_path: Path) -> None:
    write_good_clips(tmp_path / "src", {"only": 500.0}, per_label=6)
    data = _prepare(tmp_path / "src", tmp_path / "data")
    result = cli("train", data, "--out", tmp_path / "run", *TINY_TRAIN)
    expect_refusal("train", result, str(data), "1 class", "at least 2", "add", kind="one class only")


def test_a_class_with_a_single_file(tmp_path: Path) -> None:
    write_good_clips(tmp_path / "src", {"a": 400.0, "b": 1500.0}, per_label=5)
    write_good_clips(tmp_path / "src", {"lonely": 3000.0}, per_label=1)
    data = _prepare(tmp_path / "src", tmp_path / "data", "--split", "60/20/20")
    result = cli("train", data, "--out", tmp_path / "run", *TINY_TRAIN)
    if result.rc == 0:  # its one clip went to train: a model is made, the class just goes unscored
        expect_handled("train", result, "a class with a single file")
    else:
        expect_refusal("train", result, "lonely", "add data", kind="a class with a single file")


def test_a_split_left_empty_by_grouping(tmp_path: Path) -> None:
    write_good_clips(tmp_path / "src", {"a": 400.0, "b": 1500.0}, per_label=4)
    data = _prepare(tmp_path / "src", tmp_path / "data", "--split", "80/10/10", "--group", r"regex:(?P<group>good)_")
    result = cli("train", data, "--out", tmp_path / "run", *TINY_TRAIN)  # one group: everything in train
    expect_refusal("train", result, str(data), "val split is empty", "group", kind="split left empty by grouping")


def test_labels_that_differ_between_train_and_evaluation(tone_run: Path, tmp_path: Path) -> None:
    write_good_clips(tmp_path / "src", {"low": 300.0, "kazoo": 700.0}, per_label=4)
    data = _prepare(tmp_path / "src", tmp_path / "data", "--split", "50/0/50")
    result = cli("evaluate", tone_run, "--data", data)
    expect_refusal("evaluate", result, str(data), "kazoo", "not known to the model",
                   kind="labels differ between train and evaluation")


@pytest.mark.parametrize("split", ["val", "test"])
def test_evaluating_an_empty_split(tone_run: Path, tmp_path: Path, split: str) -> None:
    write_good_clips(tmp_path / "src", {"low": 300.0, "mid": 900.0}, per_label=4)
    data = _prepare(tmp_path / "src", tmp_path / "data", "--split", "50/0/50" if split == "val" else "50/50/0")
    result = cli("evaluate", tone_run, "--data", data, "--split", split)
    expect_refusal("evaluate", result, str(data), f"{split} split is empty", "--split", kind="empty split")
