"""Audio fingerprints for near-duplicate detection: robust to gain, re-encoding and small trims.

A clip becomes a coarse band-energy map (15 bands × 32 equal time segments); its bits are the signs of
the differences between neighbouring bands and neighbouring segments, so a gain change flips nothing and
a re-encode flips few. Candidate pairs come from locality-sensitive hashing on 32-bit slices of the
bits; a pair is a near duplicate when few bits differ and the durations agree.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

SEGMENTS = 32
SLICE_BITS = 32
MAX_BIT_DIFF = 0.08  # fraction of differing bits below which two clips are near duplicates
MAX_DURATION_RATIO = 1.05
_MAX_BUCKET = 200  # a slice shared by more clips than this carries no information (silence, tones)


N_FFT = 256
_WINDOW = np.hanning(N_FFT).astype(np.float32)
_EDGES = np.unique(np.geomspace(2, N_FFT // 2, 17).astype(int))  # 15 log-spaced bands above ~120 Hz
BANDS = len(_EDGES) - 1
_BAND_MATRIX = np.zeros((N_FFT // 2 + 1, BANDS), dtype=np.float32)  # bin → band, summed by one matmul
for _band, (_lo, _hi) in enumerate(itertools.pairwise(_EDGES)):
    _BAND_MATRIX[_lo:_hi, _band] = 1.0


_STARTS = {n: np.arange(n) for n in range(1, SEGMENTS + 1)}  # segment starts, scaled by frames / n
_SPLIT = SEGMENTS * (BANDS - 1)
_N_BITS = _SPLIT + (SEGMENTS - 1) * BANDS


def fingerprint(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Packed uint8 bits of a mono float clip's band-energy contour (length-independent size)."""
    del sample_rate  # bands are relative to the dataset rate, the same for every clip compared
    if samples.size < N_FFT:
        samples = np.pad(samples, (0, N_FFT - samples.size))
    frames = samples[: samples.size // N_FFT * N_FFT].reshape(-1, N_FFT)
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    bands = (spectrum.real**2 + spectrum.imag**2) @ _BAND_MATRIX  # [frames, bands]
    segments = min(SEGMENTS, len(bands))
    grid = np.log10(np.add.reduceat(bands, _STARTS[segments] * len(bands) // segments, axis=0) + 1e-10)
    if segments < SEGMENTS:
        grid = np.resize(grid, (SEGMENTS, BANDS))
    bits = np.empty(_N_BITS, dtype=bool)  # signs of neighbour differences across bands, then across time
    np.greater(grid[:, 1:], grid[:, :-1], out=bits[:_SPLIT].reshape(SEGMENTS, BANDS - 1))
    np.greater(grid[1:], grid[:-1], out=bits[_SPLIT:].reshape(SEGMENTS - 1, BANDS))
    return np.packbits(bits)


def near_duplicates(prints: Sequence[np.ndarray], durations: Sequence[float]) -> list[list[int]]:
    """Sets of indices whose fingerprints (and durations) say they are the same recording."""
    if not prints:
        return []
    matrix = np.stack(prints)  # [N, bytes]
    total_bits = matrix.shape[1] * 8
    parent = list(range(len(prints)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in _candidate_pairs(matrix):
        long, short = max(durations[a], durations[b]), min(durations[a], durations[b])
        if short <= 0 or long / short > MAX_DURATION_RATIO:
            continue
        differing = int(np.unpackbits(matrix[a] ^ matrix[b]).sum())
        if differing <= MAX_BIT_DIFF * total_bits:
            parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(prints)):
        groups[root(i)].append(i)
    return [members for members in groups.values() if len(members) > 1]


def _candidate_pairs(matrix: np.ndarray) -> set[tuple[int, int]]:
    """Pairs of rows that agree exactly on at least one 32-bit slice."""
    words = matrix[:, : matrix.shape[1] // 4 * 4].view(">u4")  # [N, slices]
    pairs: set[tuple[int, int]] = set()
    for column in range(words.shape[1]):
        _, inverse, counts = np.unique(words[:, column], return_inverse=True, return_counts=True)
        shared = np.flatnonzero((counts[inverse] > 1) & (counts[inverse] <= _MAX_BUCKET))  # rows in a bucket
        buckets: dict[int, list[int]] = defaultdict(list)
        for row in shared.tolist():
            buckets[int(inverse[row])].append(row)
        for members in buckets.values():
            pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return pairs
