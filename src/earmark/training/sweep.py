"""`earmark sweep`: one run per grid combination × seed, finished runs reused, ranked by a validation metric.

Runs are ranked on validation metrics only: choosing hyperparameters on the test split would make its score
optimistic. Test accuracy is reported alongside, for the record.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from earmark.checkpoint import build_model
from earmark.config import TrainConfig, load_train_config
from earmark.data.dataset import PreparedData
from earmark.errors import ConfigError
from earmark.fileio import remove_stale_temporaries, write_csv_atomic, write_json_atomic
from earmark.training.cv import mean_std, train_in
from earmark.training.engine import is_rank_zero
from earmark.training.items import fit_config_to_data
from earmark.training.optim import build_optimizer, build_scheduler
from earmark.training.outputs import finished_metrics, safe_name
from earmark.training.recipe import resolve_recipe

METRICS = ("val_accuracy", "val_balanced_accuracy", "val_macro_f1")


@dataclass(frozen=True)
class SweepRun:
    """One training run of a sweep: its folder name, grid values, seed and resolved config."""

    name: str
    values: dict[str, Any]  # grid key → value
    seed: int
    config: TrainConfig


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """`--grid key=v1,v2` items → {key: [v1, v2]}; each value is read as YAML, like `--set`."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ConfigError(f"--grid {item!r}: expected key=v1,v2,..., e.g. optim.lr=0.01,0.003")
        if key == "trainer.seed":
            raise ConfigError("--grid trainer.seed: use --seeds 0,1,2 instead")
        values = [yaml.safe_load(part) for part in raw.split(",") if part.strip()]
        grid[key] = list({repr(v): v for v in values}.values())  # drop repeats, keep the order
    if not grid:
        raise ConfigError("earmark sweep needs at least one --grid key=v1,v2")
    return grid


def plan_sweep(grid: dict[str, list[Any]], seeds: list[int], data: PreparedData, random_n: int | None = None,
               config_file: Path | None = None, overrides: list[str] | None = None,
               flags: dict[str, Any] | None = None) -> list[SweepRun]:
    """Every combination (or `random_n` of them, seeded) × seed, each config checked before any training."""
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if random_n is not None:
        if random_n < 1:
            raise ConfigError(f"--random {random_n}: expected a positive number of combinations")
        combos = random.Random(seeds[0]).sample(combos, min(random_n, len(combos)))
    runs = []
    for combo in combos:
        for seed in seeds:
            config = load_train_config(config_file, overrides, {**(flags or {}), **combo, "trainer.seed": seed})
            _check_buildable(config, data, combo)
            runs.append(SweepRun(_run_name(combo, seed), combo, seed, config))
    return runs


def _check_buildable(config: TrainConfig, data: PreparedData, combo: dict[str, Any]) -> None:
    """Build the model, optimiser and schedule once, so a bad name fails now rather than mid-sweep."""
    try:
        config, _ = resolve_recipe(fit_config_to_data(config, data), data.split_rows("train"),
                                   len(data.labels))  # as training will
        model = build_model(config, data.labels, data.sample_rate)
        optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], config.optim)
        build_scheduler(optimizer, config.optim, 1, config.trainer.resolved_epochs)
    except ConfigError as exc:
        where = ", ".join(f"{key}={value}" for key, value in combo.items())
        raise ConfigError(f"sweep combination {where}: {exc.args[0] if exc.args else exc}") from None


def _run_name(combo: dict[str, Any], seed: int) -> str:
    """Folder name from the values, e.g. lr-0.01_name-cnn_seed-0 (the full key where last parts clash)."""
    last = [key.rsplit(".", 1)[-1] for key in combo]
    parts = [f"{short if last.count(short) == 1 else key}-{value}" for key, short, value in zip(combo, last,
                                                                                                 combo.values())]
    return safe_name("_".join([*parts, f"seed-{seed}"]))


def run_sweep(data_dir: Path, out: Path, runs: list[SweepRun], metric: str = "val_accuracy", command: str = "",
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train every planned run into `out/<name>` (finished ones are reused); write sweep.json and sweep.csv."""
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r}: choose one of {', '.join(METRICS)} (validation only)")
    if is_rank_zero():
        remove_stale_temporaries(out)  # a summary whose writer was killed
    results = []
    for number, run in enumerate(runs, start=1):
        folder = out / run.name
        metrics = finished_metrics(folder)
        log(f"[{number}/{len(runs)}] {run.name}{': finished earlier, reused' if metrics else f' → {folder}'}")
        if metrics is None:
            metrics = train_in(data_dir, folder, run.config, command, log)
        results.append(_result(run, metrics))
    summary = summarise_sweep(results, list(runs[0].values) if runs else [], metric)
    if is_rank_zero():  # DDP: every rank runs the sweep, rank 0 writes
        write_json_atomic(out / "sweep.json", summary)
        _write_csv(out / "sweep.csv", summary)
    return summary


def _result(run: SweepRun, metrics: dict[str, Any]) -> dict[str, Any]:
    """One run's row: its values, seed and headline metrics."""
    row: dict[str, Any] = {"run": run.name, "values": run.values, "seed": run.seed}
    for split in ("val", "test"):
        for name in ("accuracy", "balanced_accuracy", "macro_f1"):
            row[f"{split}_{name}"] = metrics.get(split, {}).get(name, math.nan)
    return row


def summarise_sweep(results: list[dict[str, Any]], keys: list[str], metric: str) -> dict[str, Any]:
    """Runs grouped by combination: mean ± std of `metric` over seeds, per-seed values; best first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in results:
        groups.setdefault(repr([row["values"][key] for key in keys]), []).append(row)
    combos = []
    for rows in groups.values():
        values = [float(r[metric]) for r in rows]
        mean, std = mean_std(values)
        combos.append({"values": rows[0]["values"], "mean": round(mean, 6), "std": round(std, 6),
                       "per_seed": {str(r["seed"]): r[metric] for r in rows},
                       "test_accuracy_mean": round(sum(float(r["test_accuracy"]) for r in rows) / len(rows), 6),
                       "runs": [r["run"] for r in rows]})
    combos.sort(key=lambda c: -c["mean"])
    return {"metric": metric, "keys": keys, "combinations": combos, "runs": results}


def _write_csv(path: Path, summary: dict[str, Any]) -> None:
    """One row per combination, best first: values, mean, std and per-seed values of the metric."""
    keys, metric = summary["keys"], summary["metric"]
    header = ["rank", *keys, f"{metric}_mean", f"{metric}_std", f"{metric}_per_seed", "test_accuracy_mean", "runs"]
    rows = [[rank, *[c["values"][k] for k in keys], c["mean"], c["std"],
             ";".join(f"{seed}:{value}" for seed, value in c["per_seed"].items()), c["test_accuracy_mean"],
             ";".join(c["runs"])] for rank, c in enumerate(summary["combinations"], start=1)]
    write_csv_atomic(path, header, rows)


def format_sweep_table(summary: dict[str, Any]) -> str:
    """Combinations best first: values, mean ± std of the metric over seeds, each seed's value, test accuracy."""
    keys, metric = summary["keys"], summary["metric"]
    widths = [max([len(key), *(len(str(c["values"][key])) for c in summary["combinations"])]) for key in keys]
    head = "  ".join(f"{key:<{w}}" for key, w in zip(keys, widths))
    lines = [f"rank  {head}  {metric + ' mean ± std':>24}  per seed{'':<16}  test acc"]
    for rank, c in enumerate(summary["combinations"], start=1):
        cells = "  ".join(f"{c['values'][key]!s:<{w}}" for key, w in zip(keys, widths))
        seeds = ", ".join(f"{seed}: {value:.3f}" for seed, value in c["per_seed"].items())
        lines.append(f"{rank:<4}  {cells}  {c['mean']:>16.3f} ± {c['std']:.3f}  {seeds:<24}  "
                     f"{c['test_accuracy_mean']:.3f}")
    return "\n".join(lines)


def parse_seeds(text: str | None, default: int) -> list[int]:
    """`--seeds 0,1,2` → [0, 1, 2]; the config's seed when not given."""
    if text is None:
        return [default]
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected integers separated by commas, e.g. 0,1,2") from None
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    return list(dict.fromkeys(seeds))

