"""Classify audio of any format, rate, channel count and length with a trained or exported model.

A file is decoded, resampled and cut into windows as a stream, and the windows are scored a batch at a
time, so memory is bounded by one batch of windows and one decoded block, not by the file's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from earmark.audio.resample import resample, to_mono
from earmark.audio.stream import BLOCK_FRAMES, stream_mono
from earmark.audio.windows import fit_window
from earmark.errors import EarmarkError
from earmark.evaluation.aggregate import AGGREGATE_METHODS, AggregateMethod, aggregate_windows
from earmark.evaluation.calibration import UNKNOWN, scaled_softmax, temper_clips
from earmark.inference.backends import Backend, open_backend
from earmark.inference.items import image_values, table_values
from earmark.runtime import HeapGuard


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
    """A model with its own sample rate, window and labels; `predict(path)` → Prediction."""

    def __init__(self, backend: Backend, hop_s: float | None = None, aggregate: str | None = None,
                 top_k: int = 3, batch_size: int = 64, window_s: float | None = None,
                 block_frames: int = BLOCK_FRAMES) -> None:
        info = self.info = backend.info
        self.backend, self.labels, self.sample_rate = backend, info.labels, info.sample_rate
        for flag, value in (("--window", window_s), ("--hop", hop_s)):
            if value is not None and value <= 0:
                raise EarmarkError(f"{flag} {value}: must be positive")
        self.window = max(1, round(window_s * self.sample_rate)) if window_s is not None else info.window_samples
        self.hop = max(1, round(hop_s * self.sample_rate)) if hop_s is not None else info.hop_samples
        self.aggregate = aggregate or info.aggregate
        if self.aggregate not in AGGREGATE_METHODS:
            raise EarmarkError(f"aggregate {self.aggregate!r}: choose one of {', '.join(AGGREGATE_METHODS)}")
        self.top_k, self.batch_size = max(1, min(top_k, len(self.labels))), batch_size
        self.block_frames = block_frames

    @classmethod
    def from_path(cls, path: Path, threads: int | None = None, **options: Any) -> Predictor:
        """From a run directory, a checkpoint, an exported `.onnx` or a TorchScript export."""
        return cls(open_backend(path, threads), **options)

    def predict(self, path: Path) -> Prediction:
        """Decode `path` (any format) as a stream, resample to the model's rate and classify it; for an image
        model, decode and resize the image as `prepare` did (inference/items.py)."""
        if self.info.input_kind == "image":
            return self._decide(str(path), self._probs(self.backend.logits(image_values(path, self.info)[None]))[0])
        if self.info.input_kind == "table":
            raise EarmarkError("a feature-table model predicts the rows of a CSV file: use predict_many")
        return self._classify(stream_mono(path, self.sample_rate, self.block_frames), str(path))

    def predict_blocks(self, blocks: Iterable[np.ndarray], name: str) -> Prediction:
        """Classify mono float32 blocks already at the model's rate (what `predict` streams from a file)."""
        return self._classify(blocks, name)

    def predict_many(self, path: Path) -> list[Prediction]:
        """`predict(path)` as a list; for a feature-table model, one prediction per row of the CSV `path`."""
        if self.info.input_kind != "table":
            return [self.predict(path)]
        rows = table_values(path, self.info)
        if not rows:
            return []
        values = np.stack([vector for _, vector in rows])
        probs = np.concatenate([self._probs(self.backend.logits(values[i : i + self.batch_size]))
                                for i in range(0, len(values), self.batch_size)])
        return [self._decide(name, p) for (name, _), p in zip(rows, probs)]

    def _decide(self, name: str, probs: np.ndarray) -> Prediction:
        """The prediction for one image or table row (one window: no per-window list)."""
        order = probs.argsort()[::-1][: self.top_k]
        top = [(self.labels[int(i)], round(float(probs[i]), 6)) for i in order]
        return Prediction(name, self._answer(probs), top[0][1], top, [])

    def predict_array(self, samples: np.ndarray, sample_rate: int, name: str = "<array>") -> Prediction:
        """Classify float samples `[N]` or `[C, N]` at `sample_rate` (held in memory)."""
        mono = to_mono(np.asarray(samples, dtype=np.float32))
        return self._classify([resample(mono, sample_rate, self.sample_rate)], name)

    def window_probs(self, blocks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window starts `[W]`, ends `[W]` (samples) and class probabilities `[W, K]`, scored batch by batch."""
        starts, ends, logits = self.window_logits(blocks)  # checked against the labels there
        return starts, ends, scaled_softmax(logits)

    def window_logits(self, blocks: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window starts `[W]`, ends `[W]` and the backend's logits `[W, K]` (divided by the temperature)."""
        starts, ends, logits = [], [], []
        guard = HeapGuard()  # a long stream can fragment the heap: keep the resident set bounded
        for first, last, offsets, span in stream_spans(blocks, self.window, self.hop, self.batch_size):
            starts.append(first)
            ends.append(last)
            batch = self.backend.span_logits(span, offsets, self.window)
            self._check_outputs(batch)
            logits.append(batch)
            guard.check()
        return np.concatenate(starts), np.concatenate(ends), np.concatenate(logits)

    def _probs(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities `[B, K]` from a batch's logits, refusing a model whose outputs do not match its
        labels."""
        self._check_outputs(logits)
        return scaled_softmax(logits)

    def _check_outputs(self, logits: np.ndarray) -> None:
        if logits.ndim != 2 or logits.shape[1] != len(self.labels):
            raise EarmarkError(f"the model gives {logits.shape[1:]} scores per window but names "
                               f"{len(self.labels)} labels; re-export it with `earmark export`")

    def _classify(self, blocks: Iterable[np.ndarray], name: str) -> Prediction:
        starts, ends, logits = self.window_logits(blocks)
        probs = scaled_softmax(logits)  # each window's own (calibrated) scores, for the timeline
        # The clip: the windows' uncalibrated scores aggregated, then the temperature (as evaluation does).
        temperature = self.info.temperature
        raw = probs if temperature == 1.0 else scaled_softmax(logits * temperature)
        _, clip = aggregate_windows(raw, np.zeros(len(starts), dtype=np.int64), cast(AggregateMethod, self.aggregate))
        clip = temper_clips(clip, temperature)
        order = clip[0].argsort()[::-1][: self.top_k]
        top = [(self.labels[int(i)], round(float(clip[0][i]), 6)) for i in order]
        windows = [{"start_s": round(int(s) / self.sample_rate, 3), "end_s": round(int(e) / self.sample_rate, 3),
                    "label": self._answer(p), "score": round(float(p.max()), 6)}
                   for s, e, p in zip(starts, ends, probs)]
        return Prediction(name, self._answer(clip[0]), top[0][1], top, windows)

    def _answer(self, probs: np.ndarray) -> str:
        """The top label, or `unknown` when its score is below the model's rejection threshold."""
        threshold = self.info.reject_threshold
        best = int(probs.argmax())
        return UNKNOWN if threshold is not None and float(probs[best]) < threshold else self.labels[best]


def stream_windows(blocks: Iterable[np.ndarray], window: int, hop: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """`(start, end, samples [window])` for the windows `window_starts` gives, cut as the blocks arrive.

    Holds at most one window plus one block (`stream_spans` one window at a time).
    """
    for starts, ends, offsets, span in stream_spans(blocks, window, hop, 1):
        for start, end, offset in zip(starts.tolist(), ends.tolist(), offsets.tolist()):
            yield start, end, span[offset : offset + window]


def stream_spans(blocks: Iterable[np.ndarray], window: int, hop: int,
                 max_windows: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """`(starts [n], ends [n], offsets [n], span)`: up to `max_windows` windows of the stream, window `i` being
    `span[offsets[i] :][:window]`, for the windows `window_starts` gives, cut as the blocks arrive.

    Windows that overlap (hop < window) come as the stretch of signal they cover, so that a backend can share
    work between them; others as copies laid end to end. Either way a span is at most `max_windows · window`
    samples, and at most one span plus one block is held. Windows start every `hop` samples; a last window is
    aligned to the end so no tail goes unscored (it comes with the last span); a clip shorter than one window
    is padded, centred, as in evaluation (its `end` is the clip's end).
    """
    spans = _Spans(window, hop, max_windows)
    buffer, origin = np.zeros(0, dtype=np.float32), 0  # buffer[0] is sample `origin` of the stream
    next_start, last_start = 0, -1
    for block in blocks:
        buffer = np.concatenate([buffer, block]) if buffer.size else block
        end = origin + buffer.size
        while next_start + window <= end:
            spans.add(next_start, origin, buffer)
            last_start, next_start = next_start, next_start + hop
            if spans.full():
                yield spans.take(origin, buffer)
        keep = max(origin, min(spans.needed(next_start), end - window))  # the samples still to be cut
        buffer, origin = buffer[keep - origin :], keep
    total = origin + buffer.size
    if total < window:
        yield np.zeros(1, dtype=np.int64), np.full(1, total, dtype=np.int64), np.zeros(1, dtype=np.int64), \
            fit_window(buffer, window)
        return
    if last_start != total - window:
        spans.add(total - window, origin, buffer)
    if spans.starts:
        yield spans.take(origin, buffer)


class _Spans:
    """The windows `stream_spans` has found and not yet given out."""

    def __init__(self, window: int, hop: int, max_windows: int) -> None:
        self.window, self.max_windows, self.joined = window, max_windows, hop >= window
        self.starts: list[int] = []
        self.copies = np.zeros(0, dtype=np.float32)  # the windows laid end to end, when `joined`

    def add(self, start: int, origin: int, buffer: np.ndarray) -> None:
        if self.joined:
            if not self.starts:  # a fresh array per span: the caller may keep the last one
                self.copies = np.empty(self.max_windows * self.window, dtype=np.float32)
            slot = len(self.starts) * self.window
            self.copies[slot : slot + self.window] = buffer[start - origin : start - origin + self.window]
        self.starts.append(start)

    def full(self) -> bool:
        return len(self.starts) == self.max_windows

    def needed(self, next_start: int) -> int:
        """The first stream sample still needed: the next window's, or the first pending window's."""
        return self.starts[0] if self.starts and not self.joined else next_start

    def take(self, origin: int, buffer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        starts = np.asarray(self.starts, dtype=np.int64)
        self.starts = []
        if self.joined:
            offsets = np.arange(starts.size, dtype=np.int64) * self.window
            return starts, starts + self.window, offsets, self.copies[: starts.size * self.window]
        first = int(starts[0]) - origin
        return starts, starts + self.window, starts - starts[0], buffer[first : int(starts[-1]) - origin + self.window]
