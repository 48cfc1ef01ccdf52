"""Process-wide settings applied once at CLI start."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_malloc() -> bool:
    """Keep freed tensor memory in the process instead of returning it to the OS after every batch.

    glibc hands large blocks back with munmap and then page-faults them in again on the next batch. On
    2 cores, tuning made the log-mel front-end about 3× faster and a `cnn` training step 1.1-1.4× faster
    (benchmarks/features.py, benchmarks/train_step.py). Only on Linux with glibc; elsewhere a no-op.
    """
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False
