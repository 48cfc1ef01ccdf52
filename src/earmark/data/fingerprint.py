"""Audio fingerprints for near-duplicate detection: robust to gain, re-encoding and small trims.

A clip becomes a coarse band-energy map (15 bands × 32 equal time segments); its bits are the signs of
the differences between neighbouring bands and neighbouring segments, so a gain change flips nothing and
a re-encode flips few. Candidate pairs come from locality-sensitive hashing on 32-bit slices of the
bits; a pair is a near duplicate when few bits differ and the durations agree.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence

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


def fingerprint(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Packed uint8 bits of a mono float clip's band-energy contour (length-independent size)."""
    del sample_rate  # bands are relative to the dataset rate, the same for every clip compared
    return fingerprints([samples])[0]


def fingerprints(clips: list[np.ndarray]) -> np.ndarray:
    """`fingerprint` of many clips at once, `[clips, bytes]`: one FFT over all their frames."""
    frames = [_frames(clip) for clip in clips]
    counts = np.array([len(f) for f in frames])
    bands = np.concatenate([_band_energy(block) for block in _blocks(np.concatenate(frames))])  # [frames, bands]
    segments = np.minimum(counts, SEGMENTS)  # a clip shorter than SEGMENTS frames has one segment per frame
    firsts = np.cumsum(counts) - counts
    starts = np.concatenate([first + _STARTS[n] * count // n for first, n, count in zip(firsts, segments, counts)])
    sums = np.log10(np.add.reduceat(bands, starts, axis=0) + 1e-10)  # [all segments, bands]
    # Short clips repeat their segments cyclically up to SEGMENTS rows (as numpy.resize would).
    rows = (np.cumsum(segments) - segments)[:, None] + np.arange(SEGMENTS)[None, :] % segments[:, None]
    grid = sums[rows]  # [clips, SEGMENTS, bands]
    bits = np.concatenate([(grid[:, :, 1:] > grid[:, :, :-1]).reshape(len(clips), -1),
                           (grid[:, 1:] > grid[:, :-1]).reshape(len(clips), -1)], axis=1)
    return np.packbits(bits, axis=1)


def _blocks(frames: np.ndarray, size: int = 256) -> list[np.ndarray]:
    """Frames in cache-sized blocks (one FFT call over tens of thousands of frames is slower)."""
    return [frames[start : start + size] for start in range(0, len(frames), size)]


def _band_energy(frames: np.ndarray) -> np.ndarray:
    """Energy per band of each windowed frame."""
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    return (spectrum.real**2 + spectrum.imag**2) @ _BAND_MATRIX


def _frames(samples: np.ndarray) -> np.ndarray:
    """Non-overlapping N_FFT frames (a clip shorter than one frame is zero-padded to one)."""
    if samples.size < N_FFT:
        samples = np.pad(samples, (0, N_FFT - samples.size))
    return samples[: samples.size // N_FFT * N_FFT].reshape(-1, N_FFT)


def near_duplicates(prints: Sequence[np.ndarray], durations: Sequence[float]) -> list[list[int]]:
    """Sets of indices whose fingerprints (and durations) say they are the same recording."""
    if not prints:
        return []
    matrix = np.stack(prints)  # [N, bytes]
    total_bits = matrix.shape[1] * 8
    sets = DisjointSets(len(prints))

    # Pairs are compared as each 32-bit slice's buckets come, never gathered: a pair already joined (through
    # any earlier pair) is skipped, so memory stays at one bucket and each set costs about one comparison per
    # member rather than one per pair.
    for members in _buckets(matrix):
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if sets.root(a) == sets.root(b):
                    continue
                long, short = max(durations[a], durations[b]), min(durations[a], durations[b])
                if short <= 0 or long / short > MAX_DURATION_RATIO:
                    continue
                differing = int(np.unpackbits(matrix[a] ^ matrix[b]).sum())
                if differing <= MAX_BIT_DIFF * total_bits:
                    sets.join(a, b)
    return sets.groups()


class DisjointSets:
    """Union-find over indices 0..n-1 (path halving): which items near-duplicate checks have joined."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def root(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        self.parent[self.root(a)] = self.root(b)

    def groups(self) -> list[list[int]]:
        """The sets of more than one index, each in increasing order."""
        found: dict[int, list[int]] = defaultdict(list)
        for i in range(len(self.parent)):
            found[self.root(i)].append(i)
        return [members for members in found.values() if len(members) > 1]


def _buckets(matrix: np.ndarray) -> Iterator[list[int]]:
    """For each 32-bit slice of the fingerprints, the groups of rows (2 to _MAX_BUCKET) that agree on it."""
    words = matrix[:, : matrix.shape[1] // 4 * 4].view(">u4")  # [N, slices]
    for column in range(words.shape[1]):
        _, inverse, counts = np.unique(words[:, column], return_inverse=True, return_counts=True)
        shared = np.flatnonzero((counts[inverse] > 1) & (counts[inverse] <= _MAX_BUCKET))  # rows in a bucket
        order = shared[np.argsort(inverse[shared], kind="stable")]
        keys = inverse[order]
        cuts = np.flatnonzero(np.diff(keys)) + 1
        for members in np.split(order, cuts):
            if members.size > 1:
                yield members.tolist()
