"""`earmark train`: a visible training loop on Lightning Fabric, with atomic best/last checkpoints."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from earmark.checkpoint import Classifier, build_model, load_checkpoint, save_checkpoint
from earmark.classifier import AudioClassifier
from earmark.config import TrainConfig
from earmark.data.dataset import PreparedData, TrainWindows, fit_window
from earmark.data.manifest import ManifestRow
from earmark.errors import ConfigError
from earmark.evaluation.runner import ClipScores, is_probe, probe_embeddings, score_clips, score_embeddings
from earmark.features.augment import mixup
from earmark.item_classifier import ItemClassifier
from earmark.models.pretrained.classifier import BackboneClassifier
from earmark.progress import Progress
from earmark.runtime import configure_threads, describe_threads
from earmark.training.budget import epoch_time, epochs_in_budget
from earmark.training.data_checks import check_splits, class_weights
from earmark.training.engine import close_fabric, compile_network, make_fabric, seed_everything
from earmark.training.folds import open_for_training
from earmark.training.items import describe_items, fit_config_to_data, fit_item_statistics
from earmark.training.optim import build_optimizer, build_scheduler, shorten_schedule
from earmark.training.outputs import RunFiles, check_run_dir, finish_run, start_run
from earmark.training.probe import CachedWindows
from earmark.training.recipe import recipe_lines, resolve_recipe
from earmark.training.scalars import ScalarLog
from earmark.training.transfer import describe, freeze, freeze_note, parameter_groups, warm_start

Log = Callable[[str], None]
EpochHook = Callable[[dict[str, float]], None]  # called with each epoch's record (rank 0's numbers)


@dataclass
class TrainState:
    """What changes epoch to epoch and must survive a restart."""

    epoch: int = 0  # epochs completed
    best: float = -float("inf")
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    epochs: int = 0  # the schedule's length in epochs: trainer.epochs, or fewer to fit trainer.time_budget_s


@dataclass
class Setup:
    """The model and everything that trains it, restored or fresh, before Fabric wraps it."""

    model: Classifier
    trainee: torch.nn.Module  # what the loop feeds: the model (waveforms), or a probe's head (cached embeddings)
    score: Callable[[torch.nn.Module], ClipScores]  # validation clip scores of the (Fabric-wrapped) trainee
    loader: Any  # Fabric's DataLoader (a DistributedSampler shard under DDP)
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generator: torch.Generator
    pretrained: list[str]  # parameters loaded by model.init_from (trained at the pretrained rate)
    state: TrainState


def train(data_dir: Path, run_dir: Path, config: TrainConfig, resume: bool = False, command: str = "",
          log: Log = print, holdout: tuple[str, str] | None = None,
          on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train on a prepared dataset into `run_dir`; returns the final metrics (also in metrics.json).

    `holdout` = (scheme, key) makes fold or group `key` the test set, with val carved from the rest.
    `auto` keys of `config` are resolved from the training split first (training/recipe.py).
    `on_epoch` sees every epoch's record (a search prunes a trial by raising from it).
    With several devices every rank returns rank 0's metrics; only rank 0 writes files or logs.
    """
    data = open_for_training(data_dir, holdout, config.trainer.seed)
    rows = check_splits(data)
    config = fit_config_to_data(config, data)  # images and tables: their front-end facts, one window per item
    saved = _saved_state(check_run_dir(run_dir, resume), resume)
    config, recipe = resolve_recipe(config, rows["train"], len(data.labels), saved.get("config") if saved else None)
    seed_everything(config.trainer.seed)
    model, pretrained, notes = _build_model(config, data, rows["train"], saved)  # config errors stop here
    notes = [*recipe_lines(recipe), *notes]
    fabric = make_fabric(config.trainer)  # DDP: every rank reruns the command up to here; nothing written yet
    threads = configure_threads(config.trainer.threads)  # after the launch, which sets DDP ranks' threads
    files = RunFiles(Path(fabric.broadcast(str(run_dir))))  # rank 0's folder, should ranks have named it apart
    log = log if fabric.is_global_zero else _silent
    if fabric.is_global_zero:
        start_run(files.root, data_dir, data, config, command, holdout, threads, getattr(model, "provenance", None),
                  recipe)
    fabric.barrier()
    weights, balance_note = class_weights(rows["train"], data.labels)
    sizes = f"train: {len(rows['train'])} clips, val: {len(rows['val'])}, test: {len(rows['test'])}"
    for line in [describe_threads(threads), *notes, f"{sizes}; {len(data.labels)} classes; {balance_note}"]:
        log(line)
    setup = _set_up(fabric, model, pretrained, saved, data, rows, config, log)
    criterion = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=config.optim.label_smoothing)
    _fit(fabric, files, setup, criterion, data, rows, config, log, on_epoch)
    metrics = None
    if fabric.is_global_zero:
        best = load_checkpoint(files.best)
        metrics = finish_run(files, best, data, rows, setup.state.history, setup.state.seconds, log)
    metrics = dict(fabric.broadcast(metrics))
    close_fabric(fabric)
    return metrics


def _silent(line: str) -> None:
    """The log of ranks other than 0."""


def _saved_state(files: RunFiles, resume: bool) -> dict[str, Any] | None:
    """The contents of last.ckpt when resuming a run that has one."""
    return load_checkpoint(files.last).state if resume and files.last.is_file() else None


def _build_model(config: TrainConfig, data: PreparedData, train_rows: list[ManifestRow],
                 saved: dict[str, Any] | None) -> tuple[Classifier, list[str], list[str]]:
    """The model with its starting weights and frozen layers; also the pretrained parameters and log lines.

    Starting weights: last.ckpt when resuming, else `model.init_from` where names and shapes fit, else fresh
    (for a pretrained backbone: its pretrained weights and a fresh head).
    """
    model = build_model(config, data.labels, data.sample_rate, saved.get("backbone") if saved else None)
    if isinstance(model, BackboneClassifier):
        model, pretrained, notes = _backbone_model(model, config, saved)
        if saved is None and isinstance(model, BackboneClassifier) and model.finetune:
            fit_head_statistics(model, data, train_rows, config.data.window_samples(data.sample_rate))
        return model, pretrained, notes
    if isinstance(model, ItemClassifier):
        return _item_model(model, config, data, train_rows, saved)
    notes, pretrained, start = [], [], None
    if saved is not None:
        model.load_state_dict(saved["model"])
        pretrained = list(saved.get("pretrained", []))
    elif config.model.init_from:
        start = warm_start(model, Path(config.model.init_from), config, data.labels, data.sample_rate)
        pretrained = start.pretrained
        notes.append(describe(start, Path(config.model.init_from)))
    if saved is None and (start is None or not start.kept_statistics):
        fit_normalizer(model, data, train_rows, config.data.window_samples(data.sample_rate))
    frozen = freeze(model, config.model.freeze)
    if frozen:
        notes.append(freeze_note(frozen, model))
    noise = model.augment.load_noise(data.sample_rate)  # a bad noise_dir stops here, before anything is written
    if config.augment.noise_snr_db is not None:
        notes.append(f"augmentation: {noise}" + (f", mixup alpha {config.augment.mixup_alpha}"
                                                 if config.augment.mixup_alpha > 0 else ""))
    return model, pretrained, notes


def _item_model(model: ItemClassifier, config: TrainConfig, data: PreparedData, train_rows: list[ManifestRow],
                saved: dict[str, Any] | None) -> tuple[Classifier, list[str], list[str]]:
    """`_build_model` for images and tables: resumed weights, or the standardisation fitted on train."""
    if config.model.init_from:
        raise ConfigError("model.init_from is for audio runs; an image or table model trains from scratch")
    if saved is not None:
        model.load_state_dict(saved["model"])
    else:
        fit_item_statistics(model, data, train_rows)
    notes = [describe_items(model, config)]
    frozen = freeze(model, config.model.freeze)
    if frozen:
        notes.append(freeze_note(frozen, model))
    return model, list(saved.get("pretrained", [])) if saved else [], notes


def _backbone_model(model: BackboneClassifier, config: TrainConfig,
                    saved: dict[str, Any] | None) -> tuple[Classifier, list[str], list[str]]:
    """`_build_model` for a pretrained backbone: its weights loaded already; the backbone trains at the
    pretrained rate when fine-tuned, and not at all in a probe."""
    if config.model.init_from:
        raise ConfigError("model.init_from is for earmark checkpoints; a backbone's weights come from model.weights")
    if saved is not None:
        model.load_state_dict(saved["model"])
    facts = model.provenance
    mode = (f"fine-tuning the whole network (backbone at {config.optim.pretrained_lr_scale} × lr)"
            if model.finetune else f"probe: frozen backbone, {config.model.head} head on cached embeddings")
    mode += "; embeddings standardised with training-split statistics (saved with the model)"
    notes = [f"backbone: {facts['name']} ({facts.get('licence', '?')}), weights {facts.get('weights_source')} "
             f"(sha256 {str(facts.get('weights_sha256'))[:12]}…); {facts['resampling']}; {mode}"]
    if config.trainer.compile:
        notes.append("compile: not applied to pretrained backbones (trainer.compile is for earmark's own networks)")
    frozen = freeze(model, config.model.freeze)
    if frozen:
        notes.append(freeze_note(frozen, model))
    if model.finetune:
        noise = model.augment.load_noise(model.resampler.source_rate)
        if config.augment.noise_snr_db is not None:
            notes.append(f"augmentation: {noise}")
    return model, model.backbone_parameters() if model.finetune else [], notes


def _set_up(fabric: Any, model: Classifier, pretrained: list[str], saved: dict[str, Any] | None,
            data: PreparedData, rows: dict[str, list[ManifestRow]], config: TrainConfig, log: Log) -> Setup:
    """Loader, optimiser and schedule around the model: restored from last.ckpt or fresh."""
    generator = torch.Generator().manual_seed(config.trainer.seed)
    batch, device = config.trainer.batch_size, fabric.device
    dataset: Any
    trainee: torch.nn.Module = model
    if is_probe(model):  # the backbone runs once per window, here (or never: cached), not per epoch
        model.to(device)
        train = probe_embeddings(model, data, rows["train"], config.data, batch, device, log)
        val = probe_embeddings(model, data, rows["val"], config.data, batch, device)
        if saved is None:
            cast(BackboneClassifier, model).head.fit(torch.from_numpy(np.asarray(train.vectors)).to(device))
        dataset, trainee = CachedWindows(train, rows["train"], data.labels), cast(torch.nn.Module, model.head)

        def score(net: torch.nn.Module) -> ClipScores:
            return score_embeddings(net, val, rows["val"], data.labels, config.data, batch, device)
    else:
        dataset = TrainWindows(data, rows["train"], config.data.window_samples(data.sample_rate),
                               shift=config.augment.time_shift, loud_db=config.augment.loud_window_db)

        def score(net: torch.nn.Module) -> ClipScores:
            return score_clips(net, data, rows["val"], data.labels, config.data, batch, device)
    loader = DataLoader(dataset, batch_size=config.trainer.batch_size, shuffle=True, generator=generator,
                        drop_last=len(dataset) > config.trainer.batch_size, num_workers=config.data.num_workers)
    loader = fabric.setup_dataloaders(loader)  # first, so the schedule counts this rank's steps
    optimizer = build_optimizer(parameter_groups(model, pretrained, config.optim), config.optim)
    scheduler = build_scheduler(optimizer, config.optim, len(loader), config.trainer.resolved_epochs)
    state = (_restore(saved, optimizer, scheduler, generator, config.trainer.resolved_epochs) if saved is not None
             else TrainState(epochs=config.trainer.resolved_epochs))
    if hasattr(loader, "_num_iter_calls"):  # Fabric numbers DistributedSampler epochs by this count: resume it
        loader._num_iter_calls = state.epoch
    return Setup(model, trainee, score, loader, optimizer, scheduler, generator, pretrained, state)


def _fit(fabric: Any, files: RunFiles, setup: Setup, criterion: torch.nn.Module, data: PreparedData,
         rows: dict[str, list[ManifestRow]], config: TrainConfig, log: Log, on_epoch: EpochHook | None = None
         ) -> None:
    """The epoch loop; rank 0 writes checkpoints, history.csv and the TensorBoard scalars."""
    fabric_model, optimizer = fabric.setup(setup.trainee, setup.optimizer)
    if config.trainer.compile and isinstance(setup.model, AudioClassifier):
        compile_network(setup.model, config.data.window_samples(data.sample_rate), fabric.device)
    criterion = criterion.to(fabric.device)
    scalars = ScalarLog(files.tensorboard, setup.state.epoch) if fabric.is_global_zero else None
    try:
        while setup.state.epoch < setup.state.epochs:
            start = time.perf_counter()
            progress = Progress(f"epoch {setup.state.epoch + 1}/{setup.state.epochs}", len(setup.loader),
                                enabled=None if fabric.is_global_zero else False)
            loss, accuracy, clips = _train_epoch(fabric, fabric_model, setup.loader, optimizer, setup.scheduler,
                                                 criterion, config.optim.grad_clip, config.augment.mixup_alpha,
                                                 progress)
            val = setup.score(fabric_model)
            seconds = time.perf_counter() - start
            record = {"epoch": setup.state.epoch + 1, "train_loss": loss, "train_accuracy": accuracy,
                      "val_loss": val.loss, "val_accuracy": float(np.mean(val.probs.argmax(1) == val.y_true)),
                      "lr": float(max(setup.scheduler.get_last_lr())), "seconds": seconds,
                      "clips_per_s": clips / seconds}
            record = fabric.broadcast(record)  # every rank acts on rank 0's numbers: same best, same stop
            _fit_schedule_to_budget(setup, config, record, log)
            _end_epoch(fabric, files, setup, config, data, record, scalars, log)
            if on_epoch is not None:
                on_epoch(record)
            if _should_stop(setup.state, config):
                log(f"early stop: no improvement of {config.trainer.monitor} for {config.trainer.patience} epochs")
                break
            if _budget_spent(setup.state, config):
                log(f"time budget spent: {setup.state.seconds:.0f} s of trainer.time_budget_s="
                    f"{config.trainer.time_budget_s:g} s; stopping after epoch {setup.state.epoch}")
                break
    finally:
        if scalars is not None:
            scalars.close()


def _train_epoch(fabric: Any, model: torch.nn.Module, loader: Any, optimizer: torch.optim.Optimizer,
                 scheduler: Any, criterion: torch.nn.Module, grad_clip: float | None,
                 mixup_alpha: float = 0.0, progress: Progress | None = None) -> tuple[float, float, int]:
    """One pass over the training windows; returns mean loss, accuracy and the number of clips seen (all ranks).
    With mixup, accuracy counts agreement with the dominant clip of each mix."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for wave, target in loader:
        optimizer.zero_grad(set_to_none=True)
        if mixup_alpha > 0:
            wave, target, other, lam = mixup(wave, target, mixup_alpha)
            logits = model(wave)
            loss = lam * criterion(logits.float(), target) + (1 - lam) * criterion(logits.float(), other)
            target = target if lam >= 0.5 else other
        else:
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
        if progress is not None:  # a terminal line: batches, loss, accuracy and clips/s so far (rank 0)
            progress.update(1, f"loss {total_loss / seen:.4f}  acc {correct / seen:.3f}  "
                               f"{seen / max(progress.elapsed, 1e-9):.0f} clips/s")
    if progress is not None:
        progress.close()
    totals = torch.tensor([total_loss, correct, seen], dtype=torch.float64, device=fabric.device)
    loss_sum, right, clips = fabric.all_reduce(totals, reduce_op="sum").tolist()  # every rank's share
    return loss_sum / max(clips, 1), right / max(clips, 1), int(clips)


@torch.no_grad()
def fit_normalizer(model: AudioClassifier, data: PreparedData, rows: list[ManifestRow], window: int,
                   limit: int = 2000) -> None:
    """Estimate per-frequency feature statistics on (up to `limit`) training clips, centred windows."""
    if model.normalizer.mode != "dataset":
        return
    step = max(1, len(rows) // limit)
    waves = [fit_window(data.samples(row), window, None if row.num_samples < window else 0)
             for row in rows[::step]]
    batches = [model.frontend(torch.from_numpy(np.stack(waves[i : i + 256])))
               for i in range(0, len(waves), 256)]
    model.normalizer.fit(batches)


@torch.no_grad()
def fit_head_statistics(model: BackboneClassifier, data: PreparedData, rows: list[ManifestRow], window: int,
                        limit: int = 256) -> None:
    """The head's embedding statistics from the pretrained backbone on (up to `limit`) training clips, centred
    windows: fine-tuning starts from the same standardisation a probe would use."""
    step = max(1, len(rows) // limit)
    waves = [fit_window(data.samples(row), window, None if row.num_samples < window else 0) for row in rows[::step]]
    was_training = model.training
    model.eval()
    vectors = [model.embed(torch.from_numpy(np.stack(waves[i : i + 32]))) for i in range(0, len(waves), 32)]
    model.train(was_training)
    model.head.fit(torch.cat(vectors))


def _end_epoch(fabric: Any, files: RunFiles, setup: Setup, config: TrainConfig, data: PreparedData,
               record: dict[str, float], scalars: ScalarLog | None, log: Log) -> None:
    """Record the epoch, keep the best weights, write last.ckpt, history and scalars (only rank 0 writes)."""
    state = setup.state
    state.epoch = int(record["epoch"])
    state.seconds += record["seconds"]
    state.history.append(record)
    score = record[config.trainer.monitor] if config.trainer.monitor in record else record["val_accuracy"]
    score = -score if config.trainer.monitor.endswith("loss") else score
    # A tie goes to the later epoch: with a small validation set ties are common, and the later weights have
    # trained longer at a lower learning rate.
    improved = score >= state.best
    if improved:
        state.best, state.best_epoch = score, state.epoch
    log(f"epoch {state.epoch:3d}/{state.epochs}  loss {record['train_loss']:.4f}  "
        f"acc {record['train_accuracy']:.3f}  val loss {record['val_loss']:.4f}  val acc {record['val_accuracy']:.3f}"
        f"  {record['clips_per_s']:.0f} clips/s  {record['seconds']:.1f} s{'  *' if improved else ''}")
    if not fabric.is_global_zero:
        return
    extra = {"epoch": state.epoch, "best": state.best, "best_epoch": state.best_epoch, "history": state.history,
             "seconds_train": state.seconds, "optimizer": setup.optimizer.state_dict(),
             "scheduler": setup.scheduler.state_dict(), "rng_torch": torch.get_rng_state(),
             "rng_loader": setup.generator.get_state(), "pretrained": setup.pretrained, "epochs": state.epochs}
    if improved:
        save_checkpoint(files.best, setup.model, config, data.labels, data.sample_rate, **extra)
    save_checkpoint(files.last, setup.model, config, data.labels, data.sample_rate, **extra)
    files.write_history(state.history)
    if scalars is not None:
        scalars.add(record)


def _restore(saved: dict[str, Any], optimizer: torch.optim.Optimizer, scheduler: Any,
             generator: torch.Generator, config_epochs: int) -> TrainState:
    """Continue from last.ckpt (weights already loaded): optimiser, schedule, RNG states and history."""
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(saved["rng_torch"])
    generator.set_state(saved["rng_loader"])
    return TrainState(saved["epoch"], saved["best"], saved["best_epoch"], list(saved["history"]),
                      saved["seconds_train"], int(saved.get("epochs") or config_epochs))


def _should_stop(state: TrainState, config: TrainConfig) -> bool:
    """Early stopping: `patience` epochs since the best one, and never in the first half of the schedule.

    In the first half the learning rate is still high and the validation score swings from epoch to epoch
    (the espeak gender set, 240 validation clips: 0.68-0.98 within ten epochs), so a lucky early epoch would
    end the run before the schedule anneals: the default then lost to the logreg baseline there (0.950 against
    0.992 test, best epoch 3 of 90, stopped at 21).
    """
    patience = config.trainer.resolved_patience
    return (patience is not None and state.epoch >= state.epochs // 2
            and state.epoch - state.best_epoch >= patience)


def _fit_schedule_to_budget(setup: Setup, config: TrainConfig, record: dict[str, float], log: Log) -> None:
    """With `trainer.time_budget_s`, shorten the schedule when the epochs left would not fit in the budget
    (training/budget.py); said once when it first happens, then only in the epoch lines' "/N"."""
    budget, state = config.trainer.time_budget_s, setup.state
    if budget is None:
        return
    seconds = [float(item["seconds"]) for item in state.history] + [float(record["seconds"])]
    epochs = epochs_in_budget(seconds, state.seconds + float(record["seconds"]), budget, state.epochs)
    if epochs >= state.epochs:
        return
    if state.epochs == config.trainer.resolved_epochs:
        log(f"time budget: {config.trainer.resolved_epochs} epochs would not fit in trainer.time_budget_s="
            f"{budget:g} s at {epoch_time(seconds):.1f} s an epoch; the schedule now ends at epoch {epochs}, so the "
            "learning rate still anneals")
    state.epochs = epochs
    shorten_schedule(setup.scheduler, epochs * len(setup.loader))


def _budget_spent(state: TrainState, config: TrainConfig) -> bool:
    """Whether the training seconds so far (resumed runs included) reached `trainer.time_budget_s`."""
    budget = config.trainer.time_budget_s
    return budget is not None and state.seconds >= budget
