"""TC-ResNet: temporal convolutions over frequency-as-channels, the cheapest strong model on a CPU.

After Choi, Park, Kim et al., "Temporal Convolution for Real-time Keyword Spotting on Mobile Devices"
(Interspeech 2019). The bands of a frame are its channels, so every convolution is 1-D over time: a few
million multiply-adds per second of audio instead of the hundreds a 2-D CNN spends, with a receptive
field that covers a word after three strided stages. Our version adds dropout before the classifier and
width/depth variants; global average pooling over time takes inputs of any length.
"""

from __future__ import annotations

import torch
from torch import nn


class TemporalBlock(nn.Module):
    """Two 1-D convolutions over time with batch norm, and a (projected) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(in_ch, out_ch, kernel, stride=stride, padding=pad, bias=False), nn.BatchNorm1d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv1d(out_ch, out_ch, kernel, padding=pad, bias=False), nn.BatchNorm1d(out_ch),
        )
        self.shortcut = (
            nn.Sequential(nn.Conv1d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm1d(out_ch))
            if stride != 1 or in_ch != out_ch else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T]
        return torch.relu(self.body(x) + self.shortcut(x))


class TCResNet(nn.Module):
    """Stem over all bands, stages of temporal blocks (the first of each strided), mean over time."""

    def __init__(self, num_classes: int, num_features: int, stages: tuple[int, ...], blocks_per_stage: int,
                 width: float, kernel: int, dropout: float) -> None:
        super().__init__()
        stem_ch = round(16 * width)
        self.stem = nn.Sequential(nn.Conv1d(num_features, stem_ch, 3, padding=1, bias=False),
                                  nn.BatchNorm1d(stem_ch), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        in_ch = stem_ch
        for channels in stages:
            out_ch = round(channels * width)
            for i in range(blocks_per_stage):
                blocks.append(TemporalBlock(in_ch, out_ch, 2 if i == 0 else 1, kernel))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → logits [B, K]
        x = self.blocks(self.stem(x.squeeze(1)))
        return self.classifier(self.dropout(x.mean(dim=-1)))


def build(num_classes: int, num_features: int, stages: tuple[int, ...] = (24, 32, 48), blocks_per_stage: int = 1,
          width: float = 1.5, kernel: int = 9, dropout: float = 0.2) -> nn.Module:
    """A TC-ResNet over `[B, 1, num_features, T]` features."""
    return TCResNet(num_classes, num_features, tuple(stages), blocks_per_stage, width, kernel, dropout)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("tcresnet-8", "TC-ResNet8: temporal convs over bands-as-channels, 3 strided blocks (fast on a CPU)",
     {"width": 1.5}),
    ("tcresnet-14", "TC-ResNet14: two blocks per stage", {"width": 1.5, "blocks_per_stage": 2}),
    ("tcresnet-14-wide", "TC-ResNet14 at width 3 (more capacity for speakers, genres, sounds)",
     {"width": 3.0, "blocks_per_stage": 2}),
)
