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
                                            ("models.py", "| majority |"), ("throughput.py", "time to accuracy"),
                                            ("peers.py", "| digits | loso | earmark tcresnet-8")])
def test_benchmark_quick_mode(script: str, needle: str) -> None:
    pytest.importorskip("librosa")
    if script == "inference.py":
        pytest.importorskip("onnxruntime")
    if script == "peers.py":
        pytest.importorskip("pyAudioAnalysis")
    if script in ("prepare.py", "models.py", "throughput.py", "peers.py") and not FSDD.is_dir():
        pytest.skip("shared FSDD data not present")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600 if script == "peers.py" else 300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert needle in done.stdout


@pytest.mark.slow
def test_run_all_writes_the_results_page(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--only", "train_step",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    page = out.read_text()
    assert "| [train_step](#train_step) |" in page and "ratio" in page and "## GPU" in page
