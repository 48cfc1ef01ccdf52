"""A pretrained backbone as an earmark model: waveform `[B, S]` → resampler → backbone → head → logits `[B, K]`.

The same interface as AudioClassifier, so training, evaluation, predict and export take either. Frozen
(the probe, the default) the backbone stays in eval mode and only the head learns, from embeddings computed
once and cached (`earmark.data.embeddings`); with `model.finetune` everything trains on waveforms.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from earmark.config import AugmentConfig, ModelConfig
from earmark.errors import ConfigError
from earmark.features.augment import Augment
from earmark.features.resampler import Resampler
from earmark.models.pretrained import HF_PREFIX, backbone_spec
from earmark.models.pretrained.base import Backbone, BackboneSpec
from earmark.models.pretrained.layout import file_sha256

HEADS = ("linear", "mlp")
MLP_HIDDEN = 256
EMBEDDING_FORMAT = 1  # bump when the way windows become embeddings changes: old caches are then ignored
KEY_IGNORES = ("weights_file", "weights_source", "licence", "official_weights")


class Head(nn.Module):
    """Embeddings `[B, D]` → logits `[B, K]`: centred and scaled with the training split's statistics (saved
    with the model, as the features' normaliser is), then a linear layer or one hidden layer of MLP_HIDDEN units.

    Without the standardisation a head over unit-length embeddings (GE2E's components are ~0.06) needs
    thousands of steps at the default learning rate before its logits separate.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, kind: str, embedding_dim: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        if kind == "linear":
            self.net: nn.Module = nn.Sequential(nn.Dropout(dropout), nn.Linear(embedding_dim, num_classes))
        elif kind == "mlp":
            self.net = nn.Sequential(nn.Linear(embedding_dim, MLP_HIDDEN), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(MLP_HIDDEN, num_classes))
        else:
            raise ConfigError(f"model.head {kind!r}: choose one of {', '.join(HEADS)}")
        self.register_buffer("mean", torch.zeros(embedding_dim))
        self.register_buffer("std", torch.ones(embedding_dim))

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.net((embeddings - self.mean) / self.std)

    @torch.no_grad()
    def fit(self, embeddings: torch.Tensor) -> None:
        """Per-dimension mean and one overall scale (the RMS deviation) of training embeddings `[N, D]`.

        One scale, not one per dimension: a dimension that barely varies on the training split (a ReLU unit
        that is off there) would otherwise be multiplied by thousands on new data."""
        centred = embeddings - embeddings.mean(dim=0)
        scale = centred.pow(2).mean().sqrt().clamp(min=1e-6) if len(embeddings) > 1 else torch.tensor(1.0)
        self.mean.copy_(embeddings.mean(dim=0))
        self.std.fill_(float(scale))


class BackboneClassifier(nn.Module):
    """Resampler (explicit, recorded), pretrained backbone and a small head, in one exportable module."""

    def __init__(self, backbone: Backbone, provenance: dict[str, Any], model: ModelConfig, augment: AugmentConfig,
                 sample_rate: int, num_classes: int) -> None:
        super().__init__()
        self.resampler = Resampler(sample_rate, backbone.sample_rate)
        self.backbone = backbone
        self.augment = Augment(augment)  # waveform augmentation, used only when fine-tuning
        self.head = Head(model.head, backbone.embedding_dim, num_classes, model.dropout)
        self.finetune = model.finetune
        self.provenance = {**provenance, "resampling": self.resampler.describe()}
        if not self.finetune:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> BackboneClassifier:
        super().train(mode)
        if not self.finetune:  # a frozen backbone computes exactly the cached embeddings
            self.backbone.eval()
        return self

    @property
    def frozen(self) -> bool:
        return not self.finetune

    def embed(self, waveform: torch.Tensor) -> torch.Tensor:
        """Backbone embeddings `[B, D]` of waveforms `[B, S]` at the dataset's rate."""
        with torch.autocast(waveform.device.type, enabled=False):
            return self.backbone(self.resampler(waveform.float()))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → logits [B, K]
        return self.head(self.embed(self.augment.waveform(waveform.float())))

    def embedding_key(self, window: int, hop: int) -> str:
        """What decides a window's embedding (backbone, weights, front-end, resampling, window): the cache key."""
        # Where the weights file lies (and, for hf:, the folder in the name) does not change an embedding.
        about = {k: v for k, v in self.provenance.items() if k not in KEY_IGNORES}
        if about.get("family") == "hf":
            about.pop("name", None)
        facts = {"format": EMBEDDING_FORMAT, "backbone": about, "window": window, "hop": hop,
                 "rates": [self.resampler.source_rate, self.resampler.target_rate]}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()[:20]

    def backbone_parameters(self) -> list[str]:
        """Names of the backbone's parameters (trained at `optim.pretrained_lr_scale` × lr when fine-tuning)."""
        return [name for name, _ in self.named_parameters() if name.startswith("backbone.")]


def build_backbone_classifier(model: ModelConfig, augment: AugmentConfig, sample_rate: int, num_classes: int,
                              provenance: dict[str, Any] | None = None) -> BackboneClassifier:
    """With `provenance` (from a checkpoint): the layout only, weights to be loaded from the checkpoint.
    Without: the backbone with its pretrained weights (`model.weights` or the official source)."""
    backbone: Backbone
    if model.name.startswith(HF_PREFIX):
        from earmark.models.pretrained.hf import load, rebuild  # transformers only for hf: models

        backbone, facts = (rebuild(provenance, model.finetune) if provenance is not None
                           else load(model.name[len(HF_PREFIX):], model.weights, model.finetune))
    else:
        spec = backbone_spec(model.name)
        if spec is None:
            raise ConfigError(f"unknown backbone {model.name!r}")
        backbone, facts = (spec.build(), dict(provenance)) if provenance is not None else _official(spec, model.weights)
    return BackboneClassifier(backbone, facts, model, augment, sample_rate, num_classes)


def _official(spec: BackboneSpec, weights: str | None) -> tuple[Backbone, dict[str, Any]]:
    """A registered backbone with its weights loaded strictly, and where they came from (file, sha256)."""
    path = Path(weights).expanduser() if weights else default_weights(spec)
    if not path.is_file():
        raise ConfigError(f"model.weights {path}: no such file")
    backbone = spec.build()
    backbone.load_official(path)
    sha256 = file_sha256(path)
    official = spec.weights.sha256 if spec.weights is not None else None
    if weights is None and official is not None and sha256 != official:
        raise ConfigError(f"{path}: sha256 {sha256[:12]}… is not that of the official {spec.name} weights "
                          f"({official[:12]}…); delete the file or pass --set model.weights=FILE")
    is_official = official == sha256 if official is not None else _md5_matches(path, spec)
    return backbone, {"name": spec.name, "family": spec.family, "licence": spec.licence,
                      "weights_source": spec.weights_source if weights is None else str(path.resolve()),
                      "weights_file": str(path.resolve()), "weights_sha256": sha256,
                      "official_weights": is_official,
                      "sample_rate": spec.sample_rate, "embedding_dim": spec.embedding_dim}


def _md5_matches(path: Path, spec: BackboneSpec) -> bool | None:
    """Whether the file is the official one by the md5 its publisher quotes (None: nothing to compare with)."""
    if spec.weights is None or spec.weights.md5 is None:
        return None
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest() == spec.weights.md5


def default_weights(spec: BackboneSpec) -> Path:
    """The official weights file: in its wheel (ge2e) or fetched into EARMARK_CACHE (the download module)."""
    if spec.family == "ge2e":
        from earmark.models.pretrained import ge2e

        return ge2e.wheel_weights()
    if spec.weights is None:
        raise ConfigError(f"{spec.name}: no official weights are published; pass --set model.weights=FILE")
    try:
        download = importlib.import_module("earmark.models.pretrained.weights")
    except ImportError:
        raise ConfigError(f"{spec.name}: this install cannot download weights; "
                          f"get {spec.weights.filename} from {spec.weights.url} and pass --set model.weights=FILE"
                          ) from None
    return Path(download.fetch(spec.weights))
