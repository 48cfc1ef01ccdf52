"""The model of an image or feature-table dataset: flat item values `[B, N]` → `[B, C, H, W]` → network → logits.

The same contract as AudioClassifier (one tensor per example in, logits out, front-end inside), so training,
evaluation, cv, sweep, predict and export take it: an item is a one-window clip of `N` values.
"""

from __future__ import annotations

import torch
from torch import nn

from earmark.config import AugmentConfig, FeatureConfig, ModelConfig
from earmark.errors import ConfigError
from earmark.features.items import ItemAugment, ItemFrontEnd, RawValues
from earmark.models import create_model
from earmark.models.registry import list_models

MULTI_CHANNEL_FAMILIES = ("cnn", "mlp", "vgg")  # the families whose first layer takes C > 1 channels


class ItemClassifier(nn.Module):
    """Reshape and standardise (training-split statistics), augment in training, then the network."""

    def __init__(self, features: FeatureConfig, model: ModelConfig, augment: AugmentConfig,
                 num_classes: int) -> None:
        super().__init__()
        self.kind = features.kind
        self.frontend = ItemFrontEnd(features.kind, list(features.shape), features.normalize)
        self.augment = ItemAugment(augment, features.kind)
        channels, height, width = self.frontend.layout
        family = next((spec.family for spec in list_models() if spec.name == model.name), None)
        options: dict[str, object] = {"dropout": model.dropout}
        if channels > 1:
            if family not in MULTI_CHANNEL_FAMILIES:
                raise ConfigError(f"model {model.name}: takes one-channel input; for colour images use "
                                  "cnn, mlp or a vgg-* model")
            options["in_channels"] = channels
        if family == "mlp":
            options["steps"] = width  # an image's columns (1 for a table), not audio's 16 pooled frames
        self.network = create_model(model.name, num_classes, height, **options)
        self.baseline_frontend = RawValues()

    def forward(self, values: torch.Tensor) -> torch.Tensor:  # [B, N] → logits [B, K]
        return self.network(self.augment(self.frontend(values)))


def is_item_model(model: nn.Module) -> bool:
    """Whether `model` classifies images or table rows (an ItemClassifier)."""
    return isinstance(model, ItemClassifier)
