"""Decode items in parallel worker processes: int16 samples at the target rate, facts, and a fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earmark.audio.decode import check_audible, decode
from earmark.audio.resample import resample_many, to_mono
from earmark.data.fingerprint import fingerprints
from earmark.errors import DecodeError

MIN_DURATION_S = 0.05  # shorter than a few STFT frames: nothing to learn from


@dataclass(frozen=True)
class Decoded:
    """What a worker returns for one file: int16 samples and facts, or the reason it cannot be used."""

    index: int
    samples: np.ndarray | None
    source_sample_rate: int = 0
    source_channels: int = 0
    fingerprint: np.ndarray | None = None
    reason: str = ""
    sha1: str = ""  # of the mono samples at the file's own rate: equal for bit-identical audio in any container


BATCH_SAMPLES = 1 << 22  # decoded samples held before a batch is resampled and fingerprinted (16 MB)


@dataclass(frozen=True)
class _Native:
    """A decoded file before resampling: mono float32 at its own rate."""

    index: int
    mono: np.ndarray
    sample_rate: int
    channels: int
    sha1: str


def decode_many(jobs: Iterable[tuple[int, str]], sample_rate: int) -> Iterator[Decoded]:
    """Decode (index, path) jobs to int16 at `sample_rate`, in input order; never raises for a bad file.

    Files are read one by one but resampled and fingerprinted in batches (one soxr call and one FFT per
    batch instead of per file); a batch holds at most ~BATCH_SAMPLES samples, so memory stays bounded.
    """
    pending: list[_Native | Decoded] = []
    held = 0
    for index, path in jobs:
        item = _read(index, path)
        pending.append(item)
        held += item.mono.size if isinstance(item, _Native) else 0
        if held >= BATCH_SAMPLES:
            yield from _finish(pending, sample_rate)
            pending, held = [], 0
    yield from _finish(pending, sample_rate)


def _read(index: int, path: str) -> _Native | Decoded:
    """Decode and mix down one file, or the reason it cannot be used."""
    try:
        samples, rate = decode(Path(path))
    except DecodeError as exc:
        return Decoded(index, None, reason=str(exc))
    except Exception as exc:  # a decoder bug on one odd file must not stop a million-file job
        return Decoded(index, None, reason=f"undecodable ({type(exc).__name__}: {exc})")
    mono = to_mono(samples)
    return _Native(index, mono, rate, samples.shape[0], hashlib.sha1(mono.tobytes()).hexdigest())


def _finish(pending: list[_Native | Decoded], sample_rate: int) -> list[Decoded]:
    """Resample a batch (one call per native rate), check levels, convert to int16, fingerprint."""
    natives = [item for item in pending if isinstance(item, _Native)]
    resampled: dict[int, np.ndarray] = {}
    for rate in {item.sample_rate for item in natives}:
        same = [item for item in natives if item.sample_rate == rate]
        resampled.update(zip((item.index for item in same),
                             resample_many([item.mono for item in same], rate, sample_rate)))
    done = [item if isinstance(item, Decoded) else _to_int16(item, resampled[item.index], sample_rate)
            for item in pending]
    kept = [i for i, item in enumerate(done) if item.samples is not None]
    if kept:
        prints = fingerprints([resampled[done[i].index] for i in kept])
        for i, bits in zip(kept, prints):
            done[i] = dataclasses.replace(done[i], fingerprint=bits)
    return done


def _to_int16(item: _Native, mono: np.ndarray, sample_rate: int) -> Decoded:
    """int16 samples of a resampled clip, or why it is unusable (too short, silent)."""
    if mono.size < MIN_DURATION_S * sample_rate:
        return Decoded(item.index, None, reason=f"too short ({mono.size / sample_rate * 1000:.0f} ms)")
    peak = float(np.abs(mono).max())
    try:
        check_audible(peak)
    except DecodeError as exc:
        return Decoded(item.index, None, reason=str(exc))
    scale = 32767.0 / peak if peak > 1.0 else 32767.0  # float sources above full scale: scale, not clip
    samples = np.round(mono * scale).astype(np.int16)
    return Decoded(item.index, samples, item.sample_rate, item.channels, sha1=item.sha1)


@contextmanager
def worker_pool(workers: int) -> Iterator[Any]:
    """A process pool of `workers` (None when one is enough), closed on exit."""
    if workers <= 1:
        yield None
        return
    pool = multiprocessing.get_context(_start_method()).Pool(workers)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def decode_stream(pool: Any, paths: Sequence[tuple[int, Path]], sample_rate: int,
                  chunk: int = 32) -> Iterator[Decoded]:
    """Decoded files in input order (in `pool` when given); memory bounded by workers × chunk, not file count."""
    jobs = [(index, str(path)) for index, path in paths]
    if pool is None or len(jobs) < 2 * chunk:
        yield from decode_many(jobs, sample_rate)
        return
    chunks = [(jobs[start : start + chunk], sample_rate) for start in range(0, len(jobs), chunk)]
    for decoded in pool.imap(_decode_chunk, chunks):
        yield from decoded


def _decode_chunk(task: tuple[list[tuple[int, str]], int]) -> list[Decoded]:
    """A worker's share of `decode_stream`."""
    return list(decode_many(*task))


def _start_method() -> str:
    """fork when this process is single-threaded and has no torch loaded (fast start); spawn otherwise,
    since forking a process that holds torch/OpenMP threads can deadlock the children."""
    if sys.platform.startswith("linux") and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "spawn"
