"""Files of a run directory: config and provenance at the start, metrics and reports at the end."""

from __future__ import annotations

import hashlib
import json
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
from earmark.evaluation.metrics import compute_metrics
from earmark.evaluation.report import build_predictions, write_reports
from earmark.evaluation.runner import score_clips
from earmark.fileio import make_dir, write_csv_atomic, write_json_atomic, write_text_atomic

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
              holdout: tuple[str, str] | None = None) -> RunFiles:
    """Create the run directory and record the resolved config and provenance (rank 0 only)."""
    files = RunFiles(run_dir)
    make_dir(run_dir / "checkpoints")
    for stale in [*run_dir.glob(".*.tmp"), *(run_dir / "checkpoints").glob(".*.tmp")]:
        stale.unlink()  # a killed process's unfinished atomic write: never renamed, never read
    write_text_atomic(run_dir / "config.yaml", dump_yaml(config))
    write_json_atomic(run_dir / "run.json", {
        "command": command, "data": str(data_dir.resolve()), "manifest_sha256": _sha256(data_dir / "manifest.csv"),
        "labels": data.labels, "sample_rate": data.sample_rate, "config": to_dict(config),
        "holdout": list(holdout) if holdout else None,
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


def evaluate_splits(loaded: LoadedModel, data: PreparedData, splits: dict[str, list[ManifestRow]],
                    batch_size: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Clip-level metrics and per-clip predictions for each non-empty split."""
    metrics: dict[str, Any] = {}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for split, rows in splits.items():
        if not rows:
            continue
        scores = score_clips(loaded.model, data, rows, loaded.labels, loaded.config.data, batch_size)
        metrics[split] = compute_metrics(scores.y_true, scores.probs, loaded.labels, seed=seed)
        predictions[split] = build_predictions([row.path for row in scores.rows], scores.y_true, scores.probs,
                                               loaded.labels)
    return metrics, predictions


def _split_protocol(data_dir: Path) -> str:
    """How the prepared dataset was split, as its report states it."""
    try:
        return str(json.loads((data_dir / "report.json").read_text(encoding="utf-8")).get("split_protocol", "–"))
    except (OSError, ValueError):
        return "–"


def finished_metrics(run: Path) -> dict[str, Any] | None:
    """metrics.json of a run that finished, or None."""
    try:
        return dict(json.loads((run / "metrics.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def safe_name(text: str) -> str:
    """`text` as a folder name: letters, digits and -_. kept, anything else becomes _."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text)


def finish_run(files: RunFiles, best: LoadedModel, data: PreparedData, rows: dict[str, list[ManifestRow]],
               config: TrainConfig, history: list[dict[str, float]], seconds: float,
               log: Callable[[str], None]) -> dict[str, Any]:
    """Evaluate the best checkpoint on val and test and write metrics.json and the reports."""
    splits = {"val": rows["val"], "test": rows["test"]}
    metrics, predictions = evaluate_splits(best, data, splits, config.trainer.batch_size, config.trainer.seed)
    metrics.update({"labels": best.labels, "model": config.model.name, "seconds_train": round(seconds, 2)})
    context = {"config_yaml": dump_yaml(config), "data": str(data.root), "best_epoch": best.state.get("best_epoch"),
               "dataset": f"{data.root} ({len(data.rows)} clips, {len(data.labels)} classes)",
               "split_protocol": _split_protocol(data.root)}
    write_reports(files.root, metrics, history, best.labels, predictions, context)
    log(f"best epoch {best.state.get('best_epoch')}; metrics written to {files.root / 'metrics.json'}")
    return metrics
