"""Audio fingerprints for near-duplicate detection: robust to gain, re-encoding and small trims.

A clip becomes a coarse band-energy map (16 bands × 32 equal time segments); its bits are the signs of
the differences between neighbouring bands and neighbouring segments, so a gain change flips nothing and
a re-encode flips few. Candidate pairs come from locality-sensitive hashing on 32-bit slices of the
bits; a pair is a near duplicate when few bits differ and the durations agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

BANDS = 16
SEGMENTS = 32
SLICE_BITS = 32
MAX_BIT_DIFF = 0.08  # fraction of differing bits below which two clips are near duplicates
MAX_DURATION_RATIO = 1.05
_MAX_BUCKET = 200  # a slice shared by more clips than this carries no information (silence, tones)


def fingerprint(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Packed uint8 bits of a mono float clip's band-energy contour (length-independent size)."""
    n_fft = 512
    if samples.size < n_fft:
        samples = np.pad(samples, (0, n_fft - samples.size))
    frames = np.lib.stride_tricks.sliding_window_view(samples, n_fft)[:: n_fft // 2]
    power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2  # [frames, n_fft/2 + 1]
    edges = np.geomspace(2, power.shape[1] - 1, BANDS + 1).astype(int)  # log-spaced bands above ~60 Hz
    bands = np.add.reduceat(power, edges[:-1], axis=1)[:, :BANDS]  # [frames, BANDS]
    segments = np.array_split(bands, min(SEGMENTS, len(bands)), axis=0)
    grid = np.log10(np.stack([s.sum(axis=0) for s in segments]) + 1e-10)  # [S, BANDS]
    if grid.shape[0] < SEGMENTS:
        grid = np.resize(grid, (SEGMENTS, BANDS))
    bits = np.concatenate([(np.diff(grid, axis=1) > 0).ravel(), (np.diff(grid, axis=0) > 0).ravel()])
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
        buckets: dict[int, list[int]] = defaultdict(list)
        for row, value in enumerate(words[:, column].tolist()):
            buckets[value].append(row)
        for members in buckets.values():
            if 1 < len(members) <= _MAX_BUCKET:
                pairs.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return pairs
