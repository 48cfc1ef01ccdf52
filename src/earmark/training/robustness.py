"""`earmark robustness RUN`: the run's (or an export's) test clips under the conditions of
`evaluation.conditions`, the calibration before and after the temperature, into RUN/robustness/.

A run whose checkpoint holds no calibration yet (trained before earmark fitted one, or with
`calibration.temperature=false`) is calibrated on its validation clips first and the checkpoint updated, as
`train` does at its end; `--reject-coverage` / `--reject-precision` (re)fit the `unknown` threshold the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from earmark.checkpoint import load_checkpoint, resolve_checkpoint
from earmark.commands_robustness import FAMILIES
from earmark.data.dataset import PreparedData
from earmark.errors import DataError, EarmarkError
from earmark.evaluation.calibrate import calibrate_checkpoint
from earmark.evaluation.conditions import default_conditions
from earmark.evaluation.robustness import (
    block,
    calibration_summary,
    known_rows,
    load_noises,
    open_scorer,
    sweep,
)
from earmark.evaluation.robustness_report import (
    CARD_END,
    CARD_START,
    HTML_END,
    HTML_START,
    card_section,
    html_section,
    splice,
    write_files,
)
from earmark.inference.backends import is_torchscript
from earmark.training.evaluate import evaluation_data, split_rows


def robustness_run(model: Path, data_dir: Path | None = None, split: str = "test", noise_dir: Path | None = None,
                   out: Path | None = None, seed: int = 0, reject_coverage: float | None = None,
                   reject_precision: float | None = None, families: tuple[str, ...] = FAMILIES,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score `model` (a run, checkpoint or export) on `split` clean and under every condition; write the files."""
    begin = time.perf_counter()
    data, source = _data_and_calibration(model, data_dir, reject_coverage, reject_precision, log)
    scorer = open_scorer(model, 64)
    info = scorer.info
    _check_data(data, info.labels, info.sample_rate)
    clips, y_true = known_rows(data, split_rows(data, split), info.labels)
    noises = load_noises(noise_dir, info.sample_rate) if noise_dir is not None else []
    conditions = [c for c in default_conditions(noises) if c.family in families]
    splits = {split: (y_true, calibration_summary(y_true, scorer.windows(clips), info.temperature, info.aggregate))}
    seconds_clean = time.perf_counter() - begin
    if split != "val" and data.split_rows("val"):
        val_clips, val_y = known_rows(data, data.split_rows("val"), info.labels)
        splits = {"val": (val_y, calibration_summary(val_y, scorer.windows(val_clips), info.temperature,
                                                     info.aggregate)), **splits}
    full = block(y_true, splits[split][1]["_probs"][1], info.labels, seed, info.reject_threshold)
    clean = {"key": "clean", "family": "clean", "condition": "clean (as recorded)", **full}
    log(f"{'clean (as recorded)':<44} accuracy {clean['accuracy']:.3f}  macro-F1 {clean['macro_f1']:.3f}")
    rows = sweep(scorer, clips, y_true, conditions, seed, info.temperature, log)
    result = {
        "model": str(model), "model_name": info.model, "data": str(data.root), "split": split, "seed": seed,
        "labels": info.labels, "temperature": info.temperature, "reject_threshold": info.reject_threshold,
        "clean": clean, "conditions": rows, "noise_dir": str(noise_dir) if noise_dir is not None else None,
        "calibration": {"temperature": info.temperature, "source": source,
                        "splits": {name: {k: v for k, v in summary.items() if k != "_probs"}
                                   for name, (_, summary) in splits.items()}},
        "seconds": {"clean": round(seconds_clean, 2), "total": round(time.perf_counter() - begin, 2)},
    }
    target = out or (model / "robustness" if model.is_dir() else model.with_name(f"{model.stem}-robustness"))
    write_files(target, result, {name: (y, *summary["_probs"]) for name, (y, summary) in splits.items()})
    if model.is_dir() and out is None:
        splice(model / "report.html", HTML_START, HTML_END, html_section(result, target), "</body>")
        splice(model / "model_card.md", CARD_START, CARD_END, card_section(result), "## How to reproduce")
    return result


def _data_and_calibration(model: Path, data_dir: Path | None, coverage: float | None, precision: float | None,
                          log: Callable[[str], None]) -> tuple[PreparedData, str]:
    """The dataset to score on, after calibrating a checkpoint that has none (or refitting its threshold when
    asked), and where the calibration came from."""
    refit = coverage is not None or precision is not None
    if model.suffix.lower() == ".onnx" or is_torchscript(model):
        if data_dir is None:
            raise EarmarkError(f"{model}: an exported model does not name its dataset; pass --data DIR")
        if refit:
            raise EarmarkError(f"{model}: an export's threshold is fixed; refit it on the run, then export again")
        return PreparedData.open(data_dir), "stored in the export"
    checkpoint = resolve_checkpoint(model)
    loaded = load_checkpoint(checkpoint)
    data, own = evaluation_data(model, loaded, data_dir)
    if not refit and loaded.calibration:
        return data, "fitted on the validation clips after training"
    options = replace(loaded.config.calibration, reject_coverage=coverage, reject_precision=precision) if refit \
        else loaded.config.calibration
    val = own.split_rows("val") if own is not None else []
    if not val:
        if refit:
            raise DataError(f"{model}: the run's own validation clips are needed to choose a threshold")
        return data, "none (no validation clips to fit one on)"
    fitted = calibrate_checkpoint(checkpoint, loaded, own, val, options, log) if own is not None else False
    if fitted:
        log(f"stored in {checkpoint}; the run's metrics.json predates it: `earmark evaluate {model}` scores with it")
    return data, "fitted now on the validation clips, stored in the checkpoint" if fitted else "none"


def _check_data(data: PreparedData, labels: list[str], sample_rate: int) -> None:
    """An export's dataset must be at its rate and hold only its labels (as `evaluate` requires of a run)."""
    if data.sample_rate != sample_rate:
        raise DataError(f"{data.root}: prepared at {data.sample_rate} Hz but the model takes {sample_rate} Hz; "
                        f"prepare it again with --sample-rate {sample_rate}")
    unknown = sorted(set(data.labels) - set(labels))
    if unknown:
        raise DataError(f"{data.root}: labels not known to the model: {', '.join(unknown[:10])}")
