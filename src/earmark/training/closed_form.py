"""The logreg baseline as an ordinary run: an AudioClassifier whose network is the registry's `logreg`, fitted
in closed form (full-batch L-BFGS, `evaluation.baselines.fit_logreg`) instead of by the epoch loop.

It is fitted on the statistics of every evaluation window of the training clips (each window labelled with its
clip's label), the very inputs it scores; metrics.json's `logreg` baseline pools whole clips instead, so the two
differ where clips are longer than the window.

The run folder is like any other (config.yaml, run.json, checkpoints/best.ckpt, metrics.json, reports), so
`earmark evaluate`, `predict` and `export` work on it. There is no last.ckpt: nothing to resume.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from earmark.checkpoint import build_model, load_checkpoint, save_checkpoint
from earmark.classifier import AudioClassifier
from earmark.config import TrainConfig
from earmark.data.dataset import EvalWindows, PreparedData
from earmark.data.manifest import ManifestRow
from earmark.errors import ConfigError
from earmark.evaluation.baselines import fit_logreg
from earmark.models.baselines import PooledLogReg
from earmark.runtime import configure_threads
from earmark.training.data_checks import check_splits
from earmark.training.engine import seed_everything
from earmark.training.folds import open_for_training
from earmark.training.loop import fit_normalizer
from earmark.training.outputs import RunFiles, check_run_dir, finish_run, start_run
from earmark.training.recipe import recipe_lines, resolve_recipe

MODEL = "logreg"
BATCH = 64  # windows per front-end pass


class _NetworkInput(nn.Module):
    """Waveforms → what the network sees in eval mode (front-end, then the dataset normaliser)."""

    def __init__(self, model: AudioClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.model.normalizer(self.model.frontend(waveform))


@torch.no_grad()
def window_statistics(model: AudioClassifier, data: PreparedData, rows: list[ManifestRow], window: int,
                      hop: int) -> tuple[np.ndarray, np.ndarray]:
    """`[W, 2F]` per-band mean and std (over time) of every evaluation window of `rows`, as the network pools
    them, and each window's label index: the model is fitted on exactly what it will score."""
    windows = EvalWindows(data, rows, window, hop, data.labels)
    network_input = _NetworkInput(model)
    stats, labels = [], []
    for wave, target, _ in DataLoader(windows, batch_size=BATCH):
        frames = network_input(wave)[:, 0].double()  # [B, F, T]
        stats.append(torch.cat([frames.mean(dim=-1), frames.std(dim=-1, unbiased=False)], dim=1).numpy())
        labels.append(target.numpy())
    return np.concatenate(stats), np.concatenate(labels)


def set_logreg_weights(network: nn.Module, weight: np.ndarray, bias: np.ndarray) -> None:
    """Load closed-form weights `[D, K]` and bias `[K]` (of raw pooled statistics) into a PooledLogReg."""
    if not isinstance(network, PooledLogReg):
        raise ConfigError(f"the closed-form fit needs model.name={MODEL}, not {type(network).__name__}")
    mean, var = network.norm.running_mean, network.norm.running_var
    assert mean is not None and var is not None  # BatchNorm1d tracks running statistics by default
    with torch.no_grad():
        mean.zero_()  # the standardisation is folded into the weights already
        var.fill_(1.0 - network.norm.eps)  # so the eval-mode norm is the identity
        network.linear.weight.copy_(torch.from_numpy(weight.T.copy()).float())
        network.linear.bias.copy_(torch.from_numpy(bias).float())


def fit_logreg_run(data_dir: Path, run_dir: Path, config: TrainConfig, command: str = "",
                   log: Callable[[str], None] = print, holdout: tuple[str, str] | None = None) -> dict[str, Any]:
    """Fit the logreg classifier on the train split into `run_dir`; returns metrics.json's contents."""
    data = open_for_training(data_dir, holdout, config.trainer.seed)
    rows = check_splits(data)
    files = check_run_dir(run_dir, resume=False)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, name=MODEL))
    config, recipe = resolve_recipe(config, rows["train"], len(data.labels))
    for line in recipe_lines(recipe):
        log(line)
    seed_everything(config.trainer.seed)
    start = time.perf_counter()
    model = build_model(config, data.labels, data.sample_rate)
    assert isinstance(model, AudioClassifier)  # logreg is a network over the default front-end, never a backbone
    window = config.data.window_samples(data.sample_rate)
    fit_normalizer(model, data, rows["train"], window)
    model.eval()
    features, y = window_statistics(model, data, rows["train"], window,
                                    max(1, round(config.data.resolved_hop_s * data.sample_rate)))
    weight, bias = fit_logreg(features, y, len(data.labels), config.trainer.seed)
    set_logreg_weights(model.network, weight, bias)
    seconds = time.perf_counter() - start
    start_run(files.root, data_dir, data, config, command, holdout, threads=configure_threads(config.trainer.threads),
              recipe=recipe)
    save_checkpoint(files.best, model, config, data.labels, data.sample_rate, epoch=0, best_epoch=0, history=[],
                    seconds_train=seconds, fitted="closed form (L-BFGS, full batch)")
    log(f"logreg fitted in closed form on {len(y)} train clips ({seconds:.1f} s)")
    return finish_run(RunFiles(files.root), load_checkpoint(files.best), data, rows, [], seconds, log)
