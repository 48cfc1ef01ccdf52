"""Every benchmark script runs end to end in its --quick mode, so the scripts cannot rot."""

from __future__ import annotations

import importlib.util
import os
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
                                            ("peers.py", "| digits | loso | earmark tcresnet-8"),
                                            ("gpu.py", "| cnn (20 MFCC) |"), ("metrics.py", "ratio"),
                                            ("threads.py", "| beside a busy loop | earmark |"),
                                            ("pretrained.py", "| espeak gender | voice-disjoint 80/10/10 | ge2e |"),
                                            ("recipes.py", "| espeak digits | 2 folds by voice (cv) | --auto |"),
                                            ("serve.py", "| earmark serve over HTTP | 4 |"),
                                            ("robustness.py", "| espeak digits | 50/25/25 by voice |"),
                                            ("images.py", "| earmark cnn (")])
def test_benchmark_quick_mode(script: str, needle: str) -> None:
    pytest.importorskip("librosa")
    if script in ("inference.py", "pretrained.py", "images.py"):
        pytest.importorskip("onnxruntime")
    if script == "peers.py":
        require_peers()
    if script in ("prepare.py", "models.py", "throughput.py", "peers.py", "gpu.py", "threads.py") and not FSDD.is_dir():
        pytest.skip("shared FSDD data not present")
    extra = ["--device", "cpu"] if script == "gpu.py" else []  # the GPU loop, run on the CPU so it cannot rot
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert needle in done.stdout
    if script == "peers.py":  # every peer ran, and the verdict lines were printed
        for name in ("pyAudioAnalysis SVM", "pyAudioAnalysis random forest", "sklearn RBF-SVM",
                     "sklearn logistic regression", "classic notes", "earmark tcresnet-8"):
            assert name in done.stdout
        assert "digits, loso: earmark" in done.stdout and "time to 0.97:" in done.stdout


def require_peers() -> None:
    """The peers are the `bench` extra (CI installs it and sets EARMARK_REQUIRE_PEERS): skip only elsewhere."""
    if importlib.util.find_spec("pyAudioAnalysis") is None:
        if os.environ.get("EARMARK_REQUIRE_PEERS"):
            pytest.fail("EARMARK_REQUIRE_PEERS is set but pyAudioAnalysis (the bench extra) is missing")
        pytest.skip("the bench extra (pyAudioAnalysis) is not installed: make .venv/.bench")


@pytest.mark.slow
def test_run_all_writes_the_results_page(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick", "--only", "metrics",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    page = out.read_text()  # the cheapest script: the page's machinery is what is checked here
    assert "| [metrics](#metrics) |" in page and "ratio" in page and "OpenMP wait policy PASSIVE" in page


@pytest.mark.slow
def test_gpu_benchmark_says_no_gpu_without_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark measures it instead")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("no GPU"), done.stderr[-2000:]


def test_a_partial_run_keeps_the_other_sections_marked_with_their_run(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    assert spec is not None and spec.loader is not None
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    page = tmp_path / "results.md"
    run_all.write_page(page, ["# earmark benchmarks", "", "- date: 2026-11-21 23:27 UTC",
                              "- Python 3.11.7, torch 2.13.0+cpu, commit 4accbc9", ""],
                       ["| [features](#features) | front-end | 11 | ok |", "| [peers](#peers) | peers | 99 | ok |"],
                       ["## features", "", "- ratio 3.1", "", "## peers", "", "| a | b |", "|---|---|", "",
                        "## recipes", "", "measured by hand, protocol stated here", ""])
    kept = run_all.earlier_sections(page)
    assert set(kept) == {"features", "peers", "recipes"}
    assert kept["peers"][0] == "| [peers](#peers) | peers | 99 | ok |"
    assert kept["recipes"] == (None, ["## recipes", "", "measured by hand, protocol stated here", ""])
    body = kept["peers"][1]
    assert body[:3] == ["## peers", "", f"{run_all.KEPT}2026-11-21 23:27 UTC, commit 4accbc9"]
    assert "| a | b |" in body
    run_all.write_page(page, ["# earmark benchmarks", "", "- date: 2026-12-02 01:00 UTC", ""], [kept["peers"][0]],
                       kept["peers"][1])  # kept again by a later partial run: still the first run's date
    assert [line for line in run_all.earlier_sections(page)["peers"][1] if line.startswith(run_all.KEPT)] == [
        f"{run_all.KEPT}2026-11-21 23:27 UTC, commit 4accbc9"]
