"""Lightning Fabric set up from the `trainer` section: device, precision, DDP; imported lazily (it is slow)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from earmark.classifier import AudioClassifier
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
    fabric = Fabric(accelerator=accelerator, devices=config.devices, num_nodes=config.num_nodes,
                    precision=_precision(config, accelerator))
    # devices > 1: DDP (gloo on CPU, NCCL on GPUs); Fabric's launcher reruns the command once per extra rank
    fabric.launch()
    return fabric


def close_fabric(fabric: Any) -> None:
    """End a DDP run in order: every rank meets at a barrier, then destroys its process group.

    Left to the interpreter's exit, the gloo group and rank 0's rendezvous store are torn down in whatever order
    the ranks exit; a CI run of two CPU ranks once aborted that way ("terminate called without an active
    exception", SIGABRT) and 12 runs here did not reproduce it. One device: nothing to do.
    """
    if fabric.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        fabric.barrier()
        torch.distributed.destroy_process_group()


def is_rank_zero() -> bool:
    """True in the process that talks to the user (rank 0 of a DDP run, or the only process)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0)) == 0


def compile_network(model: AudioClassifier, window: int, device: torch.device) -> None:
    """torch.compile `model.network` in place, then compile once now so a failure stops the run before training.

    The probe runs in eval mode without gradients: it consumes no random numbers and updates no statistics.
    """
    model.network.compile()
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, window, device=device))
    except (RuntimeError, OSError) as exc:  # InductorError & co.: a missing or broken compiler, not our bug
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--compile: torch.compile failed ({first[:200]}); install a C++ compiler (g++) "
                          "or train without --compile") from None
    finally:
        model.train(was_training)


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
