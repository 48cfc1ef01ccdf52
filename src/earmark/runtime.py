"""Process-wide settings applied once at CLI start."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import mmap
import os
import sys
from typing import Any

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_malloc() -> bool:
    """Keep freed tensor memory in the process instead of returning it to the OS after every batch.

    glibc hands large blocks back with munmap and then page-faults them in again on the next batch. On
    2 cores, tuning made the log-mel front-end about 3× faster and a `cnn` training step 1.1-1.4× faster
    (benchmarks/features.py, benchmarks/train_step.py). Only on Linux with glibc; elsewhere a no-op.
    """
    libc = _libc()
    try:
        return libc is not None and bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except AttributeError:  # not glibc
        return False


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library on Linux (loaded once); None elsewhere or when it cannot be loaded."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def resident_mb() -> float:
    """This process's resident set in MB (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * mmap.PAGESIZE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


class HeapGuard:
    """Hands freed heap memory back to the OS when the resident set has grown `margin_mb` past its level at
    the last check that found it in bounds.

    Streaming a long file allocates and frees buffers of slowly varying size every batch; glibc's heap can
    fragment so that freed memory is never reused nor returned, and the resident set then grew about 150 MB/s
    in some runs and not in others (a 2-hour file peaked anywhere between 0.3 and 1.7 GB). `malloc_trim`
    releases those free pages; it is called only when the process has grown, so a run that does not fragment
    pays nothing. Memory that is really in use raises the level instead of being trimmed again and again.
    """

    def __init__(self, margin_mb: float = 96.0) -> None:
        self.libc = _libc()
        self.margin = margin_mb
        self.level = resident_mb()
        self.trims = 0

    def check(self) -> None:
        if self.libc is None or not hasattr(self.libc, "malloc_trim"):
            return
        if resident_mb() <= self.level + self.margin:
            return
        self.libc.malloc_trim(0)
        self.trims += 1
        now = resident_mb()
        if now > self.level + self.margin / 2:  # still high after the trim: live memory, the new level
            self.level = now


# OpenMP reads its wait policy once, when torch's runtime loads: set before `import torch` to take effect.
_WAIT_POLICY = "OMP_WAIT_POLICY"


def apply_thread_policy() -> None:
    """Let OpenMP threads sleep at barriers instead of spinning, unless the user chose (call before torch loads).

    These machines are shared. With the default (spinning) policy, a thread that waits for a descheduled partner
    burns the core that partner needs: 2 epochs of `tcresnet-8` beside one CPU-bound process ran at a quarter
    of their speed alone, beside another 2-thread torch process at a thirtieth (benchmarks/threads.py has the
    figures). `EARMARK_THREADS=off` leaves the environment untouched; a number sets torch's thread count.
    """
    if os.environ.get("EARMARK_THREADS", "").lower() == "off":
        return
    os.environ.setdefault(_WAIT_POLICY, "PASSIVE")


def configure_threads(threads: int | None = None) -> dict[str, Any]:
    """Set torch's intra-op threads (`threads`, else `EARMARK_THREADS`, else torch's default) and describe them.

    Returns what run.json records: torch's thread count, the cores, OpenMP's wait policy and who chose them.
    """
    import torch

    chosen, source = threads, "trainer.threads"
    if chosen is None:
        raw = os.environ.get("EARMARK_THREADS", "")
        chosen, source = (int(raw), "EARMARK_THREADS") if raw.isdigit() and int(raw) > 0 else (None, "torch default")
    if chosen is not None:
        torch.set_num_threads(chosen)
    return {"torch_threads": torch.get_num_threads(), "cores": os.cpu_count(), "source": source,
            "omp_wait_policy": os.environ.get(_WAIT_POLICY, "default (spin, then sleep)")}


def describe_threads(info: dict[str, Any]) -> str:
    """One log line: `threads: 2 of 2 cores (torch default), OpenMP wait policy PASSIVE`."""
    return (f"threads: {info['torch_threads']} of {info['cores']} cores ({info['source']}), "
            f"OpenMP wait policy {info['omp_wait_policy']}")
