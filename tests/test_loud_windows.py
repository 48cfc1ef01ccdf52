"""Loud windows: the random training crop of a long clip holds its sound, not the silence around it (a bark
padded to 5 s, a sneeze in a quiet room)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from earmark.audio.windows import loud_starts, window_starts
from earmark.data.dataset import PreparedData, TrainWindows
from earmark.data.manifest import ManifestRow

RATE = 16000
WINDOW = 2 * RATE


def _burst_clip(seconds: float = 5.0, at_s: float = 3.5, length_s: float = 0.3, floor: float = 0.0) -> np.ndarray:
    """A clip that is silent (or a faint noise `floor`) except for a loud noise burst at `at_s`."""
    rng = np.random.default_rng(0)
    clip = floor * rng.standard_normal(round(seconds * RATE)).astype(np.float32)
    start, stop = round(at_s * RATE), round((at_s + length_s) * RATE)
    clip[start:stop] = 0.5 * rng.standard_normal(stop - start)
    return np.clip(clip, -1, 1)


def _prepared(clips: list[np.ndarray]) -> PreparedData:
    """An in-memory prepared dataset of these clips (one shard, label "a")."""
    cache = np.concatenate([np.round(c * 32767).astype(np.int16) for c in clips])
    rows, offset = [], 0
    for i, clip in enumerate(clips):
        rows.append(ManifestRow(f"{i}.wav", f"{i}.wav", "a", str(i), "train", 0, clip.size / RATE, RATE, 1, 0,
                                offset, clip.size, "0"))
        offset += clip.size
    return PreparedData(Path("."), rows, ["a"], RATE, [cache])


def test_loud_starts_keep_the_windows_that_hold_the_burst() -> None:
    clip = _burst_clip(floor=1e-4)
    every = window_starts(clip.size, WINDOW, 160)
    loud = loud_starts(clip, every, WINDOW, 20.0)
    assert 0 < loud.size < every.size
    burst_start, burst_stop = round(3.5 * RATE), round(3.8 * RATE)
    overlap = np.minimum(loud + WINDOW, burst_stop) - np.maximum(loud, burst_start)
    length = burst_stop - burst_start
    assert np.all(overlap >= 0.005 * length)  # within 20 dB of the loudest: at least about 1% of the burst
    assert np.sum(overlap == length) > 0.5 * loud.size  # most of them hold all of it
    dropped = np.setdiff1d(every, loud)
    assert np.all(np.minimum(dropped + WINDOW, burst_stop) - np.maximum(dropped, burst_start) <= 0.02 * length)


def test_a_steady_sound_or_silence_keeps_every_window_and_none_keeps_all() -> None:
    rng = np.random.default_rng(1)
    steady = (0.1 * rng.standard_normal(5 * RATE)).astype(np.float32)
    every = window_starts(steady.size, WINDOW, 160)
    assert np.array_equal(loud_starts(steady, every, WINDOW, 20.0), every)
    silent = np.zeros(5 * RATE, np.float32)
    assert np.array_equal(loud_starts(silent, every, WINDOW, 20.0), every)
    assert np.array_equal(loud_starts(_burst_clip(), every, WINDOW, None), every)


def test_training_crops_of_a_long_clip_hold_its_sound() -> None:
    data = _prepared([_burst_clip()])
    torch.manual_seed(0)
    loud = TrainWindows(data, data.rows, WINDOW, shift=True, loud_db=20.0)
    energies = [float(loud[0][0].square().sum()) for _ in range(200)]
    burst_energy = float(np.square(_burst_clip()).sum())
    assert min(energies) > 0.005 * burst_energy  # every crop holds part of the burst (20 dB)...
    assert np.median(energies) > 0.99 * burst_energy  # ...and most of them all of it
    plain = TrainWindows(data, data.rows, WINDOW, shift=True, loud_db=None)
    plain_energies = [float(plain[0][0].square().sum()) for _ in range(200)]
    assert min(plain_energies) < 0.01 * burst_energy  # without it, many crops are only silence
