"""`earmark sweep --search optuna`: a seeded TPE search with pruning, stored in SQLite, that resumes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from earmark.cli import main
from tests.conftest import FAST_TRAIN

pytest.importorskip("optuna")

TINY = [part for item in FAST_TRAIN for part in ("--set", item)] + ["--set", "trainer.threads=1", "--epochs", "2"]


def test_optuna_search_resumes_where_it_stopped(tone_prepared: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "search"
    grid = ["--grid", "optim.lr=0.01,0.003", "--grid", "model.dropout=0.0,0.3"]
    assert main(["sweep", str(tone_prepared), "--out", str(out), "--search", "optuna", "--trials", "2", *grid,
                 *TINY]) == 0
    first = capsys.readouterr().out
    assert "0 trials finished earlier, 2 to run" in first and (out / "optuna.db").is_file()
    assert sorted(p.name for p in out.glob("trial-*")) == ["trial-000", "trial-001"]
    # the same command with more trials continues the stored study: only the third trial trains
    assert main(["sweep", str(tone_prepared), "--out", str(out), "--search", "optuna", "--trials", "3", *grid,
                 *TINY]) == 0
    assert "2 trials finished earlier, 1 to run" in capsys.readouterr().out
    assert sorted(p.name for p in out.glob("trial-*")) == ["trial-000", "trial-001", "trial-002"]
    summary = json.loads((out / "sweep.json").read_text())
    assert summary["search"] == "optuna" and len(summary["trials"]) == 3
    assert {t["state"] for t in summary["trials"]} <= {"complete", "pruned"}
    for trial in summary["trials"]:
        assert trial["values"]["optim.lr"] in (0.01, 0.003) and trial["values"]["model.dropout"] in (0.0, 0.3)
    with (out / "sweep.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and rows[0]["state"] == "complete"
    assert float(rows[0]["val_accuracy"]) == max(t["val_accuracy"] or 0 for t in summary["trials"])


def test_optuna_options_are_checked(tone_prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(tone_prepared), "--out", str(tmp_path), "--grid", "optim.lr=0.1", "--trials", "2"]) == 1
    assert "--trials and --time-budget belong to --search optuna" in capsys.readouterr().err
    assert main(["sweep", str(tone_prepared), "--out", str(tmp_path), "--search", "optuna", "--trials", "0"]) == 1
    assert "--trials 0" in capsys.readouterr().err


def test_a_trial_cut_short_is_marked_failed_and_replaced(tone_prepared: Path, tmp_path: Path) -> None:
    import optuna

    from earmark.training.search import STUDY, run_optuna

    out = tmp_path / "search"
    out.mkdir()
    killed = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{out / 'optuna.db'}", direction="maximize")
    killed.ask()  # a trial whose process died: it stays RUNNING in the storage
    summary = run_optuna(tone_prepared, out, {"optim.lr": [0.01]}, 1, None,
                         overrides=[*FAST_TRAIN, "trainer.threads=1"], flags={"trainer.epochs": 1}, log=lambda _: None)
    assert sorted(t["state"] for t in summary["trials"]) == ["complete", "fail"]
    assert summary["best"]["trial"] == 1 and (out / "trial-001" / "metrics.json").is_file()
