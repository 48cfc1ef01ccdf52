"""A picture of audio of any length for the page: a log-power spectrogram on mel-spaced bands, built block by
block as the audio streams past, in bounded memory (columns are averaged in pairs whenever there are too many).

It is a display, not a model input: the model's own front-end is not involved.
"""

from __future__ import annotations

import numpy as np

from earmark.evaluation.plots import spectrogram_png

N_FFT = 512
HOP = 256
BANDS = 96
MAX_COLUMNS = 1600  # the picture's widest: a 10-minute file shows ~2.7 columns per second


class SpectrogramSketch:
    """Feed mono blocks with `push`; `png()` gives the picture, `seconds_per_column` its time scale."""

    def __init__(self, sample_rate: int, max_columns: int = MAX_COLUMNS) -> None:
        self.sample_rate, self.max_columns = sample_rate, max_columns
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.edges = _band_edges(sample_rate)
        self.pending = np.zeros(0, dtype=np.float32)  # samples not yet in a frame
        self.columns: list[np.ndarray] = []  # [BANDS] power, each the mean of `pool` frames
        self.partial: list[np.ndarray] = []  # frames of the column being filled
        self.pool = 1

    def push(self, block: np.ndarray) -> None:
        """Add the next mono samples."""
        samples = np.concatenate([self.pending, block]) if self.pending.size else np.asarray(block, np.float32)
        count = 0 if samples.size < N_FFT else 1 + (samples.size - N_FFT) // HOP
        if count:
            index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
            power = np.abs(np.fft.rfft(samples[index] * self.window, axis=1)) ** 2  # [count, N_FFT/2+1]
            for frame in np.add.reduceat(power, self.edges, axis=1):
                self._add(frame)
        self.pending = samples[count * HOP :].copy()

    def _add(self, frame: np.ndarray) -> None:
        self.partial.append(frame)
        if len(self.partial) < self.pool:
            return
        self.columns.append(np.mean(self.partial, axis=0))
        self.partial = []
        if len(self.columns) > self.max_columns:  # halve the time resolution: memory stays bounded
            pairs = len(self.columns) // 2
            merged = [(self.columns[2 * i] + self.columns[2 * i + 1]) / 2 for i in range(pairs)]
            self.columns = merged + self.columns[2 * pairs :]
            self.pool *= 2

    @property
    def seconds_per_column(self) -> float:
        return self.pool * HOP / self.sample_rate

    def png(self) -> bytes:
        """The picture: low frequencies at the bottom, 60 dB of range below the loudest cell."""
        columns = self.columns + ([np.mean(self.partial, axis=0)] if self.partial else [])
        if not columns:
            self.push(np.zeros(N_FFT, dtype=np.float32))
            columns = self.columns
        decibels = 10 * np.log10(np.maximum(np.stack(columns, axis=1), 1e-12))  # [BANDS, T]
        return spectrogram_png(np.maximum(decibels, decibels.max() - 60.0))


def _band_edges(sample_rate: int) -> np.ndarray:
    """First FFT bin of each of BANDS mel-spaced bands from 0 Hz to Nyquist (each band at least one bin)."""
    top = 2595.0 * np.log10(1 + (sample_rate / 2) / 700.0)
    hz = 700.0 * (10 ** (np.linspace(0.0, top, BANDS + 1)[:-1] / 2595.0) - 1)
    bins = np.round(hz / sample_rate * N_FFT).astype(np.int64)
    for i in range(1, BANDS):  # strictly increasing: no empty band where the mel bands are narrower than a bin
        bins[i] = max(bins[i], bins[i - 1] + 1)
    return bins


def picture(samples: np.ndarray, sample_rate: int) -> bytes:
    """The PNG of a clip held in memory."""
    sketch = SpectrogramSketch(sample_rate)
    sketch.push(np.asarray(samples, dtype=np.float32))
    return sketch.png()
