"""Where the fixed-length windows of a clip start: the one rule shared by evaluation and prediction."""

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
