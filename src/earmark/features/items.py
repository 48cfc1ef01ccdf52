"""The front-end of images and feature tables: one item's flat values `[B, N]` → `[B, C, H, W]` (a table row:
`[B, 1, F, 1]`), standardised with training-split statistics, shifted and flipped in training only."""

from __future__ import annotations

import torch
from torch import nn

from earmark.config import AugmentConfig
from earmark.errors import ConfigError

ITEM_KINDS = ("image", "table")
NORMALIZE = ("dataset", "none")


def item_layout(kind: str, shape: list[int]) -> tuple[int, int, int]:
    """(C, H, W) the network sees for an item of `shape` ([C, H, W] images, [F] tables)."""
    if kind == "image" and len(shape) == 3 and min(shape) > 0:
        return shape[0], shape[1], shape[2]
    if kind == "table" and len(shape) == 1 and shape[0] > 0:
        return 1, shape[0], 1
    raise ConfigError(f"features.shape {shape!r} does not fit features.kind {kind!r}; prepare the data again")


class ItemFrontEnd(nn.Module):
    """`[B, N]` flat values → `[B, C, H, W]`, standardised per channel (images) or per feature (tables)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, kind: str, shape: list[int], normalize: str) -> None:
        super().__init__()
        if normalize not in NORMALIZE:
            raise ConfigError(f"features.normalize {normalize!r}: images and tables take {' or '.join(NORMALIZE)}")
        self.kind, self.normalize = kind, normalize
        self.layout = item_layout(kind, shape)
        channels, height, _ = self.layout
        stats = (channels, 1, 1) if kind == "image" else (1, height, 1)
        self.register_buffer("mean", torch.zeros(stats))  # saved with the model
        self.register_buffer("std", torch.ones(stats))

    def forward(self, values: torch.Tensor) -> torch.Tensor:  # [B, N] → [B, C, H, W]
        items = values.float().reshape(values.shape[0], *self.layout)
        return (items - self.mean) / self.std if self.normalize == "dataset" else items

    @torch.no_grad()
    def fit(self, values: torch.Tensor) -> None:
        """Mean and standard deviation per channel (images) or per feature (tables) of training items `[N, ...]`."""
        items = values.float().reshape(values.shape[0], *self.layout)
        axes = (0, 2, 3) if self.kind == "image" else (0, 3)
        self.mean.copy_(items.mean(dim=axes).reshape(self.mean.shape))
        self.std.copy_(items.std(dim=axes).reshape(self.std.shape).clamp(min=1e-3))


class ItemAugment(nn.Module):
    """Train-only: a random shift of each image by up to `image_shift` of its sides (zero padding: the
    training mean after standardisation) and, when asked, a random left-right flip; identity for tables."""

    def __init__(self, config: AugmentConfig, kind: str) -> None:
        super().__init__()
        if not 0 <= config.image_shift < 0.5:
            raise ConfigError(f"augment.image_shift {config.image_shift}: expected a fraction in [0, 0.5)")
        self.shift, self.flip, self.kind = config.image_shift, config.image_flip, kind

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # [B, C, H, W]
        if not self.training or self.kind != "image":
            return images
        if self.shift > 0:
            images = _shift(images, self.shift)
        if self.flip:
            flip = torch.rand(images.shape[0], 1, 1, 1, device=images.device) < 0.5
            images = torch.where(flip, images.flip(-1), images)
        return images


def _shift(images: torch.Tensor, fraction: float) -> torch.Tensor:
    """Each image moved by a whole number of pixels, at most `fraction` of its height and width."""
    batch, _, height, width = images.shape
    pad_h, pad_w = round(fraction * height), round(fraction * width)
    if pad_h == 0 and pad_w == 0:
        return images
    padded = nn.functional.pad(images, (pad_w, pad_w, pad_h, pad_h))
    dy = torch.randint(0, 2 * pad_h + 1, (batch,), device=images.device)
    dx = torch.randint(0, 2 * pad_w + 1, (batch,), device=images.device)
    rows = (dy[:, None] + torch.arange(height, device=images.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(width, device=images.device)[None, :])[:, None, None, :]
    rows = rows.expand(batch, images.shape[1], height, padded.shape[-1])
    picked = padded.gather(2, rows)  # [B, C, H, W + 2·pad_w]
    return picked.gather(3, cols.expand(batch, images.shape[1], height, width))


class RawValues(nn.Module):
    """`[B, N]` → `[B, 1, N, 1]`: an item's raw values as the bands of one frame, so the reports' logreg
    baseline (per-band statistics over time) is logistic regression on the pixels or features themselves."""

    hop_length = 1

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return values.float()[:, None, :, None]
