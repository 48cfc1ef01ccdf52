"""Overlapping windows of a long signal scored from one feature map, not one front-end pass per window.

With the default half-window hop every sample is in two windows, so computing each window's STFT, mel
and dB from its own samples does the front-end's work twice. A frame of a window whose samples all lie
inside the window is the same frame of the whole signal, so these frames are computed once over a span of
consecutive windows and sliced per window; only the frames that reach into a window's zero padding (two
at each end with the default n_fft 512, hop 160) are computed per window. The steps that see the whole
window (the top_db floor, deltas, the normaliser in instance mode, the network) then run per window as in
`AudioClassifier.forward`, so the logits are the same to float rounding (tests/test_predict.py checks it).
"""

from __future__ import annotations

import numpy as np
import torch

from earmark.audio.windows import cut_windows
from earmark.classifier import AudioClassifier


class FeatureMap:
    """Logits of windows `span[o : o + window]` for many offsets `o`, from frames shared between windows."""

    def __init__(self, model: AudioClassifier) -> None:
        self.model, self.frontend = model, model.frontend
        self.n_fft, self.hop = self.frontend.n_fft, self.frontend.hop_length
        self.pad = self.n_fft // 2  # torch.stft(center=True) pads this many zeros at each end
        self.first_inner = -(-self.pad // self.hop)  # frame j is inside when j·hop - pad >= 0 ...

    def last_inner(self, window: int) -> int:
        """... and j·hop - pad + n_fft <= window: the last frame of a window that needs no padding."""
        return (window + self.pad - self.n_fft) // self.hop

    def logits(self, span: torch.Tensor, offsets: np.ndarray, window: int) -> torch.Tensor:
        """Logits `[n, K]` of the windows at `offsets` (sorted) in `span` `[S]`; windows off the first one's
        frame grid, and windows too short to have inner frames, go through the model whole."""
        on_grid = (offsets - offsets[0]) % self.hop == 0
        if self.last_inner(window) < self.first_inner:
            on_grid[:] = False
        out: list[torch.Tensor] = []
        if on_grid.any():
            out.append(self._from_map(span, offsets[on_grid], window))
        if not on_grid.all():
            out.append(self.model(torch.from_numpy(cut_windows(span.numpy(), offsets[~on_grid], window))))
        logits = torch.cat(out) if len(out) > 1 else out[0]
        if on_grid.all() or not on_grid.any():
            return logits
        order = np.concatenate([np.flatnonzero(on_grid), np.flatnonzero(~on_grid)])
        return logits[torch.from_numpy(np.argsort(order))]  # back to the order of `offsets`

    def _from_map(self, span: torch.Tensor, offsets: np.ndarray, window: int) -> torch.Tensor:
        first, last = self.first_inner, self.last_inner(window)
        inner = last - first + 1  # frames per window taken from the shared map
        begin = int(offsets[0]) + first * self.hop - self.pad  # sample where the first shared frame starts
        end = int(offsets[-1]) + last * self.hop - self.pad + self.n_fft
        shared = self.frontend.decibels(self.frontend.power(span[None, begin:end], center=False))[0]  # [F0, G]
        columns = torch.from_numpy((offsets - offsets[0]) // self.hop)[:, None] + torch.arange(inner)[None, :]
        middle = shared[:, columns].permute(1, 0, 2)  # [n, F0, inner]
        # frames 0 .. first - 1 and last + 1 .. the end reach into the zeros torch.stft(center=True) adds
        head = self._piece(span, offsets, 0, (first - 1) * self.hop + self.n_fft - self.pad, (self.pad, 0))
        tail_start = (last + 1) * self.hop - self.pad
        parts = [self.frontend.decibels(self.frontend.power(head, center=False)), middle]
        if window + self.pad - tail_start >= self.n_fft:  # a hop longer than n_fft / 2 can leave no tail frame
            tail = self._piece(span, offsets, tail_start, window, (0, self.pad))
            parts.append(self.frontend.decibels(self.frontend.power(tail, center=False)))
        db = torch.cat(parts, dim=-1)
        return self.model.logits_from_decibels(db)

    @staticmethod
    def _piece(span: torch.Tensor, offsets: np.ndarray, start: int, stop: int, pad: tuple[int, int]) -> torch.Tensor:
        """Samples `[start, stop)` of every window `[n, stop - start]`, zero-padded by `pad` (left, right)."""
        cut = torch.from_numpy(cut_windows(span.numpy(), offsets + start, stop - start))
        return torch.nn.functional.pad(cut, pad)
