"""What the page shows of a run folder: its metrics, its scored clips (from predictions.csv) addressed by their
row in the prepared dataset's manifest, the clips' audio and pictures, and the corrections file.

Only files the run itself wrote are read (metrics.json, run.json, predictions.csv) plus the prepared dataset
run.json names; the only file ever written is RUN/corrections.csv. A clip is named by its manifest row number,
never by a path the browser sends.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.corrections import FILE_NAME, Correction, mark, read_corrections
from earmark.errors import EarmarkError
from earmark.fileio import read_json_object
from earmark.serve.spectrogram import picture

MAX_CLIP_S = 60.0  # the most of one clip the page plays and draws
MISTAKES_SHOWN = 12  # as many as report.html shows


class UnknownClip(EarmarkError):
    """A clip number the run does not have."""


class RunView:
    """A run folder opened for reading; its prepared dataset is opened on first use (it may be gone)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir.resolve()
        self.metrics = read_json_object(self.run_dir / "metrics.json")
        self.record = read_json_object(self.run_dir / "run.json")
        self.corrections_path = self.run_dir / FILE_NAME
        self._data: Any = None
        self._data_error = ""
        self._predictions_error = ""
        self._lock = threading.Lock()
        self.clips = self._read_predictions()

    @staticmethod
    def is_run(path: Path) -> bool:
        return path.is_dir() and (path / "metrics.json").is_file()

    def _read_predictions(self) -> list[dict[str, Any]]:
        """predictions.csv rows (val, test) with each clip's manifest row number (None: not in the manifest)."""
        path = self.run_dir / "predictions.csv"
        if not path.is_file():
            return []
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"split", "clip", "true", "predicted", "score", "top_k"} <= set(reader.fieldnames or ()):
                self._predictions_error = f"{path}: not earmark's predictions.csv; run `earmark evaluate` again"
                return []
            records = list(reader)
        data = self.data()
        row_of = {row.path: i for i, row in enumerate(data.rows)} if data is not None else {}
        clips = []
        for record in records:
            top_k = [[label, float(score)] for label, _, score in
                     (item.rpartition(":") for item in (record.get("top_k") or "").split(";") if item)]
            clips.append({"row": row_of.get(record["clip"]), "clip": record["clip"], "split": record["split"],
                          "true": record["true"], "predicted": record["predicted"],
                          "score": float(record["score"] or 0.0), "top_k": top_k})
        return clips

    def data(self) -> Any:
        """The run's PreparedData, or None (with the reason in `data_error`) when it cannot be opened."""
        with self._lock:
            if self._data is None and not self._data_error:
                from earmark.data.dataset import PreparedData

                folder = self.record.get("data")
                try:
                    if not folder:
                        raise EarmarkError("run.json names no prepared dataset")
                    self._data = PreparedData.open(Path(folder))
                except EarmarkError as exc:
                    self._data_error = f"the run's clips cannot be played: {exc}"
            return self._data

    def summary(self) -> dict[str, Any]:
        """Everything the "look inside" page draws, as JSON."""
        splits = {key: value for key, value in self.metrics.items() if isinstance(value, dict) and "confusion" in value}
        mistakes = sorted((c for c in self.clips if c["true"] != c["predicted"]), key=lambda c: -c["score"])
        self.data()
        return {"labels": self.metrics.get("labels", []), "model": self.metrics.get("model", ""),
                "splits": splits, "baselines": self.metrics.get("baselines", {}),
                "baseline_guard": self.metrics.get("baseline_guard"), "clips": self.clips,
                "mistakes": mistakes[:MISTAKES_SHOWN], "corrections": self.corrections(),
                "data_error": "; ".join(filter(None, (self._predictions_error, self._data_error))),
                "corrections_file": str(self.corrections_path)}

    def _row(self, row: int) -> Any:
        data = self.data()
        if data is None:
            raise UnknownClip(self._data_error)
        if not 0 <= row < len(data.rows):
            raise UnknownClip(f"no clip {row} in this run's dataset ({len(data.rows)} clips)")
        return data, data.rows[row]

    def clip_samples(self, row: int) -> tuple[np.ndarray, int]:
        """The first MAX_CLIP_S seconds of clip `row` as the model was scored on (the cache's rate)."""
        data, entry = self._row(row)
        return data.samples(entry, 0, round(MAX_CLIP_S * data.sample_rate)), int(data.sample_rate)

    def clip_wav(self, row: int) -> bytes:
        from earmark.evaluation.examples import wav_bytes  # imports torch, as the checkpoint it serves does

        return wav_bytes(*self.clip_samples(row))

    def clip_png(self, row: int) -> bytes:
        return picture(*self.clip_samples(row))

    def corrections(self) -> list[dict[str, str]]:
        return [asdict(c) for c in read_corrections(self.corrections_path)]

    def mark(self, row: int, action: str, label: str = "") -> list[dict[str, str]]:
        """Mark clip `row`: "relabel" to `label` (one of the run's labels), "exclude", or "clear" its mark."""
        _, entry = self._row(row)
        labels = list(self.metrics.get("labels", []))
        if action == "relabel" and label not in labels:
            raise EarmarkError(f"label {label[:40]!r}: not one of this run's labels ({', '.join(labels)})")
        if action not in ("relabel", "exclude", "clear"):
            raise EarmarkError(f"action {action[:20]!r}: expected relabel, exclude or clear")
        correction = None if action == "clear" else Correction(
            entry.path, action, label if action == "relabel" else "", entry.label, f"manifest row {row}")
        return [asdict(c) for c in mark(self.corrections_path, correction, entry.path)]
