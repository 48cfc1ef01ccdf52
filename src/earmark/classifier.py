"""The whole model a user trains and ships: waveform `[B, S]` → features → normalisation → network → logits."""

from __future__ import annotations

import torch
from torch import nn

from earmark.config import AugmentConfig, FeatureConfig, ModelConfig
from earmark.features import Augment, FrontEnd, Normalizer
from earmark.models import create_model


class AudioClassifier(nn.Module):
    """Front-end, normaliser and network in one module, so export and predict cannot forget a step."""

    def __init__(self, features: FeatureConfig, model: ModelConfig, augment: AugmentConfig,
                 sample_rate: int, num_classes: int) -> None:
        super().__init__()
        self.frontend = FrontEnd(features, sample_rate)
        self.normalizer = Normalizer(features.normalize, self.frontend.num_features)
        self.augment = Augment(augment)
        self.network = create_model(model.name, num_classes, self.frontend.num_features, dropout=model.dropout)

    def features(self, waveform: torch.Tensor) -> torch.Tensor:
        """Normalised features `[B, 1, F, T]` (augmented in training mode)."""
        with torch.autocast(waveform.device.type, enabled=False):  # the STFT and dB stay in float32
            feats = self.frontend(self.augment.waveform(waveform.float()))
            feats = self.normalizer(feats)
        return self.augment.features(feats)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → logits [B, K]
        return self.network(self.features(waveform))

    def logits_from_decibels(self, db: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits `[B, K]` from `FrontEnd.decibels` maps `[B, F0, T]` of whole windows: the rest of
        `forward` after the frame-by-frame steps, for windows sliced from one feature map of a long signal."""
        with torch.autocast(db.device.type, enabled=False):
            feats = self.normalizer(self.frontend.finish(self.frontend.floor(db.float())))
        return self.network(feats)
