"""`earmark sweep`: real runs per combination × seed, reuse of finished runs, validation before any training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from earmark.cli import main
from earmark.data.dataset import PreparedData
from earmark.training.sweep import parse_grid, plan_sweep

SETS = [f"--set={item}" for item in ("trainer.batch_size=16", "data.window_s=0.5", "trainer.device=cpu")]


def test_sweep_trains_each_combination_and_seed_then_reuses_them(tone_prepared: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    args = ["sweep", str(tone_prepared), "--out", str(out), "--grid", "optim.lr=0.01,0.001", "--seeds", "0,1",
            "--epochs", "2", *SETS]
    assert main(args) == 0
    names = {f"lr-{lr}_seed-{seed}" for lr in ("0.01", "0.001") for seed in (0, 1)}
    assert {path.name for path in out.iterdir() if path.is_dir()} == names
    val = {name: json.loads((out / name / "metrics.json").read_text())["val"]["accuracy"] for name in names}
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["metric"] == "val_accuracy" and summary["keys"] == ["optim.lr"] and len(summary["runs"]) == 4
    means = [combo["mean"] for combo in summary["combinations"]]
    assert means == sorted(means, reverse=True) and len(means) == 2
    for combo in summary["combinations"]:
        lr = combo["values"]["optim.lr"]
        assert combo["per_seed"] == {str(s): val[f"lr-{lr}_seed-{s}"] for s in (0, 1)}
        assert combo["mean"] == pytest.approx((val[f"lr-{lr}_seed-0"] + val[f"lr-{lr}_seed-1"]) / 2, abs=1e-6)
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [float(row["optim.lr"]) for row in rows] == [c["values"]["optim.lr"] for c in summary["combinations"]]
    assert "val_accuracy mean ± std" in capsys.readouterr().out
    stamps = {name: (out / name / "metrics.json").stat().st_mtime_ns for name in names}
    assert main(args) == 0
    assert capsys.readouterr().out.count("finished earlier, reused") == 4
    assert stamps == {name: (out / name / "metrics.json").stat().st_mtime_ns for name in names}
    assert json.loads((out / "sweep.json").read_text()) == summary


@pytest.mark.parametrize(("grid", "message"), [
    ("optim.lrr=0.1,0.2", "unknown key optim.lrr"),
    ("trainer.epochs=2,two", "trainer.epochs: expected int or 'auto', got 'two'"),
    ("model.name=cnn,nope", "model.name=nope: unknown model 'nope'"),
    ("optim.optimizer=adamw,lion", "optim.optimizer 'lion'"),
    ("trainer.seed=1,2", "use --seeds"),
])
def test_bad_grids_fail_before_any_training(grid: str, message: str, tone_prepared: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", str(tone_prepared), "--out", str(out), "--grid", grid, "--epochs", "1", *SETS]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_random_search_draws_a_seeded_subset(tone_prepared: Path) -> None:
    data = PreparedData.open(tone_prepared)
    grid = parse_grid(["optim.lr=0.01,0.003,0.001", "model.dropout=0.1,0.3"])
    first = plan_sweep(grid, [0, 1], data, random_n=2)
    assert len(first) == 4 and [run.seed for run in first] == [0, 1, 0, 1]
    assert [run.name for run in first] == [run.name for run in plan_sweep(grid, [0, 1], data, random_n=2)]
    assert all(run.config.optim.lr == run.values["optim.lr"] and run.config.trainer.seed == run.seed
               for run in first)
    assert len(plan_sweep(grid, [0], data, random_n=50)) == 6
    assert plan_sweep(grid, [3], data)[0].name == "lr-0.01_dropout-0.1_seed-3"
