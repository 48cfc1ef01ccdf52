"""Train-only, batched augmentation on the device: random gain, additive noise, SpecAugment masks."""

from __future__ import annotations

import torch
from torch import nn

from earmark.config import AugmentConfig


class Augment(nn.Module):
    """Waveform and feature augmentations; identity in eval mode so evaluation never sees them."""

    def __init__(self, config: AugmentConfig) -> None:
        super().__init__()
        self.config = config

    def waveform(self, wave: torch.Tensor) -> torch.Tensor:  # [B, S]
        """Random gain and white noise at a random SNR, per example."""
        if not self.training:
            return wave
        cfg = self.config
        batch = wave.shape[0]
        if cfg.gain_db > 0:
            gain_db = (torch.rand(batch, 1, device=wave.device) * 2 - 1) * cfg.gain_db
            wave = wave * torch.pow(10.0, gain_db / 20)
        if cfg.noise_snr_db is not None and cfg.noise_prob > 0:
            snr_db = cfg.noise_snr_db + 20 * torch.rand(batch, 1, device=wave.device)
            power = wave.pow(2).mean(dim=1, keepdim=True).clamp(min=1e-10)
            noise = torch.randn_like(wave) * torch.sqrt(power / torch.pow(10.0, snr_db / 10))
            apply = (torch.rand(batch, 1, device=wave.device) < cfg.noise_prob).to(wave.dtype)
            wave = wave + apply * noise
        return wave

    def features(self, features: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T], normalised
        """Random frequency/time stretch, then SpecAugment masks (zero is the normalised mean)."""
        if not self.training:
            return features
        cfg = self.config
        if cfg.warp_freq > 0 or cfg.warp_time > 0:
            features = _warp(features, cfg.warp_freq, cfg.warp_time)
        features = _mask(features, cfg.freq_masks, cfg.freq_mask_width, axis=2)
        return _mask(features, cfg.time_masks, cfg.time_mask_width, axis=3)


def _warp(features: torch.Tensor, max_freq: float, max_time: float) -> torch.Tensor:
    """Per-example linear stretch: frequency anchored at the lowest band (a new voice), time at the centre.

    In the spirit of vocal tract length perturbation (Jaitly and Hinton, 2013), done on the feature map
    with one batched `grid_sample`.
    """
    batch = features.shape[0]
    device, dtype = features.device, features.dtype
    freq_scale = 1 + (torch.rand(batch, device=device, dtype=dtype) * 2 - 1) * max_freq  # output band ← input
    time_scale = 1 + (torch.rand(batch, device=device, dtype=dtype) * 2 - 1) * max_time
    theta = torch.zeros(batch, 2, 3, device=device, dtype=dtype)
    theta[:, 0, 0] = time_scale  # x: time, normalised [-1, 1]
    theta[:, 1, 1] = freq_scale  # y: frequency; the shift keeps y = -1 (lowest band) fixed
    theta[:, 1, 2] = freq_scale - 1
    grid = torch.nn.functional.affine_grid(theta, list(features.shape), align_corners=True)
    return torch.nn.functional.grid_sample(features, grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=True)


def _mask(features: torch.Tensor, count: int, max_width: int, axis: int) -> torch.Tensor:
    """`count` masks of width in [0, max_width) at random positions along `axis`, per example."""
    size = features.shape[axis]
    if count <= 0 or max_width <= 0 or size <= 1:
        return features
    batch = features.shape[0]
    positions = torch.arange(size, device=features.device)
    keep = torch.ones(batch, size, dtype=torch.bool, device=features.device)
    for _ in range(count):
        width = torch.randint(0, min(max_width, size), (batch, 1), device=features.device)
        start = (torch.rand(batch, 1, device=features.device) * (size - width)).long()
        keep &= ~((positions >= start) & (positions < start + width))
    shape = [batch, 1, 1, 1]
    shape[axis] = size
    return features * keep.view(shape).to(features.dtype)
