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

FORMATS = [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "FLOAT"), ("wav", "ULAW"), ("flac", "PCM_16"),
           ("ogg", "VORBIS"), ("aiff", "PCM_16"), ("au", "PCM_16")]


def _corpus(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for i, (ext, subtype) in enumerate(FORMATS):
        for label, freq in (("a", 400.0), ("b", 1500.0)):
            write_tone(root / label / f"s{i}_{subtype}.{ext}", freq, 0.8, (8000, 44100)[i % 2], rng, subtype,
                       channels=1 + i % 2)
    bad = root / "a"
    (bad / "empty.wav").write_bytes(b"")
    (bad / "random.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (bad / "text.mp3").write_text("this is not audio\n" * 50)
    write_tone(bad / "silent_src.wav", 100.0, 0.5, 16000, rng)
    import soundfile as sf

    sf.write(str(bad / "silent.wav"), np.zeros(8000, dtype=np.float32), 16000)
    full = (bad / "silent_src.wav").read_bytes()
    (bad / "truncated.wav").write_bytes(full[:30])
    (bad / "silent_src.wav").unlink()
    return root


def test_every_format_kept_every_bad_file_rejected(tmp_path: Path) -> None:
    source = _corpus(tmp_path / "src")
    out = tmp_path / "out"
    report = prepare(source, out, LabelSpec(), PrepareOptions(split="50/25/25", workers=2))
    assert report["n_kept"] == 2 * len(FORMATS)
    with (out / "rejected.csv").open() as handle:
        rejected = {row["source"]: row["reason"] for row in csv.DictReader(handle)}
    assert set(rejected) == {"a/empty.wav", "a/random.wav", "a/text.mp3", "a/silent.wav", "a/truncated.wav"}
    assert "empty" in rejected["a/empty.wav"] and "silent" in rejected["a/silent.wav"]
    data = PreparedData.open(out)
    assert data.sample_rate == 16000 and data.labels == ["a", "b"]
    row = next(r for r in data.rows if r.path.endswith("PCM_24.wav"))
    assert row.source_sample_rate in (8000, 44100) and abs(row.duration_s - 0.8) < 0.01
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
    before = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    prepare(tone_corpus, tmp_path / "a", spec, PrepareOptions(workers=1))
    assert {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()} == before
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
