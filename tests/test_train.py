"""End to end on a tiny synthetic corpus: train, evaluate, predict, resume — real training, a few seconds."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from earmark.checkpoint import load_checkpoint
from earmark.cli import main
from earmark.config import load_train_config
from earmark.data.dataset import PreparedData
from earmark.errors import EarmarkError
from earmark.inference import Predictor
from earmark.training.evaluate import evaluate_run
from earmark.training.loop import train
from earmark.training.outputs import choose_run_dir
from tests.conftest import FAST_TRAIN

FAST = FAST_TRAIN


def test_run_directory_has_the_contract_files(tone_run: Path, tone_prepared: Path) -> None:
    for name in ("config.yaml", "metrics.json", "history.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt",
                 "report.html", "confusion_matrix.png", "curves.png"):
        assert (tone_run / name).is_file(), name
    metrics = json.loads((tone_run / "metrics.json").read_text())
    assert set(metrics) >= {"test", "val", "labels", "model", "seconds_train"}
    test = metrics["test"]
    n_test = sum(row.split == "test" for row in PreparedData.open(tone_prepared).rows)
    assert test["n"] == n_test >= 12 and test["accuracy"] >= 0.9  # three clearly different tones
    assert test["accuracy_ci95"][0] <= test["accuracy"] <= test["accuracy_ci95"][1]
    epochs = yaml.safe_load((tone_run / "config.yaml").read_text())["trainer"]["epochs"]
    ran = load_checkpoint(tone_run / "checkpoints" / "last.ckpt").state["epoch"]  # early stopping may end sooner
    assert 1 <= ran <= epochs and len((tone_run / "history.csv").read_text().splitlines()) == 1 + ran


def test_tensorboard_has_one_step_per_epoch(tone_run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tone_run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert tags == {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr", "throughput/clips_per_s"}
    history = (tone_run / "history.csv").read_text().splitlines()[1:]
    val = [event.value for event in events.Scalars("accuracy/val")]
    assert [event.step for event in events.Scalars("accuracy/val")] == list(range(1, len(history) + 1))
    assert val == pytest.approx([float(row.split(",")[4]) for row in history], abs=1e-6)


def test_a_run_resumed_in_the_same_second_is_read_after_its_predecessor(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from earmark.training.scalars import ScalarLog

    first = ScalarLog(tmp_path, 0)  # the killed run: epochs 1-3 logged, only 1-2 checkpointed
    for epoch in (1, 2, 3):
        first.add({"epoch": epoch, "train_loss": 10.0})
    first.close()
    (made,) = tmp_path.glob("events.out.tfevents.*")  # as if another process (a higher pid) had written it:
    made.rename(tmp_path / f"{made.name.rsplit('.', 2)[0]}.9999999.0")  # names sort by second, host, then pid
    second = ScalarLog(tmp_path, 2)  # resumed at once, as a kill -9 and an immediate --resume do
    for epoch in (3, 4):
        second.add({"epoch": epoch, "train_loss": 1.0})
    second.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss/train")] == [(1, 10.0), (2, 10.0), (3, 1.0), (4, 1.0)]


def test_out_folder_of_other_things_gets_a_named_run(tone_prepared: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "notes.txt").write_text("my experiments\n")
    sets = [f"--set={item}" for item in FAST]
    assert main(["train", str(tone_prepared), "--out", str(runs), "--epochs", "1", *sets]) == 0
    (run,) = [path for path in runs.iterdir() if path.is_dir()]
    # no --model: the model is chosen from the data once training starts, so the folder says auto
    assert re.fullmatch(rf"auto-{re.escape(tone_prepared.name)}-\d{{8}}-\d{{6}}", run.name), run.name
    assert (run / "metrics.json").is_file() and f"new run folder: {run}" in capsys.readouterr().out
    with pytest.raises(EarmarkError, match=f"not a run directory.*e.g. {re.escape(str(run))}"):
        choose_run_dir(runs, "cnn", tone_prepared, resume=True)
    assert choose_run_dir(run, "cnn", tone_prepared) == run  # a run folder is itself (then --resume is needed)
    assert choose_run_dir(tmp_path / "new", "cnn", tone_prepared) == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    assert choose_run_dir(tmp_path / "empty", "cnn", tone_prepared) == tmp_path / "empty"
    now = datetime(2026, 1, 2, 3, 4, 5)
    (runs / f"mlp-{tone_prepared.name}-20260102-030405").mkdir()
    assert choose_run_dir(runs, "mlp", tone_prepared, now=now).name == f"mlp-{tone_prepared.name}-20260102-030405-2"


def test_predict_any_rate_and_length_agrees_with_label(tone_run: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_path(tone_run, top_k=2)
    t = np.arange(44100 * 3) / 44100
    noise = 0.02 * np.random.default_rng(0).standard_normal(t.size)  # the training tones' noise floor
    stereo = np.stack([0.4 * np.sin(2 * np.pi * 2400 * t) + noise] * 2, axis=1).astype(np.float32)
    sf.write(str(tmp_path / "long.flac"), stereo, 44100)
    result = predictor.predict(tmp_path / "long.flac").to_dict()
    assert result["label"] == "high" and len(result["top_k"]) == 2, result["top_k"]
    assert len(result["windows"]) == 11 and result["windows"][-1]["end_s"] == pytest.approx(3.0, abs=0.01)
    n = 4961  # 0.45 s at 11025 Hz, a rate the model never saw, shorter than its 0.5-s window
    tone = 0.5 * np.sin(2 * np.pi * 300 * np.arange(n) / 11025) + 0.02 * np.random.default_rng(1).standard_normal(n)
    short = predictor.predict_array(tone, 11025)
    assert short.label == "low", short.top_k


def test_evaluate_recomputes_the_same_test_metrics(tone_run: Path) -> None:
    metrics = evaluate_run(tone_run)
    saved = json.loads((tone_run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == saved["test"]["accuracy"]
    assert metrics["test"]["confusion"] == saved["test"]["confusion"]


class _Killed(Exception):
    pass


def _die_at_epoch_3(line: str) -> None:
    if line.startswith("epoch   3/"):  # logged before epoch 3 is saved: like a kill during epoch 3
        raise _Killed


def test_resume_continues_to_the_same_result(tone_prepared: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    train(tone_prepared, full, load_train_config(overrides=FAST), log=lambda _: None)
    part = tmp_path / "part"
    with pytest.raises(_Killed):
        train(tone_prepared, part, load_train_config(overrides=FAST), log=_die_at_epoch_3)
    assert load_checkpoint(part / "checkpoints" / "last.ckpt").state["epoch"] == 2
    with pytest.raises(EarmarkError, match="--resume"):
        train(tone_prepared, part, load_train_config(overrides=FAST), log=lambda _: None)
    train(tone_prepared, part, load_train_config(overrides=FAST), resume=True, log=lambda _: None)
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (full, part))
    assert a["test"]["confusion"] == b["test"]["confusion"]
    assert a["val"]["accuracy"] == b["val"]["accuracy"]
    assert load_checkpoint(part / "checkpoints" / "last.ckpt").state["epoch"] == 4


def test_hostile_checkpoint_is_refused(tmp_path: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"format": Evil()}))
    with pytest.raises(EarmarkError, match="refused: not only tensors and plain data"):
        load_checkpoint(path)
