"""Transfer learning on real runs: init from a checkpoint, a fresh head for new labels, frozen layers, lr groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.checkpoint import build_model, load_checkpoint, save_checkpoint
from earmark.config import load_train_config
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.sources import LabelSpec
from earmark.errors import ConfigError
from earmark.training.loop import train
from earmark.training.transfer import warm_start
from tests.conftest import write_tone

FAST = ["model.name=cnn", "trainer.epochs=3", "trainer.batch_size=16", "data.window_s=0.5", "data.eval_hop_s=0.25",
        "optim.lr=0.01", "trainer.device=cpu"]
UNTIL_RIGHT = ["trainer.epochs=10", "trainer.monitor=val_loss"]  # right on val clips over 6 seeds (3 epochs: 1 of 6)
HEAD = ["network.head.3.weight", "network.head.3.bias"]  # cnn's last layer: its shape follows the label count


@pytest.fixture(scope="module")
def source_run(tone_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-class tone model to start from, trained until right (after 3 epochs the fine-tuned head's val accuracy
    went anywhere from 0 to 1 with the seed: its frozen features were not yet worth transferring)."""
    run = tmp_path_factory.mktemp("source")
    train(tone_prepared, run, load_train_config(overrides=[*FAST, *UNTIL_RIGHT]), log=lambda _: None)
    return run


@pytest.fixture(scope="module")
def two_tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared dataset with another label set: two new tones."""
    root, rng = tmp_path_factory.mktemp("two-tones"), np.random.default_rng(7)
    for label, freq in {"hum": 500.0, "whistle": 3200.0}.items():
        for s in range(4):
            for take in range(4):
                write_tone(root / label / f"spk{s}_{take}.wav", freq, float(rng.uniform(0.5, 1.2)), 16000, rng)
    out = tmp_path_factory.mktemp("two-tones-prepared")
    prepare(root, out, LabelSpec(group=r"regex:(?P<group>spk\d+)_"), PrepareOptions(split="50/25/25", workers=1))
    return out


def test_new_label_set_gets_a_fresh_head_and_frozen_layers_stay(source_run: Path, two_tones: Path,
                                                                 tmp_path: Path) -> None:
    lines: list[str] = []
    config = load_train_config(overrides=[*FAST, *UNTIL_RIGHT, "trainer.batch_size=8"],
                               flags={"model.init_from": str(source_run), "model.freeze": ["network.features"]})
    metrics = train(two_tones, tmp_path / "ft", config, log=lines.append)
    source = load_checkpoint(source_run / "checkpoints" / "best.ckpt").state["model"]
    tuned = load_checkpoint(tmp_path / "ft" / "checkpoints" / "last.ckpt")
    weights = tuned.state["model"]
    assert any(f"skipped {len(HEAD)} ({', '.join(HEAD)})" in line for line in lines), lines
    assert any(f"loaded {len(source) - len(HEAD)} tensors" in line for line in lines), lines
    assert weights["network.head.3.weight"].shape[0] == 2 and tuned.labels == ["hum", "whistle"]
    conv = [name for name in weights if name.startswith("network.features") and name.endswith("weight")]
    assert conv and all(torch.equal(weights[name], source[name]) for name in conv)  # loaded, then frozen
    assert not torch.equal(weights["network.head.0.weight"], source["network.head.0.weight"])  # loaded, trained
    assert torch.equal(weights["normalizer.mean"], source["normalizer.mean"])  # same front-end: kept
    groups = tuned.state["optimizer"]["param_groups"]
    assert [g["initial_lr"] for g in groups] == pytest.approx([0.01, 0.001])  # new head, pretrained × 0.1
    assert [len(g["params"]) for g in groups] == [2, 2]  # head.3 new; head.0 pretrained; features frozen
    assert metrics["val"]["accuracy"] >= 0.75
    assert "init_from" in (tmp_path / "ft" / "config.yaml").read_text()


def test_same_labels_load_everything_at_the_pretrained_rate(source_run: Path, tone_prepared: Path,
                                                            tmp_path: Path) -> None:
    config = load_train_config(overrides=[*FAST, "trainer.epochs=1", "optim.pretrained_lr_scale=0.5"],
                               flags={"model.init_from": str(source_run / "checkpoints" / "best.ckpt")})
    lines: list[str] = []
    train(tone_prepared, tmp_path / "same", config, log=lines.append)
    n_tensors = len(load_checkpoint(source_run / "checkpoints" / "best.ckpt").state["model"])
    assert any(f"loaded {n_tensors} tensors, skipped 0;" in line for line in lines), lines
    groups = load_checkpoint(tmp_path / "same" / "checkpoints" / "last.ckpt").state["optimizer"]["param_groups"]
    assert [g["initial_lr"] for g in groups] == pytest.approx([0.005])


def test_statistics_are_refit_when_the_front_end_differs(source_run: Path) -> None:
    labels = load_checkpoint(source_run / "checkpoints" / "best.ckpt").labels
    config = load_train_config(overrides=[*FAST, "features.f_min=60"])  # same shapes, different features
    start = warm_start(build_model(config, labels, 16000), source_run, config, labels, 16000)
    assert not start.kept_statistics and "normalizer.mean" in start.skipped and not start.skipped[2:]
    same = build_model(load_train_config(overrides=FAST), ["x", "y", "z"], 16000)  # same count, other labels
    relabelled = warm_start(same, source_run, load_train_config(overrides=FAST), ["x", "y", "z"], 16000)
    assert relabelled.kept_statistics and relabelled.skipped == HEAD


def test_bad_freeze_patterns_and_unrelated_checkpoints_fail_before_writing(source_run: Path, tone_prepared: Path,
                                                                          tmp_path: Path) -> None:
    run = tmp_path / "never"
    bad = load_train_config(overrides=FAST, flags={"model.freeze": ["network.blocks.0.*"]})
    with pytest.raises(ConfigError, match=r"matches no parameter; names look like: network\.features\.0\.0\.weight"):
        train(tone_prepared, run, bad, log=lambda _: None)
    everything = load_train_config(overrides=FAST, flags={"model.freeze": ["regex:network\\..*"]})
    with pytest.raises(ConfigError, match="no parameter to train"):
        train(tone_prepared, run, everything, log=lambda _: None)
    mlp_config = load_train_config(overrides=[*FAST, "model.name=mlp"])
    save_checkpoint(tmp_path / "mlp.ckpt", build_model(mlp_config, ["a", "b"], 16000), mlp_config, ["a", "b"], 16000)
    unrelated = load_train_config(overrides=FAST, flags={"model.init_from": str(tmp_path / "mlp.ckpt")})
    with pytest.raises(ConfigError, match="none of its weights fit model 'cnn'"):
        train(tone_prepared, run, unrelated, log=lambda _: None)
    assert not run.exists()
