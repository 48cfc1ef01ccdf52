"""Decode an audio file to float32 samples at its native rate: soundfile first, PyAV for everything else."""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from earmark.audio.resample import resample, to_mono
from earmark.audio.wav import read_wav
from earmark.errors import DecodeError

# Longer than this is almost always a wrong file (a whole album, a day of logging) rather than a clip.
MAX_DURATION_S = 4 * 3600.0
_WAV_SUFFIXES = (".wav", ".wave")


@dataclass(frozen=True)
class AudioInfo:
    """What a decoded file was before any conversion."""

    sample_rate: int
    channels: int
    num_samples: int

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Decode `path` to float32 `[C, N]` in [-1, 1] at the file's own sample rate."""
    size = check_file(path)
    plain = read_wav(path, size) if path.suffix.lower() in _WAV_SUFFIXES else None
    if plain is not None:
        samples, sample_rate = plain
    else:
        try:
            with quiet_stderr():
                data, sample_rate = sf.read(str(path), dtype="float32", always_2d=True)
            samples = np.ascontiguousarray(data.T)  # [C, N]
        except (sf.LibsndfileError, RuntimeError, TypeError):
            samples, sample_rate = _decode_av(path)
    _check_samples(samples, int(sample_rate))
    return samples, int(sample_rate)


def check_file(path: Path) -> int:
    """The size in bytes of a readable, regular, non-empty file; DecodeError otherwise."""
    try:
        info = path.stat()
        str(path).encode("utf-8")  # the decoders take UTF-8 names; a Latin-1 one would fail deep inside them
    except OSError as exc:
        raise DecodeError(f"not a readable file ({exc.strerror})") from None
    except UnicodeEncodeError:
        raise DecodeError("file name is not valid UTF-8; rename the file") from None
    if not stat.S_ISREG(info.st_mode):
        raise DecodeError("not a regular file")
    if info.st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    return info.st_size


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for a native call: libsndfile's bundled mpg123 prints notes on a broken MP3
    there ("Illegal Audio-MPEG-Header...") that would break the one-line error the user gets instead."""
    try:
        saved = os.dup(2)
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
    except OSError:  # no descriptor 2 to redirect: nothing to silence
        yield
        return
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _decode_av(path: Path) -> tuple[np.ndarray, int]:
    """Decode with PyAV (bundled FFmpeg) for formats libsndfile cannot read (m4a, aac, webm, ...)."""
    with open_av(path) as (container, stream):
        chunks = [frame.to_ndarray() for frame in av_frames(container, stream)]
        sample_rate = av_rate(stream)
    if not chunks or sample_rate <= 0:
        raise DecodeError("no audio samples decoded (truncated or not audio)")
    return _planar_float(chunks), sample_rate


@contextmanager
def open_av(path: Path) -> Iterator[tuple[Any, Any]]:
    """A PyAV container and its first audio stream; FFmpeg's errors, also those raised while the caller
    decodes inside the `with`, become DecodeError."""
    import av  # imported here: only needed for the formats soundfile cannot read

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise DecodeError("no audio stream (not an audio file?)")
            yield container, container.streams.audio[0]
    except DecodeError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise DecodeError(f"not decodable audio ({type(exc).__name__})") from None


def av_rate(stream: Any) -> int:
    """The native sample rate of a PyAV audio stream (0 when it does not say)."""
    return int(stream.codec_context.sample_rate or stream.rate or 0)


def av_frames(container, stream):  # type: ignore[no-untyped-def]
    """Audio frames resampled by FFmpeg to planar float32, keeping the native rate and channels."""
    import av

    converter = av.AudioResampler(format="fltp", layout=stream.layout, rate=stream.rate)
    for frame in container.decode(stream):
        yield from converter.resample(frame)
    yield from converter.resample(None)


def _planar_float(chunks: list[np.ndarray]) -> np.ndarray:
    """Concatenate FFmpeg planar float frames to one contiguous `[C, N]` array."""
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return np.ascontiguousarray(samples)


def _check_samples(samples: np.ndarray, sample_rate: int) -> None:
    """Refuse audio that would poison training: no samples, NaN/Inf, absurd rate or length."""
    check_rate(sample_rate)
    if samples.shape[-1] == 0:
        raise DecodeError("no samples (0-length audio)")
    if samples.shape[-1] / sample_rate > MAX_DURATION_S:
        hours = samples.shape[-1] / sample_rate / 3600
        raise DecodeError(f"absurdly long ({hours:.1f} h > {MAX_DURATION_S / 3600:.0f} h)")
    check_finite(samples)


def check_rate(sample_rate: int) -> None:
    """DecodeError for a sample rate that is not positive."""
    if sample_rate <= 0:
        raise DecodeError(f"invalid sample rate {sample_rate}")


def check_finite(samples: np.ndarray) -> None:
    """DecodeError when any sample is NaN or infinite."""
    if not np.isfinite(samples).all():
        raise DecodeError("contains NaN or Inf samples")


def check_audible(peak: float) -> None:
    """DecodeError for audio whose peak is zero (or not a number): nothing to learn from."""
    if peak == 0.0 or not math.isfinite(peak):
        raise DecodeError("silent (all samples are zero)")


def load_mono(path: Path, sample_rate: int) -> tuple[np.ndarray, AudioInfo]:
    """Decode, mix down and resample to `sample_rate`; returns float32 `[N]` and what the file was."""
    samples, native_rate = decode(path)
    info = AudioInfo(sample_rate=native_rate, channels=samples.shape[0], num_samples=samples.shape[1])
    mono = resample(to_mono(samples), native_rate, sample_rate)
    check_audible(float(np.abs(mono).max()) if mono.size else 0.0)
    return mono, info
