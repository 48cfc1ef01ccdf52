"""`earmark cv`: one run per held-out fold (or group), then per-fold and mean ± std test metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from earmark.config import TrainConfig
from earmark.data.dataset import PreparedData
from earmark.fileio import remove_stale_temporaries, write_csv_atomic, write_json_atomic
from earmark.training.engine import is_rank_zero
from earmark.training.folds import fold_keys
from earmark.training.loop import EpochHook, train
from earmark.training.outputs import RunFiles, finished_metrics, safe_name

# two-sided 95% Student t quantiles for 1..30 degrees of freedom; 1.96 beyond
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def cross_validate(data_dir: Path, out: Path, config: TrainConfig, scheme: str | None = None, command: str = "",
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train one run per fold into `out/<fold>`; finished folds are reused. Returns the summary."""
    data = PreparedData.open(data_dir)
    scheme = scheme or ("fold" if any(row.fold >= 0 for row in data.rows) else "group")
    keys, _ = fold_keys(data, scheme)
    if is_rank_zero():
        remove_stale_temporaries(out)  # a summary whose writer was killed
    results = []
    for number, key in enumerate(keys, start=1):
        run = out / f"{scheme}-{safe_name(key)}"
        log(f"[{number}/{len(keys)}] held-out {scheme} {key} → {run}")
        metrics = finished_metrics(run)
        if metrics is None:
            metrics = train_in(data_dir, run, config, command, log, (scheme, key))
        test = metrics["test"]
        results.append({"fold": key, "n": test["n"], "accuracy": test["accuracy"], "macro_f1": test["macro_f1"],
                        "balanced_accuracy": test["balanced_accuracy"]})
    summary = summarise(results, scheme)
    if is_rank_zero():
        write_json_atomic(out / "cv.json", summary)
        write_csv_atomic(out / "cv.csv", ["fold", "n", "accuracy", "balanced_accuracy", "macro_f1"],
                         [[r["fold"], r["n"], r["accuracy"], r["balanced_accuracy"], r["macro_f1"]] for r in results])
    return summary


def train_in(data_dir: Path, run: Path, config: TrainConfig, command: str, log: Callable[[str], None],
             holdout: tuple[str, str] | None = None, on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train one run of a series (cv, sweep) into `run`, resuming it if an earlier attempt was cut short."""
    return train(data_dir, run, config, resume=RunFiles(run).last.exists(), command=command,
                 log=lambda line: log("      " + line), holdout=holdout, on_epoch=on_epoch)


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def summarise(results: list[dict[str, Any]], scheme: str) -> dict[str, Any]:
    """Mean, sample std and a 95% t-interval over folds for each metric."""
    summary: dict[str, Any] = {"scheme": scheme, "folds": results, "n_folds": len(results),
                               "n_clips": sum(r["n"] for r in results)}
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        values = [float(r[metric]) for r in results]
        mean, std = mean_std(values)
        half = _T95[min(len(values) - 1, len(_T95)) - 1] * std / math.sqrt(len(values)) if len(values) > 1 else 0.0
        summary[metric] = {"mean": round(mean, 6), "std": round(std, 6),
                           "ci95": [round(max(0.0, mean - half), 6), round(min(1.0, mean + half), 6)]}
    return summary


def format_cv_table(summary: dict[str, Any]) -> str:
    """Per-fold rows, then mean ± std with the 95% interval."""
    lines = [f"{summary['scheme']:<16} {'n':>5}  {'accuracy':>8}  {'macro-F1':>8}"]
    lines += [f"{r['fold']:<16} {r['n']:>5}  {r['accuracy']:>8.3f}  {r['macro_f1']:>8.3f}" for r in summary["folds"]]
    acc, f1 = summary["accuracy"], summary["macro_f1"]
    lines.append(f"{'mean ± std':<16} {summary['n_clips']:>5}  {acc['mean']:.3f} ± {acc['std']:.3f}"
                 f" (95% CI {acc['ci95'][0]:.3f}–{acc['ci95'][1]:.3f}); macro-F1 {f1['mean']:.3f} ± {f1['std']:.3f}")
    return "\n".join(lines)
