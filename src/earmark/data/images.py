"""Images as model input: decode with Pillow (PNG, JPEG, BMP, GIF first frame), one resize policy shared by
`prepare` and `predict`, a content hash and a perceptual difference hash (dHash) for near duplicates.

The policy: every image is turned upright per its EXIF orientation, converted to 8-bit grayscale (`L`, one
channel) or RGB (three; alpha dropped), then stretched to the dataset's height × width with Pillow's bilinear
filter (no resize when it already has that size), then scaled to [0, 1] and laid out `[C, H, W]`. The same
function feeds training (through the cache) and prediction, in PyTorch and in ONNX, so both see identical
pixels.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earmark.data.fingerprint import DisjointSets
from earmark.errors import DataError, DecodeError

IMAGE_EXTENSIONS = frozenset([".png", ".jpg", ".jpeg", ".bmp", ".gif"])
GRAY_MODES = frozenset(["1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"])
MAX_SIDE = 128  # the default size keeps the most common image size, shrunk so its longer side is at most this
HASH_SIZE = 16  # dHash over a 17 × 16 grayscale thumbnail: 256 bits (candidate pairs share a 16-bit row of it)
# Near duplicates: standardised 16 × 16 thumbnails correlating at least this. On the 8 × 8 UCI digits a JPEG
# re-encode (quality 85) or +15 brightness kept >= 0.998, while the closest pairs of distinct digits reached
# 0.996 (dHash alone put distinct digits at distance 0). A JPEG of a tiny (24 × 20) saturated colour image
# loses more: 0.993 at quality 85, 0.996 at 95, and is missed; it is the price of not flagging the digits.
MIN_CORRELATION = 0.997
EXHAUSTIVE = 4096  # up to this many images every pair is compared (one 4096 × 4096 product)
_MAX_BUCKET = 200  # a row pattern shared by more images than this (blank margins) proposes no pairs
_ORIENTATION = 0x0112  # the EXIF tag of a photo's rotation
RESIZE_POLICY = "stretch"  # to height × width, aspect not kept, Pillow bilinear; recorded with the data and model


@dataclass(frozen=True)
class ImageHeader:
    """What an image file says about itself before its pixels are decoded."""

    channels: int  # 1 for grayscale modes, 3 otherwise
    width: int
    height: int


def _open(path: Path):  # type: ignore[no-untyped-def]
    """The first frame of `path` opened by Pillow, or DecodeError with the reason in one line."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DecodeError(f"cannot read ({exc.strerror})") from None
    if size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.seek(0)  # an animated GIF: its first frame
    except UnidentifiedImageError:
        raise DecodeError("not an image Pillow can read") from None
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DecodeError(f"unreadable image ({str(exc)[:120]})") from None
    return image


def read_header(path: Path) -> ImageHeader:
    """Mode and size of an image file (pixels not decoded)."""
    image = _open(path)
    with image:
        try:  # a PNG keeps EXIF at its end: a truncated file fails here, and is rejected when decoded
            turned = image.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)  # a camera's quarter turn: sides swap
        except (OSError, ValueError, SyntaxError):
            turned = False
        return ImageHeader(_channels(image), *((image.height, image.width) if turned else image.size))


def _channels(image) -> int:  # type: ignore[no-untyped-def]
    """1 for a grayscale image (a palette of grays included: GIFs of grayscale pictures), else 3."""
    if image.mode == "P":
        palette = image.getpalette() or []
        return 1 if all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3)) else 3
    return 1 if image.mode in GRAY_MODES else 3


def load_image(path: Path, channels: int, height: int, width: int) -> tuple[np.ndarray, str, int]:
    """float32 `[channels, height, width]` in [0, 1] per the resize policy, the sha1 of the decoded pixels at the
    file's own size (equal for identical pixels in any format) and the file's own channel count."""
    from PIL import ImageOps

    image = _open(path)
    with image:
        try:
            image.load()  # truncated files fail here (Pillow does not pad them unless asked)
            own = _channels(image)
            upright = ImageOps.exif_transpose(image)  # a photo as its camera meant it to be seen
            converted = upright.convert("L" if channels == 1 else "RGB")
        except (OSError, ValueError, SyntaxError) as exc:
            raise DecodeError(f"truncated or damaged image ({str(exc)[:120]})") from None
    sha1 = hashlib.sha1(converted.tobytes() + f"{converted.size}".encode()).hexdigest()
    return to_array(converted, height, width), sha1, own


def to_array(image, height: int, width: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A converted (`L` or `RGB`) Pillow image stretched to height × width, as float32 `[C, H, W]` in [0, 1]."""
    from PIL import Image

    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1).copy()


def dhash(pixels: np.ndarray) -> np.ndarray:
    """Packed uint8 difference hash of `[C, H, W]` pixels: the signs of neighbouring differences of a 17 × 16
    grayscale thumbnail. Re-encoding, small brightness changes and rescaling flip few bits."""
    from PIL import Image

    gray = pixels.mean(axis=0)
    thumb = Image.fromarray(np.round(gray * 255).astype(np.uint8)).resize((HASH_SIZE + 1, HASH_SIZE),
                                                                         Image.Resampling.BILINEAR)
    small = np.asarray(thumb, dtype=np.int16)
    return np.packbits((small[:, 1:] > small[:, :-1]).reshape(-1))


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """float32 `[C · 256]`: the 16 × 16 thumbnail of `[C, H, W]` pixels in colour (a red and a blue disc in
    the same place are not near duplicates), zero mean and unit norm."""
    from PIL import Image

    image = Image.fromarray(np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8).squeeze(axis=2)
                            if pixels.shape[0] == 1 else np.round(pixels.transpose(1, 2, 0) * 255).astype(np.uint8))
    small = np.asarray(image.resize((HASH_SIZE, HASH_SIZE), Image.Resampling.BILINEAR), dtype=np.float64).ravel()
    small -= small.mean()
    return (small / max(float(np.linalg.norm(small)), 1e-9)).astype(np.float32)


def near_duplicate_images(hashes: np.ndarray, thumbs: np.ndarray) -> list[list[int]]:
    """Sets of indices of near-identical images: pairs whose thumbnails (`[N, C · 256]`) correlate at least
    MIN_CORRELATION, all pairs compared up to EXHAUSTIVE images; above that only pairs sharing a 16-bit row of
    their dHash (`[N, 32]` uint8)."""
    sets = DisjointSets(len(hashes))
    for members in _candidate_sets(hashes):
        close = thumbs[members] @ thumbs[members].T >= MIN_CORRELATION
        for a, b in zip(*np.nonzero(np.triu(close, 1))):
            sets.join(int(members[a]), int(members[b]))
    return sets.groups()


def _candidate_sets(hashes: np.ndarray) -> list[np.ndarray]:
    """Index sets within which every pair is compared: all images at once when there are few, else the
    buckets of each 16-bit dHash row (a bucket of more than _MAX_BUCKET, a blank margin, is skipped)."""
    if len(hashes) <= EXHAUSTIVE:
        return [np.arange(len(hashes))]
    words = np.ascontiguousarray(hashes).view(">u2")
    sets = []
    for column in range(words.shape[1]):
        _, inverse, counts = np.unique(words[:, column], return_inverse=True, return_counts=True)
        sets += [np.flatnonzero(inverse == key) for key in np.flatnonzero((counts > 1) & (counts <= _MAX_BUCKET))]
    return sets


def default_size(headers: Sequence[ImageHeader]) -> tuple[int, int]:
    """(height, width): the most common size (the larger on a tie), shrunk so its longer side is <= MAX_SIDE."""
    counts = Counter((h.height, h.width) for h in headers)
    height, width = max(counts, key=lambda size: (counts[size], size[0] * size[1]))
    scale = min(1.0, MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def parse_size(text: str) -> tuple[int, int]:
    """`--image-size 28x28` (height x width) or `32` (square) → (height, width)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers *= 2
    if len(numbers) != 2 or min(numbers) < 1 or max(numbers) > 1024:
        raise DataError(f"--image-size {text!r}: expected HEIGHTxWIDTH like 28x28 (1 to 1024 pixels)")
    return numbers[0], numbers[1]
