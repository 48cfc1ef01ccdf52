"""Every shipped preset on a tiny copy of its layout, made here from tones (no real dataset needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from earmark.data.dataset import PreparedData
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.presets import list_presets, load_preset, source_options
from earmark.errors import DataError
from tests.conftest import write_tone

RNG = np.random.default_rng(0)


def _tone(path: Path, i: int) -> None:
    write_tone(path, 200.0 + 150 * (i % 7), 0.3, 8000, RNG)


def _prepare(root: Path, out: Path, preset: str, split: str | None = None) -> PreparedData:
    source = source_options(preset, split=split)
    prepare(root, out, source.spec, PrepareOptions(split=source.split, seed=0, workers=1))
    return PreparedData.open(out)


def _no_group_crosses(data: PreparedData) -> bool:
    splits: dict[str, set[str]] = {}
    for row in data.rows:
        splits.setdefault(row.group, set()).add(row.split)
    return all(len(s) == 1 for s in splits.values())


def test_every_preset_loads_and_unknown_lists_valid() -> None:
    assert {"fsdd", "earmark-digits", "speaker-id", "gtzan", "esc50", "speech-commands", "ravdess",
            "vctk"} <= set(list_presets())
    for name in list_presets():
        assert load_preset(name)["description"]
    with pytest.raises(DataError, match="valid presets"):
        load_preset("nope")


def test_speaker_id_groups_by_recording(tmp_path: Path) -> None:
    for s in range(3):
        for r in range(4):
            for k in range(2):
                _tone(tmp_path / "src" / f"id{s:03d}" / f"rec{r}" / f"{k:05d}.wav", s)
    data = _prepare(tmp_path / "src", tmp_path / "out", "speaker-id", "50/25/25")
    assert data.labels == ["id000", "id001", "id002"]
    assert {row.group for row in data.rows} == {f"id{s:03d}/rec{r}" for s in range(3) for r in range(4)}
    assert _no_group_crosses(data)


def test_gtzan_folder_genres(tmp_path: Path) -> None:
    for genre in ("blues", "jazz"):
        for i in range(5):
            _tone(tmp_path / "src" / "genres" / genre / f"{genre}.{i:05d}.au", i)
    data = _prepare(tmp_path / "src", tmp_path / "out", "gtzan", "60/20/20")
    assert data.labels == ["blues", "jazz"] and len(data.rows) == 10


def test_esc50_csv_with_folds_and_source_groups(tmp_path: Path) -> None:
    root = tmp_path / "src"
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for i in range(20):
        name = f"{1 + i % 5}-{100 + i // 2}-A-{i % 2}.wav"
        _tone(root / "audio" / name, i)
        lines.append(f"{name},{1 + i % 5},{i % 2},{'dog' if i % 2 else 'rain'},False,{100 + i // 2},A")
    (root / "meta").mkdir()
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    data = _prepare(root, tmp_path / "out", "esc50", "60/20/20")
    assert data.labels == ["dog", "rain"] and len(data.rows) == 20
    assert {row.fold for row in data.rows} == {1, 2, 3, 4, 5}
    assert _no_group_crosses(data)


def test_speech_commands_lists_and_background_noise(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for w, word in enumerate(("yes", "no")):
        for s in range(6):
            _tone(root / word / f"{s:08x}_nohash_0.wav", w)
    _tone(root / "_background_noise_" / "white_noise.wav", 3)
    (root / "validation_list.txt").write_text("yes/00000004_nohash_0.wav\nno/00000004_nohash_0.wav\n")
    (root / "testing_list.txt").write_text("yes/00000005_nohash_0.wav\nno/00000005_nohash_0.wav\n")
    data = _prepare(root, tmp_path / "out", "speech-commands")
    assert Counter(row.split for row in data.rows) == {"train": 8, "val": 2, "test": 2}
    assert "excluded by the preset" in (tmp_path / "out" / "rejected.csv").read_text()


def test_ravdess_emotion_names_and_actor_groups(tmp_path: Path) -> None:
    for actor in range(1, 7):
        for emotion in ("01", "05"):
            name = f"03-01-{emotion}-01-01-01-{actor:02d}.wav"
            _tone(tmp_path / "src" / f"Actor_{actor:02d}" / name, int(emotion))
    data = _prepare(tmp_path / "src", tmp_path / "out", "ravdess", "4/1/1")
    assert data.labels == ["angry", "neutral"]
    assert _no_group_crosses(data) and len({row.group for row in data.rows}) == 6


def test_vctk_speakers_sentence_groups_and_mic2_excluded(tmp_path: Path) -> None:
    root = tmp_path / "src" / "wav48_silence_trimmed"
    for speaker in ("p225", "p226"):
        for sentence in range(1, 9):
            _tone(root / speaker / f"{speaker}_{sentence:03d}_mic1.flac", sentence)
            _tone(root / speaker / f"{speaker}_{sentence:03d}_mic2.flac", sentence)
    data = _prepare(tmp_path / "src", tmp_path / "out", "vctk", "50/25/25")
    assert data.labels == ["p225", "p226"] and len(data.rows) == 16
    assert _no_group_crosses(data)
    assert (tmp_path / "out" / "rejected.csv").read_text().count("excluded by the preset") == 16


def test_esc10_folders_folds_and_fixed_split(tmp_path: Path) -> None:
    root = tmp_path / "src"
    for i in range(20):  # "<NNN - Class name>/<fold>-<source id>-<take>.ogg", two takes per source
        folder = "001 - Dog bark" if (i // 2) % 2 else "010 - Fire crackling"
        path = root / folder / f"{1 + (i // 4) % 5}-{100 + i // 2}-{'AB'[i % 2]}.ogg"
        write_tone(path, 200.0 + 150 * (i % 7), 0.3, 8000, RNG, subtype="VORBIS")
    data = _prepare(root, tmp_path / "out", "esc10")
    assert data.labels == ["Dog bark", "Fire crackling"] and len(data.rows) == 20
    assert {row.fold for row in data.rows} == {1, 2, 3, 4, 5}
    split_of = {1: "train", 2: "train", 3: "train", 4: "val", 5: "test"}  # the official folds, as the runs
    assert all(row.split == split_of[row.fold] for row in data.rows)
    assert all(row.group == row.path.split("/")[1].split("-")[1] for row in data.rows) and _no_group_crosses(data)
