"""Mono mixdown and sample-rate conversion (soxr, high quality); callers decide, nothing resamples silently."""

from __future__ import annotations

import functools
import math

import numpy as np
import soxr


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of `[C, N]` into float32 `[N]`."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    if samples.shape[0] == 1:
        return samples[0].astype(np.float32, copy=False)
    # Channel by channel, as `mean(axis=0)` sums a contiguous [C, N]; on the transposed view a block read
    # gives, `mean(axis=0)` was 20x slower (half the time of predicting a long stereo file).
    mono = samples[0].astype(np.float32, copy=True)
    for channel in samples[1:]:
        mono += channel
    mono /= np.float32(samples.shape[0])
    return mono


MAX_BATCH_STEP = 4096  # rate pairs needing coarser alignment than this are resampled by a plain soxr call


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono float32 `[N]` from `from_rate` to `to_rate` Hz; a no-op when they are equal."""
    if from_rate == to_rate:
        return samples
    return resample_many([samples], from_rate, to_rate)[0]


def resample_many(clips: list[np.ndarray], from_rate: int, to_rate: int) -> list[np.ndarray]:
    """Resample mono clips with one soxr call, each exactly as `resample` would (to float rounding).

    soxr's filter is linear and time-invariant, so clips laid end to end with silence between them, each
    starting on an input sample that maps to a whole output sample, come out as if resampled alone. The
    silence also goes before a single clip, so that one clip and a batch are the same computation (a bare
    soxr call treats the first few output samples slightly differently at some rate ratios). One call
    instead of thousands saves the per-call set-up that dominates short clips.
    """
    if from_rate == to_rate:
        return list(clips)
    step = _step(from_rate, to_rate)
    if step > MAX_BATCH_STEP:
        return [_soxr(clip, from_rate, to_rate) for clip in clips]
    lead = _guard(from_rate, to_rate, step)
    spans = [lead + -(-clip.size // step) * step for clip in clips]
    joined = np.zeros(sum(spans) + lead, dtype=np.float32)
    starts = np.cumsum([lead, *spans[:-1]])  # each clip follows `lead` samples of silence
    for clip, start in zip(clips, starts):
        joined[start : start + clip.size] = clip
    out = _soxr(joined, from_rate, to_rate)
    return [out[_output_offset(int(start), step, from_rate, to_rate) :][: output_length(clip.size, from_rate, to_rate)]
            for clip, start in zip(clips, starts)]


def output_length(samples: int, from_rate: int, to_rate: int) -> int:
    """Samples `resample` returns for `samples` input samples (soxr's rounding)."""
    return int(samples * to_rate / from_rate + 0.5)


def _step(from_rate: int, to_rate: int) -> int:
    """Input samples per whole number of output samples."""
    return from_rate // math.gcd(from_rate, to_rate)


def _output_offset(start: int, step: int, from_rate: int, to_rate: int) -> int:
    """Output sample at input sample `start`, a multiple of `step`."""
    return start // step * (to_rate * step // from_rate)


def _soxr(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality="HQ"), dtype=np.float32)


@functools.cache
def _guard(from_rate: int, to_rate: int, step: int) -> int:
    """Input samples of silence (a multiple of `step`) wider than the filter's reach to either side."""
    length = 64 * max(64, -(-from_rate // to_rate) * 64)
    impulse = np.zeros(length, dtype=np.float32)
    impulse[length // 2] = 1.0
    reach = np.flatnonzero(_soxr(impulse, from_rate, to_rate))
    half = int((reach[-1] - reach[0]) * from_rate / to_rate) // 2 + 64 if reach.size else 64  # one side
    return -(-half // step) * step


class StreamResampler:
    """`resample` for audio that arrives in blocks: the same samples (to float rounding), bounded memory.

    It feeds soxr's streaming resampler the same silent lead that `resample_many` puts before a clip, drops
    the output that lead produces, and trims the end to the length `resample` gives, so a file scored as a
    stream sees the samples that training saw.
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate, self.to_rate = from_rate, to_rate
        self.consumed = self.emitted = 0  # input samples pushed, output samples returned
        self.stream: soxr.ResampleStream | None = None
        self.skip = 0  # output samples of the lead still to drop
        if from_rate != to_rate:
            self.stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")
            step = _step(from_rate, to_rate)
            if step <= MAX_BATCH_STEP:
                lead = _guard(from_rate, to_rate, step)
                self.skip = _output_offset(lead, step, from_rate, to_rate)
                self.stream.resample_chunk(np.zeros(lead, dtype=np.float32))

    def push(self, block: np.ndarray) -> np.ndarray:
        """Resample the next mono float32 block `[n]`; returns what is ready (the filter holds some back)."""
        self.consumed += block.size
        if self.stream is None:
            return block
        return self._take(self.stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32)))

    def flush(self) -> np.ndarray:
        """The rest of the output, trimmed to the length `resample` gives for everything pushed."""
        if self.stream is None:
            return np.zeros(0, dtype=np.float32)
        tail = self._take(self.stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        total = output_length(self.consumed, self.from_rate, self.to_rate)
        return tail[: max(0, total - (self.emitted - tail.size))]

    def _take(self, out: np.ndarray) -> np.ndarray:
        dropped = min(self.skip, out.size)
        self.skip -= dropped
        out = np.asarray(out[dropped:], dtype=np.float32)
        self.emitted += out.size
        return out
