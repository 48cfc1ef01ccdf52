"""Layers shared by several model families."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv2d → BatchNorm → ReLU, 'same' padding."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class TimePool(nn.Module):
    """`[B, C, F, T]` → `[B, C * F]`: average over time only, so where energy sits in frequency still counts;
    `stats`: mean and max over time side by side, `[B, 2 * C * F]`."""

    def __init__(self, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "stats"):
            raise ValueError(f"pooling {pooling!r}: mean or stats")
        self.stats = pooling == "stats"
        self.factor = 2 if self.stats else 1  # output width per channel and band

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stats:
            return torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1).flatten(1)
        return x.mean(dim=-1).flatten(1)


def pooled_size(size: int, times: int) -> int:
    """Length of an axis after `times` 2×2 max-pools with ceil mode."""
    for _ in range(times):
        size = (size + 1) // 2
    return size
