"""Fit the learning-rate schedule to `trainer.time_budget_s`: a run that cannot finish its planned epochs in
the budget gets a shorter schedule, so it still anneals instead of being cut off at a high learning rate.

Planning uses the epochs measured so far (every record's seconds: training and validation), so it follows the
machine the run is on; only the epoch count depends on timing, never what an epoch does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

RECENT = 5  # epochs whose mean time predicts the next ones (the first is left out once there are others)


def epochs_in_budget(epoch_seconds: Sequence[float], spent: float, budget: float, planned: int) -> int:
    """How many epochs the run should have in all: `planned`, or fewer when the epochs still to run would not fit
    in what is left of `budget` at the recent mean epoch time. Never fewer than the epochs done.

    The first epoch is left out of the mean once later ones exist: it pays for one-off work (caches filled,
    kernels chosen) that the others do not.
    """
    done = len(epoch_seconds)
    if done == 0 or done >= planned:
        return planned
    fits = done + max(0, math.floor((budget - spent) / max(epoch_time(epoch_seconds), 1e-9)))
    return max(done, min(planned, fits))


def epoch_time(epoch_seconds: Sequence[float]) -> float:
    """The time the next epoch is expected to take: the mean of the last few, the first left out once there are
    others (0 before any)."""
    recent = list(epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds)[-RECENT:]
    return sum(recent) / len(recent) if recent else 0.0
