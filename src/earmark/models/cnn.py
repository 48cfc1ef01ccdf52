"""The classic small CNN of the audio notes: conv blocks with max-pooling, a dense layer, dropout."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from earmark.models.layers import TimePool, conv_bn_relu, pooled_size


class ConvNet(nn.Module):
    """Conv blocks (conv-BN-ReLU + 2×2 max-pool), average over time, dense, dropout, linear head."""

    def __init__(self, num_classes: int, num_features: int, channels: Sequence[int], dense: int,
                 dropout: float, in_channels: int = 1, pooling: str = "mean") -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        in_ch = in_channels
        for out_ch in channels:
            blocks += [conv_bn_relu(in_ch, out_ch), nn.MaxPool2d(2, ceil_mode=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*blocks)
        self.pool = TimePool(pooling)  # any number of frames; the frequency layout is kept
        self.head = nn.Sequential(
            nn.Linear(in_ch * pooled_size(num_features, len(channels)) * self.pool.factor, dense),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(dense, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] (an image: [B, C, H, W]) → logits [B, K]
        return self.head(self.pool(self.features(x)))


def build(num_classes: int, num_features: int, channels: Sequence[int] = (32, 64, 128), dense: int = 64,
          dropout: float = 0.2, in_channels: int = 1, pooling: str = "mean") -> nn.Module:
    """A ConvNet over `[B, in_channels, num_features, T]`; `pooling` over time: mean, or stats (mean and max)."""
    return ConvNet(num_classes, num_features, channels, dense, dropout, in_channels, pooling)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("cnn", "3 conv blocks 32-64-128 with max-pooling, dense 64, dropout", {}),
    ("cnn-stats", "cnn with mean and max over time (a short event in a long window is not averaged away)",
     {"pooling": "stats"}),
)
