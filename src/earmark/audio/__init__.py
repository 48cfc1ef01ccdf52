"""Audio in: decode any format at its native rate, mix down to mono, resample with soxr, cut windows."""

from earmark.audio.decode import AudioInfo, decode, load_mono
from earmark.audio.resample import resample, to_mono
from earmark.audio.windows import window_starts

__all__ = ["AudioInfo", "decode", "load_mono", "resample", "to_mono", "window_starts"]
