"""A Transformer encoder over frames: linear frame embedding, sinusoidal positions, mean-pooled head."""

from __future__ import annotations

import math

import torch
from torch import nn


class FrameTransformer(nn.Module):
    """Frames (optionally stacked `patch` at a time) → d-dim tokens → pre-norm encoder layers → mean → head."""

    def __init__(self, num_classes: int, num_features: int, dim: int, depth: int, heads: int, patch: int,
                 dropout: float) -> None:
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(num_features * patch, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=dropout, batch_first=True,
                                           norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → [B, K]
        frames = x[:, 0].transpose(1, 2)  # [B, T, F]
        usable = max(self.patch, frames.shape[1] // self.patch * self.patch)
        if frames.shape[1] < usable:
            frames = nn.functional.pad(frames, (0, 0, 0, usable - frames.shape[1]))
        tokens = frames[:, :usable].reshape(frames.shape[0], usable // self.patch, -1)  # [B, T/p, p*F]
        hidden = self.embed(tokens)
        hidden = hidden + positions(hidden.shape[1], self.dim, hidden.device, hidden.dtype)
        return self.head(self.norm(self.encoder(hidden)).mean(dim=1))


def positions(length: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`[length, dim]` sinusoidal position encodings (Vaswani et al., 2017), computed for any length."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: dim // 2])
    return table.to(dtype)


def build(num_classes: int, num_features: int, dim: int = 96, depth: int = 4, heads: int = 4, patch: int = 4,
          dropout: float = 0.1) -> nn.Module:
    """A frame Transformer over `[B, 1, num_features, T]`."""
    return FrameTransformer(num_classes, num_features, dim, depth, heads, patch, dropout)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("transformer", "Transformer encoder: 4-frame patches, d=96, 4 layers, 4 heads, mean-pooled", {}),
)
