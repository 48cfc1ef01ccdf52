"""Minimal models every report is compared with: the class prior, and logistic regression on pooled features."""

from __future__ import annotations

import torch
from torch import nn


class Majority(nn.Module):
    """Ignores the audio: learns one logit per class, i.e. the training-set prior (predicts the majority)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → [B, K]
        return self.logits.expand(x.shape[0], -1)


class PooledLogReg(nn.Module):
    """Logistic regression on per-band mean and standard deviation over time (MFCC statistics, classically)."""

    def __init__(self, num_classes: int, num_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(2 * num_features, affine=False)  # standardise the statistics
        self.linear = nn.Linear(2 * num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = x[:, 0]  # [B, F, T]
        stats = torch.cat([frames.mean(dim=-1), frames.std(dim=-1, unbiased=False)], dim=1)  # [B, 2F]
        return self.linear(self.norm(stats))


def build(num_classes: int, num_features: int, kind: str = "logreg", dropout: float = 0.0) -> nn.Module:
    """`majority` or `logreg`; dropout is accepted for a uniform interface and unused."""
    del dropout
    return Majority(num_classes) if kind == "majority" else PooledLogReg(num_classes, num_features)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("majority", "baseline: always the most frequent training class", {"kind": "majority"}),
    ("logreg", "baseline: logistic regression on per-band mean/std over time", {"kind": "logreg"}),
)
