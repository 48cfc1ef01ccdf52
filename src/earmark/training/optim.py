"""Optimiser and learning-rate schedule from the `optim` config section."""

from __future__ import annotations

import math
from typing import Any

import torch

from earmark.config import OptimConfig
from earmark.errors import ConfigError

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "constant")


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
    """Per-step schedule: linear warmup, then cosine decay to zero (or constant)."""
    if config.schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, round(config.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
