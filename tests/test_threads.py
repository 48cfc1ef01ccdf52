"""The thread policy: OpenMP's passive wait unless the user chose, torch's thread count as asked, both recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("import json, os; from earmark.runtime import apply_thread_policy, configure_threads; "
         "apply_thread_policy(); import torch; info = configure_threads(); "
         "print(json.dumps({**info, 'env': os.environ.get('OMP_WAIT_POLICY')}))")


def _probe(**env: str) -> dict:
    """What a fresh process decides, with the thread variables of this one removed and `env` set."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "EARMARK_THREADS", "OMP_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**base, "PYTHONPATH": str(ROOT / "src"), **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_passive_wait_by_default_and_the_users_choice_otherwise() -> None:
    default = _probe()
    assert default["env"] == "PASSIVE" == default["omp_wait_policy"] and default["source"] == "torch default"
    assert _probe(OMP_WAIT_POLICY="ACTIVE")["env"] == "ACTIVE"  # the user's setting stands
    untouched = _probe(EARMARK_THREADS="off")
    assert untouched["env"] is None and untouched["omp_wait_policy"].startswith("default")


def test_earmark_threads_sets_torchs_thread_count() -> None:
    one = _probe(EARMARK_THREADS="1")
    assert one["torch_threads"] == 1 and one["source"] == "EARMARK_THREADS" and one["env"] == "PASSIVE"


def test_a_run_records_its_threads(tone_run: Path) -> None:
    threads = json.loads((tone_run / "run.json").read_text())["threads"]
    assert set(threads) == {"torch_threads", "cores", "source", "omp_wait_policy"}
    assert threads["torch_threads"] >= 1 and threads["cores"] == os.cpu_count()
