"""Each registered dataset as `earmark download` leaves it, prepared with its preset: the split it gives.

The archives are small synthetic copies with the real member names (tests/dataset_layouts.py), served from
127.0.0.1, downloaded, extracted and prepared as a user's run would; the real URLs are never fetched.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from earmark.cli import main
from earmark.data.dataset import PreparedData
from earmark.data.download import download, load_dataset
from earmark.data.presets import source_options
from earmark.data.sources import scan
from tests.dataset_layouts import LAYOUTS, pack
from tests.loopback import serve

# dataset → (train, val, test) clips, rejected files, label count
EXPECTED = {
    "fsdd": ((27, 3, 30), 0, 3),  # takes 0-4 are the official test set; val carved from training
    "esc50": ((32, 4, 4), 0, 2),
    "urbansound8k": ((32, 4, 4), 0, 2),  # folds 1-8 / 9 / 10
    "speech-commands": ((32, 4, 4), 1, 2),  # the lists decide; _background_noise_ excluded
    "gtzan": ((443, 197, 290), 70, 10),  # Kereliuk et al.'s filtered split; 70 excerpts left out
    "ravdess": ((38, 6, 4), 0, 2),
    "vctk": ((32, 4, 4), 40, 4),  # the mic2 copies excluded
    "audio-mnist": ((32, 4, 4), 0, 2),
}


def _downloaded_and_prepared(tmp_path: Path, name: str) -> tuple[Path, PreparedData]:
    build, kind = LAYOUTS[name]
    data = pack(build(), kind)
    entry = dataclasses.replace(load_dataset(name), mirrors=(), size=len(data), md5=None,
                                sha256=hashlib.sha256(data).hexdigest())
    with serve(data, f"/{entry.filename}") as (url, _):
        dest = download(dataclasses.replace(entry, url=url), tmp_path / "data")
    out = tmp_path / "prepared"
    assert main(["prepare", str(dest), str(out), "--preset", entry.preset, "--workers", "1"]) == 0
    return out, PreparedData.open(out)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_downloaded_dataset_prepares_with_its_preset(tmp_path: Path, name: str) -> None:
    (train, val, test), rejected, labels = EXPECTED[name]
    out, data = _downloaded_and_prepared(tmp_path, name)
    assert Counter(row.split for row in data.rows) == {"train": train, "val": val, "test": test}
    assert len(data.labels) == labels
    with (out / "rejected.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == rejected
    splits_of: dict[str, set[str]] = {}
    for row in data.rows:
        splits_of.setdefault(row.group, set()).add(row.split)
    assert all(len(splits) == 1 for splits in splits_of.values())  # no group (speaker, recording) in two splits


def test_urbansound8k_folds_classes_and_recordings(tmp_path: Path) -> None:
    _, data = _downloaded_and_prepared(tmp_path, "urbansound8k")
    assert data.labels == ["dog_bark", "siren"] and {row.fold for row in data.rows} == set(range(1, 11))
    assert all(row.split == ("test" if row.fold == 10 else "val" if row.fold == 9 else "train") for row in data.rows)
    assert all(row.group == row.path.rsplit("/", 1)[1].split("-")[0] for row in data.rows)  # the fsID


def test_gtzan_leaves_out_exactly_the_listed_faulty_excerpts(tmp_path: Path) -> None:
    out, data = _downloaded_and_prepared(tmp_path, "gtzan")
    with (out / "rejected.csv").open(encoding="utf-8") as handle:
        rejected = {row["source"].removeprefix("genres/") for row in csv.DictReader(handle)}
    shipped = resources.files("earmark.data") / "presets" / "gtzan-filtered" / "left-out.txt"
    assert rejected == set(shipped.read_text(encoding="utf-8").split())
    assert Counter(row.label for row in data.rows if row.split == "test")["jazz"] == 27  # jazz.00073-00099


def test_audio_mnist_speaker_folds(tmp_path: Path) -> None:
    _, data = _downloaded_and_prepared(tmp_path, "audio-mnist")
    folds_of = {row.group: row.fold for row in data.rows}
    assert len(folds_of) == 10 and Counter(folds_of.values()) == {0: 2, 1: 2, 2: 2, 3: 2, 4: 2}
    assert all(folds_of[row.group] == row.fold for row in data.rows)  # a speaker's clips share one fold


def test_gtzan_lists_also_place_a_wav_copy_of_the_collection(tmp_path: Path) -> None:
    for name in ("blues.00000", "blues.00012", "jazz.00041", "jazz.00033"):  # val, test, train, left out
        genre = name.split(".")[0]
        (tmp_path / "genres_original" / genre).mkdir(parents=True, exist_ok=True)
        (tmp_path / "genres_original" / genre / f"{name}.wav").write_bytes(b"")  # scan reads names only
    items, skipped = scan(tmp_path, source_options("gtzan").spec)
    assert {item.path.rsplit("/", 1)[1]: item.split for item in items} == {
        "blues.00000.wav": "val", "blues.00012.wav": "test", "jazz.00041.wav": "train"}
    assert [(s.source, s.reason) for s in skipped] == [
        ("genres_original/jazz/jazz.00033.wav", "not in the preset's split lists")]
