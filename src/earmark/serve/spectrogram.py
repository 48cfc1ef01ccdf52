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
FRAMES_PER_COLUMN = 4  # at most, averaged into one column of a long file's picture


class SpectrogramSketch:
    """Feed mono blocks with `push`; `png()` gives the picture, `seconds_per_column` its time scale."""

    def __init__(self, sample_rate: int, max_columns: int = MAX_COLUMNS) -> None:
        self.sample_rate, self.max_columns = sample_rate, max_columns
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.edges = _band_edges(sample_rate)
        self.pending = np.zeros(0, dtype=np.float32)  # samples not yet in a frame
        self.frames = np.zeros((0, BANDS))  # band powers of frames not yet in a column
        self.chunks: list[np.ndarray] = []  # columns [n, BANDS], each the mean of `pool` frames
        self.count = 0  # columns in `chunks`
        self.pool = 1  # hops of HOP samples per column
        self.stride = 1  # hops of HOP samples between computed frames: a coarse picture needs fewer FFTs

    def push(self, block: np.ndarray) -> None:
        """Add the next mono samples."""
        samples = np.concatenate([self.pending, block]) if self.pending.size else np.asarray(block, np.float32)
        hop = HOP * self.stride
        count = 0 if samples.size < N_FFT else 1 + (samples.size - N_FFT) // hop
        self.pending = samples[count * hop :].copy()
        if not count:
            return
        index = np.arange(N_FFT)[None, :] + hop * np.arange(count)[:, None]
        power = np.abs(np.fft.rfft(samples[index] * self.window, axis=1)) ** 2  # [count, N_FFT/2+1]
        frames = np.concatenate([self.frames, np.add.reduceat(power, self.edges, axis=1)])
        per = self.pool // self.stride  # computed frames per column
        whole = len(frames) // per * per
        if whole:
            self.chunks.append(frames[:whole].reshape(-1, per, BANDS).mean(axis=1))
            self.count += whole // per
        self.frames = frames[whole:]
        if self.count > self.max_columns:
            self._coarsen()

    def _coarsen(self) -> None:
        """Halve the time resolution (average columns in pairs) so memory stays bounded."""
        columns = np.concatenate(self.chunks)
        pairs = len(columns) // 2
        self.chunks = [columns[: 2 * pairs].reshape(pairs, 2, BANDS).mean(axis=1)]
        self.count = pairs
        self.pool *= 2
        self.stride = max(1, self.pool // FRAMES_PER_COLUMN)
        leftover = columns[2 * pairs :]  # half a column at the new scale: back to frames (an approximate weight)
        half = max(1, self.pool // self.stride // 2)
        self.frames = np.concatenate([np.repeat(leftover, half, axis=0), self.frames])

    @property
    def seconds_per_column(self) -> float:
        return self.pool * HOP / self.sample_rate

    def png(self) -> bytes:
        """The picture: low frequencies at the bottom, 60 dB of range below the loudest cell."""
        columns = [*self.chunks, self.frames.mean(axis=0, keepdims=True)] if len(self.frames) else self.chunks
        power = np.concatenate(columns) if columns else np.zeros((1, BANDS))
        decibels = 10 * np.log10(np.maximum(power.T, 1e-12))  # [BANDS, T]
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
