"""Augmentation: each switch does what it says, on batches, and nothing happens in eval mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from earmark.config import AugmentConfig
from earmark.errors import ConfigError
from earmark.features.augment import Augment, mixup, pink

QUIET = {"gain_db": 0.0, "warp_freq": 0.0, "warp_time": 0.0}


def _tone(batch: int = 8, samples: int = 16000) -> torch.Tensor:
    t = torch.arange(samples) / 16000
    return torch.sin(2 * torch.pi * 440 * t).repeat(batch, 1) * 0.5


def _snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
    return 10 * torch.log10(clean.pow(2).mean(1) / (noisy - clean).pow(2).mean(1))


def test_eval_mode_changes_nothing() -> None:
    augment = Augment(AugmentConfig(freq_masks=2, time_masks=2, noise_prob=1.0)).eval()
    wave = _tone()
    assert torch.equal(augment.waveform(wave), wave)
    feats = torch.randn(4, 1, 40, 101)
    assert torch.equal(augment.features(feats), feats)


@pytest.mark.parametrize("color", ["white", "pink"])
def test_noise_lands_in_the_configured_snr_range(color: str) -> None:
    torch.manual_seed(0)
    augment = Augment(AugmentConfig(noise_snr_db=10.0, noise_prob=1.0, noise_color=color, **QUIET)).train()
    wave = _tone(64)
    snr = _snr_db(wave, augment.waveform(wave))
    assert snr.min() > 9.5 and snr.max() < 30.5 and snr.std() > 3  # uniform in [10, 30] dB


def test_pink_noise_falls_by_about_3_db_per_octave() -> None:
    torch.manual_seed(0)
    spectrum = torch.fft.rfft(pink(torch.randn(256, 16384)), dim=-1).abs().pow(2).mean(0)
    low, high = spectrum[100:200].mean(), spectrum[1600:3200].mean()  # 4 octaves apart
    assert 10 * torch.log10(low / high) == pytest.approx(12.0, abs=1.5)


def test_background_noise_folder_supplies_the_noise(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(8000) / 8000
    sf.write(tmp_path / "hum.wav", 0.3 * np.sin(2 * np.pi * 50 * t * 3), 8000)  # a 150 Hz hum at 8 kHz
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    sf.write(tmp_path / "fan.flac", 0.1 * rng.standard_normal(4000), 16000)
    augment = Augment(AugmentConfig(noise_snr_db=0.0, noise_prob=1.0, noise_dir=str(tmp_path), **QUIET)).train()
    note = augment.load_noise(16000)
    assert augment.noise_bank is not None and augment.noise_bank.numel() == 16000 + 4000
    assert str(tmp_path) in note
    silence = torch.zeros(4, 16000)
    silence[:, ::2] = 1e-3  # tiny signal: noise scaled to it, so only the bank's content shows
    noise = augment.waveform(silence) - silence
    assert noise.abs().sum() > 0 and not torch.isnan(noise).any()


def test_bad_noise_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="noise_color"):
        Augment(AugmentConfig(noise_color="brown"))
    with pytest.raises(ConfigError, match="not a folder"):
        Augment(AugmentConfig(noise_dir=str(tmp_path / "missing"))).load_noise(16000)
    with pytest.raises(ConfigError, match="no readable audio"):
        Augment(AugmentConfig(noise_dir=str(tmp_path))).load_noise(16000)


def test_mixup_mixes_waves_and_returns_both_targets() -> None:
    torch.manual_seed(0)
    wave = torch.arange(8, dtype=torch.float32)[:, None].repeat(1, 10)
    target = torch.arange(8)
    mixed, a, b, lam = mixup(wave, target, alpha=0.4)
    assert 0.0 <= lam <= 1.0 and torch.equal(a, target) and sorted(b.tolist()) == list(range(8))
    expected = lam * target.float() + (1 - lam) * b.float()
    assert torch.allclose(mixed[:, 0], expected)


def test_training_with_mixup_background_noise_and_no_shift(tone_prepared: Path, tmp_path: Path) -> None:
    from earmark.config import load_train_config
    from earmark.training.loop import train

    rng = np.random.default_rng(0)
    noise_dir = tmp_path / "noise"
    noise_dir.mkdir()
    sf.write(noise_dir / "room.wav", 0.1 * rng.standard_normal(16000), 16000)
    lines: list[str] = []
    config = load_train_config(overrides=[
        "model.name=cnn", "trainer.epochs=12", "trainer.monitor=val_loss", "trainer.batch_size=16", "data.window_s=0.5",
        "data.eval_hop_s=0.25",
        "optim.lr=0.01",
        "trainer.device=cpu", "augment.mixup_alpha=0.4", f"augment.noise_dir={noise_dir}", "augment.noise_prob=0.5",
        "augment.noise_snr_db=20", "augment.time_shift=false"])
    metrics = train(tone_prepared, tmp_path / "run", config, log=lines.append)
    assert any(f"noise from {noise_dir}" in line and "mixup alpha 0.4" in line for line in lines), lines
    assert metrics["val"]["accuracy"] >= 0.9  # three clearly different tones survive 20-40 dB of room noise
