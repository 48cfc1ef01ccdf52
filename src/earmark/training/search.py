"""`earmark sweep --search optuna`: a TPE search with median pruning, stored in SQLite so it resumes.

Each trial trains one ordinary run into DIR/trial-NNN. After every epoch the trial reports its validation
accuracy; the median pruner stops a trial whose accuracy at that epoch is below the median of earlier trials
at the same epoch. The study lives in DIR/optuna.db (`sqlite:///DIR/optuna.db`): running the same command
again continues it (finished and pruned trials count towards --trials; a trial cut short by a kill is marked
failed and its place taken by a new one). Trials are ranked on a validation metric only.

The search space is the `--grid` keys (each a categorical choice of its values) or, without them,
`DEFAULT_SPACE`: the learning rate and weight decay (log-uniform) and dropout (uniform).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from earmark.config import load_train_config
from earmark.errors import ConfigError, EarmarkError
from earmark.fileio import make_dir, read_json_object, write_csv_atomic, write_json_atomic
from earmark.training.sweep import METRICS

Log = Callable[[str], None]
# key → (kind, low, high): log-uniform or uniform floats
DEFAULT_SPACE: dict[str, tuple[str, float, float]] = {
    "optim.lr": ("log", 3e-4, 1e-2),
    "optim.weight_decay": ("log", 1e-4, 1e-1),
    "model.dropout": ("uniform", 0.0, 0.5),
}
DEFAULT_TRIALS = 20
STUDY = "earmark-sweep"


def _optuna() -> Any:
    """The optuna module, or a clear line on how to get it."""
    try:
        import optuna
    except ImportError:
        raise EarmarkError("--search optuna needs the optuna extra: pip install 'earmark[optuna]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # earmark prints its own lines
    return optuna


def suggest(trial: Any, grid: dict[str, list[Any]]) -> dict[str, Any]:
    """One trial's values: a categorical choice per --grid key, else the default space."""
    if grid:
        return {key: trial.suggest_categorical(key, values) for key, values in grid.items()}
    return {key: trial.suggest_float(key, low, high, log=kind == "log")
            for key, (kind, low, high) in DEFAULT_SPACE.items()}


def run_optuna(data_dir: Path, out: Path, grid: dict[str, list[Any]], trials: int | None,
               time_budget_s: float | None, metric: str = "val_accuracy", seed: int = 0,
               config_file: Path | None = None, overrides: list[str] | None = None,
               flags: dict[str, Any] | None = None, command: str = "", log: Log = print) -> dict[str, Any]:
    """Run (or continue) the search in `out`; returns the summary written to sweep.json."""
    from earmark.training.cv import train_in

    optuna = _optuna()
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric!r}: choose one of {', '.join(METRICS)} (validation only)")
    total = DEFAULT_TRIALS if trials is None else trials
    if total < 1:
        raise ConfigError(f"--trials {total}: expected a positive number of trials")
    study, done = _open_study(optuna, out, seed)
    remaining = max(0, total - done)
    log(f"optuna: {done} trials finished earlier, {remaining} to run (TPE seed {seed}, median pruning) → {out}")
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s

    def objective(trial: Any) -> float:
        values = suggest(trial, grid)
        config = load_train_config(config_file, overrides, {**(flags or {}), **values})
        if deadline is not None:
            config.trainer.time_budget_s = max(1.0, deadline - time.monotonic())
        folder = out / f"trial-{trial.number:03d}"
        log(f"[trial {trial.number}] " + ", ".join(f"{k}={_short(v)}" for k, v in values.items()) + f" → {folder}")

        def report(record: dict[str, float]) -> None:
            trial.report(record["val_accuracy"], step=int(record["epoch"]))
            if trial.should_prune():
                log(f"      pruned at epoch {int(record['epoch'])}: val accuracy {record['val_accuracy']:.3f} "
                    "below the median of earlier trials")
                raise optuna.TrialPruned()

        metrics = train_in(data_dir, folder, config, command, log, on_epoch=report)
        return float(metrics["val"][metric.removeprefix("val_")])

    if remaining:
        study.optimize(objective, n_trials=remaining, timeout=time_budget_s, catch=())
    summary = summarise_study(study, out, metric)
    write_json_atomic(out / "sweep.json", summary)
    _write_csv(out / "sweep.csv", summary)
    return summary


def _open_study(optuna: Any, out: Path, seed: int) -> tuple[Any, int]:
    """The study stored in out/optuna.db (created or continued) and how many of its trials are finished."""
    make_dir(out)
    study = optuna.create_study(
        study_name=STUDY, storage=f"sqlite:///{out / 'optuna.db'}", load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    state = optuna.trial.TrialState
    for stale in study.get_trials(deepcopy=False, states=(state.RUNNING,)):  # its process is gone
        study.tell(stale.number, state=state.FAIL)
    return study, len(study.get_trials(deepcopy=False, states=(state.COMPLETE, state.PRUNED)))


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def summarise_study(study: Any, out: Path, metric: str) -> dict[str, Any]:
    """Every trial, best first among the finished ones: values, state, the metric and test accuracy."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        metrics = read_json_object(out / f"trial-{trial.number:03d}" / "metrics.json")
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), "values": dict(trial.params),
                     metric: trial.value, "epochs": len(trial.intermediate_values),
                     "test_accuracy": metrics.get("test", {}).get("accuracy"), "run": f"trial-{trial.number:03d}"})
    rows.sort(key=lambda r: (r["state"] != "complete", -(r[metric] if r[metric] is not None else -1.0)))
    best = rows[0] if rows and rows[0]["state"] == "complete" else None
    return {"search": "optuna", "metric": metric, "storage": str(out / "optuna.db"), "best": best, "trials": rows}


def _write_csv(path: Path, summary: dict[str, Any]) -> None:
    """One row per trial, finished ones best first."""
    metric = summary["metric"]
    keys = sorted({key for row in summary["trials"] for key in row["values"]})
    header = ["rank", "trial", "state", *keys, metric, "epochs", "test_accuracy", "run"]
    rows = [[rank, r["trial"], r["state"], *[r["values"].get(k, "") for k in keys], r[metric], r["epochs"],
             r["test_accuracy"], r["run"]] for rank, r in enumerate(summary["trials"], start=1)]
    write_csv_atomic(path, header, rows)


def format_optuna_table(summary: dict[str, Any]) -> str:
    """The trials, finished ones best first, with test accuracy for the record."""
    metric = summary["metric"]
    lines = [f"rank  trial  state     {metric:>12}  test acc  epochs  values"]
    for rank, r in enumerate(summary["trials"], start=1):
        value = "–" if r[metric] is None else f"{r[metric]:.3f}"
        test = "–" if r["test_accuracy"] is None else f"{r['test_accuracy']:.3f}"
        values = ", ".join(f"{k}={_short(v)}" for k, v in r["values"].items())
        lines.append(f"{rank:<4}  {r['trial']:>5}  {r['state']:<8}  {value:>12}  {test:>8}  {r['epochs']:>6}  {values}")
    return "\n".join(lines)
