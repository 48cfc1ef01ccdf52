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
    Topin, 2019): up from lr/25 over the warmup (30% of training when warmup_epochs is 0), then down to lr/1e4.

    Its length can be shortened later (`shorten_schedule`); the length is part of the scheduler's state_dict,
    so a resumed run keeps it."""
    if config.schedule not in SCHEDULES:
        raise ConfigError(f"optim.schedule {config.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    total = max(1, steps_per_epoch * epochs)
    warmup = min(total - 1, round(config.warmup_epochs * steps_per_epoch))
    if config.schedule == "onecycle" and warmup == 0:
        warmup = round(0.3 * total)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, LrFactor(config.schedule, warmup, total))


class LrFactor:
    """The factor of the peak learning rate at a step. A callable object, not a closure, so that LambdaLR saves
    its fields (schedule, warmup, total) with the scheduler's state."""

    def __init__(self, schedule: str, warmup: int, total: int) -> None:
        self.schedule, self.warmup, self.total = schedule, warmup, total

    def __call__(self, step: int) -> float:
        if self.schedule == "onecycle":
            return _one_cycle(step, self.warmup, self.total)
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        if self.schedule == "constant":
            return 1.0
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def shorten_schedule(scheduler: torch.optim.lr_scheduler.LambdaLR, total_steps: int) -> None:
    """End the schedule at `total_steps` (from the step it is at, the decay follows the shorter curve; a
    one-cycle warmup not yet finished is shortened in proportion). Never lengthens it."""
    for factor in scheduler.lr_lambdas:
        if not isinstance(factor, LrFactor) or total_steps >= factor.total:
            continue
        done = int(scheduler.last_epoch)
        total = max(total_steps, done + 1)
        if factor.schedule == "onecycle" and factor.warmup > done:
            factor.warmup = max(done, round(factor.warmup * total / factor.total))
        factor.warmup = min(factor.warmup, total - 1)
        factor.total = total
    for group, base, factor in zip(scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas,
                                   strict=True):
        group["lr"] = base * factor(int(scheduler.last_epoch))  # this step's rate on the shorter curve
    scheduler._last_lr = [group["lr"] for group in scheduler.optimizer.param_groups]  # what get_last_lr reads


def _one_cycle(step: int, warmup: int, total: int) -> float:
    """The one-cycle factor of the peak lr at `step`: cosine up, then cosine down."""
    if step < warmup:
        rise = 0.5 * (1.0 - math.cos(math.pi * step / max(1, warmup)))
        return ONECYCLE_START + (1.0 - ONECYCLE_START) * rise
    fall = 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return ONECYCLE_END + (1.0 - ONECYCLE_END) * fall
