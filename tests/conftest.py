"""Shared fixtures: small synthetic corpora made in the tests (nothing is downloaded or committed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from earmark.runtime import apply_thread_policy

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, children too
    os.environ.setdefault("EARMARK_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
apply_thread_policy()  # as the CLI does, before anything loads torch: OpenMP threads sleep at barriers

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402

TONE_CLASSES = {"low": 300.0, "mid": 900.0, "high": 2400.0}
# A few seconds of real training on the tone corpus: 0.5-s windows, 4 epochs, CPU. For tests of the mechanics
# (files, resume, logs): after 4 epochs the model is not reliably right, and on another CPU it is another model.
FAST_TRAIN = ["trainer.epochs=4", "trainer.batch_size=16", "data.window_s=0.5", "data.eval_hop_s=0.25",
              "optim.lr=0.01", "trainer.device=cpu"]
# Trained until it is clearly right: 20 epochs (each about 0.2 s here), the best epoch by validation loss, so the
# kept weights are confident on validation clips rather than the first epoch that scraped every one of them.
WELL_TRAINED = [*FAST_TRAIN, "trainer.epochs=20", "trainer.monitor=val_loss"]


def pytest_report_header() -> str:
    """The threads the suite runs with, in pytest's header (no assertion depends on them)."""
    import torch

    return (f"earmark: torch {torch.get_num_threads()} threads of {os.cpu_count()} cores, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")


def write_tone(path: Path, freq: float, seconds: float, rate: int, rng: np.random.Generator,
               subtype: str = "PCM_16", channels: int = 1) -> None:
    """A noisy tone with a random phase, written with soundfile."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.5 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) + 0.02 * rng.standard_normal(t.size)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data.astype(np.float32), rate, subtype=subtype)


def make_tone_corpus(root: Path, speakers: int = 6, takes: int = 4, seed: int = 0) -> Path:
    """`root/<class>/<speaker>_<take>.wav`: 3 tone classes, a few 'speakers' (groups), mixed rates."""
    rng = np.random.default_rng(seed)
    for label, freq in TONE_CLASSES.items():
        for s in range(speakers):
            for take in range(takes):
                rate = (8000, 16000, 22050)[(s + take) % 3]
                seconds = float(rng.uniform(0.4, 1.6))
                write_tone(root / label / f"spk{s}_{take}.wav", freq * (1 + 0.03 * s), seconds, rate, rng)
    return root


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tone_corpus(tmp_path_factory.mktemp("tones"))


def private_copy(prepared: Path, into: Path) -> Path:
    """A copy of a prepared dataset at `into`, without its embedding caches: a probe writes its own there."""
    shutil.copytree(prepared, into, ignore=shutil.ignore_patterns("embeddings"))
    return into


@pytest.fixture(scope="session")
def tone_prepared(tone_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from earmark.data.prepare import PrepareOptions, prepare
    from earmark.data.sources import LabelSpec

    out = tmp_path_factory.mktemp("prepared")
    spec = LabelSpec(labels="folder", group=r"regex:(?P<group>spk\d+)_")
    prepare(tone_corpus, out, spec, PrepareOptions(sample_rate=16000, split="50/25/25", seed=0, workers=1))
    return out


@pytest.fixture(scope="session")
def tone_run(tone_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained run shared by the training, prediction and export tests (treat it as read-only).

    Recognition tests rely on it being right on its own validation clips, so that is checked here: a model that
    is not would make them fail for a reason that is not theirs.
    """
    from earmark.config import load_train_config
    from earmark.training.loop import train

    run = tmp_path_factory.mktemp("run")
    metrics = train(tone_prepared, run, load_train_config(overrides=WELL_TRAINED), log=lambda _: None)
    assert metrics["val"]["accuracy"] == 1.0, f"tone_run is not right on its validation clips: {metrics['val']}"
    return run
