"""`earmark evaluate`: score a finished run on its own data or on another prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from earmark.checkpoint import load_checkpoint, resolve_checkpoint
from earmark.data.dataset import PreparedData
from earmark.errors import DataError, EarmarkError
from earmark.fileio import write_json_atomic
from earmark.training.folds import hold_out
from earmark.training.outputs import evaluate_splits


def evaluate_run(run: Path, data_dir: Path | None = None, split: str = "test") -> dict[str, Any]:
    """Metrics of the run's best checkpoint on `split`; written to RUN/evaluations/<data>-<split>.json."""
    loaded = load_checkpoint(resolve_checkpoint(run))
    holdout = None
    if data_dir is None:
        data_dir, holdout = _run_data(run)
    data = PreparedData.open(data_dir)
    if holdout is not None:  # a cross-validation run: its test set is the fold it held out
        data = hold_out(data, holdout[1], holdout[0], loaded.config.trainer.seed)
    unknown = sorted(set(data.labels) - set(loaded.labels))
    if unknown:
        raise DataError(f"{data_dir}: labels the model does not know: {', '.join(unknown[:10])} "
                        f"(model labels: {', '.join(loaded.labels[:10])}{'...' if len(loaded.labels) > 10 else ''}); "
                        "evaluate on data with the model's labels (or some of them), or train on these")
    rows = data.split_rows(split)
    if not rows:
        sizes = ", ".join(f"{name} {len(data.split_rows(name))}" for name in ("train", "val", "test"))
        raise DataError(f"{data_dir}: the {split} split is empty ({sizes}); choose another with --split")
    metrics, _ = evaluate_splits(loaded, data, {split: rows}, loaded.config.trainer.batch_size)
    metrics.update({"labels": loaded.labels, "model": loaded.config.model.name, "data": str(data_dir)})
    if run.is_dir():
        write_json_atomic(run / "evaluations" / f"{data_dir.resolve().name}-{split}.json", metrics)
    return metrics


def _run_data(run: Path) -> tuple[Path, tuple[str, str] | None]:
    """The prepared dataset a run was trained on and the fold it held out (recorded in run.json)."""
    try:
        record = json.loads((run / "run.json").read_text(encoding="utf-8"))
        holdout = record.get("holdout")
        return Path(record["data"]), (str(holdout[0]), str(holdout[1])) if holdout else None
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        raise EarmarkError(f"{run}: no run.json naming its dataset; pass --data DIR") from None
