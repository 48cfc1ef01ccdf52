"""Files of a run directory: config and provenance at the start, metrics and reports at the end."""

from __future__ import annotations

import hashlib
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from earmark import __version__
from earmark.checkpoint import LoadedModel
from earmark.config import TrainConfig, dump_yaml, to_dict
from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.errors import EarmarkError
from earmark.evaluation.calibrate import calibrate_checkpoint
from earmark.fileio import (
    make_dir,
    read_json_object,
    remove_stale_temporaries,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from earmark.training.reporting import write_model_report

HISTORY_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "clips_per_s")


@dataclass(frozen=True)
class RunFiles:
    """Paths inside a run directory."""

    root: Path

    @property
    def best(self) -> Path:
        return self.root / "checkpoints" / "best.ckpt"

    @property
    def last(self) -> Path:
        return self.root / "checkpoints" / "last.ckpt"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def write_history(self, history: list[dict[str, float]]) -> None:
        rows = [[_round(h.get(c, "")) for c in HISTORY_COLUMNS] for h in history]
        write_csv_atomic(self.root / "history.csv", HISTORY_COLUMNS, rows)


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value


def is_run_dir(path: Path) -> bool:
    """A folder `earmark train` has written to (config.yaml or checkpoints/)."""
    return (path / "config.yaml").is_file() or (path / "checkpoints").is_dir()


def choose_run_dir(out: Path, model: str, data_dir: Path, resume: bool = False,
                   now: datetime | None = None) -> Path:
    """`out` itself, or a new `<model>-<data folder>-<YYYYmmdd-HHMMSS>` inside it when `out` is a folder of
    other things (exists, is not empty and is not a run directory)."""
    if not out.is_dir() or is_run_dir(out) or not any(out.iterdir()):
        return out
    if resume:
        runs = sorted((path for path in out.iterdir() if is_run_dir(path)), key=lambda p: p.stat().st_mtime)
        raise EarmarkError(f"{out}: not a run directory; pass the run folder itself with --resume"
                           + (f", e.g. {runs[-1]} (the latest)" if runs else ""))
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = out / safe_name(f"{model}-{data_dir.resolve().name}-{stamp}")
    run, number = base, 1
    while run.exists():  # two runs started in the same second
        number += 1
        run = base.with_name(f"{base.name}-{number}")
    return run


def check_run_dir(run_dir: Path, resume: bool) -> RunFiles:
    """Refuse to overwrite a run unless resuming (checked before anything is written or launched)."""
    files = RunFiles(run_dir)
    if not resume and files.last.exists():
        raise EarmarkError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    return files


def start_run(run_dir: Path, data_dir: Path, data: PreparedData, config: TrainConfig, command: str,
              holdout: tuple[str, str] | None = None, threads: dict[str, Any] | None = None,
              backbone: dict[str, Any] | None = None, recipe: dict[str, Any] | None = None) -> RunFiles:
    """Create the run directory and record the resolved config and provenance (rank 0 only)."""
    files = RunFiles(run_dir)
    make_dir(run_dir / "checkpoints")
    remove_stale_temporaries(run_dir, run_dir / "checkpoints")
    write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
    write_json_atomic(run_dir / "run.json", {
        "command": command, "data": str(data_dir.resolve()), "manifest_sha256": _sha256(data_dir / "manifest.csv"),
        "labels": data.labels, "sample_rate": data.sample_rate, "config": to_dict(config),
        "holdout": list(holdout) if holdout else None, "threads": threads,
        "recipe": recipe,  # what `auto` chose from the data, and why (training/recipe.py)
        **({"backbone": backbone} if backbone else {}),  # weights source, sha256, licence, resampling
        "versions": _versions(),
    })
    return files


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions() -> dict[str, str]:
    """Versions of Python and the packages that decide the numbers."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform(), "earmark": __version__}
    for package in ("torch", "numpy", "lightning", "soundfile", "soxr"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def finished_metrics(run: Path) -> dict[str, Any] | None:
    """metrics.json of a run that finished, or None."""
    return read_json_object(run / "metrics.json") or None


def safe_name(text: str) -> str:
    """`text` as a folder name: letters, digits and -_. kept, anything else becomes _."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def run_context(record: dict[str, Any], held_out: bool = True) -> dict[str, Any]:
    """What a run's report states from its run.json: the command line, the versions and, for a run that held
    out a cross-validation fold (and is scored on that fold: `held_out`), the split protocol."""
    context = {"command": record.get("command"), "versions": record.get("versions")}
    if held_out and record.get("holdout"):
        kind, value = record["holdout"]
        context["split_protocol"] = f"cross-validation: {kind} {value} held out as test"
    return context


def read_run_record(run: Path) -> dict[str, Any]:
    """run.json of a run folder (written by `start_run`), or {} for a bare checkpoint or a run without one."""
    return read_json_object(run / "run.json")


def finish_run(files: RunFiles, best: LoadedModel, data: PreparedData, rows: dict[str, list[ManifestRow]],
               history: list[dict[str, float]], seconds: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Calibrate the best checkpoint on val (evaluation/calibrate.py), then evaluate it on val and test; write
    metrics.json, the reports and the model card."""
    calibrate_checkpoint(files.best, best, data, rows["val"], best.config.calibration, log)
    context = {"best_epoch": best.state.get("best_epoch"), **run_context(read_run_record(files.root))}
    metrics = write_model_report(files.root, best, data, {"val": rows["val"], "test": rows["test"]},
                                 (data, rows["train"]), history, {"seconds_train": round(seconds, 2)}, context,
                                 model_card=True)
    log(f"best epoch {best.state.get('best_epoch')}; metrics written to {files.root / 'metrics.json'}")
    return metrics
