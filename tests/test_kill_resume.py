"""SIGKILL `prepare`, `train`, `cv` and `export` at seeded moments, run them again, and get what an
uninterrupted run gets: the same files, the same numbers, no temporary file left behind.

Two kinds of kill point, both drawn with a fixed seed: the moment before the N-th `os.replace` of the
uninterrupted command (an atomic write about to land, the worst moment for the files), and a random time
into the command (mid-epoch, mid-export, mid-decode). See tests/killpoint.py. `-s` prints the tally.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from earmark.inference import Predictor
from tests.killpoint import Zygote

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261121
# command → (kill points at a replace, kill points at a random time)
POINTS = {"prepare": (3, 1), "train": (2, 1), "cv": (1, 1), "export": (1, 1)}
TINY = ["--set=trainer.batch_size=16", "--set=data.window_s=0.5", "--set=data.eval_hop_s=0.25",
        "--set=optim.lr=0.01", "--set=trainer.device=cpu", "--set=data.num_workers=0", "--epochs", "3"]
TIMING = {"seconds", "clips_per_s", "seconds_train"}
TALLY: dict[str, list[int]] = {}  # command → [kill points tried, identical after the rerun]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    process = Zygote(ROOT)
    yield process
    process.close()
    print("\nkill points tried / resumed to identical results:",
          ", ".join(f"{command} {tried}/{same}" for command, (tried, same) in TALLY.items()))


def _points(command: str, total: int, seconds: float) -> list[tuple[int, float]]:
    """Seeded (replace number, 0) and (0, seconds) kill points; the last replace is always one of them."""
    at_replace, at_time = POINTS[command]
    rng = random.Random(f"{SEED}-{command}")
    replaces = sorted({*rng.sample(range(1, total), min(at_replace - 1, total - 1)), total})
    times = sorted(round(rng.uniform(0.1, 0.9) * seconds, 2) for _ in range(at_time))
    return [(n, 0.0) for n in replaces] + [(0, t) for t in times]


def _kill_loop(zygote: Zygote, tmp_path: Path, command: str, argv: Any, compare: Any, rerun: Any = None) -> None:
    """Reference run; then per kill point: kill, rerun, compare with the reference."""
    reference = tmp_path / "reference"
    start = time.monotonic()
    rc, total = zygote.run(argv(reference), tmp_path / "reference.log")
    seconds = time.monotonic() - start
    assert rc == 0, (tmp_path / "reference.log").read_text()
    points, same = _points(command, total, seconds), 0
    for number, (at_replace, after_s) in enumerate(points):
        out = tmp_path / f"killed-{number}"
        log = tmp_path / f"killed-{number}.log"
        rc, _ = zygote.run(argv(out), log, kill_at=at_replace, kill_after_s=after_s)
        assert rc == -9 or (after_s and rc == 0), (at_replace, after_s, rc, log.read_text()[-2000:])
        rc, _ = zygote.run((rerun or argv)(out), log)
        assert rc == 0, (at_replace, after_s, log.read_text()[-2000:])
        assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], (at_replace, after_s)
        compare(reference, out)
        same += 1
    TALLY[command] = [len(points), same]


def _files(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".log") and not str(p.relative_to(folder)).startswith(skip)}


def _without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _history(path: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def _same_run(reference: Path, run: Path) -> None:
    """Same metrics (timing aside), predictions, per-class scores and training history."""
    a, b = (json.loads((d / "metrics.json").read_text(encoding="utf-8")) for d in (reference, run))
    assert _without_timing(a) == _without_timing(b)
    for name in ("predictions.csv", "per_class.csv"):
        assert (reference / name).read_bytes() == (run / name).read_bytes(), name
    assert _history(reference / "history.csv") == _history(run / "history.csv")


def test_prepare_killed_anywhere_reruns_to_identical_files(zygote: Zygote, tone_corpus: Path, tmp_path: Path) -> None:
    def argv(out: Path) -> list[str]:
        return ["prepare", str(tone_corpus), str(out), "--group", r"regex:(?P<group>spk\d+)_", "--split", "50/25/25",
                "--folds", "2", "--workers", "1"]

    def compare(reference: Path, out: Path) -> None:
        assert _files(reference, skip=("prepare.json",)) == _files(out, skip=("prepare.json",))
        a, b = (json.loads((d / "prepare.json").read_text(encoding="utf-8")) for d in (reference, out))
        assert {**a, "command": ""} == {**b, "command": ""}  # the command names its own output folder

    _kill_loop(zygote, tmp_path, "prepare", argv, compare)


def test_train_killed_anywhere_resumes_to_the_same_result(zygote: Zygote, tone_prepared: Path, tmp_path: Path) -> None:
    def argv(out: Path) -> list[str]:
        return ["train", str(tone_prepared), "--out", str(out), *TINY]

    _kill_loop(zygote, tmp_path, "train", argv, _same_run, rerun=lambda out: [*argv(out), "--resume"])


def test_cv_killed_anywhere_resumes_to_the_same_result(zygote: Zygote, tone_corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "folds"
    rc, _ = zygote.run(["prepare", str(tone_corpus), str(data), "--group", r"regex:(?P<group>spk\d+)_",
                        "--folds", "2", "--workers", "1"], tmp_path / "prepare.log")
    assert rc == 0

    def argv(out: Path) -> list[str]:
        return ["cv", str(data), "--out", str(out), "--by", "fold", *TINY, "--epochs", "2"]

    def compare(reference: Path, out: Path) -> None:
        a, b = (json.loads((d / "cv.json").read_text(encoding="utf-8")) for d in (reference, out))
        assert _without_timing(a) == _without_timing(b)
        assert (reference / "cv.csv").read_bytes() == (out / "cv.csv").read_bytes()

    _kill_loop(zygote, tmp_path, "cv", argv, compare)


def test_export_killed_anywhere_reruns_to_the_same_model(zygote: Zygote, tone_run: Path, tmp_path: Path) -> None:
    def argv(out: Path) -> list[str]:
        return ["export", str(tone_run), "--out", str(out / "model.onnx")]

    def compare(reference: Path, out: Path) -> None:
        assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]
        a, b = Predictor.from_path(reference / "model.onnx"), Predictor.from_path(out / "model.onnx")
        assert a.info == b.info
        wave = np.sin(2 * np.pi * 300 * np.arange(8000) / 16000).astype(np.float32)
        assert a.predict_array(wave, 16000).top_k == b.predict_array(wave, 16000).top_k

    _kill_loop(zygote, tmp_path, "export", argv, compare)
