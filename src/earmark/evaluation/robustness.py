"""`earmark robustness`: a model's test clips under noise, codecs, sample rates, gain, time shift and reverb,
and how well its scores are calibrated, written to RUN/robustness/.

Every condition is scored on the same clips as the clean score, windowed and aggregated as evaluation does
(`window_starts`, `fit_window`, `aggregate_windows`, `compute_metrics`), through the backend `predict` uses
(a checkpoint in PyTorch, an `.onnx` in onnxruntime). Logits are taken before the temperature so that the
calibration can be shown before and after it; no accuracy changes with it (it acts on the aggregated clip
scores, `calibration.temper_clips`, and never changes a clip's top label; `top1_changed` checks that).
"""

from __future__ import annotations

import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earmark.audio.decode import load_mono
from earmark.audio.windows import fit_window, window_starts
from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.errors import DataError, DecodeError, EarmarkError
from earmark.evaluation.calibration import clip_probabilities, negative_log_likelihood, selective
from earmark.evaluation.conditions import Condition
from earmark.evaluation.metrics import compute_metrics, expected_calibration_error
from earmark.inference.backends import Backend, ModelInfo, open_backend

SUMMARY_KEYS = ("n", "accuracy", "accuracy_ci95", "macro_f1", "macro_f1_ci95", "ci_method", "ece")


@dataclass
class WindowScores:
    """Window logits before any temperature `[W, K]` and the index of each window's clip `[W]`."""

    logits: np.ndarray
    clip: np.ndarray


@dataclass
class Scorer:
    """A backend with the windowing evaluation uses; `raw_factor` undoes a temperature baked into its logits."""

    backend: Backend
    info: ModelInfo
    batch_size: int = 64
    raw_factor: float = 1.0

    def windows(self, clips: Sequence[np.ndarray]) -> WindowScores:
        """Every window of every clip (evaluation's windows and hop), scored a batch at a time."""
        window, hop = self.info.window_samples, self.info.hop_samples
        logits, owners, batch, batch_owners = [], [], [], []
        for index, clip in enumerate(clips):
            for start in window_starts(clip.size, window, hop):
                batch.append(fit_window(clip[start : start + window], window))
                batch_owners.append(index)
                if len(batch) == self.batch_size:
                    logits.append(self._logits(batch))
                    owners.append(batch_owners)
                    batch, batch_owners = [], []
        if batch:
            logits.append(self._logits(batch))
            owners.append(batch_owners)
        return WindowScores(np.concatenate(logits), np.concatenate([np.asarray(o, dtype=np.int64) for o in owners]))

    def _logits(self, batch: list[np.ndarray]) -> np.ndarray:
        out = np.asarray(self.backend.logits(np.stack(batch).astype(np.float32)), dtype=np.float64)
        return out * self.raw_factor if self.raw_factor != 1.0 else out


def open_scorer(model: Path, batch_size: int) -> Scorer:
    """The backend of a run, checkpoint or export, made to give logits before the temperature."""
    backend = open_backend(model)
    info = backend.info
    if hasattr(backend, "temperature"):  # the checkpoint backend applies it itself: switch that off
        backend.temperature = 1.0
        return Scorer(backend, info, batch_size)
    return Scorer(backend, info, batch_size, raw_factor=info.temperature)  # an export divides inside its graph


def block(y_true: np.ndarray, probs: np.ndarray, labels: list[str], seed: int,
          threshold: float | None) -> dict[str, Any]:
    """A condition's row: n, accuracy and macro-F1 with 95% intervals, ECE, and with a threshold its coverage."""
    full = compute_metrics(y_true, probs, labels, seed=seed)
    row = {key: full[key] for key in SUMMARY_KEYS}
    if threshold is not None:
        row["selective"] = selective(y_true, probs, threshold)
    return row


def calibration_summary(y_true: np.ndarray, scores: WindowScores, temperature: float,
                        method: str) -> dict[str, Any]:
    """ECE and NLL of one split's clips before and after the temperature, with the probabilities of both."""
    before = clip_probabilities(scores.logits, scores.clip, 1.0, method)
    after = clip_probabilities(scores.logits, scores.clip, temperature, method)
    return {"n": len(y_true), "ece_before": round(expected_calibration_error(y_true, before), 6),
            "ece_after": round(expected_calibration_error(y_true, after), 6),
            "nll_before": round(negative_log_likelihood(y_true, before), 6),
            "nll_after": round(negative_log_likelihood(y_true, after), 6),
            "top1_changed": int(np.sum(before.argmax(axis=1) != after.argmax(axis=1))),
            "_probs": (before, after)}


def load_noises(folder: Path, sample_rate: int) -> list[np.ndarray]:
    """Every audio file of `--noise-dir` as mono at the model's rate; one line naming a file that fails."""
    from earmark.data.sources import audio_files

    if not folder.is_dir():
        raise EarmarkError(f"--noise-dir {folder}: not a folder")
    noises = []
    for path in audio_files(folder):
        try:
            noises.append(load_mono(path, sample_rate)[0])
        except DecodeError as exc:
            raise DataError(f"{path}: cannot use as noise ({exc})") from None
    if not noises:
        raise DataError(f"--noise-dir {folder}: no audio files in it")
    return noises


def condition_rng(seed: int, condition: Condition, clip: int) -> np.random.Generator:
    """The generator of one condition on one clip: the same numbers whatever else the sweep holds."""
    return np.random.default_rng([seed, zlib.crc32(condition.key.encode()), clip])


def sweep(scorer: Scorer, clips: list[np.ndarray], y_true: np.ndarray, conditions: Sequence[Condition],
          seed: int, temperature: float, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """One row per condition: every clip transformed, scored, aggregated and measured as the clean one was."""
    info = scorer.info
    rows = []
    with tempfile.TemporaryDirectory(prefix="earmark-robustness-") as scratch:
        for condition in conditions:
            begin = time.perf_counter()
            heard = [condition.apply(clip, info.sample_rate, condition_rng(seed, condition, i), Path(scratch))
                     for i, clip in enumerate(clips)]
            scores = scorer.windows(heard)
            probs = clip_probabilities(scores.logits, scores.clip, temperature, info.aggregate)
            row = {"key": condition.key, "family": condition.family, "condition": condition.name,
                   **block(y_true, probs, info.labels, seed, info.reject_threshold),
                   "seconds": round(time.perf_counter() - begin, 3)}
            log(f"{condition.name:<44} accuracy {row['accuracy']:.3f}  macro-F1 {row['macro_f1']:.3f}")
            rows.append(row)
    return rows


def known_rows(data: PreparedData, rows: list[ManifestRow], labels: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """The clips of `rows` whose label the model knows, and their label indices."""
    index = {label: i for i, label in enumerate(labels)}
    kept = [row for row in rows if row.label in index]
    if not kept:
        raise DataError(f"{data.root}: no clip of this split has a label the model knows")
    return [data.samples(row) for row in kept], np.array([index[row.label] for row in kept], dtype=np.int64)

