"""One front door for models: `create_model(name, num_classes, num_features, **options)` and `list_models()`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from earmark.errors import ConfigError
from earmark.models import baselines, bcresnet, cnn, mlp, recurrent, tcresnet, transformer, vgg

DEFAULT_MODEL = "tcresnet-8"  # best accuracy per CPU-second on FSDD (benchmarks/models.py); auto's short-clip model


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its family builder and the options that make this variant."""

    name: str
    family: str
    description: str
    build: Callable[..., nn.Module]
    options: dict[str, Any] = field(default_factory=dict)


def _specs() -> dict[str, ModelSpec]:
    """Every family's table of variants, in one dict (built on demand: no import side effects)."""
    specs: dict[str, ModelSpec] = {}
    for module in (baselines, bcresnet, cnn, mlp, recurrent, tcresnet, transformer, vgg):
        family = module.__name__.rsplit(".", 1)[-1]
        for name, description, options in module.VARIANTS:
            specs[name] = ModelSpec(name, family, description, module.build, dict(options))
    return specs


def list_models() -> list[ModelSpec]:
    """All registered models, sorted by name."""
    return sorted(_specs().values(), key=lambda spec: spec.name)


def create_model(name: str, num_classes: int, num_features: int, **options: Any) -> nn.Module:
    """Build model `name` for `num_classes` outputs over `[B, 1, num_features, T]` inputs; returns logits."""
    specs = _specs()
    if name not in specs:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(sorted(specs))}")
    spec = specs[name]
    try:
        return spec.build(num_classes, num_features, **{**spec.options, **options})
    except TypeError as exc:
        raise ConfigError(f"model {name}: bad option ({exc})") from None


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
