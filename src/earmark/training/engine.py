"""Lightning Fabric set up from the `trainer` section: device, precision, DDP; imported lazily (it is slow)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from earmark.config import TrainerConfig
from earmark.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def make_fabric(config: TrainerConfig) -> Any:
    """A launched `lightning.fabric.Fabric` for the configured device, device count and precision."""
    from lightning.fabric import Fabric  # lazy: importing lightning costs seconds

    if config.device not in DEVICES:
        raise ConfigError(f"trainer.device {config.device!r}: choose one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise ConfigError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    accelerator = "cuda" if config.device == "cuda" or (config.device == "auto" and cuda) else "cpu"
    fabric = Fabric(accelerator=accelerator, devices=config.devices, precision=_precision(config, accelerator))
    fabric.launch()
    return fabric


def _precision(config: TrainerConfig, accelerator: str) -> Any:
    """bf16 autocast on GPUs that support it, float32 on CPU, unless the config says otherwise."""
    if config.precision != "auto":
        return config.precision if config.precision != "32" else "32-true"
    if accelerator == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
