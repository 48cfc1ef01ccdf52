"""Encode a clip with a real lossy encoder (libmp3lame, libopus) through PyAV's bundled FFmpeg."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from earmark.audio.resample import resample

# codec → (container format, file suffix, FFmpeg encoder, sample rates the encoder takes)
ENCODERS = {
    "mp3": ("mp3", ".mp3", "libmp3lame", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    "opus": ("ogg", ".opus", "libopus", (8000, 12000, 16000, 24000, 48000)),
}


def encode(samples: np.ndarray, rate: int, codec: str, bit_rate: int, stem: Path) -> Path:
    """Write mono float32 `samples` at `rate` as `codec` at `bit_rate` bit/s to `stem` + suffix; returns the path.

    A rate the encoder does not take is resampled to 48 kHz first (as a recorder would record it)."""
    container_format, suffix, encoder, rates = ENCODERS[codec]
    if rate not in rates:
        samples, rate = resample(samples, rate, 48000), 48000
    path = stem.with_suffix(suffix)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(encoder, rate=rate)
        stream.bit_rate = bit_rate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, dtype=np.float32)[None, :], format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):  # PyAV cuts the frame into the encoder's frame size
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def describe(path: Path) -> tuple[str, str, int]:
    """(container format, codec, sample rate) of an audio file, as FFmpeg reads them back."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return str(container.format.name), str(stream.codec_context.name), int(stream.rate)
