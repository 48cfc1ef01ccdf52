"""A fast path for plain PCM and float WAV files, the most common dataset format.

libsndfile costs ~0.15 ms per open, more than the whole read of a short clip; parsing the RIFF header
here and mapping the data chunk with NumPy costs a fifth of that. Anything unusual (compressed
encodings, RF64, big-endian RIFX, a data chunk that runs past the end of the file, odd block sizes)
returns None so that soundfile (and then PyAV) decide, exactly as before.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
_INT_SCALE = {8: 128.0, 16: 32768.0, 24: 8388608.0, 32: 2147483648.0}  # libsndfile's float conversion
_HEAD_BYTES = 1 << 16  # read at once: the header and, for short clips, all of the samples


def read_wav(path: Path, size: int) -> tuple[np.ndarray, int] | None:
    """float32 `[C, N]` in [-1, 1] (float files as stored) and the rate of a `size`-byte plain WAV, or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
            layout = _parse_header(head, size)
            if layout is None:
                return None
            tag, channels, rate, bits, start, frames = layout
            count = frames * channels * bits // 8
            if start + count <= len(head):
                raw = np.frombuffer(head, dtype=np.uint8, count=count, offset=start)
            else:
                handle.seek(start)
                raw = np.fromfile(handle, dtype=np.uint8, count=count)
    except OSError:
        return None  # unreadable: the general decoder reports why
    if raw.size != count:
        return None
    samples = _to_float(raw, tag, bits).reshape(frames, channels).T
    return np.ascontiguousarray(samples), rate


def _parse_header(head: bytes, file_size: int) -> tuple[int, int, int, int, int, int] | None:
    """(format tag, channels, rate, bits, data offset, frames) from the first bytes of a file, or None."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    fmt: tuple[int, int, int, int, int] | None = None
    at = 12
    while at + 8 <= len(head):
        name, size = head[at : at + 4], struct.unpack_from("<I", head, at + 4)[0]
        at += 8
        if name == b"fmt ":
            fmt = _parse_fmt(head[at : at + size])
        elif name == b"data":
            if fmt is None or at + size > file_size:
                return None  # no format yet, or truncated: let libsndfile judge
            tag, channels, rate, bits, block = fmt
            return (tag, channels, rate, bits, at, size // block) if size % block == 0 else None
        at += size + size % 2
    return None  # the data chunk is not within the first bytes: not a plain WAV
def _parse_fmt(body: bytes) -> tuple[int, int, int, int, int] | None:
    """(tag, channels, rate, bits, block align) of a supported `fmt ` chunk, or None."""
    if len(body) < 16:
        return None
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format GUID
    supported = (tag == _PCM and bits in _INT_SCALE) or (tag == _FLOAT and bits in (32, 64))
    if not supported or channels == 0 or rate == 0 or block != channels * bits // 8:
        return None
    return tag, channels, rate, bits, block


def _to_float(raw: np.ndarray, tag: int, bits: int) -> np.ndarray:
    """Little-endian sample bytes to float32."""
    if tag == _FLOAT:
        return raw.view("<f4" if bits == 32 else "<f8").astype(np.float32, copy=False)
    if bits == 8:
        return (raw.astype(np.float32) - 128.0) / _INT_SCALE[8]
    if bits == 24:
        wide = np.zeros((raw.size // 3, 4), dtype=np.uint8)
        wide[:, 1:] = raw.reshape(-1, 3)  # the 3 bytes become the top of an int32: sign comes for free
        return wide.view("<i4")[:, 0].astype(np.float32) / _INT_SCALE[32]
    return raw.view("<i2" if bits == 16 else "<i4").astype(np.float32) / _INT_SCALE[bits]
