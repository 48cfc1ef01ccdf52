"""Small synthetic copies of the registered datasets' archives: the real member names and layout, tiny tones inside.

Each builder returns the archive's members (name → bytes) as the real archive names them (GitHub archives keep
their top folder, Speech Commands' tarball starts with ./), so a test can pack, serve, download, extract and
prepare it exactly as a user's run would.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable

import numpy as np
import soundfile as sf

RATE = 8000


def tone(index: int, fmt: str = "WAV", seconds: float = 0.12) -> bytes:
    """A short distinct tone as the bytes of an audio file in `fmt` (WAV, AU or FLAC)."""
    rng = np.random.default_rng(index)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = 0.5 * np.sin(2 * np.pi * (200.0 + 37 * (index % 23)) * t) + 0.01 * rng.standard_normal(t.size)
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), RATE, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


def fsdd() -> dict[str, bytes]:
    top = "free-spoken-digit-dataset-26eb9aaf76e81b692f806f9140c2d2777410d7a1/"
    members = {top + "README.md": b"# Free Spoken Digit Dataset\n", top + "utils/fsdd.py": b"# helper\n",
               top + "pip_requirements.txt": b"numpy\n"}
    for i, (digit, speaker, take) in enumerate((d, s, t) for d in range(3) for s in ("george", "jackson")
                                               for t in range(10)):
        members[f"{top}recordings/{digit}_{speaker}_{take}.wav"] = tone(i)
    return members


def esc50() -> dict[str, bytes]:
    top = "ESC-50-master/"
    rows = ["filename,fold,target,category,esc10,src_file,take"]
    members = {top + "README.md": b"# ESC-50\n", top + "LICENSE": b"CC BY-NC 3.0\n"}
    for i, (fold, (target, category), source, take) in enumerate(
            (f, c, s, t) for f in range(1, 6) for c in ((0, "dog"), (10, "rain")) for s in range(2) for t in "AB"):
        src = 100000 + 100 * fold + 10 * target + source
        name = f"{fold}-{src}-{take}-{target}.wav"
        members[f"{top}audio/{name}"] = tone(i)
        rows.append(f"{name},{fold},{target},{category},{target == 0},{src},{take}")
    members[top + "meta/esc50.csv"] = ("\n".join(rows) + "\n").encode()
    return members


def urbansound8k() -> dict[str, bytes]:
    top = "UrbanSound8K/"
    rows = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    members = {top + "UrbanSound8K_README.txt": b"UrbanSound8K\n", top + "FREESOUNDCREDITS.txt": b"credits\n",
               top + "audio/fold1/.DS_Store": b"\0\0\0\1Bud1"}
    for i, (fold, (class_id, name), slice_id) in enumerate(
            (f, c, s) for f in range(1, 11) for c in ((3, "dog_bark"), (8, "siren")) for s in range(2)):
        fs_id = 7000 + 10 * fold + class_id
        file = f"{fs_id}-{class_id}-0-{slice_id}.wav"
        members[f"{top}audio/fold{fold}/{file}"] = tone(i)
        rows.append(f"{file},{fs_id},{slice_id}.0,{slice_id + 4}.0,1,{fold},{class_id},{name}")
    members[top + "metadata/UrbanSound8K.csv"] = ("\n".join(rows) + "\n").encode()
    return members


def speech_commands() -> dict[str, bytes]:
    members = {"./LICENSE": b"CC BY 4.0\n", "./README.md": b"Speech Commands v0.02\n",
               "./_background_noise_/white_noise.wav": tone(99, seconds=0.5),
               "./_background_noise_/README.md": b"noise\n"}
    speakers = [f"{0x0a7c2a8d + 7919 * k:08x}" for k in range(10)]
    for i, (word, speaker, n) in enumerate((w, s, n) for w in ("yes", "no") for s in speakers for n in range(2)):
        members[f"./{word}/{speaker}_nohash_{n}.wav"] = tone(i)
    val = [f"{w}/{speakers[8]}_nohash_{n}.wav" for w in ("yes", "no") for n in range(2)]
    test = [f"{w}/{speakers[9]}_nohash_{n}.wav" for w in ("yes", "no") for n in range(2)]
    members["./validation_list.txt"] = ("\n".join(val) + "\n").encode()
    members["./testing_list.txt"] = ("\n".join(test) + "\n").encode()
    return members


GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


def gtzan() -> dict[str, bytes]:
    audio = tone(0, "AU", seconds=0.05)  # one tiny excerpt for all 1000: the split is by name, not content
    return {f"genres/{genre}/{genre}.{i:05d}.au": audio for genre in GENRES for i in range(100)}


def ravdess() -> dict[str, bytes]:
    return {f"Actor_{actor:02d}/03-01-{emotion}-01-01-01-{actor:02d}.wav": tone(actor * 10 + int(emotion))
            for actor in range(1, 25) for emotion in ("01", "05")}


def vctk() -> dict[str, bytes]:
    members = {"README.txt": b"CSTR VCTK Corpus 0.92\n", "speaker-info.txt": b"ID AGE GENDER ACCENTS REGION\n"}
    for i, (speaker, sentence) in enumerate((s, n) for s in ("p225", "p226", "p227", "s5") for n in range(1, 11)):
        for mic in ("mic1", "mic2"):
            members[f"wav48_silence_trimmed/{speaker}/{speaker}_{sentence:03d}_{mic}.flac"] = tone(i, "FLAC")
        members[f"txt/{speaker}/{speaker}_{sentence:03d}.txt"] = b"Please call Stella.\n"
    return members


def audio_mnist() -> dict[str, bytes]:
    top = "AudioMNIST-master/"
    members = {top + "README.md": b"# AudioMNIST\n", top + "data/audioMNIST_meta.txt": b"{}\n"}
    for i, (speaker, digit, take) in enumerate((s, d, t) for s in range(1, 11) for d in range(2) for t in range(2)):
        members[f"{top}data/{speaker:02d}/{digit}_{speaker:02d}_{take}.wav"] = tone(i)
    return members


LAYOUTS: dict[str, tuple[Callable[[], dict[str, bytes]], str]] = {
    "fsdd": (fsdd, "zip"), "esc50": (esc50, "zip"), "urbansound8k": (urbansound8k, "tar.gz"),
    "speech-commands": (speech_commands, "tar.gz"), "gtzan": (gtzan, "tar.gz"), "ravdess": (ravdess, "zip"),
    "vctk": (vctk, "zip"), "audio-mnist": (audio_mnist, "zip"),
}


def pack(members: dict[str, bytes], kind: str) -> bytes:
    """The members as the bytes of a zip or tar.gz archive (folders implied by the names, as GitHub's are)."""
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
