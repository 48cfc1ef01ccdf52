"""A multilayer perceptron over a fixed-size feature map (time pooled to a fixed number of steps)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Module):
    """Adaptive average pooling of time to `steps` frames, flatten, dense layers with dropout, linear head."""

    def __init__(self, num_classes: int, num_features: int, hidden: Sequence[int], steps: int, dropout: float,
                 in_channels: int = 1) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((num_features, steps))  # any length → [B, C, F, steps]
        layers: list[nn.Module] = []
        width = in_channels * num_features * steps
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → [B, K]
        return self.head(self.body(self.pool(x).flatten(1)))


def build(num_classes: int, num_features: int, hidden: Sequence[int] = (512, 256, 64), steps: int = 16,
          dropout: float = 0.3, in_channels: int = 1) -> nn.Module:
    """An MLP over `[B, in_channels, num_features, T]` (`steps` time steps: an image's width, 1 for a table)."""
    return MLP(num_classes, num_features, hidden, steps, dropout, in_channels)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("mlp", "dense 512-256-64 with dropout over the feature map pooled to 16 time steps", {}),
)
