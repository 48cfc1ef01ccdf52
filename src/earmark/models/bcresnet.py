"""BC-ResNet: broadcasted residual learning, a keyword-spotting CNN that gets far with very few FLOPs.

After Kim, Chang, Lee and Sung, "Broadcasted Residual Learning for Efficient Keyword Spotting"
(Interspeech 2021). Each block mixes frequency with a 2-D depthwise conv, averages frequency away, mixes
time with a 1-D (dilated) depthwise conv, and broadcasts the result back over frequency. Our version uses
plain BatchNorm where the paper uses sub-spectral norm, and collapses frequency at the end with a
depthwise conv sized to the input, so any number of bands works and the position in frequency still counts.
"""

from __future__ import annotations

import torch
from torch import nn

# per stage: (channels as a multiple of the width, blocks, frequency stride, time dilation)
STAGES = ((8, 2, 1, 1), (12, 2, 2, 2), (16, 4, 2, 4), (20, 4, 1, 8))


class BroadcastBlock(nn.Module):
    """Frequency-depthwise conv → average over frequency → temporal conv → broadcast add."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.transition = in_ch != out_ch or stride != 1
        self.expand = (
            nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))
            if self.transition else nn.Identity()
        )
        self.freq = nn.Sequential(
            nn.Conv2d(out_ch, out_ch, (3, 1), stride=(stride, 1), padding=(1, 0), groups=out_ch, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.time = nn.Sequential(
            nn.Conv2d(out_ch, out_ch, (1, 3), padding=(0, dilation), dilation=(1, dilation), groups=out_ch,
                      bias=False),
            nn.BatchNorm2d(out_ch), nn.SiLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 1, bias=False), nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, F, T]
        x = self.expand(x)
        local = self.freq(x)  # [B, C, F', T]
        broadcast = self.time(local.mean(dim=2, keepdim=True))  # [B, C, 1, T]
        out = local + broadcast if self.transition else x + local + broadcast
        return torch.relu(out)


class BCResNet(nn.Module):
    """Stem, four stages of broadcast blocks, a frequency-collapsing head, average over time."""

    def __init__(self, num_classes: int, num_features: int, width: float, dropout: float) -> None:
        super().__init__()
        stem_ch = round(16 * width)
        self.stem = nn.Sequential(nn.Conv2d(1, stem_ch, 5, stride=(2, 1), padding=2, bias=False),
                                  nn.BatchNorm2d(stem_ch), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        in_ch, bands = stem_ch, (num_features + 1) // 2
        for mult, count, stride, dilation in STAGES:
            out_ch = round(mult * width)
            for i in range(count):
                first_stride = stride if i == 0 else 1
                blocks.append(BroadcastBlock(in_ch, out_ch, first_stride, dilation, dropout))
                bands = (bands - 1) // first_stride + 1
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        head_ch = round(32 * width)
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, (bands, 5), padding=(0, 2), groups=in_ch, bias=False),  # [B, C, 1, T]
            nn.Conv2d(in_ch, head_ch, 1, bias=False), nn.BatchNorm2d(head_ch), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Conv2d(head_ch, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T] → logits [B, K]
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(x.mean(dim=-1, keepdim=True)).flatten(1)


def build(num_classes: int, num_features: int, width: float = 3.0, dropout: float = 0.1) -> nn.Module:
    """A BC-ResNet of the given width multiplier over `[B, 1, num_features, T]`."""
    return BCResNet(num_classes, num_features, width, dropout)


# name, description, options
VARIANTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("bcresnet-1", "BC-ResNet width 1 (broadcasted residual learning; the smallest)", {"width": 1.0}),
    ("bcresnet-3", "BC-ResNet width 3", {"width": 3.0}),
    ("bcresnet-8", "BC-ResNet width 8 (largest, for big datasets or a GPU)", {"width": 8.0}),
)
