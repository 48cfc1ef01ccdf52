"""Prediction as a stream: the same windows and scores as in memory, bounded memory on long files, timelines."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from earmark.audio.decode import load_mono
from earmark.audio.resample import StreamResampler, resample
from earmark.audio.stream import stream_mono
from earmark.audio.windows import cut_windows, window_starts
from earmark.checkpoint import build_model
from earmark.classifier import AudioClassifier
from earmark.cli import main
from earmark.config import TrainConfig
from earmark.data.dataset import fit_window
from earmark.errors import DecodeError
from earmark.inference import Predictor
from earmark.inference.featuremap import FeatureMap
from earmark.inference.predictor import stream_spans, stream_windows
from earmark.inference.torch_backends import TorchBackend
from tests.conftest import TONE_CLASSES, write_tone

SEGMENT_S = 60  # the long file changes tone every minute
FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd"


@pytest.mark.parametrize("total", [1, 799, 800, 801, 5000, 12345])
def test_stream_windows_cut_exactly_what_window_starts_gives(total: int) -> None:
    samples = np.random.default_rng(total).standard_normal(total).astype(np.float32)
    for window, hop in ((800, 400), (800, 800), (800, 1000), (800, 333)):
        expected = window_starts(total, window, hop)
        for block in (7, 800, 4096, 10**6):
            got = list(stream_windows([samples[i : i + block] for i in range(0, total, block)], window, hop))
            assert [start for start, _, _ in got] == expected.tolist(), (window, hop, block)
            for start, end, cut in got:
                assert end == min(start + window, total)
                assert np.array_equal(cut, fit_window(samples[start : start + window], window))


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_stream_resampler_gives_the_samples_resample_gives(rate: int) -> None:
    samples = np.random.default_rng(rate).standard_normal(54321).astype(np.float32)
    resampler = StreamResampler(rate, 16000)
    streamed = np.concatenate([*(resampler.push(samples[i : i + 4000]) for i in range(0, samples.size, 4000)),
                               resampler.flush()])
    whole = resample(samples, rate, 16000)
    assert streamed.shape == whole.shape and np.allclose(streamed, whole, atol=1e-6)


def test_stream_refuses_what_load_mono_refuses(tmp_path: Path) -> None:
    sf.write(str(tmp_path / "silent.wav"), np.zeros(4000, dtype=np.float32), 16000)
    with pytest.raises(DecodeError, match="silent"):
        list(stream_mono(tmp_path / "silent.wav", 16000))
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DecodeError, match="empty"):
        list(stream_mono(tmp_path / "empty.wav", 16000))
    (tmp_path / "junk.mp3").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DecodeError):
        list(stream_mono(tmp_path / "junk.mp3", 16000))


def _write_segments(path: Path, seconds: int, rate: int, channels: int = 1, block_s: int = 10) -> list[str]:
    """A FLAC written block by block (never whole in memory): tone classes in turn, one per SEGMENT_S."""
    rng = np.random.default_rng(3)
    labels = list(TONE_CLASSES)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out:
        for start in range(0, seconds, block_s):
            t = np.arange(start * rate, (start + block_s) * rate) / rate
            freq = TONE_CLASSES[labels[(start // SEGMENT_S) % len(labels)]]
            wave = 0.5 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
            out.write(np.repeat(wave[:, None], channels, axis=1).astype(np.float32))
    return labels


def test_streamed_file_scores_equal_in_memory_scores(tone_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "stereo.flac"
    _write_segments(path, 20, 44100, channels=2)
    streamed = Predictor.from_path(tone_run, block_frames=5000).predict(path)
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    in_memory = Predictor.from_path(tone_run).predict_array(data.T, rate, str(path))
    assert len(streamed.windows) == len(in_memory.windows) == 79
    for a, b in zip(streamed.windows, in_memory.windows):
        assert (a["start_s"], a["end_s"], a["label"]) == (b["start_s"], b["end_s"], b["label"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert streamed.top_k[0][1] == pytest.approx(in_memory.top_k[0][1], abs=1e-6)


def test_long_file_is_predicted_in_bounded_memory(tone_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "ten_minutes.flac"
    labels = _write_segments(path, 600, 22050)
    predictor = Predictor.from_path(tone_run, hop_s=3.0, batch_size=32)  # a sparse hop: fewer windows to score
    tracemalloc.start()
    try:
        result = predictor.predict(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole_file = 600 * 16000 * 4  # bytes of the file decoded and resampled to float32 at 16 kHz
    assert peak < whole_file / 8, f"peak {peak / 1e6:.1f} MB"
    assert len(result.windows) == 201 and result.windows[-1]["end_s"] == pytest.approx(600.0)
    expected = [labels[(int(w["start_s"]) // SEGMENT_S) % 3] for w in result.windows]
    agree = np.mean([w["label"] == e for w, e in zip(result.windows, expected)])
    assert agree > 0.95, agree


def test_timeline_writes_csv_and_audacity_labels(tone_run: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    write_tone(tmp_path / "in" / "a.wav", 300, 2.0, 16000, rng)
    write_tone(tmp_path / "in" / "b.flac", 2400, 1.0, 22050, rng)
    one = tmp_path / "one.csv"
    assert main(["predict", str(tone_run), str(tmp_path / "in" / "a.wav"), "--timeline", str(one)]) == 0
    with one.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["file", "start_s", "end_s", "label", "score"] and len(rows) == 7
    assert rows[-1]["end_s"] == "2.000" and {row["label"] for row in rows} == {"low"}
    track = (tmp_path / "one.txt").read_text().splitlines()
    assert len(track) == 7 and track[0].split("\t") == ["0.000000", "0.500000", "low"]
    both = tmp_path / "both.csv"
    assert main(["predict", str(tone_run), str(tmp_path / "in"), "--timeline", str(both)]) == 0
    assert (tmp_path / "both.a.wav.txt").is_file() and (tmp_path / "both.b.flac.txt").is_file()
    assert "Audacity labels" in capsys.readouterr().err
    assert main(["predict", str(tone_run), str(tmp_path / "in"), "--timeline", str(tmp_path / "t.txt")]) == 1
    assert "name the CSV file" in capsys.readouterr().err and not (tmp_path / "t.txt").exists()


@pytest.mark.parametrize("window, hop", [(800, 300), (800, 800), (800, 2000)])
def test_stream_spans_hold_the_windows_stream_windows_cuts(window: int, hop: int) -> None:
    samples = np.random.default_rng(hop).standard_normal(23456).astype(np.float32)
    expected = window_starts(samples.size, window, hop)
    blocks = [samples[i : i + 1000] for i in range(0, samples.size, 1000)]
    got = []
    for starts, ends, offsets, span in stream_spans(blocks, window, hop, 7):
        assert 1 <= starts.size <= 7 and span.size <= 7 * window
        got += [(int(s), int(e), span[o : o + window].copy()) for s, e, o in zip(starts, ends, offsets)]
    assert [start for start, _, _ in got] == expected.tolist()
    for start, end, cut in got:
        assert end == start + window and np.array_equal(cut, samples[start : start + window])


def _untrained(features: dict[str, object], model: str = "tcresnet-8") -> AudioClassifier:
    """A default-config model with other front-end settings and a non-trivial normaliser."""
    config = TrainConfig()
    for key, value in features.items():
        setattr(config.features, key, value)
    config.model.name = model
    torch.manual_seed(0)
    classifier = build_model(config, ["a", "b", "c"], 16000).eval()
    with torch.no_grad():
        classifier.normalizer.mean.normal_()
        classifier.normalizer.std.uniform_(0.5, 2.0)
    return classifier


@pytest.mark.parametrize("features, model, window, hop", [
    ({}, "tcresnet-8", 16000, 8000),
    ({}, "tcresnet-8", 8000, 4800),
    ({"kind": "mfcc", "deltas": True, "normalize": "instance"}, "cnn", 16000, 8000),
    ({"kind": "spectrogram", "n_fft": 400, "hop_length": 160}, "tcresnet-8", 12345, 3200),
    ({"n_fft": 256, "hop_length": 200}, "tcresnet-8", 16000, 8000),  # hop > n_fft / 2: no tail frames
    ({"n_fft": 511}, "tcresnet-8", 16001, 8000),
    ({}, "tcresnet-8", 16000, 1234),  # a hop off the frame grid: every window whole
])
def test_feature_map_gives_the_logits_of_whole_windows(features: dict[str, object], model: str, window: int,
                                                       hop: int) -> None:
    classifier = _untrained(features, model)
    rng = np.random.default_rng(0)
    signal = (0.3 * np.sin(np.arange(150000) * 0.05) + 0.05 * rng.standard_normal(150000)).astype(np.float32)
    signal[50000:62000] = 0.0  # silence: the top_db floor and the normaliser see very different windows
    offsets = window_starts(signal.size, window, hop)[:30]
    with torch.inference_mode():
        whole = classifier(torch.from_numpy(cut_windows(signal, offsets, window))).numpy()
        shared = FeatureMap(classifier).logits(torch.from_numpy(signal), offsets, window).numpy()
    assert np.abs(whole - shared).max() < 1e-5 * max(1.0, np.abs(whole).max())
    assert np.array_equal(whole.argmax(axis=1), shared.argmax(axis=1))


def _speech(seconds: float) -> np.ndarray:
    """Spoken digits from the shared FSDD recordings laid end to end at 16 kHz (skips where they are absent)."""
    files = sorted((FSDD / "recordings").glob("*.wav"))[::50]
    if not files:
        pytest.skip("shared FSDD data not present")
    clips, total = [], 0
    for path in files:
        clip, _ = load_mono(path, 16000)
        clips.append(clip)
        total += clip.size
        if total >= seconds * 16000:
            break
    return np.concatenate(clips)


@pytest.mark.parametrize("audio", ["tones", "speech"])
def test_prediction_from_feature_maps_equals_per_window_prediction(tone_run: Path, tmp_path: Path,
                                                                   audio: str) -> None:
    """The trained model on real audio: feature-map scoring against every window's own front-end."""
    if audio == "speech":
        samples = _speech(30.0)
    else:
        _write_segments(tmp_path / "tones.flac", 30, 22050, channels=2)
        samples = np.concatenate(list(stream_mono(tmp_path / "tones.flac", 16000)))
    shared = Predictor.from_path(tone_run, batch_size=16)
    assert isinstance(shared.backend, TorchBackend)
    per_window = Predictor(_PerWindow(shared.backend), batch_size=16)
    a, b = shared.predict_array(samples, 16000), per_window.predict_array(samples, 16000)
    assert len(a.windows) == len(b.windows) > 100
    for x, y in zip(a.windows, b.windows):
        assert (x["start_s"], x["end_s"], x["label"]) == (y["start_s"], y["end_s"], y["label"])
        assert x["score"] == pytest.approx(y["score"], abs=1e-5)
    starts = window_starts(samples.size, shared.window, shared.hop)
    whole = shared.backend.logits(cut_windows(samples, starts, shared.window))
    mapped = np.concatenate([shared.backend.span_logits(samples, starts[i : i + 16], shared.window)
                             for i in range(0, starts.size, 16)])
    assert np.abs(whole - mapped).max() < 1e-4


class _PerWindow:
    """The path before feature maps: every window through the whole model from its own samples."""

    def __init__(self, backend: TorchBackend) -> None:
        self.backend, self.info = backend, backend.info

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.backend.logits(batch)

    def span_logits(self, span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
        return self.backend.logits(cut_windows(span, offsets, window))
