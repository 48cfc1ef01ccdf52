"""Every benchmark script runs end to end in its --quick mode, so the scripts cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd"


@pytest.mark.slow
@pytest.mark.parametrize("script, needle", [("features.py", "ratio"), ("train_step.py", "ratio"),
                                            ("prepare.py", "peak RSS"), ("inference.py", "ratio PyTorch/onnxruntime"),
                                            ("models.py", "| majority |"), ("throughput.py", "time to accuracy")])
def test_benchmark_quick_mode(script: str, needle: str) -> None:
    pytest.importorskip("librosa")
    if script == "inference.py":
        pytest.importorskip("onnxruntime")
    if script in ("prepare.py", "models.py", "throughput.py") and not FSDD.is_dir():
        pytest.skip("shared FSDD data not present")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert needle in done.stdout
