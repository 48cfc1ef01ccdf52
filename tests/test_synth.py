"""Tests for the embedded spoken-digit corpus (earmark.synth); they need the optional espeak-ng extra."""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmark.errors import ConfigError, EarmarkError
from earmark.synth import VOICE_POOL, CorpusSummary, synthesize_corpus
from earmark.synth.corpus import DIGITS, voice_id

pytest.importorskip("espeakng_loader")  # the optional, GPL-3.0 'demo' extra

N_VOICES, TAKES, SEED = 12, 1, 3


def _hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root, keyed by its POSIX path relative to root."""
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _metadata(root: Path) -> list[dict[str, str]]:
    """The rows of root/metadata.csv."""
    with (root / "metadata.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[CorpusSummary, Path]:
    """A small corpus shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("corpus")
    return synthesize_corpus(root, voices=N_VOICES, takes=TAKES, seed=SEED), root


def test_summary_counts(corpus: tuple[CorpusSummary, Path]) -> None:
    summary, root = corpus
    assert summary.out_dir == root
    assert summary.n_clips == N_VOICES * len(DIGITS) * TAKES
    assert summary.n_voices == N_VOICES
    assert summary.sample_rate == 22050
    assert 0.3 * summary.n_clips < summary.seconds < 1.5 * summary.n_clips


def test_files_are_16bit_mono_wav(corpus: tuple[CorpusSummary, Path]) -> None:
    summary, root = corpus
    wavs = sorted(root.rglob("*.wav"))
    assert len(wavs) == summary.n_clips
    for wav in wavs:
        info = sf.info(wav)
        assert (info.format, info.subtype, info.channels) == ("WAV", "PCM_16", 1), wav
        assert info.samplerate == summary.sample_rate
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_metadata_rows(corpus: tuple[CorpusSummary, Path]) -> None:
    summary, root = corpus
    text = (root / "metadata.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "path,digit,voice,gender"
    rows = _metadata(root)
    assert len(rows) == summary.n_clips
    assert [row["path"] for row in rows] == sorted(row["path"] for row in rows)
    for row in rows:
        assert (root / row["path"]).is_file()
        assert row["path"] == f"{row['digit']}/{row['voice']}_0.wav"
        assert row["digit"] in DIGITS
        assert row["gender"] in ("male", "female")
    assert {row["digit"] for row in rows} == set(DIGITS)
    assert {row["gender"] for row in rows} == {"male", "female"}
    assert {row["voice"] for row in rows} == {voice_id(i) for i in range(N_VOICES)}


def test_every_clip_contains_speech(corpus: tuple[CorpusSummary, Path]) -> None:
    _, root = corpus
    for wav in sorted(root.rglob("*.wav")):
        samples, sample_rate = sf.read(wav, dtype="float64")
        lead_noise = samples[: int(0.04 * sample_rate)]  # the lead silence is at least 50 ms
        middle = samples[len(samples) // 3 : 2 * len(samples) // 3]
        rms_middle, rms_noise = np.sqrt(np.mean(middle**2)), np.sqrt(np.mean(lead_noise**2))
        assert rms_middle > 4 * rms_noise, wav  # >12 dB; the quietest seen was 18 dB (lowest SNR is 25 dB)
        assert 0.2 < len(samples) / sample_rate < 2.0, wav


def test_voice_pool_is_distinct_and_mixed() -> None:
    assert len(VOICE_POOL) >= 24
    assert len({(v.accent, v.variant) for v in VOICE_POOL}) == len(VOICE_POOL)
    assert len({voice_id(i) for i in range(len(VOICE_POOL))}) == len(VOICE_POOL)
    for n in range(12, len(VOICE_POOL) + 1):
        prefix = VOICE_POOL[:n]
        n_female = sum(v.gender == "female" for v in prefix)
        assert 0.4 <= n_female / n <= 0.6, n
        assert len({v.accent for v in prefix}) >= 6, n


def test_voice_pool_genders_match_espeak_data() -> None:
    import espeakng_loader

    variants = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    for voice in VOICE_POOL:
        lines = (variants / voice.variant).read_text(encoding="utf-8", errors="replace").splitlines()
        declared = [line.split()[1].lower() for line in lines if line.strip().lower().startswith("gender")]
        assert declared == [voice.gender], voice


def test_same_seed_gives_identical_bytes(corpus: tuple[CorpusSummary, Path], tmp_path: Path) -> None:
    _, root = corpus
    # A different worker count on purpose: output must not depend on scheduling.
    synthesize_corpus(tmp_path, voices=N_VOICES, takes=TAKES, seed=SEED, workers=1)
    assert _hashes(tmp_path) == _hashes(root)


def test_different_seed_changes_audio(corpus: tuple[CorpusSummary, Path], tmp_path: Path) -> None:
    _, root = corpus
    synthesize_corpus(tmp_path, voices=2, takes=TAKES, seed=SEED + 1)
    reference, changed = _hashes(root), _hashes(tmp_path)
    wavs = [path for path in changed if path.endswith(".wav")]
    assert len(wavs) == 2 * len(DIGITS) * TAKES
    assert all(changed[path] != reference[path] for path in wavs)


def test_rerun_with_fewer_clips_leaves_no_stale_files(corpus: tuple[CorpusSummary, Path], tmp_path: Path) -> None:
    _, root = corpus
    synthesize_corpus(tmp_path, voices=3, takes=2, seed=SEED)
    synthesize_corpus(tmp_path, voices=2, takes=TAKES, seed=SEED)
    wavs = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.wav")}
    assert wavs == {row["path"] for row in _metadata(tmp_path)}
    assert len(wavs) == 2 * len(DIGITS) * TAKES
    # The first voices of a bigger corpus with the same seed are the same clips.
    reference = _hashes(root)
    assert all(_hashes(tmp_path)[path] == reference[path] for path in wavs)


@pytest.mark.parametrize("voices", [1, 0, len(VOICE_POOL) + 1])
def test_voices_out_of_range(voices: int, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"between 2 and {len(VOICE_POOL)}"):
        synthesize_corpus(tmp_path, voices=voices)


def test_bad_takes_and_seed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="takes"):
        synthesize_corpus(tmp_path, takes=0)
    with pytest.raises(ConfigError, match="seed"):
        synthesize_corpus(tmp_path, seed=-1)


def test_missing_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # makes the import fail
    with pytest.raises(EarmarkError, match=r"needs espeak-ng: pip install 'earmark\[demo\]'"):
        synthesize_corpus(tmp_path, voices=2, takes=1)
    assert not list(tmp_path.iterdir())


def test_out_dir_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "corpus"
    target.write_text("not a folder")
    with pytest.raises(ConfigError, match="not a directory"):
        synthesize_corpus(target, voices=2, takes=1)


def test_importing_synth_does_not_load_espeak() -> None:
    import subprocess

    code = "import sys, earmark.synth; print('espeakng_loader' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
