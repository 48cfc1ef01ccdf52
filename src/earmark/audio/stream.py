"""A file of any length as a stream of mono blocks at a target rate: memory bounded by the block, not the file.

soundfile reads the formats libsndfile knows block by block; PyAV iterates frames of everything else. The
blocks are mixed down and resampled by `StreamResampler`, which gives the same samples as `load_mono`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from earmark.audio.decode import (
    av_frames,
    av_rate,
    check_audible,
    check_file,
    check_finite,
    check_rate,
    open_av,
    quiet_stderr,
)
from earmark.audio.resample import StreamResampler, to_mono
from earmark.errors import DecodeError

BLOCK_FRAMES = 1 << 16  # native-rate frames per decoded block (1.5 s at 44.1 kHz)


def stream_mono(path: Path, sample_rate: int, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Mono float32 blocks of `path` resampled to `sample_rate`.

    Refuses what `load_mono` refuses (DecodeError): an unreadable or empty file, no samples, NaN/Inf (at the
    block that holds them) and all-silent audio (after the last block, when that is known).
    """
    check_file(path)
    resampler: StreamResampler | None = None
    peak = 0.0
    for block, native_rate in _native_blocks(path, block_frames):
        mono = to_mono(block)  # [C, n] → [n]
        check_finite(mono)
        peak = max(peak, float(np.abs(mono).max(initial=0.0)))
        resampler = resampler or StreamResampler(native_rate, sample_rate)
        out = resampler.push(mono)
        if out.size:
            yield out
    if resampler is None or resampler.consumed == 0:
        raise DecodeError("no samples (0-length audio)")
    tail = resampler.flush()
    if tail.size:
        yield tail
    check_audible(peak)


def _native_blocks(path: Path, block_frames: int) -> Iterator[tuple[np.ndarray, int]]:
    """`([C, n] float32, native rate)` blocks: soundfile when libsndfile opens the file, PyAV otherwise."""
    try:
        with quiet_stderr():
            handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        yield from _av_blocks(path, block_frames)
        return
    with handle:
        check_rate(handle.samplerate)
        while True:  # read() until it comes back empty: a header's frame count can be an estimate (mp3)
            try:
                with quiet_stderr():
                    block = handle.read(block_frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise DecodeError(f"not decodable audio past the start ({str(exc)[:120]})") from None
            if not len(block):
                return
            yield block.T, int(handle.samplerate)


def _av_blocks(path: Path, block_frames: int) -> Iterator[tuple[np.ndarray, int]]:
    """PyAV (bundled FFmpeg) frames gathered into blocks of about `block_frames` (m4a, aac, webm, ...)."""
    with open_av(path) as (container, stream):
        rate = av_rate(stream)
        check_rate(rate)
        pending: list[np.ndarray] = []
        count = 0
        for frame in av_frames(container, stream):
            chunk = frame.to_ndarray().astype(np.float32, copy=False)  # planar [C, n]
            pending.append(chunk)
            count += chunk.shape[1]
            if count >= block_frames:
                yield np.concatenate(pending, axis=1), rate
                pending, count = [], 0
        if pending:
            yield np.concatenate(pending, axis=1), rate
