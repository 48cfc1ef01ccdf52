"""Prediction inputs of image and feature-table models: an image file decoded and resized exactly as `prepare`
did (data/images.py), or the rows of a CSV with the model's feature columns; the same values for the
PyTorch and the ONNX backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmark.data.images import IMAGE_EXTENSIONS, RESIZE_POLICY, load_image
from earmark.data.tables import finite_number, read_rows
from earmark.errors import EarmarkError
from earmark.inference.backends import ModelInfo

TABLE_EXTENSIONS = frozenset([".csv", ".tsv"])


def input_extensions(info: ModelInfo) -> frozenset[str] | None:
    """The file types a folder given to `predict` is searched for: images, tables, or None (audio)."""
    return {"image": IMAGE_EXTENSIONS, "table": TABLE_EXTENSIONS}.get(info.input_kind)


def image_values(path: Path, info: ModelInfo) -> np.ndarray:
    """float32 `[C·H·W]`: the image at `path` per the model's resize policy."""
    if info.resize != RESIZE_POLICY:
        raise EarmarkError(f"the model's resize policy {info.resize!r} is not this earmark's ({RESIZE_POLICY!r})")
    channels, height, width = info.item_shape
    pixels, _, _ = load_image(path, channels, height, width)  # DecodeError names the reason; the caller the file
    return pixels.reshape(-1)


def table_values(path: Path, info: ModelInfo) -> list[tuple[str, np.ndarray]]:
    """(name, float32 `[F]`) per row of a CSV holding the model's feature columns; the name is the row's `path`
    column when it has one, else FILE:LINE."""
    header, rows = read_rows(path)
    missing = [column for column in info.columns if column not in header]
    if missing:
        raise EarmarkError(f"no feature column {missing[0]!r} (the model reads {', '.join(info.columns[:8])}...)")
    found = []
    for number, row in enumerate(rows, start=2):
        values = [finite_number(row.get(column)) for column in info.columns]
        bad = next((c for c, v in zip(info.columns, values) if v is None), None)
        if bad is not None:
            raise EarmarkError(f"line {number}: feature {bad!r} is {(row.get(bad) or '').strip()[:40]!r}, "
                               "not a finite number")
        found.append(((row.get("path") or "").strip() or f"{path.name}:{number}",
                      np.array(values, dtype=np.float32)))
    return found
