"""Waveform batch → feature map on the device: power/dB spectrogram, log-mel or MFCC, then normalisation."""

from __future__ import annotations

import torch
from torch import nn

from earmark.config import FeatureConfig
from earmark.errors import ConfigError
from earmark.features.filters import dct_matrix, deltas, mel_filterbank

KINDS = ("spectrogram", "logmel", "mfcc")
NORMALIZE = ("dataset", "instance", "none")
AMIN = 1e-10  # power floor before log, as librosa's power_to_db


class FrontEnd(nn.Module):
    """`[B, S]` waveforms at `sample_rate` → `[B, 1, F, T]` features (dB spectrogram, log-mel or MFCC)."""

    window: torch.Tensor
    mel: torch.Tensor
    dct: torch.Tensor

    def __init__(self, config: FeatureConfig, sample_rate: int) -> None:
        super().__init__()
        if config.kind not in KINDS:
            raise ConfigError(f"features.kind {config.kind!r}: choose one of {', '.join(KINDS)}")
        f_max = config.f_max if config.f_max is not None else sample_rate / 2
        if not 0 <= config.f_min < f_max <= sample_rate / 2:
            raise ConfigError(f"features: need 0 <= f_min < f_max <= {sample_rate / 2} Hz at {sample_rate} Hz")
        self.kind, self.n_fft, self.hop_length = config.kind, config.n_fft, config.hop_length
        self.top_db, self.with_deltas = config.top_db, config.deltas
        self.register_buffer("window", torch.hann_window(config.n_fft, periodic=True), persistent=False)
        mel = mel_filterbank(sample_rate, config.n_fft, config.n_mels, config.f_min, f_max).float()
        self.register_buffer("mel", mel, persistent=False)  # [M, n_freq]
        dct = dct_matrix(config.n_mfcc, config.n_mels).float()
        self.register_buffer("dct", dct, persistent=False)  # [n_mfcc, M]
        base = {"spectrogram": config.n_fft // 2 + 1, "logmel": config.n_mels, "mfcc": config.n_mfcc}[config.kind]
        self.num_features = base * (3 if config.deltas else 1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.finish(self.floor(self.decibels(self.power(waveform))))

    def power(self, waveform: torch.Tensor, center: bool = True) -> torch.Tensor:
        """|STFT|² `[B, n_freq, T]` of waveforms `[B, S]`, frames centred on every `hop_length`-th sample
        (zero-padded at both ends), or with `center` False, frames starting there (no padding)."""
        spec = torch.stft(waveform, self.n_fft, self.hop_length, window=self.window, center=center,
                          pad_mode="constant", return_complex=True)
        return spec.real**2 + spec.imag**2

    def decibels(self, power: torch.Tensor) -> torch.Tensor:
        """Power `[B, n_freq, T]` → mel bands (unless a plain spectrogram) in dB, not yet floored `[B, F0, T]`.

        Frame by frame: a feature map computed once over a long signal can be sliced into windows here.
        """
        if self.kind != "spectrogram":
            power = torch.matmul(self.mel, power)  # [B, M, T]
        return 10.0 * torch.log10(torch.clamp(power, min=AMIN))

    def floor(self, db: torch.Tensor) -> torch.Tensor:
        """dB `[B, F0, T]` floored at `top_db` below each example's maximum (the only step that sees the window)."""
        if self.top_db is not None:
            peak = db.amax(dim=(-2, -1), keepdim=True)
            db = torch.maximum(db, peak - self.top_db)
        return db

    def finish(self, db: torch.Tensor) -> torch.Tensor:
        """Floored dB `[B, F0, T]` → MFCC (if asked) and deltas (if asked) → `[B, 1, F, T]`."""
        features = torch.matmul(self.dct, db) if self.kind == "mfcc" else db  # [B, n_mfcc, T]
        if self.with_deltas:
            first = deltas(features)
            features = torch.cat([features, first, deltas(first)], dim=1)
        return features.unsqueeze(1)


class Normalizer(nn.Module):
    """Per-frequency standardisation with training-split statistics, or per instance, or none."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mode: str, num_features: int) -> None:
        super().__init__()
        if mode not in NORMALIZE:
            raise ConfigError(f"features.normalize {mode!r}: choose one of {', '.join(NORMALIZE)}")
        self.mode = mode
        self.register_buffer("mean", torch.zeros(num_features, 1))  # saved with the model
        self.register_buffer("std", torch.ones(num_features, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:  # [B, 1, F, T]
        if self.mode == "dataset":
            return (features - self.mean) / self.std
        if self.mode == "instance":
            mean = features.mean(dim=(-2, -1), keepdim=True)
            std = features.std(dim=(-2, -1), keepdim=True)
            return (features - mean) / (std + 1e-5)
        return features

    @torch.no_grad()
    def fit(self, batches: list[torch.Tensor]) -> None:
        """Set mean/std per frequency from feature batches `[B, 1, F, T]` of the training split."""
        stacked = torch.cat([b.transpose(0, 2).reshape(b.shape[2], -1) for b in batches], dim=1)  # [F, B*T]
        self.mean.copy_(stacked.mean(dim=1, keepdim=True))
        self.std.copy_(stacked.std(dim=1, keepdim=True).clamp(min=1e-3))
