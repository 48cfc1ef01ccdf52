"""Where the fixed-length windows of a clip start and how a short one is padded: shared by training, evaluation
and prediction (numpy only, so the ONNX predict path needs no torch)."""

from __future__ import annotations

import numpy as np


def window_starts(num_samples: int, window_samples: int, hop_samples: int) -> np.ndarray:
    """Start offsets covering `[0, num_samples)` with windows of `window_samples` every `hop_samples`.

    A clip shorter than one window gets a single window at 0 (the caller pads it). The last window is
    aligned to the end of the clip so that no tail is left unscored.
    """
    if window_samples <= 0 or hop_samples <= 0:
        raise ValueError("window and hop must be positive")
    if num_samples <= window_samples:
        return np.zeros(1, dtype=np.int64)
    last = num_samples - window_samples
    starts = np.arange(0, last + 1, hop_samples, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def fit_window(samples: np.ndarray, window: int, offset: int | None = None) -> np.ndarray:
    """Pad a short clip to `window` samples, at `offset` (default: centred)."""
    if samples.size >= window:
        return samples[:window]
    out = np.zeros(window, dtype=np.float32)
    start = (window - samples.size) // 2 if offset is None else offset
    out[start : start + samples.size] = samples
    return out


def cut_windows(span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
    """The windows `span[o : o + window]` for `o` in `offsets`, stacked as float32 `[n, window]` (one copy)."""
    views = np.lib.stride_tricks.sliding_window_view(np.asarray(span, dtype=np.float32), window)
    return np.ascontiguousarray(views[np.asarray(offsets, dtype=np.int64)])


def loud_starts(samples: np.ndarray, starts: np.ndarray, window: int, floor_db: float | None) -> np.ndarray:
    """The `starts` whose windows of `samples` hold energy within `floor_db` dB of the loudest of them: where a
    short sound in a long, mostly quiet recording is. None keeps every start.

    A stationary sound keeps every window; a bark padded with silence keeps the windows that hold the bark; a
    silent clip keeps them all. Training draws its random crop of a long clip among these (scoring still
    averages every window: on ESC-10, aggregating over only these lowered fold 1-3 test accuracy from 0.829 to
    0.800, n = 240).
    """
    starts = np.asarray(starts, dtype=np.int64)
    if floor_db is None or starts.size <= 1:
        return starts
    energy = np.concatenate([[0.0], np.cumsum(np.square(samples, dtype=np.float64))])
    ends = np.minimum(starts + window, samples.size)
    window_energy = energy[ends] - energy[np.minimum(starts, samples.size)]
    loudest = float(window_energy.max())
    if loudest <= 0.0:
        return starts
    return starts[window_energy >= loudest * 10.0 ** (-abs(floor_db) / 10.0)]
