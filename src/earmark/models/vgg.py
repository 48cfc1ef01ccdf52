"""VGG-style networks for speaker identification: stacks of 3×3 conv blocks, from tiny to VGGVox's VGG-M.

VGG-M follows the VGGVox design (Nagrani, Chung and Zisserman, "VoxCeleb: a large-scale speaker
identification dataset", Interspeech 2017): large strided first convs, a fully connected layer written as
a conv spanning all remaining frequency bands, average pooling over time, then dense layers; our widths
are a `width` multiple of the paper's so it also trains on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from earmark.models.layers import TimePool, conv_bn_relu

# (channels, convs in the block): each block ends with a 2×2 max-pool
Blocks = Sequence[tuple[int, int]]


class VGG(nn.Module):
    """VGG blocks, then time-averaged flattened frequency (`flatten`) or mean+max statistics over time
    (`stats`), both keeping where energy sits in frequency, then a dense layer and the head."""

    def __init__(self, num_classes: int, num_features: int, blocks: Blocks, dense: int, pooling: str,
                 dropout: float, in_channels: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = in_channels
        for channels, convs in blocks:
            for _ in range(convs):
                layers.append(conv_bn_relu(in_ch, channels))
                in_ch = channels
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.pool = TimePool("stats" if pooling == "stats" else "mean")  # "flatten": the mean over time
        bands = _output_bands(self.features, num_features, in_channels)
        width = in_ch * bands * self.pool.factor
        self.head = nn.Sequential(nn.Linear(width, dense), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(dense, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → [B, K]
        return self.head(self.pool(self.features(x)))  # features [B, C, F', T'] pooled over time


class VGGM(nn.Module):
    """VGGVox VGG-M: conv1 7×7/2, pool, conv2 5×5/2, pool, conv3-5 3×3, pool, fc6 over all bands, time pool."""

    def __init__(self, num_classes: int, num_features: int, width: float, dropout: float,
                 in_channels: int = 1) -> None:
        super().__init__()
        c = [max(8, round(n * width)) for n in (96, 256, 384, 256, 256, 4096, 1024)]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c[0], 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(c[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            nn.Conv2d(c[0], c[1], 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(c[1]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            conv_bn_relu(c[1], c[2]), conv_bn_relu(c[2], c[3]), conv_bn_relu(c[3], c[4]),
            nn.MaxPool2d((3, 3), stride=(2, 2), padding=1),
        )
        bands = _output_bands(self.features, num_features, in_channels)
        self.fc6 = nn.Sequential(nn.Conv2d(c[4], c[5], (bands, 1), bias=False), nn.BatchNorm2d(c[5]),
                                 nn.ReLU(inplace=True))  # [B, fc6, 1, T']
        self.head = nn.Sequential(nn.Linear(c[5], c[6]), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(c[6], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc6(self.features(x))
        return self.head(x.mean(dim=(-2, -1)))  # average over time: any length


@torch.no_grad()
def _output_bands(features: nn.Module, num_features: int, in_channels: int = 1) -> int:
    """Frequency bands left after `features`, found by running a dummy input once."""
    was_training = features.training
    features.eval()
    bands = int(features(torch.zeros(1, in_channels, num_features, 64)).shape[2])
    features.train(was_training)
    return bands


def build(num_classes: int, num_features: int, blocks: Blocks = ((32, 2), (64, 2)), dense: int = 128,
          pooling: str = "flatten", vggm_width: float | None = None, dropout: float = 0.3,
          in_channels: int = 1) -> nn.Module:
    """A VGG variant over `[B, in_channels, num_features, T]`; `vggm_width` selects the VGG-M (VGGVox) layout."""
    if vggm_width is not None:
        return VGGM(num_classes, num_features, vggm_width, dropout, in_channels)
    return VGG(num_classes, num_features, blocks, dense, pooling, dropout, in_channels)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("vgg-ultramini", "VGG blocks 16-32 (one conv each), dense 64", {"blocks": ((16, 1), (32, 1)), "dense": 64}),
    ("vgg-mini", "VGG blocks 32-64 (two convs each), dense 128", {}),
    ("vgg-pool", "VGG blocks 32-64-128 (two convs each), mean+max statistics pooling, dense 128",
     {"blocks": ((32, 2), (64, 2), (128, 2)), "pooling": "stats"}),
    ("vgg-m", "VGG-M after VGGVox (Nagrani et al. 2017) at 1/4 width", {"vggm_width": 0.25}),
)
