"""What every pretrained backbone is: waveform at its own rate → embedding, with its weights' provenance.

A backbone owns its front-end (PANNs' 32 kHz log-mel, GE2E's 40-mel power spectrogram, raw waveform...) so that
the checkpoint and the ONNX export carry it. The classifier around it resamples explicitly to `sample_rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class WeightsFile:
    """Where a backbone's official weights come from, and what the file must be (None: not published)."""

    url: str
    filename: str
    size: int | None = None  # bytes
    md5: str | None = None
    sha256: str | None = None


class Backbone(nn.Module):
    """`[B, S]` float waveforms at `sample_rate` (in [-1, 1]) → embeddings `[B, embedding_dim]`."""

    sample_rate: int
    embedding_dim: int
    # False where the graph depends on the input length beyond its shape (GE2E's count of partials): an export
    # then takes exactly the window it was traced with, as predict feeds it.
    dynamic_length: bool = True

    def embed(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, D]
        return self(waveform)

    def load_official(self, path: Path) -> None:
        """Load an official checkpoint file strictly (every key and shape must match)."""
        raise NotImplementedError


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: how to build it, what it expects, and where its weights come from."""

    name: str
    family: str  # ge2e | panns | efficientat | hf
    description: str
    sample_rate: int  # input rate
    embedding_dim: int
    licence: str  # of the weights (and the code they came with)
    weights_source: str  # for people: a URL, "the resemblyzer wheel", "a hub id or local folder"
    build: Callable[[], Backbone]  # random weights in the official layout
    weights: WeightsFile | None = None
