"""Prediction as a stream: the same windows and scores as in memory, bounded memory on long files, timelines."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmark.audio.resample import StreamResampler, resample
from earmark.audio.stream import stream_mono
from earmark.audio.windows import window_starts
from earmark.cli import main
from earmark.data.dataset import fit_window
from earmark.errors import DecodeError
from earmark.inference import Predictor
from earmark.inference.predictor import stream_windows
from tests.conftest import TONE_CLASSES, write_tone

SEGMENT_S = 60  # the long file changes tone every minute


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
