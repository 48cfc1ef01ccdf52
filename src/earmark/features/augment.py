"""Train-only, batched augmentation on the device: random gain, additive noise (white, pink or crops of
background recordings), mixup, frequency/time stretch and SpecAugment masks."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from earmark.config import AugmentConfig
from earmark.errors import ConfigError

NOISE_COLORS = ("white", "pink")
MAX_NOISE_S = 1800.0  # background recordings kept in memory for noise crops (30 min)


class Augment(nn.Module):
    """Waveform and feature augmentations; identity in eval mode so evaluation never sees them."""

    def __init__(self, config: AugmentConfig) -> None:
        super().__init__()
        if config.noise_color not in NOISE_COLORS:
            raise ConfigError(f"augment.noise_color {config.noise_color!r}: choose one of {', '.join(NOISE_COLORS)}")
        self.config = config
        self.noise_bank: torch.Tensor | None = None  # background recordings end to end, when noise_dir is set

    def load_noise(self, sample_rate: int) -> str:
        """Read `noise_dir` into memory at `sample_rate` (training only; never stored with the model)."""
        if self.config.noise_dir is None:
            return f"{self.config.noise_color} noise"
        self.noise_bank = torch.from_numpy(read_noise_bank(Path(self.config.noise_dir), sample_rate))
        return f"noise from {self.config.noise_dir} ({self.noise_bank.numel() / sample_rate:.0f} s)"

    def waveform(self, wave: torch.Tensor) -> torch.Tensor:  # [B, S]
        """Random gain and additive noise at a random SNR, per example."""
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
            noise = self._noise(wave)
            noise_power = noise.pow(2).mean(dim=1, keepdim=True).clamp(min=1e-10)
            noise = noise * torch.sqrt(power / noise_power / torch.pow(10.0, snr_db / 10))
            apply = (torch.rand(batch, 1, device=wave.device) < cfg.noise_prob).to(wave.dtype)
            wave = wave + apply * noise
        return wave

    def _noise(self, wave: torch.Tensor) -> torch.Tensor:
        """Unscaled noise shaped like `wave`: random crops of the bank, or white/pink."""
        if self.noise_bank is not None:
            if self.noise_bank.device != wave.device:  # moved once, not every batch (it is not a buffer:
                self.noise_bank = self.noise_bank.to(wave.device)  # DDP would broadcast it each step)
            bank = self.noise_bank
            span = wave.shape[1]
            if bank.numel() < span:
                bank = bank.repeat(span // bank.numel() + 1)
            starts = torch.randint(0, bank.numel() - span + 1, (wave.shape[0], 1), device=wave.device)
            return bank[starts + torch.arange(span, device=wave.device)]
        white = torch.randn_like(wave)
        return pink(white) if self.config.noise_color == "pink" else white

    def features(self, features: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T], normalised
        """Random frequency/time stretch, then SpecAugment masks (zero is the normalised mean)."""
        if not self.training:
            return features
        cfg = self.config
        if cfg.warp_freq > 0 or cfg.warp_time > 0:
            features = _warp(features, cfg.warp_freq, cfg.warp_time)
        features = _mask(features, cfg.freq_masks, cfg.freq_mask_width, axis=2)
        return _mask(features, cfg.time_masks, cfg.time_mask_width, axis=3)


def pink(white: torch.Tensor) -> torch.Tensor:
    """1/f noise from white noise `[B, S]`: the spectrum scaled by 1/sqrt(f) (DC removed)."""
    spectrum = torch.fft.rfft(white, dim=-1)
    bins = torch.arange(spectrum.shape[-1], device=white.device, dtype=white.dtype)
    spectrum = spectrum * torch.where(bins > 0, bins.clamp(min=1).rsqrt(), torch.zeros_like(bins))
    return torch.fft.irfft(spectrum, n=white.shape[-1], dim=-1)


def mixup(wave: torch.Tensor, target: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor,
                                                                          torch.Tensor, float]:
    """Mix each example with another of the batch (Zhang et al., "mixup", ICLR 2018).

    Returns the mixed waves, both targets and the weight `lam` of the first; the loss is
    `lam * loss(target_a) + (1 - lam) * loss(target_b)`.
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())  # torch's seeded RNG: resumable
    order = torch.randperm(wave.shape[0]).to(wave.device)
    return lam * wave + (1 - lam) * wave[order], target, target[order], lam


@functools.lru_cache(maxsize=1)  # cv and sweep train many runs in one process with the same folder
def read_noise_bank(folder: Path, sample_rate: int) -> np.ndarray:
    """Every readable recording under `folder`, mono at `sample_rate`, end to end (up to MAX_NOISE_S)."""
    from earmark.audio.decode import load_mono
    from earmark.data.sources import audio_files
    from earmark.errors import DecodeError

    if not folder.is_dir():
        raise ConfigError(f"augment.noise_dir {folder}: not a folder")
    pieces: list[np.ndarray] = []
    held = 0
    for path in audio_files(folder):
        try:
            mono, _ = load_mono(path, sample_rate)
        except DecodeError:
            continue  # an unreadable background file is not worth stopping training for
        pieces.append(mono / max(float(np.abs(mono).max()), 1e-6))
        held += mono.size
        if held >= MAX_NOISE_S * sample_rate:
            break
    if not pieces:
        raise ConfigError(f"augment.noise_dir {folder}: no readable audio files in it")
    return np.concatenate(pieces).astype(np.float32)


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
