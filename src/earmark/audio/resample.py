"""Mono mixdown and sample-rate conversion (soxr, high quality); callers decide, nothing resamples silently."""

from __future__ import annotations

import numpy as np
import soxr


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of `[C, N]` into float32 `[N]`."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    if samples.shape[0] == 1:
        return samples[0].astype(np.float32, copy=False)
    return samples.mean(axis=0, dtype=np.float32)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono float32 `[N]` from `from_rate` to `to_rate` Hz; a no-op when they are equal."""
    if from_rate == to_rate:
        return samples
    out = soxr.resample(samples, from_rate, to_rate, quality="HQ")
    return np.asarray(out, dtype=np.float32)
