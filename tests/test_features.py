from __future__ import annotations

import numpy as np
import pytest
import torch

from earmark.config import FeatureConfig
from earmark.features import FrontEnd

librosa = pytest.importorskip("librosa")


def _signal(rate: int = 16000, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, t.size) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def test_logmel_matches_librosa() -> None:
    y = _signal()
    config = FeatureConfig(kind="logmel", n_fft=1024, hop_length=320, n_mels=64, f_min=0.0, top_db=80.0)
    ours = FrontEnd(config, 16000)(torch.from_numpy(y)[None])[0, 0].numpy()
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=320, n_mels=64, fmin=0.0,
                                         power=2.0, center=True, pad_mode="constant")
    ref = librosa.power_to_db(mel, ref=1.0, top_db=80.0)
    assert ours.shape == ref.shape
    close = ref > ref.max() - 80
    assert np.abs(ours - ref)[close].max() < 0.01


def test_mfcc_matches_librosa() -> None:
    y = _signal()
    config = FeatureConfig(kind="mfcc", n_fft=512, hop_length=160, n_mels=40, n_mfcc=13, f_min=0.0, top_db=80.0)
    ours = FrontEnd(config, 16000)(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40, fmin=0.0,
                               center=True, pad_mode="constant")
    assert np.abs(ours - ref).max() < 0.01


@pytest.mark.parametrize("kind, deltas, bands", [("spectrogram", False, 257), ("logmel", True, 192),
                                                 ("mfcc", True, 60)])
def test_shapes(kind: str, deltas: bool, bands: int) -> None:
    config = FeatureConfig(kind=kind, deltas=deltas, n_mfcc=20, n_mels=64)
    frontend = FrontEnd(config, 16000)
    out = frontend(torch.randn(3, 16000))
    assert out.shape == (3, 1, bands, 101) and frontend.num_features == bands
    assert torch.isfinite(out).all()
