"""GE2E speaker encoder (Wan et al. 2018) with the real weights that ship in the `resemblyzer` wheel.

The weights file is found in the installed wheel and read with `torch.load(weights_only=True)`; the
resemblyzer package itself is never imported (its dependencies need a compiler and a setuptools that is gone).
Front-end: 16 kHz → 40-band Slaney mel power spectrogram (no log), 25 ms / 10 ms frames, centred; the frames
are cut into partial utterances of 160 frames (1.6 s) every 77 frames, each partial gives an L2-normalised
embedding and the clip's embedding is their normalised mean, as resemblyzer's `embed_utterance` does.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import warnings
from pathlib import Path

import torch
from torch import nn

from earmark.errors import ConfigError
from earmark.features.filters import mel_filterbank
from earmark.models.pretrained.base import Backbone, BackboneSpec, WeightsFile

SAMPLE_RATE = 16000
N_FFT, HOP, N_MELS = 400, 160, 40
PARTIAL_FRAMES, PARTIAL_STEP = 160, 77  # 1.6-s partials, 1.3 per second (16000 / 1.3 / 160 ≈ 77 frames)
MIN_COVERAGE = 0.75  # a last partial is kept when real frames fill at least this share of it
TARGET_DBFS, MAX_GAIN_DB = -30.0, 40.0  # resemblyzer raises quiet audio to -30 dBFS; the cap keeps silence silent
HIDDEN, LAYERS = 256, 3
WHEEL = "resemblyzer"
WHEEL_VERSION = "0.1.4"
WEIGHTS = WeightsFile(url=f"the {WHEEL}=={WHEEL_VERSION} wheel (pip install --no-deps {WHEEL}=={WHEEL_VERSION})",
                      filename="pretrained.pt", size=17_090_379,
                      sha256="39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e")
FINGERPRINT = "f8f937ce94c78eb39e2da3858d2391c1d3ac2a20076cc68490b6b860df02acd9"  # of the file's model_state


def partial_starts(frames: int) -> list[int]:
    """Start frames of the partial utterances over `frames` frames (at least one; the last may run past the end)."""
    starts = list(range(0, max(frames - PARTIAL_FRAMES, 0) + 1, PARTIAL_STEP))
    following = starts[-1] + PARTIAL_STEP
    if frames > PARTIAL_FRAMES and (frames - following) / PARTIAL_FRAMES >= MIN_COVERAGE:
        starts.append(following)
    return starts


class GE2EFrontEnd(nn.Module):
    """`[B, S]` at 16 kHz → mel power frames `[B, T, 40]`, quiet windows first raised towards -30 dBFS."""

    window: torch.Tensor
    mel: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(N_FFT, periodic=True), persistent=False)
        self.register_buffer("mel", mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS, 0.0, SAMPLE_RATE / 2).float(),
                             persistent=False)  # [40, 201]

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.mel_power(raise_quiet(waveform))

    def mel_power(self, waveform: torch.Tensor) -> torch.Tensor:
        """The mel power spectrogram alone (what librosa.feature.melspectrogram computes), `[B, T, 40]`."""
        spec = torch.stft(waveform, N_FFT, HOP, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)
        power = spec.real**2 + spec.imag**2  # [B, 201, T]
        return torch.matmul(self.mel, power).transpose(1, 2)


def raise_quiet(waveform: torch.Tensor) -> torch.Tensor:
    """Scale each window up to -30 dBFS RMS if it is quieter (never down), by at most MAX_GAIN_DB."""
    level_db = 10.0 * torch.log10(waveform.pow(2).mean(dim=1, keepdim=True).clamp(min=1e-12))
    gain_db = (TARGET_DBFS - level_db).clamp(min=0.0, max=MAX_GAIN_DB)
    return waveform * torch.pow(10.0, gain_db / 20.0)


class GE2E(Backbone):
    """LSTM(40, 256, 3 layers) over 160-frame partials → last hidden state → Linear → ReLU → L2 norm, averaged."""

    sample_rate = SAMPLE_RATE
    embedding_dim = HIDDEN
    dynamic_length = False  # the number of 1.6-s partials follows from the length
    similarity_weight: torch.Tensor
    similarity_bias: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.frontend = GE2EFrontEnd()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, HIDDEN)
        # The GE2E loss's scale and offset are in the official file; kept (unused) so it loads strictly.
        self.register_buffer("similarity_weight", torch.tensor([10.0]))
        self.register_buffer("similarity_bias", torch.tensor([-5.0]))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:  # [B, S] → [B, 256]
        frames = self.frontend(waveform)  # [B, T, 40]
        batch, count = frames.shape[0], frames.shape[1]
        starts = partial_starts(count)  # python ints: the window length is fixed when exported
        padding = starts[-1] + PARTIAL_FRAMES - count
        if padding > 0:
            frames = nn.functional.pad(frames, (0, 0, 0, padding))
        partials = torch.stack([frames[:, s : s + PARTIAL_FRAMES] for s in starts], dim=1)  # [B, P, 160, 40]
        _, (hidden, _) = self.lstm(partials.reshape(-1, PARTIAL_FRAMES, N_MELS))
        embeds = nn.functional.normalize(torch.relu(self.linear(hidden[-1])), dim=1)  # [B·P, 256]
        return nn.functional.normalize(embeds.reshape(batch, len(starts), HIDDEN).mean(dim=1), dim=1)

    def official_state(self) -> dict[str, torch.Tensor]:
        """The state dict in the official file's layout (the whole `model_state`)."""
        return dict(self.state_dict())

    def load_official(self, path: Path) -> None:
        """Load resemblyzer's `pretrained.pt` (`{"model_state": ...}`) strictly."""
        state = read_weights(path)
        missing, unexpected = set(self.state_dict()) - set(state), set(state) - set(self.state_dict())
        if missing or unexpected:
            raise ConfigError(f"{path}: not the GE2E weights file (missing {sorted(missing)[:3]}, "
                              f"unexpected {sorted(unexpected)[:3]})")
        self.load_state_dict(state, strict=True)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """`model_state` of a resemblyzer-style checkpoint, read weights-only (no code is unpickled)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"{path}: GE2E weights file not found") from None
    except Exception as exc:  # the weights-only unpickler raises whatever it trips on
        raise ConfigError(f"{path}: not a readable GE2E weights file ({str(exc).splitlines()[0][:120]})") from None
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a GE2E weights file (no model_state)")
    return state


def wheel_weights() -> Path:
    """`resemblyzer/pretrained.pt` of the installed wheel, found from its metadata without importing it."""
    hint = f"install the weights with `pip install --no-deps {WHEEL}=={WHEEL_VERSION}` or pass --set model.weights=FILE"
    try:
        files = importlib.metadata.files(WHEEL) or []
        found = [f for f in files if f.name == WEIGHTS.filename and f.parent.name == WHEEL]
        if found:
            return Path(str(found[0].locate()))
    except importlib.metadata.PackageNotFoundError:
        pass
    spec = importlib.util.find_spec(WHEEL)  # a top-level package: locates it, executes nothing
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / WEIGHTS.filename
        if candidate.is_file():
            return candidate
    raise ConfigError(f"ge2e: the {WHEEL} wheel is not installed; {hint}")


SPECS = (
    BackboneSpec("ge2e", "ge2e", "GE2E speaker encoder (resemblyzer weights): 3-layer LSTM over 40 mel bands",
                 SAMPLE_RATE, HIDDEN, "Apache-2.0 (resemblyzer)", WEIGHTS.url, GE2E, WEIGHTS),
)
