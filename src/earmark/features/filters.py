"""Small pure functions for the front-end: mel scale, mel filterbank, DCT matrix (librosa-compatible)."""

from __future__ import annotations

import math

import torch

_F_SP = 200.0 / 3  # Slaney mel scale: linear below 1 kHz (66.67 Hz per mel), logarithmic above
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(hz: torch.Tensor) -> torch.Tensor:
    """Slaney mel of frequencies in Hz (librosa `htk=False`)."""
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + torch.log(torch.clamp(hz, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return torch.where(hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel: torch.Tensor) -> torch.Tensor:
    """Inverse of `hz_to_mel`."""
    linear = mel * _F_SP
    log = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (mel - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """`[n_mels, n_fft // 2 + 1]` triangular filters with Slaney area normalisation (float64 for accuracy)."""
    fft_hz = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mel_lo, mel_hi = hz_to_mel(torch.tensor([f_min, f_max], dtype=torch.float64))
    edges_hz = mel_to_hz(torch.linspace(float(mel_lo), float(mel_hi), n_mels + 2, dtype=torch.float64))
    widths = edges_hz[1:] - edges_hz[:-1]  # [n_mels + 1]
    ramps = edges_hz[:, None] - fft_hz[None, :]  # [n_mels + 2, n_freq]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    return weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]


def dct_matrix(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """`[n_mfcc, n_mels]` orthonormal DCT-II (scipy `dct(type=2, norm="ortho")`, as librosa uses)."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi / n_mels * (n + 0.5) * k) * math.sqrt(2.0 / n_mels)
    basis[0] /= math.sqrt(2.0)
    return basis


def deltas(features: torch.Tensor, width: int = 9) -> torch.Tensor:
    """Savitzky-Golay-style local slope over time (last axis), edges by nearest padding (librosa `delta`)."""
    half = width // 2
    kernel = torch.arange(-half, half + 1, dtype=features.dtype, device=features.device)
    kernel = kernel / (kernel**2).sum()
    padded = torch.nn.functional.pad(features.reshape(-1, 1, features.shape[-1]), (half, half), mode="replicate")
    slope = torch.nn.functional.conv1d(padded, kernel.flip(0).view(1, 1, -1))
    return slope.reshape(features.shape)


def kaldi_mel_banks(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> torch.Tensor:
    """`[n_mels, n_fft // 2 + 1]` Kaldi triangles (peak 1 on 1127·ln(1 + f/700), no area norm), Nyquist column 0.

    Kaldi's fbank (and EfficientAT, AST, BEATs after it) build their filters over the FFT bins below Nyquist only,
    which leaves the Nyquist bin with weight 0; float64 here, cast by the caller.
    """
    def mel(hz: torch.Tensor) -> torch.Tensor:
        return 1127.0 * torch.log1p(hz / 700.0)

    edges = torch.linspace(float(mel(torch.tensor(f_min, dtype=torch.float64))),
                           float(mel(torch.tensor(f_max, dtype=torch.float64))), n_mels + 2, dtype=torch.float64)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]  # [n_mels, 1] each
    fft_mel = mel(torch.arange(n_fft // 2, dtype=torch.float64) * (sample_rate / n_fft))[None, :]
    rising, falling = (fft_mel - left) / (centre - left), (right - fft_mel) / (right - centre)
    banks = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))
