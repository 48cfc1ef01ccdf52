"""The native ports of PANNs and EfficientAT: official layouts (by fingerprint), strict and safe loading, front-ends."""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.errors import EarmarkError
from earmark.features.filters import kaldi_mel_banks
from earmark.models.pretrained import efficientat, panns
from earmark.models.pretrained.base import Backbone
from earmark.models.pretrained.official import layout_fingerprint

# ../shared/PRETRAINED.md, "Layout fingerprints": recorded from the official model classes with random weights.
FINGERPRINTS = {
    "panns-cnn14": (84, "d7ecde7cf33a205cf1a7d9d351927f28e8145dbe2ef4538ba6af3faf4200f55c"),
    "panns-cnn10": (60, "2f2c0114218fe2d5d31a1c7912582c463802f110b8dff0d8058caad67ff5e3b2"),
    "panns-cnn6": (36, "974607a7663f0a20f6e368b541ddf6d43423f2618bd95b05405bb27778fa4572"),
    "panns-cnn14-16k": (84, "463de4881dead97bbf32cd242621165c3afce5babf4480b576b4ae659507aed6"),
    "efficientat-mn04": (312, "68ec71f204052458a9d4b708f6c21e9fa95f659275155f8ec24c84435d0a798d"),
    "efficientat-mn10": (312, "9b3da66abcfd2c7defb4e89532d5068b5cb754eeed93266ff98ab4d61b8c9c5e"),
}
SPECS = {spec.name: spec for spec in (*panns.SPECS, *efficientat.SPECS)}
SMALL = ["panns-cnn10", "panns-cnn6", "efficientat-mn04", "efficientat-mn10"]
BIG = ["panns-cnn14", "panns-cnn14-16k"]


def _random_state(model: Backbone, seed: int = 1) -> dict[str, torch.Tensor]:
    """A state dict of the model's layout with values unlike the model's own (counters included), still sane."""
    gen = torch.Generator().manual_seed(seed)

    def other(key: str, value: torch.Tensor) -> torch.Tensor:
        if not value.is_floating_point():
            return torch.randint(0, 1000, value.shape, generator=gen, dtype=value.dtype)
        if key.endswith("running_var"):
            return value * (1 + 0.1 * torch.rand(value.shape, generator=gen))
        return value + 0.01 * torch.randn(value.shape, generator=gen)

    return {k: other(k, v) for k, v in model.state_dict().items()}


def _sampler_state() -> dict[str, object]:
    """What PANNs' balanced sampler saves beside the model: lists of numpy arrays and numpy integers."""
    return {"indexes_per_class": [np.arange(i, i + 4, dtype=np.int64) for i in range(3)],
            "queue": [np.int64(5), np.int64(2)], "pointers_of_classes": np.zeros(3, dtype=np.int64)}


def _save_panns_file(path: Path, state: dict[str, torch.Tensor], numpy1_names: bool = False) -> Path:
    """An official-format PANNs file; optionally with numpy 1's module names, as the 2020 files have them."""
    torch.save({"iteration": 560000, "model": state, "sampler": _sampler_state()}, path)
    if numpy1_names:  # rewrite data.pkl inside the zip: the pickle's GLOBALs are text, so lengths may change
        with zipfile.ZipFile(path) as src:
            members = {info.filename: src.read(info) for info in src.infolist()}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as dst:
            for name, data in members.items():
                dst.writestr(name, data.replace(b"numpy._core.", b"numpy.core.") if name.endswith("data.pkl") else data)
    return path


@pytest.mark.parametrize("name", list(FINGERPRINTS))
def test_each_port_reproduces_the_official_layout_fingerprint(name: str) -> None:
    spec = SPECS[name]
    model = spec.build()
    state = model.state_dict()
    assert (len(state), layout_fingerprint(state)) == FINGERPRINTS[name]
    assert (model.sample_rate, model.embedding_dim) == (spec.sample_rate, spec.embedding_dim)
    assert spec.weights is not None and spec.weights.url.startswith("https://") and spec.licence


def test_the_official_urls() -> None:
    cnn14, mn10 = SPECS["panns-cnn14"].weights, SPECS["efficientat-mn10"].weights
    assert cnn14 is not None and mn10 is not None
    assert cnn14.url == "https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
    assert cnn14.filename == "Cnn14_mAP=0.431.pth" and cnn14.md5 == "541141fa2ee191a88f24a3219fff024e"
    assert mn10.url == "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/mn10_as_mAP_471.pt"
    assert mn10.md5 is None and mn10.sha256 is None  # none published


def test_the_fingerprint_sees_a_key_a_shape_and_a_dtype() -> None:
    state = {"a.weight": torch.zeros(2, 3), "a.num_batches_tracked": torch.tensor(0)}
    base = layout_fingerprint(state)
    assert layout_fingerprint({**state, "b": torch.zeros(1)}) != base
    assert layout_fingerprint({**state, "a.weight": torch.zeros(3, 2)}) != base
    assert layout_fingerprint({**state, "a.weight": torch.zeros(2, 3, dtype=torch.float64)}) != base


@pytest.mark.parametrize("name", SMALL)
def test_an_official_file_loads_strictly_and_its_values_are_used(name: str, tmp_path: Path) -> None:
    model = SPECS[name].build()
    state = _random_state(model)
    path = tmp_path / SPECS[name].weights.filename  # type: ignore[union-attr]
    if name.startswith("panns"):
        _save_panns_file(path, state, numpy1_names=name == "panns-cnn6")
    else:
        torch.save(state, path)  # EfficientAT's files are plain state dicts
    fresh = SPECS[name].build()
    fresh.load_official(path)
    loaded = fresh.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    with torch.no_grad():
        embedding = fresh.eval()(torch.randn(2, fresh.sample_rate) * 0.1)
    assert embedding.shape == (2, fresh.embedding_dim) and torch.isfinite(embedding).all()


def test_the_numpy1_rewrite_really_produces_numpy1_names(tmp_path: Path) -> None:
    path = _save_panns_file(tmp_path / "x.pth", {"w": torch.zeros(1)}, numpy1_names=True)
    with zipfile.ZipFile(path) as archive:
        pkl = next(archive.read(n) for n in archive.namelist() if n.endswith("data.pkl"))
    assert b"numpy.core.multiarray" in pkl and b"numpy._core" not in pkl


@pytest.mark.parametrize("name", ["panns-cnn14"])
def test_cnn14_embeds_a_second_of_audio(name: str) -> None:  # the one real-size Cnn14 forward in the fast suite
    model = SPECS[name].build()
    with torch.no_grad():
        embedding = model(torch.randn(2, 32000) * 0.1)
        tags = model.audioset_logits(torch.randn(1, 32000) * 0.1)
    assert embedding.shape == (2, 2048) and torch.isfinite(embedding).all() and tags.shape == (1, 527)


@pytest.mark.slow
@pytest.mark.parametrize("name", BIG)
def test_big_official_files_load_strictly(name: str, tmp_path: Path) -> None:
    model = SPECS[name].build()
    state = _random_state(model)
    path = _save_panns_file(tmp_path / "big.pth", state)
    del state
    model.load_official(path)
    with torch.no_grad():
        embedding = model(torch.randn(1, model.sample_rate) * 0.1)
    assert embedding.shape == (1, 2048) and torch.isfinite(embedding).all()


class _Touch:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ["panns-cnn6", "efficientat-mn04"])
def test_a_weights_file_that_would_run_code_is_refused_in_one_line(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    model = SPECS[name].build()
    writers = {"plain": lambda p: p.write_bytes(pickle.dumps({"model": _Touch(marker)}, protocol=2)),
               "inside": lambda p: torch.save({"model": model.state_dict(), "sampler": _Touch(marker)}, p)}
    for kind, write in writers.items():
        path = tmp_path / f"{kind}.pth"
        write(path)
        with pytest.raises(EarmarkError, match="refused: not only tensors and plain data") as info:
            model.load_official(path)
        text = str(info.value)
        assert str(path) in text and "\n" not in text and "system" in text  # GLOBAL posix.system
    assert not marker.exists()


def test_a_file_of_another_layout_is_refused_in_one_line(tmp_path: Path) -> None:
    model = SPECS["efficientat-mn04"].build()
    state = model.state_dict()
    state.pop("classifier.5.bias")
    state["features.0.0.weight"] = torch.zeros(3, 1, 3, 3)
    state["extra"] = torch.zeros(1)
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(EarmarkError) as info:
        model.load_official(tmp_path / "other.pt")
    text = str(info.value)
    assert "missing classifier.5.bias" in text and "unexpected extra" in text and "features.0.0.weight" in text
    assert "\n" not in text and str(tmp_path / "other.pt") in text
    cnn6 = SPECS["panns-cnn6"].build()
    torch.save({"iteration": 1}, tmp_path / "no_model.pth")
    with pytest.raises(EarmarkError, match="not an official checkpoint \\(no 'model' entry\\)"):
        cnn6.load_official(tmp_path / "no_model.pth")
    with pytest.raises(EarmarkError, match=r"garbage\.pth: weights file not found"):
        cnn6.load_official(tmp_path / "garbage.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a zip at all")
    with pytest.raises(EarmarkError, match="not a loadable weights file"):
        cnn6.load_official(tmp_path / "garbage.pth")


def _test_signal(sample_rate: int, seconds: float = 1.0) -> np.ndarray:
    """Noise plus a tone: energy in every band, so decibels are compared where they mean something."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (0.1 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.parametrize("name", ["panns-cnn6", "panns-cnn14-16k"])
def test_panns_front_end_matches_librosa(name: str) -> None:
    librosa = pytest.importorskip("librosa")
    v = replace(panns.VARIANTS[name], channels=(8,), pools=(1,))  # the front-end only depends on the rate
    model = panns.PannsCnn(v).eval()
    wave = _test_signal(v.sample_rate)
    power = np.abs(librosa.stft(wave.astype(np.float64), n_fft=v.n_fft, hop_length=v.hop, window="hann",
                                center=True, pad_mode="reflect")) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=v.sample_rate, n_fft=v.n_fft, n_mels=64, fmin=v.f_min,
                                         fmax=v.f_max)
    expected = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None).T  # [T, 64]
    with torch.no_grad():
        ours = model.log_mel(torch.from_numpy(wave)[None])[0, 0].numpy()
    mel_matrix = librosa.filters.mel(sr=v.sample_rate, n_fft=v.n_fft, n_mels=64, fmin=v.f_min, fmax=v.f_max)
    assert np.abs(model.logmel_extractor.melW.numpy() - mel_matrix.T).max() < 1e-7
    assert ours.shape == expected.shape
    assert np.abs(ours - expected).max() < 2e-4  # dB (measured 5e-5): float32 conv-STFT vs float64 FFT


@pytest.mark.parametrize("name", ["panns-cnn6", "panns-cnn14-16k"])
def test_panns_front_end_matches_torchlibrosa_the_one_the_weights_were_trained_with(name: str) -> None:
    stft = pytest.importorskip("torchlibrosa.stft")
    v = panns.VARIANTS[name]
    spectrogram = stft.Spectrogram(n_fft=v.n_fft, hop_length=v.hop, win_length=v.n_fft, window="hann", center=True,
                                   pad_mode="reflect", freeze_parameters=True)
    log_mel = stft.LogmelFilterBank(sr=v.sample_rate, n_fft=v.n_fft, n_mels=64, fmin=v.f_min, fmax=v.f_max, ref=1.0,
                                    amin=1e-10, top_db=None, freeze_parameters=True)
    model = panns.PannsCnn(replace(v, channels=(8,), pools=(1,))).eval()
    ours = model.state_dict()
    theirs = {f"spectrogram_extractor.{k}": w for k, w in spectrogram.state_dict().items()}
    theirs |= {f"logmel_extractor.{k}": w for k, w in log_mel.state_dict().items()}
    assert all((ours[k] - w).abs().max() < 1e-7 for k, w in theirs.items()) and len(theirs) == 3  # measured 6e-8
    wave = torch.from_numpy(_test_signal(v.sample_rate))[None]
    with torch.no_grad():
        assert (model.log_mel(wave) - log_mel(spectrogram(wave))).abs().max() < 5e-5  # dB; measured 4e-6


def test_kaldi_mel_banks_match_kaldi_native_fbank() -> None:
    knf = pytest.importorskip("kaldi_native_fbank")
    opts, frames = knf.MelBanksOptions(), knf.FrameExtractionOptions()
    opts.num_bins, opts.low_freq, opts.high_freq = 128, 0.0, 15000.0
    frames.samp_freq, frames.frame_length_ms = 32000, 32.0  # 1024 samples: a 1024-point FFT
    oracle = np.array(knf.MelBanks(opts, frames, 1.0).get_matrix())
    ours = kaldi_mel_banks(32000, 1024, 128, 0.0, 15000.0).numpy()
    assert ours.shape == oracle.shape == (128, 513) and not ours[:, -1].any()
    assert np.abs(ours - oracle).max() < 5e-5  # kaldi-native-fbank works in float32, ours in float64


def test_efficientat_front_end_matches_a_librosa_reference() -> None:
    librosa = pytest.importorskip("librosa")
    wave = _test_signal(32000)
    emphasised = wave[1:].astype(np.float64) - 0.97 * wave[:-1]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(800) / 799)  # symmetric Hann
    power = np.abs(librosa.stft(emphasised, n_fft=1024, hop_length=320, win_length=800, window=window,
                                center=True, pad_mode="reflect")) ** 2
    expected = (np.log(kaldi_mel_banks(32000, 1024, 128, 0.0, 15000.0).numpy() @ power + 1e-5) + 4.5) / 5.0
    with torch.no_grad():
        ours = efficientat.KaldiLogMel()(torch.from_numpy(wave)[None])[0, 0].numpy()
    assert ours.shape == expected.shape == (128, 100)
    assert np.abs(ours - expected).max() < 1e-4  # measured 2.2e-5


def test_width_rounding_follows_mobilenet() -> None:
    assert [efficientat.make_divisible(c * 0.4) for c in (16, 160, 960, 1280)] == [8, 64, 384, 512]
    assert efficientat.make_divisible(10) == 16 and efficientat.make_divisible(37) == 40


@pytest.mark.parametrize("name", ["panns-cnn6", "efficientat-mn04"])
def test_a_port_trains_its_network_and_never_its_front_end(name: str) -> None:
    model = SPECS[name].build().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model(0.1 * torch.randn(2, model.sample_rate)).square().mean().backward()
    untouched = {k.split(".")[0] for k, p in model.named_parameters() if p.grad is None}
    assert untouched == {"fc_audioset" if name.startswith("panns") else "classifier"}  # only the AudioSet head
    after = model.state_dict()
    front = [k for k in after if k.startswith(("spectrogram_extractor", "logmel_extractor"))]
    assert all(torch.equal(before[k], after[k]) for k in front)  # buffers, not parameters: never trained
    moving = next(k for k in after if k.endswith("running_mean"))
    assert not torch.equal(before[moving], after[moving])  # BN statistics move
