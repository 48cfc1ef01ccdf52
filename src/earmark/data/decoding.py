"""Decode items in parallel worker processes: int16 samples at the target rate, facts, and a fingerprint."""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earmark.audio.decode import load_mono
from earmark.data.fingerprint import fingerprint
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


def decode_job(job: tuple[int, str, int]) -> Decoded:
    """Decode file `job[1]` to int16 at rate `job[2]` (runs in a worker process; never raises)."""
    index, path, sample_rate = job
    try:
        mono, info = load_mono(Path(path), sample_rate)
    except DecodeError as exc:
        return Decoded(index, None, reason=str(exc))
    except Exception as exc:  # a decoder bug on one odd file must not stop a million-file job
        return Decoded(index, None, reason=f"undecodable ({type(exc).__name__}: {exc})")
    if mono.size < MIN_DURATION_S * sample_rate:
        return Decoded(index, None, reason=f"too short ({mono.size / sample_rate * 1000:.0f} ms)")
    peak = float(np.abs(mono).max())
    scale = 32767.0 / peak if peak > 1.0 else 32767.0  # float sources above full scale: scale, not clip
    samples = np.round(mono * scale).astype(np.int16)
    return Decoded(index, samples, info.sample_rate, info.channels, fingerprint(mono, sample_rate))


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


def decode_stream(pool: Any, paths: Sequence[tuple[int, Path]], sample_rate: int) -> Iterator[Decoded]:
    """Decoded files in input order (in `pool` when given); memory bounded by workers × chunk, not file count."""
    jobs = [(index, str(path), sample_rate) for index, path in paths]
    if pool is None or len(jobs) < 16:
        yield from map(decode_job, jobs)
    else:
        yield from pool.imap(decode_job, jobs, chunksize=8)


def _start_method() -> str:
    """fork when this process is single-threaded and has no torch loaded (fast start); spawn otherwise,
    since forking a process that holds torch/OpenMP threads can deadlock the children."""
    if sys.platform.startswith("linux") and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "spawn"
