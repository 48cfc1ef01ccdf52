"""A corpus of hostile input, written into a temporary folder by the tests (nothing here is committed data).

One function per kind. Each writes its file(s) into a class folder and returns what a correct tool must do
with them: `keep` (usable audio, however odd), `refuse` (one clear reason, `reason` a fragment of it) or
`either` (it depends on the machine, e.g. permissions when the tests run as root). Label tables (CSV) are
kinds of their own: `write_label_tables` returns them with the outcome `prepare` must reach.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

KEEP, REFUSE, EITHER = "keep", "refuse", "either"


@dataclass(frozen=True)
class Hostile:
    """One hostile input: its kind, its file name in the class folder and what must become of it."""

    kind: str
    name: str
    outcome: str  # keep | refuse | either
    reason: str = ""  # a fragment the refusal reason must contain (lower case)


def _tone(seconds: float, rate: int, rng: np.random.Generator, channels: int = 1, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    return (np.stack([wave] * channels, axis=1) if channels > 1 else wave).astype(np.float32)


def _whole(folder: Path, suffix: str, rng: np.random.Generator, **write: str) -> bytes:
    """The bytes of a valid short tone file in format `suffix` (written aside, then read back)."""
    scratch = folder.parent / f".whole{suffix}"
    sf.write(str(scratch), _tone(0.5, 16000, rng), 16000, **write)
    data = scratch.read_bytes()
    scratch.unlink()
    return data


def empty_file(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    (folder / "empty.wav").write_bytes(b"")
    return [Hostile("0-byte file", "empty.wav", REFUSE, "empty")]


def truncated_headers(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    cuts = {".wav": 30, ".flac": 60, ".mp3": 40}
    kinds = []
    for suffix, cut in cuts.items():
        data = _whole(folder, suffix, rng)
        (folder / f"truncated{suffix}").write_bytes(data[:cut])
        kinds.append(Hostile(f"truncated {suffix[1:].upper()} header", f"truncated{suffix}", REFUSE))
    return kinds


def random_bytes(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    (folder / "random.wav").write_bytes(rng.bytes(4000))
    return [Hostile("random bytes named .wav", "random.wav", REFUSE)]


def text_as_mp3(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    (folder / "text.mp3").write_text("this is not audio, it is a shopping list\n" * 40)
    return [Hostile("text file named .mp3", "text.mp3", REFUSE)]


def non_finite(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    kinds = []
    for name, value in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        samples = _tone(0.5, 16000, rng)
        samples[1234] = value
        sf.write(str(folder / name), samples, 16000, subtype="FLOAT")
        kinds.append(Hostile(f"float WAV with {name[:3].upper()}", name, REFUSE, "nan or inf"))
    return kinds


def all_zero(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    sf.write(str(folder / "silent.wav"), np.zeros(8000, dtype=np.float32), 16000)
    return [Hostile("all-zero audio", "silent.wav", REFUSE, "silent")]


def zero_samples(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    sf.write(str(folder / "zero_samples.wav"), np.zeros(0, dtype=np.float32), 16000)
    return [Hostile("0-sample file", "zero_samples.wav", REFUSE, "no samples")]


def many_channels(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    sf.write(str(folder / "eight_channels.wav"), _tone(0.6, 16000, rng, channels=8), 16000)
    return [Hostile("8-channel audio", "eight_channels.wav", KEEP)]


def high_rate(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    sf.write(str(folder / "rate_192k.wav"), _tone(0.6, 192000, rng), 192000, subtype="PCM_24")
    return [Hostile("192 kHz audio", "rate_192k.wav", KEEP)]


def odd_encodings(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    sf.write(str(folder / "unsigned_8bit.wav"), _tone(0.6, 8000, rng), 8000, subtype="PCM_U8")
    sf.write(str(folder / "mu_law.wav"), _tone(0.6, 8000, rng), 8000, subtype="ULAW")
    return [Hostile("8-bit WAV", "unsigned_8bit.wav", KEEP), Hostile("µ-law WAV", "mu_law.wav", KEEP)]


def long_file(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    sf.write(str(folder / "long.flac"), _tone(90.0, 8000, rng), 8000)  # 90 s: many windows, streamed by predict
    return [Hostile("very long file (90 s)", "long.flac", KEEP)]


def absurdly_long(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    """A valid 8-bit WAV header over 4.2 hours of 1 kHz samples, as a sparse file (costs no disk)."""
    rate, frames = 1000, int(4.2 * 3600 * 1000)
    header = (b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVE" + b"fmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, rate, rate, 1, 8) + b"data" + struct.pack("<I", frames))
    with (folder / "over_four_hours.wav").open("wb") as handle:
        handle.write(header)
        handle.truncate(len(header) + frames)
    return [Hostile("over 4 h of audio", "over_four_hours.wav", REFUSE, "absurdly long")]


def lying_header(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    """A WAV whose data chunk claims more bytes than the file has (a cut-off download)."""
    data = _whole(folder, ".wav", rng)
    (folder / "cut_off.wav").write_bytes(data[: len(data) // 2])
    return [Hostile("WAV cut off mid-data (header claims more)", "cut_off.wav", EITHER)]


def zero_rate(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    """A PCM WAV header that says 0 Hz."""
    body = (_tone(0.5, 16000, rng) * 32767).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + len(body)) + b"WAVE" + b"fmt " +
              struct.pack("<IHHIIHH", 16, 1, 1, 0, 0, 2, 16) + b"data" + struct.pack("<I", len(body)))
    (folder / "zero_rate.wav").write_bytes(header + body)
    return [Hostile("WAV header with a 0 Hz rate", "zero_rate.wav", REFUSE)]


def awkward_names(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    names = {"name with spaces.wav": "name with spaces", "ünïcødé 音声.wav": "unicode name",
             "-leading-dash.wav": "name with a leading dash"}
    for name in names:
        sf.write(str(folder / name), _tone(0.6, 16000, rng), 16000)
    return [Hostile(kind, name, KEEP) for name, kind in names.items()]


def undecodable_name(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    """A file name that is not valid UTF-8 (bytes from an old Latin-1 file system)."""
    data = _whole(folder, ".wav", rng)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.wav"), "wb") as handle:  # bytes: no str can name it
        handle.write(data)
    return [Hostile("file name that is not UTF-8", os.fsdecode(b"caf\xe9.wav"), REFUSE, "utf-8")]


def symlinks(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    (folder / "loop_a.wav").symlink_to("loop_b.wav")
    (folder / "loop_b.wav").symlink_to("loop_a.wav")
    (folder / "dangling.wav").symlink_to("does_not_exist.wav")
    (folder / "folder_loop").symlink_to(".", target_is_directory=True)  # os.walk must not follow it
    return [Hostile("symlink loop", "loop_a.wav", REFUSE, "symbolic links"),
            Hostile("symlink loop", "loop_b.wav", REFUSE, "symbolic links"),
            Hostile("dangling symlink", "dangling.wav", REFUSE, "no such file")]


def unreadable(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    path = folder / "no_permission.wav"
    sf.write(str(path), _tone(0.6, 16000, rng), 16000)
    path.chmod(0)
    # root reads it anyway: then it is simply kept
    return [Hostile("unreadable permissions", "no_permission.wav", EITHER, "permission denied")]


def fifo(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    os.mkfifo(folder / "pipe.wav")  # opening it would block forever
    return [Hostile("named pipe called .wav", "pipe.wav", REFUSE, "not a regular file")]


def directory_named_wav(folder: Path, rng: np.random.Generator) -> list[Hostile]:
    inner = folder / "folder.wav" / folder.name  # so that the file inside keeps its class (its parent's name)
    inner.mkdir(parents=True)
    sf.write(str(inner / "inside.wav"), _tone(0.6, 16000, rng), 16000)
    return [Hostile("directory named .wav", f"folder.wav/{folder.name}/inside.wav", KEEP)]


AUDIO_KINDS: list[Callable[[Path, np.random.Generator], list[Hostile]]] = [
    empty_file, truncated_headers, random_bytes, text_as_mp3, non_finite, all_zero, zero_samples, many_channels,
    high_rate, odd_encodings, long_file, absurdly_long, lying_header, zero_rate, awkward_names, undecodable_name,
    symlinks, unreadable, fifo, directory_named_wav,
]


def write_hostile_audio(folder: Path, seed: int = 0) -> list[Hostile]:
    """Every hostile audio kind, written into `folder` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return [hostile for write in AUDIO_KINDS for hostile in write(folder, rng)]


def write_good_clips(root: Path, labels: dict[str, float], per_label: int, seed: int = 0) -> None:
    """`root/<label>/good_<i>.wav`: clean tones, one frequency per label, so that a dataset is left to train on."""
    rng = np.random.default_rng(seed)
    for label, freq in labels.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            sf.write(str(root / label / f"good_{i}.wav"), _tone(0.7, 16000, rng, freq=freq * (1 + 0.02 * i)), 16000)


@dataclass(frozen=True)
class LabelTable:
    """A hostile label table: its kind, its bytes, and whether prepare must refuse it whole (else: skip a row)."""

    kind: str
    data: bytes
    refused_whole: bool
    reason: str  # fragment of the whole refusal, or of the skipped row's reason in rejected.csv


def label_tables(good: list[str], extra: str) -> list[LabelTable]:
    """Label tables over `good` (paths relative to the source, two labels alternating) plus one bad row, which
    names `extra` (another existing file) where the row's problem is not its path."""
    rows = "".join(f"{path},{'ab'[i % 2]}\n" for i, path in enumerate(good))
    tables = [
        ("CSV without a label column", "path,category\n" + rows, True, "no 'label' column"),
        ("CSV with an empty label", "path,label\n" + rows + f"{extra},\n", False, "empty label"),
        ("CSV row with the label missing", "path,label\n" + rows + f"{extra}\n", False, "empty label"),
        ("CSV with unknown columns", "path,label,colour,weight\n" +
         "".join(f"{line},red,3\n" for line in rows.splitlines()) + f"{extra},a,blue,4\n", False, ""),
        ("CSV with duplicate paths", "path,label\n" + rows + f"{good[1]},a\n", False, "duplicate path"),
        ("CSV path escaping the source", "path,label\n" + rows + "../outside.wav,a\n", False, "outside the source"),
        ("CSV with an absolute path", "path,label\n" + rows + "/etc/hostname,a\n", False, "outside the source"),
        ("CSV that is empty", "", True, "no 'path' column"),
    ]
    latin1 = ("path,label\n" + rows + "café.wav,a\n").encode("latin-1")
    return [*(LabelTable(kind, text.encode(), whole, reason) for kind, text, whole, reason in tables),
            LabelTable("CSV that is not UTF-8", latin1, True, "cannot read label table")]
