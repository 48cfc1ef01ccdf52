"""HeapGuard: trims only when the resident set has grown past its margin, and takes live growth as the new level."""

from __future__ import annotations

import sys

import pytest

from earmark import runtime


class CountingLibc:
    def __init__(self) -> None:
        self.calls = 0

    def malloc_trim(self, pad: int) -> int:
        self.calls += 1
        return 1


def test_trims_only_past_the_margin_and_adopts_live_growth(monkeypatch: pytest.MonkeyPatch) -> None:
    # resident MB as the guard reads it: start, in bounds, grown (trim frees it), grown (trim does not: live)
    readings = iter([100.0, 150.0, 300.0, 120.0, 300.0, 290.0, 350.0])
    monkeypatch.setattr(runtime, "resident_mb", lambda: next(readings))
    guard = runtime.HeapGuard(margin_mb=96)
    libc = CountingLibc()
    guard.libc = libc  # type: ignore[assignment]
    guard.check()  # 150: within 100 + 96
    assert libc.calls == 0
    guard.check()  # 300: trim, back to 120: level stays 100
    assert libc.calls == 1 and guard.level == 100
    guard.check()  # 300: trim, still 290: the new level
    assert libc.calls == 2 and guard.level == 290
    guard.check()  # 350: within 290 + 96
    assert libc.calls == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc and /proc are Linux's")
def test_real_process_reading_and_trim() -> None:
    assert runtime.resident_mb() > 10
    guard = runtime.HeapGuard(margin_mb=0)
    guard.level = 0  # force a real malloc_trim call
    guard.check()
    assert guard.trims == (1 if guard.libc is not None and hasattr(guard.libc, "malloc_trim") else 0)
