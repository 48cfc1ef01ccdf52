from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from earmark.data.dataset import PreparedData
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.sources import LabelSpec
from earmark.errors import DataError
from tests.conftest import write_tone

FORMATS = [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "PCM_32"), ("wav", "PCM_U8"), ("wav", "FLOAT"),
           ("wav", "DOUBLE"), ("wav", "ULAW"), ("wav", "ALAW"), ("flac", "PCM_16"), ("flac", "PCM_24"),
           ("ogg", "VORBIS"), ("ogg", "OPUS"), ("mp3", "MPEG_LAYER_III"), ("aiff", "PCM_16"), ("au", "PCM_16")]
AV_FORMATS = [("m4a", "aac", "mp4"), ("webm", "libopus", "webm"), ("opus", "libopus", "ogg")]


def _av_write(path: Path, codec: str, container: str, freq: float) -> None:
    """Encode a tone with PyAV (FFmpeg) for the formats libsndfile cannot write."""
    import av

    rate = 48000 if "opus" in codec else 16000
    t = np.arange(int(0.8 * rate)) / rate
    wave = (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None, :]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(wave, format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def _broken_files(folder: Path, rng: np.random.Generator) -> dict[str, str]:
    """Eleven kinds of unusable file; returns name → a word the rejection reason must contain."""
    import soundfile as sf

    write_tone(folder / "whole.wav", 300.0, 0.5, 16000, rng)
    write_tone(folder / "whole.flac", 300.0, 0.5, 16000, rng, "PCM_16")
    sf.write(str(folder / "whole.mp3"), rng.standard_normal(16000).astype(np.float32) * 0.1, 16000)
    wav, flac, mp3 = ((folder / f"whole.{e}").read_bytes() for e in ("wav", "flac", "mp3"))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "random.wav").write_bytes(rng.bytes(3000))
    (folder / "text.mp3").write_text("this is not audio\n" * 50)
    (folder / "picture.m4a").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(500))
    (folder / "truncated.wav").write_bytes(wav[:30])
    (folder / "truncated.flac").write_bytes(flac[:60])
    (folder / "truncated.mp3").write_bytes(mp3[:40])
    sf.write(str(folder / "silent.wav"), np.zeros(8000, dtype=np.float32), 16000)
    sf.write(str(folder / "zero_samples.wav"), np.zeros(0, dtype=np.float32), 16000)
    sf.write(str(folder / "tiny.wav"), rng.standard_normal(80).astype(np.float32) * 0.1, 16000)
    nan = rng.standard_normal(8000).astype(np.float32)
    nan[100] = np.nan
    sf.write(str(folder / "nan.wav"), nan, 16000, subtype="FLOAT")
    for name in ("whole.wav", "whole.flac", "whole.mp3"):
        (folder / name).unlink()
    return {"empty.wav": "empty", "random.wav": "", "text.mp3": "", "picture.m4a": "", "truncated.wav": "",
            "truncated.flac": "", "truncated.mp3": "", "silent.wav": "silent", "zero_samples.wav": "",
            "tiny.wav": "too short", "nan.wav": "NaN"}


def _corpus(root: Path) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(1)
    for i, (ext, subtype) in enumerate(FORMATS):
        for label, freq in (("a", 400.0), ("b", 1500.0)):
            rate = 48000 if subtype == "OPUS" else (8000, 44100)[i % 2]
            write_tone(root / label / f"s{i}_{subtype}.{ext}", freq, 0.8, rate, rng, subtype, channels=1 + i % 2)
    for i, (ext, codec, container) in enumerate(AV_FORMATS):
        for label, freq in (("a", 400.0), ("b", 1500.0)):
            _av_write(root / label / f"av{i}_{codec}.{ext}", codec, container, freq)
    return root, _broken_files(root / "a", rng)


def test_every_format_kept_every_bad_file_rejected(tmp_path: Path) -> None:
    source, broken = _corpus(tmp_path / "src")
    out = tmp_path / "out"
    report = prepare(source, out, LabelSpec(), PrepareOptions(split="50/25/25", workers=2))
    assert report["n_kept"] == 2 * (len(FORMATS) + len(AV_FORMATS))
    with (out / "rejected.csv").open() as handle:
        rejected = {row["source"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(rejected) == {f"a/{name}" for name in broken}
    for name, word in broken.items():
        assert word in rejected[f"a/{name}"], (name, rejected[f"a/{name}"])
    data = PreparedData.open(out)
    assert data.sample_rate == 16000 and data.labels == ["a", "b"]
    for row in data.rows:
        assert abs(row.duration_s - 0.8) < 0.1, row  # AAC adds encoder padding
        assert row.source_sample_rate in (8000, 16000, 44100, 48000)
    assert json.loads((out / "labels.json").read_text()) == ["a", "b"]
    with pytest.raises(DataError, match="rejected"):
        prepare(source, tmp_path / "strict", LabelSpec(), PrepareOptions(strict=True))


def test_group_regex_keeps_speakers_in_one_split(tone_prepared: Path) -> None:
    data = PreparedData.open(tone_prepared)
    splits_of: dict[str, set[str]] = {}
    for row in data.rows:
        splits_of.setdefault(row.group, set()).add(row.split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert json.loads((tone_prepared / "report.json").read_text())["leakage"]["ok"]


def test_rerun_is_skipped_and_identical(tone_corpus: Path, tmp_path: Path) -> None:
    spec = LabelSpec(group=r"regex:(?P<group>spk\d+)_")
    prepare(tone_corpus, tmp_path / "a", spec, PrepareOptions(workers=1))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "a").rglob("*") if p.is_file()}
    prepare(tone_corpus, tmp_path / "a", spec, PrepareOptions(workers=1))
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "a").rglob("*") if p.is_file()} == before
    prepare(tone_corpus, tmp_path / "b", spec, PrepareOptions(workers=2))
    assert (tmp_path / "b" / "manifest.csv").read_text().replace(str(tmp_path / "b"), "") == \
        (tmp_path / "a" / "manifest.csv").read_text().replace(str(tmp_path / "a"), "")


def test_csv_source_rejects_paths_outside_root(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    root = tmp_path / "src"
    for i in range(4):
        write_tone(root / f"x{i}.wav", 300.0 * (1 + i % 2), 0.5, 16000, rng)
    write_tone(tmp_path / "outside.wav", 300.0, 0.5, 16000, rng)
    (root / "meta.csv").write_text("path,label\nx0.wav,a\nx1.wav,b\nx2.wav,a\nx3.wav,b\n../outside.wav,a\n"
                                   "x0.wav,a\nmissing.wav,b\n")
    report = prepare(root, tmp_path / "out", LabelSpec(labels="csv:meta.csv"), PrepareOptions(split="50/0/50"))
    assert report["n_kept"] == 4
    reasons = (tmp_path / "out" / "rejected.csv").read_text()
    assert "outside the source" in reasons and "duplicate path" in reasons and "does not exist" in reasons
