"""Self-describing checkpoints: one format and one loader for resume, evaluate, predict and export."""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from earmark import __version__
from earmark.classifier import AudioClassifier
from earmark.config import TrainConfig, from_dict, to_dict
from earmark.errors import EarmarkError
from earmark.fileio import write_bytes_atomic

FORMAT = "earmark-checkpoint-1"


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint with the facts needed to feed it."""

    model: AudioClassifier
    config: TrainConfig
    labels: list[str]
    sample_rate: int
    state: dict[str, Any]  # the whole checkpoint (optimizer, epoch, history...) for resume

    @property
    def window_samples(self) -> int:
        return round(self.config.data.window_s * self.sample_rate)


def build_model(config: TrainConfig, labels: list[str], sample_rate: int) -> AudioClassifier:
    """A fresh AudioClassifier for this config and label set."""
    return AudioClassifier(config.features, config.model, config.augment, sample_rate, len(labels))


def save_checkpoint(path: Path, model: torch.nn.Module, config: TrainConfig, labels: list[str],
                    sample_rate: int, **extra: Any) -> None:
    """Write a checkpoint atomically: weights, resolved config, labels, rate, plus `extra` (epoch, optimizer...)."""
    state = {"format": FORMAT, "earmark_version": __version__, "config": to_dict(config), "labels": list(labels),
             "sample_rate": int(sample_rate), "model": model.state_dict(), **extra}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, device: str = "cpu") -> LoadedModel:
    """Load and rebuild a model; refuses anything but tensors and plain data (weights_only)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise EarmarkError(f"{path}: checkpoint not found") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EarmarkError(f"{path}: not a loadable earmark checkpoint ({first[:160]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise EarmarkError(f"{path}: not an earmark checkpoint (format {state.get('format')!r})"
                           if isinstance(state, dict) else f"{path}: not an earmark checkpoint")
    config = from_dict(TrainConfig, state["config"])
    model = build_model(config, state["labels"], state["sample_rate"])
    model.load_state_dict(state["model"], strict=True)
    model.eval()
    return LoadedModel(model, config, list(state["labels"]), int(state["sample_rate"]), state)


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its best checkpoint; a file is taken as is."""
    if path.is_dir():
        best = path / "checkpoints" / "best.ckpt"
        if not best.is_file():
            raise EarmarkError(f"{path}: no checkpoints/best.ckpt in this run directory (did training finish?)")
        return best
    return path
