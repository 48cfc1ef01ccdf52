"""`earmark evaluate`: score a finished run on its own data or on another prepared dataset with the same labels."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from earmark.checkpoint import LoadedModel, load_checkpoint, resolve_checkpoint
from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.errors import DataError, EarmarkError
from earmark.training.folds import hold_out
from earmark.training.outputs import read_run_record, run_context, safe_name
from earmark.training.reporting import evaluate_splits, write_model_report


def evaluation_dir(run: Path, data_dir: Path, split: str) -> Path:
    """Where `evaluate` writes its report for one dataset and split: RUN/evaluations/<data>-<split>/."""
    return run / "evaluations" / safe_name(f"{data_dir.resolve().name}-{split}")


def evaluate_run(run: Path, data_dir: Path | None = None, split: str = "test") -> dict[str, Any]:
    """Metrics of the run's best checkpoint on `split` of its own dataset or of `data_dir`.

    For a run folder, the report files (metrics.json, per_class.csv, predictions.csv, the plots and
    report.html with baselines fitted on the run's own training clips) go to `evaluation_dir(...)`.
    """
    loaded = load_checkpoint(resolve_checkpoint(run))
    record = read_run_record(run)
    data, own = evaluation_data(run, loaded, data_dir)
    rows = split_rows(data, split)
    if not run.is_dir():  # a bare checkpoint: numbers only, nowhere to write a report
        return evaluate_splits(loaded, data, {split: rows}, loaded.config.trainer.batch_size,
                               loaded.config.trainer.seed).metrics | {"labels": loaded.labels,
                                                                       "model": loaded.config.model.name}
    train = (own, own.split_rows("train")) if own is not None else None
    extra = {"data": str(data.root), "split": split}
    context = {**run_context(record, held_out=data is own), "evaluated": f"split {split!r} of {data.root}"}
    return write_model_report(evaluation_dir(run, data.root, split), loaded, data, {split: rows}, train,
                              _history(run), extra, context, model_card=False)


def evaluation_data(run: Path, loaded: LoadedModel, data_dir: Path | None
                    ) -> tuple[PreparedData, PreparedData | None]:
    """The dataset a run is scored on (its own, with its held-out fold, unless `data_dir` names another one the
    model can be scored on) and the run's own dataset (None when it is gone)."""
    own = _own_data(read_run_record(run), loaded)
    if data_dir is None:
        if own is None:
            raise EarmarkError(f"{run}: no run.json naming its dataset (or the dataset is gone); pass --data DIR")
        data = own
    else:
        data = PreparedData.open(data_dir)
        if own is not None and data.root.resolve() == own.root.resolve():
            data = own  # the run's own data, with its cross-validation fold held out as it was
    _check_compatible(data, loaded)
    return data, own


def split_rows(data: PreparedData, split: str) -> list[ManifestRow]:
    """The rows of `split`, refusing an empty split with the splits that are there."""
    rows = data.split_rows(split)
    if not rows:
        splits = sorted({row.split for row in data.rows})
        raise DataError(f"{data.root}: the {split} split is empty (splits present: {', '.join(splits)}); "
                        "choose one with --split")
    return rows


def _own_data(record: dict[str, Any], loaded: LoadedModel) -> PreparedData | None:
    """The prepared dataset the run was trained on, with its held-out fold as test; None when it is gone."""
    try:
        data = PreparedData.open(Path(record["data"]))
    except (KeyError, TypeError, OSError, EarmarkError):
        return None
    holdout = record.get("holdout")
    if holdout:  # a cross-validation run: its test set is the fold it held out
        data = hold_out(data, str(holdout[1]), str(holdout[0]), loaded.config.trainer.seed)
    return data


def _item_kind(kind: str, shape: list[int]) -> str:
    """`audio`, `image 3x32x32` or `table 4` (features), for messages."""
    return f"{kind} {'x'.join(map(str, shape))}" if shape else kind


def _check_compatible(data: PreparedData, loaded: LoadedModel) -> None:
    """Refuse a dataset the model cannot be scored on, saying what differs and what to do."""
    features = loaded.config.features
    theirs = (data.kind, [int(n) for n in data.item.get("shape", [])])
    mine = (features.kind, list(features.shape)) if features.kind in ("image", "table") else ("audio", [])
    if theirs != mine:
        same_channels = theirs[0] == mine[0] == "image" and theirs[1][0] == mine[1][0]
        raise DataError(f"{data.root}: holds {_item_kind(*theirs)} but the model takes {_item_kind(*mine)}"
                        + (f"; prepare it again with --image-size {mine[1][1]}x{mine[1][2]}" if same_channels else ""))
    if data.sample_rate != loaded.sample_rate:
        raise DataError(f"{data.root}: prepared at {data.sample_rate} Hz but the model takes {loaded.sample_rate} Hz; "
                        f"prepare it again with --sample-rate {loaded.sample_rate}")
    unknown = sorted(set(data.labels) - set(loaded.labels))
    if unknown:
        missing = sorted(set(loaded.labels) - set(data.labels))
        raise DataError(
            f"{data.root}: labels differ from the model's: not known to the model: {_listing(unknown)}"
            + (f"; the model's labels absent here: {_listing(missing)}" if missing else "")
            + " (the evaluation set's labels must be the model's or a subset; rename folders or map labels "
              "in a CSV when preparing)")


def _listing(labels: list[str], limit: int = 10) -> str:
    return ", ".join(labels[:limit]) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _history(run: Path) -> list[dict[str, Any]]:
    """history.csv rows as dicts of text (the plots read numbers from text), or [] when absent."""
    try:
        with (run / "history.csv").open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []
