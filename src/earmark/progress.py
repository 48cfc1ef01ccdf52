"""A minimal progress line on stderr, shown only on a terminal so logs and CI output stay clean."""

from __future__ import annotations

import sys
import time


class Progress:
    """`Progress("prepare", total)`; call `.update(n)` and `.close()`."""

    def __init__(self, title: str, total: int, enabled: bool | None = None) -> None:
        self.title, self.total, self.done = title, total, 0
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._start = self._last = time.perf_counter()

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.1 or self.done == self.total):
            self._last = now
            rate = self.done / max(now - self._start, 1e-9)
            sys.stderr.write(f"\r{self.title}: {self.done}/{self.total} ({rate:.0f}/s) {note}\033[K")
            sys.stderr.flush()

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.perf_counter() - self._start

    def close(self) -> None:
        """End the line; a step-by-step line is erased (the caller logs a summary)."""
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
