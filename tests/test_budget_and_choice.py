"""`--auto` under a budget and its choice. A time budget shortens the schedule instead of cutting it off (the
planning rule, the shorter curve, its survival across a resume, a real run whose budget ends the schedule; no
assertion depends on timing); candidates train cheapest first; another candidate replaces the data-chosen model
only when it is better on validation beyond noise."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from earmark.checkpoint import load_checkpoint
from earmark.config import OptimConfig, load_train_config
from earmark.training.auto import Candidate, training_order
from earmark.training.budget import epoch_time, epochs_in_budget
from earmark.training.loop import train
from earmark.training.optim import build_scheduler, shorten_schedule

FAST = ["trainer.batch_size=16", "data.window_s=0.5", "data.eval_hop_s=0.25", "optim.lr=0.01", "trainer.device=cpu"]


@pytest.mark.parametrize(("seconds", "spent", "budget", "planned", "expected"), [
    ([10.0], 10.0, 1000.0, 50, 50),            # 99 more would fit: the plan stays
    ([10.0], 10.0, 100.0, 50, 10),             # 9 more fit in the 90 s left
    ([30.0, 10.0, 10.0], 50.0, 100.0, 50, 8),  # the first epoch's one-off cost is left out of the mean
    ([10.0, 10.0], 20.0, 15.0, 50, 2),         # already over: ends now, never before the epochs done
    ([10.0] * 5, 50.0, 1e9, 5, 5),             # the plan is done
    ([], 0.0, 1.0, 7, 7),                      # nothing measured yet
])
def test_epochs_in_budget(seconds: list[float], spent: float, budget: float, planned: int, expected: int) -> None:
    assert epochs_in_budget(seconds, spent, budget, planned) == expected


def test_the_expected_epoch_time_leaves_out_the_first_epoch() -> None:
    assert epoch_time([]) == 0.0 and epoch_time([30.0]) == 30.0 and epoch_time([30.0, 10.0, 20.0]) == 15.0
    assert epoch_time([99.0, *([1.0] * 5), *([3.0] * 5)]) == 3.0  # the last five


def _scheduler(schedule: str, steps: int = 100) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    return optimizer, build_scheduler(optimizer, OptimConfig(schedule=schedule, warmup_epochs=1), 10, steps // 10)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_a_shortened_schedule_anneals_by_its_new_end_and_survives_a_resume(schedule: str) -> None:
    optimizer, scheduler = _scheduler(schedule)
    for _ in range(20):
        optimizer.step()
        scheduler.step()
    before = scheduler.get_last_lr()[0]
    shorten_schedule(scheduler, 40)
    now = scheduler.get_last_lr()[0]
    assert now <= before + 1e-12 and optimizer.param_groups[0]["lr"] == now
    saved = scheduler.state_dict()
    for _ in range(19):
        optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr()[0] < 0.01 * before  # the last step of the 40 is near the bottom of the curve
    resumed_optimizer, resumed = _scheduler(schedule)
    resumed.load_state_dict(saved)  # as train --resume does: the shorter length is in the state
    assert resumed.lr_lambdas[0].total == 40
    for _ in range(19):
        resumed_optimizer.step()
        resumed.step()
    assert math.isclose(resumed.get_last_lr()[0], scheduler.get_last_lr()[0])
    shorten_schedule(scheduler, 80)  # never lengthened
    assert scheduler.lr_lambdas[0].total == 40


def test_a_budget_too_small_for_one_more_epoch_ends_the_schedule(tone_prepared: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    config = load_train_config(overrides=[*FAST, "trainer.epochs=4", "trainer.time_budget_s=0.000001"])
    metrics = train(tone_prepared, tmp_path / "run", config, log=lines.append)
    assert any(line.startswith("time budget: 4 epochs would not fit") and "ends at epoch 1" in line
               for line in lines), lines
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 2 and metrics["test"]["n"] > 0
    assert any(line.startswith("epoch   1/1") for line in lines)  # the epoch lines show the new length
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt").state["epochs"] == 1


def test_auto_trains_the_cheapest_first_and_the_data_chosen_model_last() -> None:
    entries = [Candidate("chosen", "cnn-stats"), Candidate("other", "tcresnet-8"),
               Candidate("logreg", "logreg", closed_form=True), Candidate("probe", "ge2e", probe=True)]
    assert [c.name for c in training_order(entries)] == ["logreg", "probe", "other", "chosen"]


def _hits(right: int, offset: int = 0, n: int = 30) -> dict[str, bool]:
    """Validation clips c0..c{n-1}: right on `right` of them from c{offset} on, wrong on the others."""
    return {f"c{i}": (i - offset) % n < right for i in range(n)}


def test_a_candidate_replaces_the_data_chosen_model_only_beyond_noise() -> None:
    from earmark.training.choice import choose, decision_line

    table = [{"candidate": "other"}, {"candidate": "chosen"}, {"candidate": "logreg"}]
    close = {"other": _hits(28), "chosen": _hits(27, offset=2), "logreg": _hits(20)}  # 2 clips against 1
    name, decision = choose(table, "chosen", close.__getitem__)
    assert name == "chosen" and decision["passed_over"][0]["p_value"] == 1.0
    assert "within noise: other (2 against 1 clips" in decision_line(decision)
    far = {"other": _hits(29), "chosen": _hits(12), "logreg": _hits(20)}  # 17 clips against 0
    name, decision = choose(table, "chosen", far.__getitem__)
    assert name == "other" and decision["beats_default"]["p_value"] < 0.05
    assert decision_line(decision).startswith("auto: chose other: right on 17 validation clips that chosen got wrong")
    name, decision = choose([{"candidate": "chosen"}, *table[::2]], "chosen", far.__getitem__)
    assert name == "chosen" and decision["passed_over"] == []
