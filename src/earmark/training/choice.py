"""Which `--auto` candidate becomes the run: the data-chosen model, unless another is better on validation by
more than noise.

Validation sets are often small (ESC-10 cross-validation: 30 clips), and there the best validation accuracy is
often one or two lucky clips. So the candidates are ranked on validation accuracy (then macro-F1), and going
down the ranking, a candidate ranked above the data-chosen (or given) model replaces it only when it is right
on more validation clips than it and the exact two-sided McNemar test on the clips where exactly one of the two
is right gives p < 0.05: the baseline guard's test (evaluation/guard.py). Only validation is read.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from earmark.evaluation.guard import ALPHA, discordant, mcnemar_p

RULE = (f"ranked on validation accuracy (then macro-F1); a candidate above the data-chosen model replaces it only "
        f"when it is right on more validation clips, exact two-sided McNemar test p < {ALPHA}")


def validation_hits(run_dir: Path) -> dict[str, bool]:
    """Clip → whether the run's top label was right, for its validation clips (from predictions.csv)."""
    with (run_dir / "predictions.csv").open(encoding="utf-8", newline="") as handle:
        return {row["clip"]: row["true"] == row["predicted"] for row in csv.DictReader(handle)
                if row["split"] == "val"}


def choose(table: Sequence[Mapping[str, Any]], default: str,
           hits: Callable[[str], Mapping[str, bool]]) -> tuple[str, dict[str, Any]]:
    """The winner of a ranked candidates table and how it was decided (`hits(name)`: its validation clips)."""
    passed: list[dict[str, Any]] = []
    names = [str(row["candidate"]) for row in table]
    if default not in names:  # nothing to defer to: the best on validation
        return names[0], {"rule": RULE, "default": None, "winner": names[0], "passed_over": passed}
    base = hits(default)
    for name in names:
        if name == default:
            break
        other = hits(name)
        shared = sorted(base.keys() & other.keys())
        only_other, only_default = discordant(np.array([other[c] for c in shared], dtype=bool),
                                              np.array([base[c] for c in shared], dtype=bool))
        p = mcnemar_p(only_other, only_default)
        verdict = {"candidate": name, "only_it_right": only_other, "only_default_right": only_default,
                   "n": len(shared), "p_value": round(p, 6)}
        if only_other > only_default and p < ALPHA:
            return name, {"rule": RULE, "default": default, "winner": name, "beats_default": verdict,
                          "passed_over": passed}
        passed.append(verdict)
    return default, {"rule": RULE, "default": default, "winner": default, "passed_over": passed}


def decision_line(decision: Mapping[str, Any]) -> str:
    """One line for the terminal: what was chosen and why."""
    winner, default = decision["winner"], decision.get("default")
    beat = decision.get("beats_default")
    if beat:
        return (f"auto: chose {winner}: right on {beat['only_it_right']} validation clips that {default} got wrong, "
                f"against {beat['only_default_right']} (McNemar p = {beat['p_value']:.3g}, n = {beat['n']})")
    passed = decision.get("passed_over") or []
    if not passed:
        return f"auto: chose {winner} (best on validation)"
    within = ", ".join(f"{v['candidate']} ({v['only_it_right']} against {v['only_default_right']} clips, "
                       f"p = {v['p_value']:.2g})" for v in passed)
    return (f"auto: chose {winner}, the data-chosen model: ranked above it on validation but within noise: {within}")
