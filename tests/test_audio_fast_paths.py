"""The fast paths of `prepare` give the same numbers as the general ones: WAV reader vs libsndfile,
batched vs one-by-one resampling and fingerprints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmark.audio.resample import resample, resample_many
from earmark.audio.wav import read_wav
from earmark.data.fingerprint import fingerprint, fingerprints

PLAIN = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", PLAIN)
@pytest.mark.parametrize("frames", [1, 1000, 40000])  # 40000 stereo frames run past the first read
def test_plain_wav_reads_exactly_as_libsndfile(tmp_path: Path, subtype: str, container: str, frames: int) -> None:
    path = tmp_path / "x.wav"
    rng = np.random.default_rng(frames)
    sf.write(path, rng.uniform(-1, 1, (frames, 2)), 22050, subtype=subtype, format=container)
    ours = read_wav(path, path.stat().st_size)
    reference, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert ours is not None and ours[1] == rate
    np.testing.assert_array_equal(ours[0], reference.T)


@pytest.mark.parametrize("subtype,container", [("ULAW", "WAV"), ("ALAW", "WAV"), ("MS_ADPCM", "WAV"),
                                               ("PCM_16", "RF64"), ("PCM_16", "AIFF")])
def test_other_encodings_are_left_to_libsndfile(tmp_path: Path, subtype: str, container: str) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros((100, 1)), 8000, subtype=subtype, format=container)
    assert read_wav(path, path.stat().st_size) is None


def test_truncated_wav_is_left_to_libsndfile(tmp_path: Path) -> None:
    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(1000), 8000, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:1500])
    assert read_wav(path, path.stat().st_size) is None


@pytest.mark.parametrize("rates", [(8000, 16000), (44100, 16000), (22050, 16000), (48000, 16000),
                                   (16000, 44100), (96000, 8000), (44100, 16001)])
def test_batched_resampling_equals_one_clip_at_a_time(rates: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    clips = [rng.uniform(-1, 1, int(n)).astype(np.float32) for n in rng.integers(1, 20000, 12)]
    batched = resample_many(clips, *rates)
    for clip, ours in zip(clips, batched):
        alone = resample(clip, *rates)
        assert alone.shape == ours.shape == (int(clip.size * rates[1] / rates[0] + 0.5),)
        np.testing.assert_allclose(ours, alone, atol=2e-6)


def test_resampling_keeps_a_tone_and_its_level() -> None:
    t = np.arange(44100) / 44100
    out = resample(np.sin(2 * np.pi * 1000 * t).astype(np.float32), 44100, 16000)
    expected = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    assert np.abs(out[100:-100] - expected[100:-100]).max() < 1e-3


def test_batched_fingerprints_equal_single_ones() -> None:
    rng = np.random.default_rng(1)
    clips = [rng.standard_normal(n).astype(np.float32) for n in (10, 255, 256, 3000, 8192, 9000, 160000)]
    batch = fingerprints(clips)
    for clip, bits in zip(clips, batch):
        np.testing.assert_array_equal(bits, fingerprint(clip, 16000))
