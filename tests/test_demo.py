"""The demo end to end (one epoch): the same library path `make demo` takes, with its summary printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmark.cli import main

pytest.importorskip("espeakng_loader")


def test_demo_runs_end_to_end_and_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo"), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    for expected in ("[1/4] synthesized 1440 clips, 24 voices", "leakage check OK", "Accuracy on unseen voices:",
                     "n = 360 test clips, voice-disjoint split", "Per-class table:", "Report:"):
        assert expected in out
    runs = list((tmp_path / "demo").glob("run-*"))
    assert len(runs) == 1 and (runs[0] / "report.html").is_file() and (runs[0] / "per_class.csv").is_file()
