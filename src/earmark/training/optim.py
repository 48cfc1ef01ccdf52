"""Optimiser and learning-rate schedule from the `optim` config section."""

from __future__ import annotations

import math
from typing import Any

import torch

from earmark.config import OptimConfig
from earmark.errors import ConfigError

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "onecycle", "constant")
ONECYCLE_START, ONECYCLE_END = 1 / 25, 1e-4  # of the peak lr, as in Smith's one-cycle policy


def build_optimizer(params: list[torch.nn.Parameter] | list[dict[str, Any]],
                    config: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum, with the configured weight decay; `params` may be parameter groups."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                               nesterov=config.momentum > 0)
    raise ConfigError(f"optim.optimizer {config.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimConfig, steps_per_epoch: int,
                    epochs: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warmup, then cosine decay to zero (or constant); or one cycle (Smith and
    Topin, 2019): up from lr/25 over the warmup (30% of training when warmup_epochs is 0), then down to lr/1e4."""
    if config.schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "onecycle" and warmup == 0:
        warmup = round(0.3 * total)

    def factor(step: int) -> float:
        if config.schedule == "onecycle":
            return _one_cycle(step, warmup, total)
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _one_cycle(step: int, warmup: int, total: int) -> float:
    """The one-cycle factor of the peak lr at `step`: cosine up, then cosine down."""
    if step < warmup:
        rise = 0.5 * (1.0 - math.cos(math.pi * step / max(1, warmup)))
        return ONECYCLE_START + (1.0 - ONECYCLE_START) * rise
    fall = 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return ONECYCLE_END + (1.0 - ONECYCLE_END) * fall
