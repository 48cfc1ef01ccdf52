"""Transfer learning: warm-start from a checkpoint where names and shapes match, freeze, per-group learning rates.

Normalisation statistics: they are kept from the checkpoint only when its front-end is the same (same
`features` section and sample rate). The loaded layers were trained on inputs standardised with exactly those
statistics, so keeping them feeds the new data through the same transform, as ImageNet mean/std are kept for
images. With any other front-end the statistics describe different features and are refit on the new training
split.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from earmark.checkpoint import LoadedModel, load_checkpoint, resolve_checkpoint
from earmark.classifier import AudioClassifier
from earmark.config import OptimConfig, TrainConfig
from earmark.errors import ConfigError

NORMALIZER_STATS = ("normalizer.mean", "normalizer.std")


@dataclass
class WarmStart:
    """What `init_from` loaded: parameter names (trained at the pretrained rate) and tensor counts."""

    pretrained: list[str]  # names of loaded parameters (not buffers)
    loaded: int  # tensors loaded (parameters and buffers)
    skipped: list[str]  # tensors of the checkpoint left out (name or shape differs, or another label set's head)
    kept_statistics: bool  # normaliser statistics taken from the checkpoint


def warm_start(model: AudioClassifier, source: Path, config: TrainConfig, labels: list[str],
               sample_rate: int) -> WarmStart:
    """Load every tensor of `source` (a checkpoint or run directory) whose name and shape match `model`'s."""
    loaded = load_checkpoint(resolve_checkpoint(source))
    target = model.state_dict()
    leave_out = set() if loaded.labels == labels else _class_dependent(config, sample_rate, len(labels))
    kept_statistics = _same_front_end(loaded, config, sample_rate)
    if not kept_statistics:
        leave_out.update(NORMALIZER_STATS)
    matched = {name: tensor for name, tensor in loaded.state["model"].items()
               if name in target and name not in leave_out and target[name].shape == tensor.shape}
    parameters = [name for name, _ in model.named_parameters()]
    pretrained = [name for name in parameters if name in matched]
    if not pretrained:
        raise ConfigError(f"model.init_from {source}: none of its weights fit model {config.model.name!r} "
                          f"(the checkpoint holds model {loaded.config.model.name!r})")
    model.load_state_dict(matched, strict=False)
    skipped = [name for name in loaded.state["model"] if name not in matched]
    return WarmStart(pretrained, len(matched), skipped, kept_statistics and NORMALIZER_STATS[0] in matched)


def describe(start: WarmStart, source: Path) -> str:
    """One log line: how many tensors were loaded and skipped, and what happened to the statistics."""
    names = ", ".join(start.skipped[:4]) + (", ..." if len(start.skipped) > 4 else "")
    stats = "kept (same front-end)" if start.kept_statistics else "refit on the training split"
    return (f"init from {source}: loaded {start.loaded} tensors, skipped {len(start.skipped)}"
            f"{f' ({names})' if names else ''}; normaliser statistics {stats}")


def _class_dependent(config: TrainConfig, sample_rate: int, num_classes: int) -> set[str]:
    """Names of the tensors whose shape depends on the number of classes: the head, whatever the model."""
    def shapes(k: int) -> dict[str, torch.Size]:
        net = AudioClassifier(config.features, config.model, config.augment, sample_rate, k)
        return {name: tensor.shape for name, tensor in net.state_dict().items()}

    one, other = shapes(num_classes), shapes(num_classes + 1)
    return {name for name in one if one[name] != other.get(name)}


def _same_front_end(loaded: LoadedModel, config: TrainConfig, sample_rate: int) -> bool:
    """Statistics transfer only between identical front-ends with dataset normalisation."""
    return (loaded.config.features == config.features and loaded.sample_rate == sample_rate
            and config.features.normalize == "dataset")


def freeze(model: torch.nn.Module, patterns: list[str]) -> list[str]:
    """Set requires_grad False on parameters matching any pattern; returns their names.

    A pattern is a glob over parameter names ('network.features.0.*'; a bare module path such as
    'network.features' matches everything under it) or 'regex:PATTERN' (re.fullmatch). Only gradients stop:
    BatchNorm running statistics of frozen layers still follow the new data in training mode.
    """
    names = [name for name, _ in model.named_parameters()]
    frozen: set[str] = set()
    for pattern in patterns:
        hits = [name for name in names if _matches(pattern, name)]
        if not hits:
            raise ConfigError(f"model.freeze {pattern!r} matches no parameter; names look like: "
                              f"{', '.join(names[:6])}{', ...' if len(names) > 6 else ''} ({len(names)} in all)")
        frozen.update(hits)
    if names and len(frozen) == len(names):
        raise ConfigError("model.freeze leaves no parameter to train; freeze fewer layers")
    for name, parameter in model.named_parameters():
        if name in frozen:
            parameter.requires_grad_(False)
    return [name for name in names if name in frozen]


def _matches(pattern: str, name: str) -> bool:
    if pattern.startswith("regex:"):
        try:
            return re.fullmatch(pattern[6:], name) is not None
        except re.error as exc:
            raise ConfigError(f"model.freeze {pattern!r}: not a regular expression ({exc})") from None
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")


def parameter_groups(model: torch.nn.Module, pretrained: list[str], config: OptimConfig) -> list[dict[str, Any]]:
    """Trainable parameters in two optimiser groups: new ones at `lr`, loaded ones at `lr × pretrained_lr_scale`."""
    loaded = set(pretrained)
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for name, p in trainable if name not in loaded], "lr": config.lr},
              {"params": [p for name, p in trainable if name in loaded], "lr": config.lr * config.pretrained_lr_scale}]
    return [group for group in groups if group["params"]]


def freeze_note(frozen: list[str], model: torch.nn.Module) -> str:
    """One log line: how much of the model is frozen."""
    total = sum(p.numel() for p in model.parameters())
    fixed = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return f"frozen: {len(frozen)} parameter tensors, {fixed:,} of {total:,} weights"
