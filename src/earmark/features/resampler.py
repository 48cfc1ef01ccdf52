"""Resampling inside a model, in torch: a windowed-sinc polyphase filter as one strided convolution.

Used where a pretrained backbone expects another rate than the prepared dataset's: it travels in the
checkpoint and the ONNX export, so predict and export resample exactly as training did. (Decoding still
resamples with soxr; this is only the model's own, explicit step.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

ZEROS = 16  # zero crossings of the sinc on each side: stop-band attenuation vs. cost
ROLLOFF = 0.95  # cutoff as a fraction of the lower Nyquist frequency (room for the transition band)


def sinc_kernels(orig: int, new: int) -> tuple[torch.Tensor, int]:
    """`[new, 1, 2·width + orig]` filters, one per output phase, for rates reduced to `orig : new`; and `width`."""
    cutoff = min(orig, new) / 2 * ROLLOFF  # in cycles per block of `orig` input samples
    width = math.ceil(ZEROS * orig / (2 * cutoff))
    taps = torch.arange(-width, width + orig, dtype=torch.float64) / orig  # input times, in blocks
    phases = torch.arange(new, dtype=torch.float64)[:, None] / new  # output times within a block
    tau = taps[None, :] - phases  # [new, taps]
    window = torch.cos(torch.clamp(tau * orig / width, -1.0, 1.0) * math.pi / 2) ** 2
    kernels = 2 * cutoff / orig * torch.sinc(2 * cutoff * tau) * window
    return kernels[:, None, :].float(), width


class Resampler(nn.Module):
    """`[B, S]` at `source_rate` → `[B, ceil(S · target / source)]` at `target_rate` (identity when equal)."""

    kernels: torch.Tensor

    def __init__(self, source_rate: int, target_rate: int) -> None:
        super().__init__()
        self.source_rate, self.target_rate = int(source_rate), int(target_rate)
        common = math.gcd(self.source_rate, self.target_rate)
        self.orig, self.new = self.source_rate // common, self.target_rate // common
        kernels, self.width = sinc_kernels(self.orig, self.new) if self.orig != self.new else (torch.zeros(0), 0)
        self.register_buffer("kernels", kernels, persistent=False)

    @property
    def identity(self) -> bool:
        return self.orig == self.new

    def describe(self) -> str:
        """One line for the log and run.json."""
        if self.identity:
            return f"input {self.source_rate} Hz, as the backbone expects (no resampling)"
        return (f"resampled {self.source_rate} Hz → {self.target_rate} Hz inside the model "
                f"(windowed sinc, {ZEROS} zero crossings, in the checkpoint and the export)")

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.identity:
            return waveform
        samples = waveform.shape[-1]
        blocks = -(-samples // self.orig)
        padded = nn.functional.pad(waveform[:, None, :], (self.width, self.width + blocks * self.orig - samples))
        phases = nn.functional.conv1d(padded, self.kernels, stride=self.orig)  # [B, new, blocks + …]
        out = phases[:, :, :blocks].transpose(1, 2).reshape(waveform.shape[0], blocks * self.new)
        return out[:, : -(-samples * self.new // self.orig)]
