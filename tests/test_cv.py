"""Cross-validation: leave-one-group-out and manifest folds, with per-fold and mean ± std results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from earmark.cli import main
from earmark.config import load_train_config
from earmark.data.dataset import PreparedData
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.sources import LabelSpec
from earmark.errors import DataError
from earmark.training.cv import cross_validate, summarise
from earmark.training.evaluate import evaluate_run
from earmark.training.folds import hold_out

FAST = ["trainer.epochs=3", "trainer.batch_size=16", "data.window_s=0.5", "optim.lr=0.01", "trainer.device=cpu"]


def test_leave_one_group_out_runs_every_group(tone_prepared: Path, tmp_path: Path) -> None:
    config = load_train_config(overrides=[*FAST, "trainer.epochs=8", "trainer.monitor=val_loss"])  # until right
    summary = cross_validate(tone_prepared, tmp_path, config, "group", log=lambda _: None)
    groups = sorted({row.group for row in PreparedData.open(tone_prepared).rows})
    assert [r["fold"] for r in summary["folds"]] == groups and summary["n_folds"] == 6
    assert summary["n_clips"] == len(PreparedData.open(tone_prepared).rows)
    acc = summary["accuracy"]
    assert acc["ci95"][0] <= acc["mean"] <= acc["ci95"][1] and acc["mean"] > 0.6
    assert json.loads((tmp_path / "cv.json").read_text())["scheme"] == "group"
    run = tmp_path / f"group-{groups[0]}"
    assert evaluate_run(run)["test"]["n"] == summary["folds"][0]["n"]  # evaluate re-applies the held-out fold
    again = cross_validate(tone_prepared, tmp_path, load_train_config(overrides=FAST), "group", log=lambda _: None)
    assert again == summary  # finished folds are reused, not retrained


def test_held_out_group_is_only_in_test(tone_prepared: Path) -> None:
    data = hold_out(PreparedData.open(tone_prepared), "spk2", "group", seed=0)
    assert {row.group for row in data.rows if row.split == "test"} == {"spk2"}
    assert "spk2" not in {row.group for row in data.rows if row.split != "test"}
    assert {row.split for row in data.rows} == {"train", "val", "test"}


def test_manifest_folds_and_train_fold_flag(tone_corpus: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    prepare(tone_corpus, data_dir, LabelSpec(group=r"regex:(?P<group>spk\d+)_"), PrepareOptions(folds=3, workers=1))
    with pytest.raises(DataError, match="not in this dataset"):
        hold_out(PreparedData.open(data_dir), "7", "fold", seed=0)
    sets = [f"--set={item}" for item in FAST]
    assert main(["train", str(data_dir), "--out", str(tmp_path / "run"), "--fold", "1", *sets]) == 0
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["holdout"] == ["fold", "1"]
    assert main(["cv", str(data_dir), "--out", str(tmp_path / "cv"), *sets]) == 0
    assert "mean ± std" in capsys.readouterr().out


def test_summary_statistics() -> None:
    summary = summarise([{"fold": str(i), "n": 10, "accuracy": a, "macro_f1": a, "balanced_accuracy": a}
                         for i, a in enumerate([0.8, 0.9, 1.0])], "fold")
    assert summary["accuracy"]["mean"] == pytest.approx(0.9) and summary["accuracy"]["std"] == pytest.approx(0.1)
    assert summary["accuracy"]["ci95"] == pytest.approx([0.9 - 4.303 * 0.1 / 3**0.5, 1.0], abs=1e-5)
