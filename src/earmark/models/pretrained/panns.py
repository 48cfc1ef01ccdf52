"""PANNs CNNs (Kong et al. 2020, AudioSet tagging) as backbones whose state dicts load the official files strictly.

The front-end is part of the official checkpoint: a conv-STFT (`spectrogram_extractor.stft.conv_{real,imag}`:
periodic-Hann-windowed DFT rows) and a Slaney mel matrix (`logmel_extractor.melW`). They are kept as frozen
buffers under those keys and used as they are, so a loaded file's own values make the features, and the STFT
exports to ONNX as a plain Conv. The network works time-first (`[B, 1, T, mel]`), as the weights were trained.
Embedding: the pre-classifier vector (`relu(fc1(...))`, PANNs' `embedding`), 2048-d (Cnn14) or 512-d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from earmark.features.filters import mel_filterbank
from earmark.models.pretrained.base import Backbone, BackboneSpec, WeightsFile
from earmark.models.pretrained.official import load_strict, read_official

AUDIOSET_CLASSES = 527

# ---- blocks ----------------------------------------------------------------------------------------------------


class _Kernel(nn.Module):
    """A frozen tensor stored under the key `weight` (where the official file keeps a front-end matrix)."""

    weight: torch.Tensor

    def __init__(self, tensor: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("weight", tensor)


class _ConvStft(nn.Module):
    """Real and imaginary DFT rows times the window, `[n_freq, 1, n_fft]` each (the official key layout)."""

    def __init__(self, n_fft: int) -> None:
        super().__init__()
        real, imag = dft_kernels(n_fft)
        self.conv_real, self.conv_imag = _Kernel(real), _Kernel(imag)


class _Spectrogram(nn.Module):
    """Holds the conv-STFT under `stft`, as the official checkpoint names it."""

    def __init__(self, n_fft: int) -> None:
        super().__init__()
        self.stft = _ConvStft(n_fft)


class _MelMatrix(nn.Module):
    """Holds the `[n_freq, n_mels]` mel matrix under `melW`, as the official checkpoint names it."""

    melW: torch.Tensor  # the official key

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> None:
        super().__init__()
        self.register_buffer("melW", mel_filterbank(sample_rate, n_fft, n_mels, f_min, f_max).T.float())


def dft_kernels(n_fft: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Periodic-Hann-windowed DFT rows for bins 0..n_fft/2: (cos, -sin), each `[n_fft // 2 + 1, 1, n_fft]`."""
    n = torch.arange(n_fft, dtype=torch.float64)
    window = 0.5 - 0.5 * torch.cos(2 * math.pi * n / n_fft)
    phase = 2 * math.pi * torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None] * n[None, :] / n_fft
    return ((torch.cos(phase) * window)[:, None].float(), (-torch.sin(phase) * window)[:, None].float())


class _ConvBlock(nn.Module):
    """`layers` × (conv k×k without bias → BN → ReLU), then average pooling by `pool` on both axes."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, layers: int, pool: int) -> None:
        super().__init__()
        conv = partial(nn.Conv2d, kernel_size=kernel, padding=kernel // 2, bias=False)
        self.conv1, self.bn1 = conv(in_channels, out_channels), nn.BatchNorm2d(out_channels)
        if layers == 2:
            self.conv2, self.bn2 = conv(out_channels, out_channels), nn.BatchNorm2d(out_channels)
        self.layers, self.pool = layers, pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T, F]
        x = F.relu(self.bn1(self.conv1(x)))
        if self.layers == 2:
            x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, self.pool) if self.pool > 1 else x


# ---- the model -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PannsVariant:
    """One PANNs CNN: its front-end and its stack of blocks."""

    sample_rate: int
    n_fft: int
    hop: int
    f_min: float
    f_max: float
    channels: tuple[int, ...]  # out channels per block
    pools: tuple[int, ...]  # average-pool factor per block (both axes)
    kernel: int  # 3: two 3x3 convs per block; 5: one 5x5 conv
    n_mels: int = 64


class PannsCnn(Backbone):
    """A PANNs CNN: `[B, S]` waveform at `sample_rate` → `[B, channels[-1]]` embedding (relu(fc1))."""

    def __init__(self, variant: PannsVariant, name: str = "panns") -> None:
        super().__init__()
        v = self.variant = variant
        self.name, self.sample_rate, self.embedding_dim = name, v.sample_rate, v.channels[-1]
        self.spectrogram_extractor = _Spectrogram(v.n_fft)
        self.logmel_extractor = _MelMatrix(v.sample_rate, v.n_fft, v.n_mels, v.f_min, v.f_max)
        self.bn0 = nn.BatchNorm2d(v.n_mels)
        layers = 2 if v.kernel == 3 else 1
        inputs = (1, *v.channels[:-1])
        for i, (cin, cout, pool) in enumerate(zip(inputs, v.channels, v.pools), start=1):
            self.add_module(f"conv_block{i}", _ConvBlock(cin, cout, v.kernel, layers, pool))
        self.fc1 = nn.Linear(v.channels[-1], v.channels[-1])
        self.fc_audioset = nn.Linear(v.channels[-1], AUDIOSET_CLASSES)
        self.apply(_init)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, 1, T, n_mels] in dB
        """Reflect-padded conv-STFT power → mel → dB (needs S > n_fft / 2, as PANNs' own front-end)."""
        stft = self.spectrogram_extractor.stft
        half = int(stft.conv_real.weight.shape[-1]) // 2
        x = F.pad(waveform[:, None, :], (half, half), mode="reflect")
        real = F.conv1d(x, stft.conv_real.weight, stride=self.variant.hop)  # [B, n_freq, T]
        imag = F.conv1d(x, stft.conv_imag.weight, stride=self.variant.hop)
        mel = torch.matmul((real**2 + imag**2).transpose(1, 2), self.logmel_extractor.melW)  # [B, T, n_mels]
        return 10.0 * torch.log10(torch.clamp(mel, min=1e-10))[:, None]

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, D]
        x = self.bn0(self.log_mel(waveform).transpose(1, 3)).transpose(1, 3)  # BN over the mel bins
        for i in range(len(self.variant.channels)):
            x = F.dropout(getattr(self, f"conv_block{i + 1}")(x), p=0.2, training=self.training)
        x = x.mean(dim=3)  # over frequency → [B, C, T']
        x = F.dropout(x.amax(dim=2) + x.mean(dim=2), p=0.5, training=self.training)
        return F.dropout(F.relu(self.fc1(x)), p=0.5, training=self.training)

    def audioset_logits(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, 527] (sigmoid: tags)
        return self.fc_audioset(self(waveform))

    def load_official(self, path: Path) -> None:
        """Load an official PANNs `.pth` (`file["model"]`; its numpy sampler state is read as data, then dropped)."""
        load_strict(self, read_official(path, key="model", allow_numpy=True), path, f"PANNs {self.name}")


def _init(module: nn.Module) -> None:
    """PANNs' initialisation (Xavier-uniform weights, zero biases): random weights at a sane scale."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# ---- variants ----------------------------------------------------------------------------------------------------

_AT_32K = {"sample_rate": 32000, "n_fft": 1024, "hop": 320, "f_min": 50.0, "f_max": 14000.0}
_AT_16K = {"sample_rate": 16000, "n_fft": 512, "hop": 160, "f_min": 50.0, "f_max": 8000.0}
_CNN14 = {"channels": (64, 128, 256, 512, 1024, 2048), "pools": (2, 2, 2, 2, 2, 1), "kernel": 3}
_CNN10 = {"channels": (64, 128, 256, 512), "pools": (2, 2, 2, 2), "kernel": 3}
_CNN6 = {"channels": (64, 128, 256, 512), "pools": (2, 2, 2, 2), "kernel": 5}

VARIANTS: dict[str, PannsVariant] = {
    "panns-cnn14": PannsVariant(**_AT_32K, **_CNN14),  # type: ignore[arg-type]
    "panns-cnn10": PannsVariant(**_AT_32K, **_CNN10),  # type: ignore[arg-type]
    "panns-cnn6": PannsVariant(**_AT_32K, **_CNN6),  # type: ignore[arg-type]
    "panns-cnn14-16k": PannsVariant(**_AT_16K, **_CNN14),  # type: ignore[arg-type]
}


def build(name: str) -> PannsCnn:
    """The PANNs variant `name` with random weights (and the true front-end matrices), in eval mode."""
    return PannsCnn(VARIANTS[name], name).eval()


_ZENODO = "https://zenodo.org/record/3987831/files/{}?download=1"
_LICENCE = ("code MIT (qiuqiangkong/audioset_tagging_cnn); weights from Zenodo record 3987831: the code's README "
            "states no licence for them; third parties report CC BY 4.0 for the record (unverified)")
# md5 as quoted by third-party loaders (not published by the authors; unverified); sizes unknown.
_FILES = {"panns-cnn14": ("Cnn14_mAP=0.431.pth", "541141fa2ee191a88f24a3219fff024e", "81.8 M params, mAP 0.431"),
          "panns-cnn10": ("Cnn10_mAP=0.380.pth", "bfb1f1f9968938fa8ef4012b8471f5f6", "6.3 M params, mAP 0.380"),
          "panns-cnn6": ("Cnn6_mAP=0.343.pth", "e25e26b84585b14c7754c91e48efc9be", "5.9 M params, mAP 0.343"),
          "panns-cnn14-16k": ("Cnn14_16k_mAP=0.438.pth", "362fc5ff18f1d6ad2f6d464b45893f2c",
                              "81.8 M params, 16 kHz, mAP 0.438")}


def _spec(name: str) -> BackboneSpec:
    """The registry row of one variant."""
    filename, md5, about = _FILES[name]
    variant = VARIANTS[name]
    url = _ZENODO.format(filename.replace("=", "%3D"))
    return BackboneSpec(
        name=name, family="panns", sample_rate=variant.sample_rate, embedding_dim=variant.channels[-1],
        description=f"PANNs {filename.split('_mAP')[0]} AudioSet tagger ({about}); {variant.n_mels}-mel log-mel",
        licence=_LICENCE, weights_source=url, build=partial(build, name),
        weights=WeightsFile(url=url, filename=filename, md5=md5))


SPECS: tuple[BackboneSpec, ...] = tuple(_spec(name) for name in VARIANTS)
