"""`earmark train` as a real process: killed with SIGKILL and resumed, two DDP processes on CPU, torch.compile."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from earmark.checkpoint import load_checkpoint
from earmark.cli import main
from earmark.config import load_train_config
from earmark.training.loop import train

FAST = ["trainer.batch_size=16", "data.window_s=0.5", "data.eval_hop_s=0.25", "optim.lr=0.01", "trainer.device=cpu"]


def _earmark(*args: str) -> list[str]:
    return [sys.executable, "-m", "earmark", *args]


def _sets(overrides: list[str]) -> list[str]:
    return [f"--set={item}" for item in overrides]


def _read_until(proc: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    """Lines of `proc`'s stdout up to the first one starting with `marker` (a reader thread keeps the timeout)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, f"train exited early ({proc.returncode}): {''.join(seen)[-2000:]}"
            continue
        seen.append(line)
        if line.startswith(marker):
            return seen
    proc.kill()
    raise AssertionError(f"no line starting with {marker!r} in {timeout_s} s: {''.join(seen)[-2000:]}")


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tone_prepared: Path, tmp_path: Path) -> None:
    overrides = [*FAST, "trainer.epochs=8"]
    run = tmp_path / "killed"
    proc = subprocess.Popen(_earmark("train", str(tone_prepared), "--out", str(run), *_sets(overrides)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _read_until(proc, "epoch   2/8", timeout_s=180)
    time.sleep(0.2)  # into epoch 3 (or writing epoch 2's checkpoints)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (run / "metrics.json").exists()
    assert 1 <= load_checkpoint(run / "checkpoints" / "last.ckpt").state["epoch"] < 8
    assert sorted(path.name for path in (run / "checkpoints").glob("*.ckpt")) == ["best.ckpt", "last.ckpt"]
    (run / "checkpoints" / ".last.ckpt.x1y2z3.tmp").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves
    assert main(["train", str(tone_prepared), "--out", str(run), "--resume", *_sets(overrides)]) == 0
    full = tmp_path / "full"
    train(tone_prepared, full, load_train_config(overrides=overrides), log=lambda _: None)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (full, run))
    assert a["test"]["confusion"] == b["test"]["confusion"]
    assert a["val"]["accuracy"] == b["val"]["accuracy"]
    assert not list(run.rglob("*.tmp"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert [event.step for event in events.Scalars("loss/train")] == list(range(1, 9))


@pytest.mark.slow
def test_two_cpu_processes_train_like_one(tone_prepared: Path, tmp_path: Path) -> None:
    overrides = [*FAST, "trainer.epochs=10", "trainer.batch_size=8", "trainer.monitor=val_loss"]  # until right
    result = subprocess.run(_earmark("train", str(tone_prepared), "--out", str(tmp_path / "ddp"), "--devices", "2",
                                     *_sets(overrides)), capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, f"{result.stdout[-1500:]}\n{result.stderr[-3000:]}"  # where it stopped
    assert result.stdout.count("best epoch") == 1 and result.stdout.count("epoch  10/10") == 1  # rank 0 talks
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert json.loads((tmp_path / "ddp" / "run.json").read_text())["config"]["trainer"]["devices"] == 2
    assert len((tmp_path / "ddp" / "history.csv").read_text().splitlines()) == 11
    single = train(tone_prepared, tmp_path / "one", load_train_config(overrides=overrides), log=lambda _: None)
    assert ddp["val"]["n"] == single["val"]["n"] and ddp["test"]["n"] == single["test"]["n"]
    assert ddp["val"]["accuracy"] >= 0.9 and single["val"]["accuracy"] >= 0.9, (ddp["val"], single["val"])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ddp", "one"]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None, reason="torch.compile on CPU needs g++")
def test_compile_trains_and_saves_a_plain_checkpoint(tone_prepared: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    config = load_train_config(overrides=[*FAST, "trainer.epochs=2", "model.name=logreg"],
                               flags={"trainer.compile": True})
    metrics = train(tone_prepared, tmp_path / "run", config, log=lambda _: None)
    assert any((tmp_path / "inductor").rglob("*.py")), "inductor generated no code: nothing was compiled"
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt").config.trainer.compile  # strict load
    assert metrics["test"]["n"] >= 12


def test_compile_without_a_working_compiler_is_one_clear_line(tone_prepared: Path, tmp_path: Path) -> None:
    env = {**os.environ, "CXX": "/nonexistent/g++", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    result = subprocess.run(_earmark("train", str(tone_prepared), "--out", str(tmp_path / "run"), "--compile",
                                     "--model", "logreg", *_sets([*FAST, "trainer.epochs=1"])),
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1].startswith("earmark train: error: --compile: torch.compile "
                                                             "failed (InvalidCxxCompiler"), result.stderr
    assert not (tmp_path / "run" / "checkpoints" / "last.ckpt").exists()
