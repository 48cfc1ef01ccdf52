"""`hf:<hub id or local folder>`: transformers audio encoders as backbones (waveform models and AST).

A local folder (what `save_pretrained` writes) never touches the network. A hub id is downloaded into the
Hugging Face cache when there is a network; offline (HF_HUB_OFFLINE=1, or no route to the hub) it is taken
from that cache or refused in one line, without the hub client's minute of retries. The front-end is
written in torch so that it is inside the checkpoint and the ONNX export: per-window normalisation for the
waveform models, the Kaldi fbank for AST (`earmark.features.kaldi`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import socket
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from earmark.errors import ConfigError, EarmarkError
from earmark.features.kaldi import KaldiFbank
from earmark.models.pretrained.base import Backbone
from earmark.models.pretrained.layout import file_sha256

WAVEFORM_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech", "unispeech-sat", "sew", "sew-d",
                  "wav2vec2-conformer")
SPECTROGRAM_TYPES = ("audio-spectrogram-transformer",)
WEIGHT_FILES = ("*.safetensors", "pytorch_model*.bin")
INSTALL = "pip install 'earmark[pretrained]'"
LICENCE = "transformers Apache-2.0; the model's own licence: see its model card"


def import_transformers() -> ModuleType:
    """transformers with its audio utilities, or one line saying what to install or uninstall."""
    _check_torchaudio()
    try:
        transformers = importlib.import_module("transformers")
        importlib.import_module("transformers.audio_utils")  # imports torchaudio when one is installed
    except ImportError:
        raise ConfigError(f"hf: models need the transformers package: {INSTALL}") from None
    except OSError as exc:
        raise EarmarkError(_torchaudio_line(exc)) from None
    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars are not the user's business
    transformers.utils.logging.set_verbosity_error()
    return transformers


def _check_torchaudio() -> None:
    """A torchaudio wheel built for another torch fails to load its library, and breaks transformers with it."""
    if importlib.util.find_spec("torchaudio") is None:
        return
    try:
        importlib.import_module("torchaudio")
    except (OSError, ImportError, RuntimeError) as exc:
        raise EarmarkError(_torchaudio_line(exc)) from None


def _torchaudio_line(exc: BaseException) -> str:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return (f"a broken torchaudio is installed beside torch {torch.__version__} ({detail}); it breaks transformers' "
            "audio models and earmark does not need it: pip uninstall -y torchaudio")


def resolve(reference: str) -> Path:
    """A local folder as it is; a hub id as its snapshot in the Hugging Face cache (downloaded if need be)."""
    local = Path(reference).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ConfigError(f"hf:{reference}: no config.json in this folder (save it with save_pretrained)")
        return local
    if local.exists() or reference.startswith((".", "/", "~")) or reference.count("/") > 1:
        raise ConfigError(f"hf:{reference}: no such folder")
    import_transformers()
    from huggingface_hub import constants, snapshot_download

    offline = bool(constants.HF_HUB_OFFLINE) or not _hub_reachable(constants.ENDPOINT)
    why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else f"{constants.ENDPOINT} cannot be reached"
    try:
        return Path(snapshot_download(reference, allow_patterns=["*.json", *WEIGHT_FILES], local_files_only=offline))
    except Exception as exc:  # the hub client's errors have no common base that means "not there"
        if offline:
            raise ConfigError(f"hf:{reference}: not in the Hugging Face cache and {why}; download it once with a "
                              "network, or point at a local folder: --model hf:/path/to/model") from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(f"hf:{reference}: cannot download from the hub ({first})") from None


def _hub_reachable(endpoint: str, timeout_s: float = 3.0) -> bool:
    """A TCP connection to the hub within a few seconds (instead of the client's ~47 s of retries)."""
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _weights_sha256(folder: Path) -> str:
    """sha256 over the weight files' own sha256 (sorted by name): what the embeddings cache keys on."""
    files = sorted(p for pattern in WEIGHT_FILES for p in folder.glob(pattern))
    if not files:
        raise ConfigError(f"{folder}: no model weights (*.safetensors or pytorch_model.bin) in this folder")
    return hashlib.sha256("".join(f"{p.name}:{file_sha256(p)}\n" for p in files).encode()).hexdigest()


def _frontend_facts(transformers: ModuleType, folder: Path, config: Any) -> dict[str, Any]:
    """What the model's feature extractor does, as plain data (its preprocessor_config.json, else defaults)."""
    kind = config.model_type
    if kind not in WAVEFORM_TYPES + SPECTROGRAM_TYPES:
        raise ConfigError(f"hf: model type {kind!r} is not supported; supported: "
                          f"{', '.join(WAVEFORM_TYPES + SPECTROGRAM_TYPES)}")
    if (folder / "preprocessor_config.json").is_file():
        extractor = transformers.AutoFeatureExtractor.from_pretrained(str(folder))
    elif kind in SPECTROGRAM_TYPES:
        extractor = transformers.ASTFeatureExtractor()
    else:
        extractor = transformers.Wav2Vec2FeatureExtractor()
    facts: dict[str, Any] = {"model_type": kind, "sample_rate": int(getattr(extractor, "sampling_rate", 16000)),
                             "do_normalize": bool(getattr(extractor, "do_normalize", False))}
    if kind in SPECTROGRAM_TYPES:
        facts.update(num_mel_bins=int(config.num_mel_bins), max_length=int(config.max_length),
                     mean=float(extractor.mean), std=float(extractor.std))
    return facts


class HFBackbone(Backbone):
    """A transformers encoder: waveform → (its front-end) → hidden states → mean over time of the last one, or
    with `layer_weights` (fine-tuning) a learned softmax-weighted sum of all layers, then the mean over time."""

    def __init__(self, model: nn.Module, frontend: dict[str, Any], weighted_layers: bool) -> None:
        super().__init__()
        self.model, self.facts = model, frontend
        config: Any = model.config
        self.sample_rate = int(frontend["sample_rate"])
        self.embedding_dim = int(config.hidden_size)
        self.fbank = (KaldiFbank(self.sample_rate, frontend["num_mel_bins"], frontend["max_length"], frontend["mean"],
                                 frontend["std"] if frontend["do_normalize"] else None)
                      if frontend["model_type"] in SPECTROGRAM_TYPES else None)
        layers = int(config.num_hidden_layers) + 1
        self.layer_weights = nn.Parameter(torch.zeros(layers)) if weighted_layers else None
        if weighted_layers and hasattr(config, "layerdrop"):
            config.layerdrop = 0.0  # a dropped layer drops its hidden state: the weights need them all

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, H]
        if self.fbank is not None:
            inputs = self.fbank(waveform)  # [B, frames, bins]
        elif self.facts["do_normalize"]:  # zero mean, unit variance per window, as the feature extractor does
            mean = waveform.mean(dim=1, keepdim=True)
            inputs = (waveform - mean) / torch.sqrt(waveform.var(dim=1, keepdim=True, unbiased=False) + 1e-7)
        else:
            inputs = waveform
        out = self.model(input_values=inputs, output_hidden_states=self.layer_weights is not None)
        if self.layer_weights is None:
            return out.last_hidden_state.mean(dim=1)
        stacked = torch.stack(tuple(out.hidden_states), dim=0)  # [L + 1, B, T, H]
        weights = torch.softmax(self.layer_weights, dim=0)
        return (weights[:, None, None, None] * stacked).sum(dim=0).mean(dim=1)


def load(reference: str, weights: str | None, finetune: bool) -> tuple[HFBackbone, dict[str, Any]]:
    """The pretrained encoder of `reference` (hub id or folder; `weights`, if given, is another folder)."""
    transformers = import_transformers()
    folder = resolve(weights or reference)
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder))
        facts = _frontend_facts(transformers, folder, config)
        model = transformers.AutoModel.from_pretrained(str(folder), config=config)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"hf:{reference}: cannot load the model in {folder} ({str(exc).splitlines()[0][:160]})"
                          ) from None
    provenance = {"name": f"hf:{reference}", "family": "hf", "licence": LICENCE,
                  "weights_source": str(folder.resolve()) if Path(reference).expanduser().is_dir() else reference,
                  "weights_file": str(folder.resolve()), "weights_sha256": _weights_sha256(folder),
                  "sample_rate": facts["sample_rate"], "embedding_dim": int(config.hidden_size),
                  "frontend": facts, "config": _plain(config.to_dict())}
    return HFBackbone(model, facts, finetune), provenance


def rebuild(provenance: dict[str, Any], finetune: bool) -> tuple[HFBackbone, dict[str, Any]]:
    """The encoder's layout from a checkpoint's record (its config), weights to come from the checkpoint."""
    transformers = import_transformers()
    values = dict(provenance["config"])
    config = transformers.AutoConfig.for_model(values.pop("model_type"), **values)
    model = transformers.AutoModel.from_config(config)
    return HFBackbone(model, dict(provenance["frontend"]), finetune), dict(provenance)


def _plain(value: Any) -> Any:
    """A config dict as plain data for a weights-only checkpoint (tuples → lists, odd objects → str)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


