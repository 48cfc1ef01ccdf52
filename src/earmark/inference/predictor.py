"""Classify audio of any format, rate, channel count and length with a trained model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from earmark.audio.decode import load_mono
from earmark.audio.resample import resample, to_mono
from earmark.audio.windows import window_starts
from earmark.checkpoint import LoadedModel, load_checkpoint, resolve_checkpoint
from earmark.data.dataset import fit_window
from earmark.errors import EarmarkError
from earmark.evaluation.aggregate import AggregateMethod, aggregate_windows


@dataclass
class Prediction:
    """The decision for one file plus its per-window scores (times in seconds)."""

    file: str
    label: str
    score: float
    top_k: list[tuple[str, float]]
    windows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The PRODUCT.md JSON shape."""
        return {"file": self.file, "label": self.label, "score": self.score,
                "top_k": [[label, score] for label, score in self.top_k], "windows": self.windows}


class Predictor:
    """A trained model with its own sample rate, window and labels; `predict(path)` → Prediction."""

    def __init__(self, loaded: LoadedModel, hop_s: float | None = None, aggregate: str | None = None,
                 top_k: int = 3, batch_size: int = 64) -> None:
        self.loaded, self.model = loaded, loaded.model.eval()
        self.labels, self.sample_rate = loaded.labels, loaded.sample_rate
        self.window = loaded.window_samples
        hop = hop_s if hop_s is not None else loaded.config.data.eval_hop_s
        if hop <= 0:
            raise EarmarkError(f"--hop {hop}: must be positive")
        self.hop = max(1, round(hop * self.sample_rate))
        self.aggregate = aggregate or loaded.config.data.aggregate
        self.top_k, self.batch_size = max(1, min(top_k, len(self.labels))), batch_size

    @classmethod
    def from_path(cls, path: Path, **options: Any) -> Predictor:
        """From a run directory or a checkpoint file."""
        if path.suffix.lower() == ".onnx":
            raise EarmarkError(f"{path}: ONNX models are not supported yet (`earmark export` is not built)")
        return cls(load_checkpoint(resolve_checkpoint(path)), **options)

    def predict(self, path: Path) -> Prediction:
        """Decode `path` (any format), resample to the model's rate and classify it."""
        samples, _ = load_mono(path, self.sample_rate)
        return self._classify(samples, str(path))

    def predict_array(self, samples: np.ndarray, sample_rate: int, name: str = "<array>") -> Prediction:
        """Classify float samples `[N]` or `[C, N]` at `sample_rate`."""
        mono = to_mono(np.asarray(samples, dtype=np.float32))
        return self._classify(resample(mono, sample_rate, self.sample_rate), name)

    @torch.no_grad()
    def window_probs(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window start offsets `[W]` and class probabilities `[W, K]`, scored in batches."""
        starts = window_starts(samples.size, self.window, self.hop)
        probs = []
        for i in range(0, len(starts), self.batch_size):
            chunk = starts[i : i + self.batch_size]
            batch = np.stack([fit_window(samples[s : s + self.window], self.window) for s in chunk])
            probs.append(torch.softmax(self.model(torch.from_numpy(batch)), dim=1).numpy())
        return starts, np.concatenate(probs)

    def _classify(self, samples: np.ndarray, name: str) -> Prediction:
        starts, probs = self.window_probs(samples)
        _, clip = aggregate_windows(probs, np.zeros(len(starts), dtype=np.int64), cast(AggregateMethod, self.aggregate))
        order = clip[0].argsort()[::-1][: self.top_k]
        top = [(self.labels[int(i)], round(float(clip[0][i]), 6)) for i in order]
        windows = [{"start_s": round(int(s) / self.sample_rate, 3),
                    "end_s": round(min(int(s) + self.window, samples.size) / self.sample_rate, 3),
                    "label": self.labels[int(p.argmax())], "score": round(float(p.max()), 6)}
                   for s, p in zip(starts, probs)]
        return Prediction(name, top[0][0], top[0][1], top, windows)
