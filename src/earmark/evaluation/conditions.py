"""The recording conditions a robustness sweep puts a model's test clips through, each a function of a clip.

Every transformation takes mono float32 samples `[N]` at the model's rate and gives samples at the same rate.
Those that leave the signal domain (codecs, other sample rates, the telephone line) write a real file and read
it back through `stream_mono`, the decoder and resampler `predict` uses, so the model hears what it would hear
from such a file. Randomness (noise, impulse responses, noise crops) comes from the generator passed in.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from earmark.audio.resample import resample
from earmark.audio.stream import stream_mono
from earmark.evaluation.codecs import encode

Transform = Callable[[np.ndarray, int, np.random.Generator, Path], np.ndarray]  # (clip, rate, rng, scratch)

SNRS_DB = (30.0, 20.0, 10.0, 0.0)
CODECS = (("mp3", 16), ("mp3", 32), ("mp3", 64), ("opus", 12), ("opus", 24))  # (codec, kbit/s)
RATES_HZ = (8000, 22050, 44100, 48000)
TELEPHONE_RATE, TELEPHONE_BAND_HZ = 8000, (300.0, 3400.0)


@dataclass(frozen=True)
class Condition:
    """One way of hearing the test clips: a name for people, a key for files and its transformation."""

    key: str  # e.g. noise-white-10db: unique, safe in file names
    family: str  # noise | codec | telephone | sample rate | gain | time shift | reverb
    name: str  # e.g. "white noise, SNR 10 dB"
    apply: Transform


def add_at_snr(clip: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """`clip + g·noise` with g such that 10·log10(P_clip / P_noise) is `snr_db` over the whole clip."""
    signal_power = float(np.mean(np.square(clip, dtype=np.float64)))
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    if signal_power == 0.0 or noise_power == 0.0:
        return clip.copy()
    gain = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (clip + gain * noise).astype(np.float32)


def measured_snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The SNR of `noisy` against `clean` (what was added is the noise), in dB."""
    noise = np.asarray(noisy, dtype=np.float64) - clean
    return 10.0 * math.log10(float(np.mean(np.square(clean, dtype=np.float64))) / float(np.mean(noise**2)))


def white_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise `[n]`."""
    return rng.standard_normal(n).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f noise `[n]`: white noise whose spectrum is scaled by 1/sqrt(f) (the DC bin left out)."""
    spectrum = np.fft.rfft(rng.standard_normal(max(n, 2)))
    scale = np.zeros(spectrum.size)
    scale[1:] = 1.0 / np.sqrt(np.arange(1, spectrum.size))
    return np.fft.irfft(spectrum * scale, max(n, 2))[:n].astype(np.float32)


def noise_crop(noises: Sequence[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of `n` samples of one of `noises` (looped when it is shorter)."""
    source = noises[int(rng.integers(len(noises)))]
    reps = -(-(n + source.size) // source.size)
    start = int(rng.integers(source.size))
    return np.tile(source, reps)[start : start + n].astype(np.float32)


def _noise(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path, *, color: str, snr_db: float,
           noises: Sequence[np.ndarray] = ()) -> np.ndarray:
    make = {"white": white_noise, "pink": pink_noise}.get(color)
    noise = make(clip.size, rng) if make is not None else noise_crop(noises, clip.size, rng)
    return add_at_snr(clip, noise, snr_db)


def _gain(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path, *, db: float,
          clip_at: float | None = None) -> np.ndarray:
    """Louder or quieter by `db`; with `clip_at`, hard-clipped there, as an overdriven input stage."""
    louder = clip * np.float32(10.0 ** (db / 20.0))
    return np.clip(louder, -clip_at, clip_at) if clip_at is not None else louder


def _delay(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path, *, seconds: float) -> np.ndarray:
    """`seconds` of silence before the clip: a recording that starts early."""
    return np.concatenate([np.zeros(round(seconds * rate), dtype=np.float32), clip])


def impulse_response(rate: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room response: a unit direct path, then Gaussian noise decaying 60 dB in `rt60_s`, its
    energy equal to the direct path's (direct-to-reverberant ratio 0 dB)."""
    t = np.arange(1, round(rt60_s * rate)) / rate
    tail = rng.standard_normal(t.size) * np.exp(-3.0 * math.log(10.0) * t / rt60_s)
    tail /= math.sqrt(float(np.sum(tail**2)))
    return np.concatenate([[1.0], tail])


def _reverb(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path, *, rt60_s: float) -> np.ndarray:
    """The clip in a synthetic room (`impulse_response`), cut to its length and brought back to its RMS level."""
    response = impulse_response(rate, rt60_s, rng)
    size = 1 << (clip.size + response.size - 2).bit_length()  # a power of two: numpy's FFT is slow on odd sizes
    wet = np.fft.irfft(np.fft.rfft(clip, size) * np.fft.rfft(response, size), size)[: clip.size]
    level = math.sqrt(float(np.mean(np.square(clip, dtype=np.float64))) / max(float(np.mean(wet**2)), 1e-30))
    return (wet * level).astype(np.float32)


def read_back(path: Path, rate: int) -> np.ndarray:
    """A file as `predict` reads it: decoded, mixed to mono and resampled to `rate`."""
    blocks = list(stream_mono(path, rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def _sample_rate(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path, *, file_rate: int
                 ) -> np.ndarray:
    """The clip as a 16-bit WAV recorded at `file_rate`, read back at the model's rate."""
    path = scratch / f"rate-{file_rate}.wav"
    sf.write(str(path), np.clip(resample(clip, rate, file_rate), -1.0, 1.0), file_rate, subtype="PCM_16")
    return read_back(path, rate)


def _codec(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path, *, codec: str, kbps: int
           ) -> np.ndarray:
    """The clip encoded by a real encoder (libmp3lame, libopus through PyAV) and decoded back."""
    path = encode(np.clip(clip, -1.0, 1.0), rate, codec, kbps * 1000, scratch / f"clip-{codec}-{kbps}")
    return read_back(path, rate)


def band_pass(samples: np.ndarray, rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Zero-phase band-pass: the spectrum outside [low_hz, high_hz] set to zero (a 50-Hz cosine taper inside)."""
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(samples.size, 1.0 / rate)
    taper = 50.0
    gain = np.clip(np.minimum((freqs - low_hz) / taper, (high_hz - freqs) / taper), 0.0, 1.0)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    return np.fft.irfft(spectrum * gain, samples.size).astype(np.float32)


def _telephone(clip: np.ndarray, rate: int, rng: np.random.Generator, scratch: Path) -> np.ndarray:
    """A narrow-band phone line: 8 kHz, 300-3400 Hz, µ-law (G.711, written by libsndfile) and back."""
    narrow = band_pass(resample(clip, rate, TELEPHONE_RATE), TELEPHONE_RATE, *TELEPHONE_BAND_HZ)
    path = scratch / "telephone.wav"
    sf.write(str(path), np.clip(narrow, -1.0, 1.0), TELEPHONE_RATE, subtype="ULAW")
    return read_back(path, rate)


def default_conditions(noises: Sequence[np.ndarray] = ()) -> list[Condition]:
    """The sweep `earmark robustness` runs, in report order; `noises` (at the model's rate) add a noise family."""
    found = [Condition(f"noise-{color}-{snr:g}db", "noise", f"{color} noise, SNR {snr:g} dB",
                       functools.partial(_noise, color=color, snr_db=snr))
             for color in ("white", "pink") for snr in SNRS_DB]
    if noises:
        found += [Condition(f"noise-files-{snr:g}db", "noise", f"your noise recordings, SNR {snr:g} dB",
                            functools.partial(_noise, color="files", snr_db=snr, noises=list(noises)))
                  for snr in SNRS_DB]
    found += [Condition(f"codec-{codec}-{kbps}k", "codec", f"{codec.upper() if codec == 'mp3' else 'Opus'} "
                        f"{kbps} kbit/s", functools.partial(_codec, codec=codec, kbps=kbps)) for codec, kbps in CODECS]
    found.append(Condition("telephone", "telephone", "telephone line: 8 kHz, 300-3400 Hz, µ-law", _telephone))
    found += [Condition(f"rate-{rate}", "sample rate", f"recorded at {rate / 1000:g} kHz",
                        functools.partial(_sample_rate, file_rate=rate)) for rate in RATES_HZ]
    found += [Condition("gain-quiet-30db", "gain", "30 dB quieter", functools.partial(_gain, db=-30.0)),
              Condition("gain-clipped-20db", "gain", "20 dB louder, clipped at full scale",
                        functools.partial(_gain, db=20.0, clip_at=1.0))]
    found += [Condition(f"shift-{ms}ms", "time shift", f"starts {ms} ms late",
                        functools.partial(_delay, seconds=ms / 1000)) for ms in (100, 500)]
    found += [Condition(f"reverb-{rt60:g}s", "reverb", f"reverberant room, RT60 {rt60:g} s",
                        functools.partial(_reverb, rt60_s=rt60)) for rt60 in (0.3, 0.8)]
    return found
