"""EfficientAT MobileNets (Schmid et al. 2023, AudioSet by distillation) as backbones that load the official files.

A MobileNetV3-Large body (inverted residuals, channel squeeze-excitation) scaled by a width multiplier, over a
128-bin Kaldi log-mel at 32 kHz. The front-end is not in the official files (it is recomputed there on every
call), so here it is a module of non-persistent buffers: the state dict is exactly the official one.
Embedding: the last feature map averaged over frequency and time (960-d for mn10, 384-d for mn04).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from earmark.features.filters import kaldi_mel_banks
from earmark.models.pretrained.base import Backbone, BackboneSpec, WeightsFile
from earmark.models.pretrained.official import load_strict, read_official

AUDIOSET_CLASSES = 527

# ---- front-end -----------------------------------------------------------------------------------------------


class KaldiLogMel(nn.Module):
    """`[B, S]` at 32 kHz → `[B, 1, 128, T]`: pre-emphasis, |STFT|² (1024/320, Hann 800), Kaldi mel, log, scale."""

    window: torch.Tensor
    mel_banks: torch.Tensor
    emphasis: torch.Tensor
    n_fft: int
    hop: int

    def __init__(self, sample_rate: int = 32000, n_fft: int = 1024, hop: int = 320, window: int = 800,
                 n_mels: int = 128, f_min: float = 0.0, f_max: float = 15000.0) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        hann = torch.hann_window(window, periodic=False, dtype=torch.float64).float()
        self.register_buffer("window", hann, persistent=False)
        banks = kaldi_mel_banks(sample_rate, n_fft, n_mels, f_min, f_max).float()
        self.register_buffer("mel_banks", banks, persistent=False)  # [n_mels, n_fft // 2 + 1]
        self.register_buffer("emphasis", torch.tensor([[[-0.97, 1.0]]]), persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        x = F.conv1d(waveform[:, None, :], self.emphasis)[:, 0]  # x[n+1] - 0.97 x[n]: one sample shorter
        spec = torch.stft(x, self.n_fft, hop_length=self.hop, win_length=len(self.window), window=self.window,
                          center=True, pad_mode="reflect", return_complex=True)
        power = spec.real**2 + spec.imag**2  # [B, n_freq, T]
        mel = torch.matmul(self.mel_banks, power)
        return ((torch.log(mel + 1e-5) + 4.5) / 5.0)[:, None]  # EfficientAT's fixed normalisation


# ---- blocks ----------------------------------------------------------------------------------------------------


def make_divisible(value: float, divisor: int = 8) -> int:
    """Channels rounded to a multiple of `divisor`, never more than 10% below `value` (MobileNet's rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class _ConvBnAct(nn.Sequential):
    """Conv (no bias) → BN (eps 1e-3) → activation: keys `0.weight`, `1.*` as in the official files."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.Hardswish) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                                   nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)]
        super().__init__(*layers, *([act()] if act is not None else []))


class _ChannelGate(nn.Module):
    """Squeeze-excitation over channels: mean over (F, T) → fc1 → ReLU → fc2 → sigmoid → scale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(channels, squeeze), nn.Linear(squeeze, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, F, T]
        scale = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * scale[:, :, None, None]


class _SqueezeExcite(nn.Module):
    """EfficientAT's concurrent SE with one (channel) branch: the max over one branch is that branch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conc_se_layers = nn.ModuleList([_ChannelGate(channels, make_divisible(channels // 4))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conc_se_layers[0](x)


@dataclass(frozen=True)
class Stage:
    """One inverted residual of the base (width 1.0) network."""

    cin: int
    kernel: int
    expanded: int
    cout: int
    se: bool
    hardswish: bool
    stride: int


class _InvertedResidual(nn.Module):
    """[1x1 expand] → depthwise k×k → [SE] → 1x1 project, plus the input when the shape allows."""

    def __init__(self, s: Stage, width: float) -> None:
        super().__init__()
        cin, mid, cout = (make_divisible(c * width) for c in (s.cin, s.expanded, s.cout))
        act = nn.Hardswish if s.hardswish else nn.ReLU
        layers: list[nn.Module] = [_ConvBnAct(cin, mid, act=act)] if mid != cin else []
        layers.append(_ConvBnAct(mid, mid, s.kernel, s.stride, groups=mid, act=act))
        layers += [_SqueezeExcite(mid)] if s.se else []
        layers.append(_ConvBnAct(mid, cout, act=None))
        self.block = nn.Sequential(*layers)
        self.residual = s.stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x) if self.residual else self.block(x)


# MobileNetV3-Large (Howard et al. 2019, table 1): cin, kernel, expanded, cout, SE, hard-swish, stride.
MOBILENET_V3_LARGE: tuple[Stage, ...] = tuple(Stage(*row) for row in (
    (16, 3, 16, 16, False, False, 1), (16, 3, 64, 24, False, False, 2), (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2), (40, 5, 120, 40, True, False, 1), (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2), (80, 3, 200, 80, False, True, 1), (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1), (80, 3, 480, 112, True, True, 1), (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2), (160, 5, 960, 160, True, True, 1), (160, 5, 960, 160, True, True, 1)))


# ---- the model -------------------------------------------------------------------------------------------------


class EfficientAtMn(Backbone):
    """An EfficientAT MobileNet: `[B, S]` at 32 kHz → `[B, 6 × last channels]` pooled features."""

    sample_rate = 32000

    def __init__(self, width: float, name: str = "efficientat", stages: tuple[Stage, ...] = MOBILENET_V3_LARGE) -> None:
        super().__init__()
        self.name, self.width = name, width
        self.frontend = KaldiLogMel(self.sample_rate)
        first, last = make_divisible(stages[0].cin * width), make_divisible(stages[-1].cout * width)
        self.embedding_dim = 6 * last
        hidden = make_divisible(1280 * width)
        self.features = nn.Sequential(_ConvBnAct(1, first, 3, 2), *(_InvertedResidual(s, width) for s in stages),
                                      _ConvBnAct(last, self.embedding_dim))
        # indices 2 and 5 are the official keys classifier.2 / classifier.5
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(self.embedding_dim, hidden),
                                        nn.Hardswish(), nn.Dropout(0.2), nn.Linear(hidden, AUDIOSET_CLASSES))
        self.apply(_init)


    def feature_map(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, D, F', T']
        return self.features(self.frontend(waveform))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, D]
        return self.feature_map(waveform).mean(dim=(2, 3))

    def audioset_logits(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, 527] (sigmoid: tags)
        return self.classifier(self.feature_map(waveform))

    def load_official(self, path: Path) -> None:
        """Load an official EfficientAT `.pt` (a plain state dict)."""
        load_strict(self, read_official(path), path, f"EfficientAT {self.name}")


def _init(module: nn.Module) -> None:
    """MobileNet's initialisation (as the official code's): random weights that keep activations at a sane scale."""
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out")
    elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.01)
        nn.init.zeros_(module.bias)


# ---- variants ----------------------------------------------------------------------------------------------------

_RELEASE = "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/{}"
_LICENCE = ("MIT (fschmid56/EfficientAT's LICENSE; the weights are released with that repository and carry no "
            "separate licence statement)")
# name: (width multiplier, official file, description); no checksum is published for these files.
VARIANTS: dict[str, tuple[float, str, str]] = {
    "efficientat-mn04": (0.4, "mn04_as_mAP_432.pt", "0.98 M params, AudioSet mAP 0.432"),
    "efficientat-mn10": (1.0, "mn10_as_mAP_471.pt", "4.88 M params, AudioSet mAP 0.471"),
}


def build(name: str) -> EfficientAtMn:
    """The EfficientAT variant `name` with random weights, in eval mode.

    Untrained BN statistics (mean 0, variance 1) would shrink the activations ~10x per stage down to 1e-8,
    into denormal territory that misleads timings, so they are set from one batch of noise first.
    """
    model = EfficientAtMn(VARIANTS[name][0], name)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.momentum = None  # a cumulative average: one batch sets the statistics
    noise = 0.1 * torch.randn(2, model.sample_rate, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.train()(noise)
    for norm in norms:
        norm.momentum = 0.01
    return model.eval()


def _spec(name: str) -> BackboneSpec:
    """The registry row of one variant."""
    width, filename, about = VARIANTS[name]
    url = _RELEASE.format(filename)
    return BackboneSpec(
        name=name, family="efficientat", sample_rate=EfficientAtMn.sample_rate,
        embedding_dim=6 * make_divisible(MOBILENET_V3_LARGE[-1].cout * width),
        description=f"EfficientAT MobileNetV3 ×{width} AudioSet tagger ({about}); 128-bin Kaldi log-mel",
        licence=_LICENCE, weights_source=url, build=partial(build, name),
        weights=WeightsFile(url=url, filename=filename))


SPECS: tuple[BackboneSpec, ...] = tuple(_spec(name) for name in VARIANTS)
