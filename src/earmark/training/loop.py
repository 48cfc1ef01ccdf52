"""`earmark train`: a visible training loop on Lightning Fabric, with atomic best/last checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from earmark.checkpoint import build_model, load_checkpoint, save_checkpoint
from earmark.classifier import AudioClassifier
from earmark.config import TrainConfig
from earmark.data.dataset import PreparedData, TrainWindows, fit_window
from earmark.evaluation.runner import score_clips
from earmark.training.data_checks import check_splits, class_weights
from earmark.training.engine import make_fabric, seed_everything
from earmark.training.folds import hold_out
from earmark.training.optim import build_optimizer, build_scheduler
from earmark.training.outputs import RunFiles, finish_run, start_run

Log = Callable[[str], None]


@dataclass
class TrainState:
    """What changes epoch to epoch and must survive a restart."""

    epoch: int = 0  # epochs completed
    best: float = -float("inf")
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def train(data_dir: Path, run_dir: Path, config: TrainConfig, resume: bool = False, command: str = "",
          log: Log = print, holdout: tuple[str, str] | None = None) -> dict[str, Any]:
    """Train on a prepared dataset into `run_dir`; returns the final metrics (also in metrics.json).

    `holdout` = (scheme, key) makes fold or group `key` the test set, with val carved from the rest.
    """
    data = PreparedData.open(data_dir)
    if holdout is not None:
        data = hold_out(data, holdout[1], holdout[0], config.trainer.seed)
    rows = check_splits(data)
    files = start_run(run_dir, data_dir, data, config, command, resume, holdout)
    if config.trainer.threads:
        torch.set_num_threads(config.trainer.threads)
    seed_everything(config.trainer.seed)
    fabric = make_fabric(config.trainer)
    window = round(config.data.window_s * data.sample_rate)
    model = build_model(config, data.labels, data.sample_rate)
    generator = torch.Generator().manual_seed(config.trainer.seed)
    dataset = TrainWindows(data, rows["train"], window)
    loader = DataLoader(dataset, batch_size=config.trainer.batch_size, shuffle=True, generator=generator,
                        drop_last=len(dataset) > config.trainer.batch_size, num_workers=config.data.num_workers)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], config.optim)
    scheduler = build_scheduler(optimizer, config.optim, len(loader), config.trainer.epochs)
    state = _restore(files, model, optimizer, scheduler, generator) if resume else None
    if state is None:
        state = TrainState()
        fit_normalizer(model, data, rows["train"], window)
    weights, balance_note = class_weights(rows["train"], data.labels)
    log(f"train: {len(rows['train'])} clips, val: {len(rows['val'])}, test: {len(rows['test'])}; "
        f"{len(data.labels)} classes; {balance_note}")
    criterion = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=config.optim.label_smoothing)
    fabric_model, optimizer = fabric.setup(model, optimizer)
    loader = fabric.setup_dataloaders(loader)
    for epoch in range(state.epoch, config.trainer.epochs):
        start = time.perf_counter()
        train_loss, train_acc, clips = _train_epoch(fabric, fabric_model, loader, optimizer, scheduler,
                                                    criterion.to(fabric.device), config.optim.grad_clip)
        val = score_clips(fabric_model, data, rows["val"], data.labels, config.data,
                          config.trainer.batch_size, fabric.device)
        seconds = time.perf_counter() - start
        record = {"epoch": epoch + 1, "train_loss": train_loss, "train_accuracy": train_acc,
                  "val_loss": val.loss, "val_accuracy": float(np.mean(val.probs.argmax(1) == val.y_true)),
                  "lr": float(scheduler.get_last_lr()[0]), "seconds": seconds, "clips_per_s": clips / seconds}
        _end_epoch(fabric, files, model, optimizer, scheduler, generator, config, data, state, record, log)
        if _should_stop(state, config):
            log(f"early stop: no improvement of {config.trainer.monitor} for {config.trainer.patience} epochs")
            break
    best = load_checkpoint(files.best)
    return finish_run(files, best, data, rows, config, state.history, state.seconds, log)


def _train_epoch(fabric: Any, model: torch.nn.Module, loader: Any, optimizer: torch.optim.Optimizer,
                 scheduler: Any, criterion: torch.nn.Module, grad_clip: float | None) -> tuple[float, float, int]:
    """One pass over the training windows; returns mean loss, accuracy and the number of clips seen."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for wave, target in loader:
        optimizer.zero_grad(set_to_none=True)
        logits = model(wave)
        loss = criterion(logits.float(), target)
        fabric.backward(loss)
        if grad_clip:
            fabric.clip_gradients(model, optimizer, max_norm=grad_clip)
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * target.shape[0]
        correct += int((logits.argmax(1) == target).sum().item())
        seen += target.shape[0]
    return total_loss / max(seen, 1), correct / max(seen, 1), seen


@torch.no_grad()
def fit_normalizer(model: AudioClassifier, data: PreparedData, rows: list, window: int, limit: int = 2000) -> None:
    """Estimate per-frequency feature statistics on (up to `limit`) training clips, centred windows."""
    if model.normalizer.mode != "dataset":
        return
    step = max(1, len(rows) // limit)
    waves = [fit_window(data.samples(row), window, None if row.num_samples < window else 0)
             for row in rows[::step]]
    batches = [model.frontend(torch.from_numpy(np.stack(waves[i : i + 256])))
               for i in range(0, len(waves), 256)]
    model.normalizer.fit(batches)


def _end_epoch(fabric: Any, files: RunFiles, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               scheduler: Any, generator: torch.Generator, config: TrainConfig, data: PreparedData,
               state: TrainState, record: dict[str, float], log: Log) -> None:
    """Record the epoch, keep the best weights, write last.ckpt (only rank 0 writes)."""
    state.epoch = int(record["epoch"])
    state.seconds += record["seconds"]
    state.history.append(record)
    score = record[config.trainer.monitor] if config.trainer.monitor in record else record["val_accuracy"]
    score = -score if config.trainer.monitor.endswith("loss") else score
    improved = score > state.best
    if improved:
        state.best, state.best_epoch = score, state.epoch
    log(f"epoch {state.epoch:3d}/{config.trainer.epochs}  loss {record['train_loss']:.4f}  "
        f"acc {record['train_accuracy']:.3f}  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.3f}"
        f"  {record['clips_per_s']:.0f} clips/s  {record['seconds']:.1f} s{'  *' if improved else ''}")
    if not fabric.is_global_zero:
        return
    extra = {"epoch": state.epoch, "best": state.best, "best_epoch": state.best_epoch, "history": state.history,
             "seconds_train": state.seconds, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng_torch": torch.get_rng_state(), "rng_loader": generator.get_state()}
    if improved:
        save_checkpoint(files.best, model, config, data.labels, data.sample_rate, **extra)
    save_checkpoint(files.last, model, config, data.labels, data.sample_rate, **extra)
    files.write_history(state.history)


def _restore(files: RunFiles, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
             generator: torch.Generator) -> TrainState | None:
    """Continue from last.ckpt: weights, optimiser, schedule, RNG states and history."""
    if not files.last.is_file():
        return None
    state = load_checkpoint(files.last).state
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng_torch"])
    generator.set_state(state["rng_loader"])
    return TrainState(state["epoch"], state["best"], state["best_epoch"], list(state["history"]),
                      state["seconds_train"])


def _should_stop(state: TrainState, config: TrainConfig) -> bool:
    """Early stopping: `patience` epochs since the best one."""
    patience = config.trainer.patience
    return patience is not None and state.epoch - state.best_epoch >= patience
