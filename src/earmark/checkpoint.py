"""Self-describing checkpoints: one format and one loader for resume, evaluate, predict and export."""

from __future__ import annotations

import io
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from earmark import __version__
from earmark.classifier import AudioClassifier
from earmark.config import TrainConfig, from_dict, to_dict
from earmark.errors import EarmarkError
from earmark.features.items import ITEM_KINDS
from earmark.fileio import write_bytes_atomic
from earmark.item_classifier import ItemClassifier
from earmark.models.pretrained import is_backbone
from earmark.models.pretrained.classifier import BackboneClassifier, build_backbone_classifier

FORMAT = "earmark-checkpoint-1"
# waveform [B, S] (an image's or table row's values [B, N]) → logits [B, K], front-end inside
Classifier = AudioClassifier | BackboneClassifier | ItemClassifier


@dataclass
class LoadedModel:
    """A model rebuilt from a checkpoint with the facts needed to feed it."""

    model: Classifier
    config: TrainConfig
    labels: list[str]
    sample_rate: int
    state: dict[str, Any]  # the whole checkpoint (optimizer, epoch, history...) for resume

    @property
    def window_samples(self) -> int:
        return self.config.data.window_samples(self.sample_rate)

    @property
    def calibration(self) -> dict[str, Any]:
        """What was fitted on validation after training (evaluation/calibrate.py): temperature, threshold."""
        record = self.state.get("calibration")
        return record if isinstance(record, dict) else {}

    @property
    def temperature(self) -> float:
        """Every window's logits are divided by this before the softmax (1.0: not calibrated)."""
        return float(self.calibration.get("temperature") or 1.0)

    @property
    def reject_threshold(self) -> float | None:
        """Clip (and window) scores below this are answered `unknown`; None: always a label."""
        value = self.calibration.get("reject_threshold")
        return None if value is None else float(value)


def build_model(config: TrainConfig, labels: list[str], sample_rate: int,
                backbone: dict[str, Any] | None = None) -> Classifier:
    """A fresh model for this config and label set: an AudioClassifier, or for a pretrained backbone a
    BackboneClassifier (with its pretrained weights, or given a checkpoint's `backbone` record its layout only)."""
    if is_backbone(config.model.name):
        return build_backbone_classifier(config.model, config.augment, sample_rate, len(labels), backbone)
    if config.features.kind in ITEM_KINDS:
        return ItemClassifier(config.features, config.model, config.augment, len(labels))
    return AudioClassifier(config.features, config.model, config.augment, sample_rate, len(labels))


def save_checkpoint(path: Path, model: torch.nn.Module, config: TrainConfig, labels: list[str],
                    sample_rate: int, **extra: Any) -> None:
    """Write a checkpoint atomically: weights, resolved config, labels, rate, plus `extra` (epoch, optimizer...)."""
    state = {"format": FORMAT, "earmark_version": __version__, "config": to_dict(config), "labels": list(labels),
             "sample_rate": int(sample_rate), "model": model.state_dict(), **extra}
    if isinstance(model, BackboneClassifier):  # plain data: where the weights came from, what rebuilds the layout
        state["backbone"] = model.provenance
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def store_in_checkpoint(path: Path, loaded: LoadedModel, **records: Any) -> None:
    """Add plain-data `records` (e.g. calibration) to the checkpoint `loaded` came from, atomically, in place."""
    loaded.state.update(records)
    buffer = io.BytesIO()
    torch.save(loaded.state, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, device: str = "cpu") -> LoadedModel:
    """Load and rebuild a model; refuses anything but tensors and plain data (weights_only)."""
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise EarmarkError(f"{path}: checkpoint not found") from None
    except Exception as exc:  # on garbage the weights-only unpickler raises whatever it trips on (IndexError...)
        raise EarmarkError(f"{path}: {_load_failure(exc)}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise EarmarkError(f"{path}: not an earmark checkpoint (format {state.get('format')!r})"
                           if isinstance(state, dict) else f"{path}: not an earmark checkpoint")
    try:
        config = from_dict(TrainConfig, state["config"])
        labels, sample_rate = [str(label) for label in state["labels"]], state["sample_rate"]
        if not labels or not isinstance(sample_rate, int) or sample_rate <= 0:
            raise ValueError(f"labels {labels[:3]!r}, sample rate {sample_rate!r}")
        if is_backbone(config.model.name) and not isinstance(state.get("backbone"), dict):
            raise ValueError("no backbone record")
        model = build_model(config, labels, sample_rate, state.get("backbone"))
        model.load_state_dict(state["model"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, EarmarkError) as exc:
        detail = f"no {exc}" if isinstance(exc, KeyError) else _first_line(exc)
        raise EarmarkError(f"{path}: damaged earmark checkpoint ({detail})") from None
    model.eval()
    return LoadedModel(model, config, labels, sample_rate, state)


def _load_failure(exc: BaseException) -> str:
    """Why torch.load refused a file, in one line; a pickle that is more than tensors and plain data is named so."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) and "weights only load failed" in text.lower():
        found = re.search(r"unsupported (GLOBAL [^\s]+|operand \d+)", text, re.IGNORECASE)
        return (f"refused: not only tensors and plain data ({found.group(1) if found else 'unsafe pickle'}); "
                "earmark never unpickles code from a checkpoint, re-create it with `earmark train`")
    return f"not a loadable earmark checkpoint ({_first_line(exc)})"


def _first_line(exc: BaseException) -> str:
    """The first informative line of an exception's message (torch puts a heading before the detail)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    return (lines or [type(exc).__name__])[0][:160]


def resolve_checkpoint(path: Path) -> Path:
    """A run directory means its best checkpoint; a file is taken as is."""
    if path.is_dir():
        best = path / "checkpoints" / "best.ckpt"
        if not best.is_file():
            raise EarmarkError(f"{path}: no checkpoints/best.ckpt in this run directory (did training finish?)")
        return best
    return path
