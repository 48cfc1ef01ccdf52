"""The Kaldi filterbank front-end of the Audio Spectrogram Transformer, in torch (exportable).

Per 25-ms frame every 10 ms (no centring): remove the DC offset, pre-emphasis 0.97, symmetric Hann window,
512-point power spectrum, Kaldi mel filters from 20 Hz to Nyquist (triangles in mel space), natural log
with a float32-epsilon floor; then padded with zeros or cropped to `max_length` frames and standardised with
AST's dataset statistics as `(x - mean) / (2 · std)`. Checked against transformers' ASTFeatureExtractor.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from earmark.features.filters import kaldi_mel_banks

FRAME, HOP, N_FFT = 400, 160, 512  # at 16 kHz: 25 ms, 10 ms
PREEMPHASIS = 0.97
FLOOR = 1.192092955078125e-07  # float32 epsilon, Kaldi's log floor
F_MIN = 20.0


class KaldiFbank(nn.Module):
    """`[B, S]` waveforms → `[B, max_length, n_mels]` standardised log-mel frames (AST's input)."""

    window: torch.Tensor
    mel: torch.Tensor

    def __init__(self, sample_rate: int, n_mels: int, max_length: int, mean: float, std: float | None) -> None:
        super().__init__()
        scale = sample_rate / 16000
        self.frame, self.hop = round(FRAME * scale), round(HOP * scale)
        self.n_fft = 1 << math.ceil(math.log2(self.frame))
        self.max_length, self.mean, self.std = max_length, mean, std
        self.register_buffer("window", torch.hann_window(self.frame, periodic=False), persistent=False)
        banks = kaldi_mel_banks(sample_rate, self.n_fft, n_mels, F_MIN, sample_rate / 2)  # Nyquist weight 0
        self.register_buffer("mel", banks.float(), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        frames = waveform.unfold(-1, self.frame, self.hop)  # [B, T, frame]
        frames = frames - frames.mean(dim=-1, keepdim=True)
        previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)  # the first sample is its own past
        frames = (frames - PREEMPHASIS * previous) * self.window
        spectrum = torch.fft.rfft(frames, n=self.n_fft)
        power = spectrum.real**2 + spectrum.imag**2  # [B, T, n_fft // 2 + 1]
        logmel = torch.log(torch.clamp(torch.matmul(power, self.mel.T), min=FLOOR))  # [B, T, M]
        count = logmel.shape[1]
        if count < self.max_length:
            logmel = nn.functional.pad(logmel, (0, 0, 0, self.max_length - count))
        logmel = logmel[:, : self.max_length]
        return logmel if self.std is None else (logmel - self.mean) / (2 * self.std)
