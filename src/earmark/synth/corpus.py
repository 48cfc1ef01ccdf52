"""The embedded spoken-digit corpus: espeak-ng voices × digits × takes, varied and noised, as WAV files."""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf

from earmark.errors import ConfigError

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
METADATA_COLUMNS = ("path", "digit", "voice", "gender")
# Clip names this module writes; only files matching it are ever removed as stale.
_CLIP_NAME = re.compile(r"^v\d{2}-[a-z0-9-]+_\d+\.wav$")

# Per-clip variation (uniform ranges); espeak pitch/range are 0–100 around the voice's own, 50 = as designed.
RATE_WPM = (130, 210)
PITCH = (30, 70)
PITCH_RANGE = (20, 80)
VOLUME = (80, 120)
SILENCE_S = (0.05, 0.25)
SNR_DB = (25.0, 45.0)
PEAK_DBFS = (-12.0, -1.0)


class Voice(NamedTuple):
    """One row of the voice pool: an espeak-ng accent (language) with a voice variant of known gender."""

    accent: str
    variant: str
    gender: str

    @property
    def espeak_name(self) -> str:
        """The name espeak_SetVoiceByName expects."""
        return f"{self.accent}+{self.variant}"


class _Clip(NamedTuple):
    """One written clip as the metadata records it."""

    path: str
    digit: str
    voice: str
    gender: str
    n_samples: int
    sample_rate: int


@dataclass(frozen=True)
class CorpusSummary:
    """What synthesize_corpus wrote: where, how many clips and voices, at which rate, how much audio."""

    out_dir: Path
    n_clips: int
    n_voices: int
    sample_rate: int
    seconds: float  # total audio duration of all clips
    wall_s: float  # time it took to write them


def voice_id(index: int) -> str:
    """The short, sortable id of pool voice `index` (0-based), e.g. 'v01-en-us-f3'."""
    voice = VOICE_POOL[index]
    return f"v{index + 1:02d}-{voice.accent}-{voice.variant}".lower()


def _check_arguments(voices: int, takes: int, seed: int) -> None:
    """Reject counts the pool cannot serve, with the valid range in the message."""
    if not 2 <= voices <= len(VOICE_POOL):
        raise ConfigError(f"--voices must be between 2 and {len(VOICE_POOL)}, got {voices}")
    if takes < 1:
        raise ConfigError(f"--takes must be at least 1, got {takes}")
    if seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, got {seed}")


def _trim(samples: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut leading and trailing near-silence so the padding we add is the only silence."""
    loud = np.flatnonzero(np.abs(samples) > threshold * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples


def _noise(rng: np.random.Generator, n_samples: int) -> np.ndarray:
    """Unit-RMS background noise, white or pink (1/f power) at random."""
    white = rng.standard_normal(n_samples)
    if rng.random() < 0.5:
        # A power-of-two FFT length: clip lengths are often large primes, where the FFT is ~10x slower.
        n_fft = 1 << (n_samples - 1).bit_length()
        spectrum = np.fft.rfft(white, n_fft)
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))
        spectrum[0] = 0.0
        white = np.fft.irfft(spectrum, n_fft)[:n_samples]
    return white / max(float(np.sqrt(np.mean(white**2))), 1e-12)


def _render(word: str, voice: Voice, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak one word with random prosody, pad, add noise, set the level → int16 samples `[N]` and rate."""
    from earmark.synth.espeak import engine

    tts = engine()
    spoken = tts.say(
        word,
        voice.espeak_name,
        rate_wpm=int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
        pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
        pitch_range=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
        volume=int(rng.integers(VOLUME[0], VOLUME[1] + 1)),
        seed=int(rng.integers(2**31)),
    )
    speech = _trim(spoken.astype(np.float64) / 32768.0)
    lead, tail = (int(rng.uniform(*SILENCE_S) * tts.sample_rate) for _ in range(2))
    clip = np.concatenate([np.zeros(lead), speech, np.zeros(tail)])
    speech_rms = float(np.sqrt(np.mean(speech**2)))
    clip += _noise(rng, clip.size) * speech_rms * 10 ** (-rng.uniform(*SNR_DB) / 20)
    clip *= 10 ** (rng.uniform(*PEAK_DBFS) / 20) / np.abs(clip).max()
    return np.round(clip * 32767).astype(np.int16), tts.sample_rate


def _write_wav_atomic(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit mono PCM WAV under a temporary name, then rename, so no reader sees half a file."""
    # Encoded in memory: libsndfile fsyncs every file it closes, which was a third of the run time.
    encoded = io.BytesIO()
    sf.write(encoded, samples, sample_rate, subtype="PCM_16", format="WAV")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(encoded.getvalue())
    os.replace(tmp, path)


def _synthesize_voice(job: tuple[str, int, int, int]) -> list[_Clip]:
    """Write every digit × take of one pool voice; runs in a fresh process (see _run_voices)."""
    out_dir, seed, index, takes = job
    voice, name = VOICE_POOL[index], voice_id(index)
    clips = []
    for digit_index, digit in enumerate(DIGITS):
        for take in range(takes):
            # Seeded per clip, so a clip's prosody and noise never depend on the worker count or order.
            rng = np.random.default_rng(np.random.SeedSequence([seed, index, digit_index, take]))
            samples, sample_rate = _render(digit, voice, rng)
            relative = f"{digit}/{name}_{take}.wav"
            _write_wav_atomic(Path(out_dir) / relative, samples, sample_rate)
            clips.append(_Clip(relative, digit, name, voice.gender, samples.size, sample_rate))
    return clips


def _run_voices(jobs: list[tuple[str, int, int, int]], workers: int) -> list[_Clip]:
    """Run each voice's job in its own fresh process, `workers` at a time."""
    # espeak-ng's output depends on everything the process synthesized before, so every voice starts in
    # a new process (maxtasksperchild=1), never in this one: the same seed then gives the same bytes.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # Children fork from a server that has the heavy imports done (but never touched espeak-ng).
        context.set_forkserver_preload(["numpy", "soundfile", __name__])
    with context.Pool(processes=workers, maxtasksperchild=1) as pool:
        return [clip for clips in pool.imap_unordered(_synthesize_voice, jobs) for clip in clips]


def _write_metadata(out_dir: Path, clips: Iterable[_Clip]) -> None:
    """Write metadata.csv sorted by path, atomically, so reruns produce identical bytes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METADATA_COLUMNS)
    writer.writerows((c.path, c.digit, c.voice, c.gender) for c in sorted(clips))
    tmp = out_dir / f".metadata.csv.{os.getpid()}.tmp"
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, out_dir / "metadata.csv")


def _remove_stale(out_dir: Path, keep: set[str]) -> None:
    """Delete clips an earlier, larger run left behind, so the folders match metadata.csv."""
    for digit in DIGITS:
        for path in (out_dir / digit).iterdir():
            if _CLIP_NAME.match(path.name) and f"{digit}/{path.name}" not in keep:
                path.unlink()


def synthesize_corpus(
    out_dir: Path, voices: int = 24, takes: int = 6, seed: int = 0, workers: int | None = None
) -> CorpusSummary:
    """Write the corpus: `out_dir/<digit>/<voice>_<take>.wav` + metadata.csv; same seed, same bytes."""
    from earmark.synth import espeak

    _check_arguments(voices, takes, seed)
    espeak.require()  # here, not once per worker process
    started = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a directory")
    for digit in DIGITS:
        (out_dir / digit).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out_dir), seed, index, takes) for index in range(voices)]
    n_workers = max(1, min(workers or os.cpu_count() or 1, voices))
    clips = _run_voices(jobs, n_workers)
    _remove_stale(out_dir, {clip.path for clip in clips})
    _write_metadata(out_dir, clips)
    sample_rate = clips[0].sample_rate
    return CorpusSummary(
        out_dir=out_dir,
        n_clips=len(clips),
        n_voices=voices,
        sample_rate=sample_rate,
        seconds=sum(clip.n_samples for clip in clips) / sample_rate,
        wall_s=time.perf_counter() - started,
    )


# The pool, in order: `voices=N` takes the first N. Interleaved female/male and spread over accents so any
# prefix of 12 or more mixes both genders and at least six accents. Genders are from espeak-ng-data/voices/!v;
# whisper, croak and robot-like variants are left out as unintelligible, and so are variants whose formant
# table moves F1-F3 more than about 25% from the base voice (travis puts F1 at 50%: words become garbled).
# A new voice is a new row at the end.
VOICE_POOL: tuple[Voice, ...] = (
    Voice("en-us", "f3", "female"),
    Voice("en", "m3", "male"),
    Voice("en-gb-scotland", "f1", "female"),
    Voice("en-us", "m1", "male"),
    Voice("en-029", "f4", "female"),
    Voice("en-gb-x-rp", "m6", "male"),
    Voice("en-us-nyc", "f2", "female"),
    Voice("en-gb-scotland", "m4", "male"),
    Voice("en", "f5", "female"),
    Voice("en-029", "m7", "male"),
    Voice("en-gb-x-gbclan", "belinda", "female"),
    Voice("en-us-nyc", "m2", "male"),
    Voice("en-gb-x-rp", "linda", "female"),
    Voice("en-gb-x-gbcwmd", "m5", "male"),
    Voice("en-gb-x-gbcwmd", "Annie", "female"),
    Voice("en-gb-x-gbclan", "antonio", "male"),
    Voice("en-us", "Andrea", "female"),
    Voice("en", "Denis", "male"),
    Voice("en-gb-scotland", "aunty", "female"),
    Voice("en-029", "Hugo", "male"),
    Voice("en-us-nyc", "steph", "female"),
    Voice("en-gb-x-rp", "victor", "male"),
    Voice("en-029", "anika", "female"),
    Voice("en-us", "Storm", "male"),
    Voice("en-gb-x-gbclan", "grandma", "female"),
    Voice("en-gb-x-gbcwmd", "Diogo", "male"),
    Voice("en-gb-x-rp", "steph3", "female"),
    Voice("en", "m8", "male"),
)
