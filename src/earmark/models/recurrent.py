"""Recurrent models over frames: a stacked LSTM, and a CRNN (conv front end + bidirectional GRU)."""

from __future__ import annotations

import torch
from torch import nn

from earmark.models.layers import conv_bn_relu


class FrameLSTM(nn.Module):
    """LSTM layers over the frames' feature vectors, mean over time, dense, head."""

    def __init__(self, num_classes: int, num_features: int, hidden: int, layers: int, dense: int,
                 dropout: float) -> None:
        super().__init__()
        self.rnn = nn.LSTM(num_features, hidden, num_layers=layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Linear(hidden, dense), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(dense, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → [B, K]
        frames = x[:, 0].transpose(1, 2)  # [B, T, F]
        outputs, _ = self.rnn(frames)  # [B, T, H]
        return self.head(outputs.mean(dim=1))


class CRNN(nn.Module):
    """Conv blocks pooling frequency only (time resolution kept), then a bidirectional GRU over time."""

    def __init__(self, num_classes: int, num_features: int, channels: tuple[int, ...], hidden: int,
                 dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch, bands = 1, num_features
        for out_ch in channels:
            layers += [conv_bn_relu(in_ch, out_ch), nn.MaxPool2d((2, 1), ceil_mode=True)]
            in_ch, bands = out_ch, (bands + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.rnn = nn.GRU(in_ch * bands, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.conv(x)  # [B, C, F', T]
        sequence = maps.flatten(1, 2).transpose(1, 2)  # [B, T, C * F']
        outputs, _ = self.rnn(sequence)
        return self.head(outputs.mean(dim=1))


def build(num_classes: int, num_features: int, kind: str = "lstm", hidden: int = 64, layers: int = 2,
          dense: int = 64, channels: tuple[int, ...] = (32, 64, 64), dropout: float = 0.2) -> nn.Module:
    """`lstm` (stacked LSTM over frames) or `crnn` (conv + bidirectional GRU)."""
    if kind == "crnn":
        return CRNN(num_classes, num_features, channels, hidden, dropout)
    return FrameLSTM(num_classes, num_features, hidden, layers, dense, dropout)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("lstm", "two LSTM layers of 64 over frames, mean over time, dense 64", {"kind": "lstm"}),
    ("crnn", "conv blocks 32-64-64 pooling frequency, bidirectional GRU 64, mean over time", {"kind": "crnn"}),
)
