"""The manifest of a prepared dataset: one row per kept clip, and the one reader and writer of it."""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from earmark.errors import DataError
from earmark.fileio import write_csv_atomic


@dataclass(frozen=True)
class ManifestRow:
    """One kept clip: where it came from, its label/group/split/fold and where its samples are cached."""

    path: str
    source: str
    label: str
    group: str
    split: str
    fold: int
    duration_s: float
    source_sample_rate: int
    source_channels: int
    shard: int  # cache shard holding the samples
    offset: int  # first sample in the shard
    num_samples: int
    sha1: str  # of the decoded mono samples at the source rate: exact-duplicate detection

    def with_split(self, split: str) -> ManifestRow:
        return dataclasses.replace(self, split=split)


MANIFEST_COLUMNS = tuple(f.name for f in dataclasses.fields(ManifestRow))
_INT_COLUMNS = {"fold", "source_sample_rate", "source_channels", "shard", "offset", "num_samples"}


def write_manifest(path: Path, rows: list[ManifestRow]) -> None:
    """Write `manifest.csv` atomically."""
    write_csv_atomic(path, MANIFEST_COLUMNS, [[getattr(row, name) for name in MANIFEST_COLUMNS] for row in rows])


def read_manifest(path: Path) -> list[ManifestRow]:
    """Read `manifest.csv` written by `prepare`."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
    except OSError as exc:
        raise DataError(f"{path}: cannot read manifest ({exc.strerror}); is this a prepared dataset?") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a manifest (not UTF-8 text); run `earmark prepare` again") from None
    try:
        return [_parse(record) for record in records]
    except (KeyError, ValueError, TypeError) as exc:  # TypeError: a row cut short (a field is None)
        raise DataError(f"{path}: malformed manifest ({exc}); run `earmark prepare` again") from None


def _parse(record: dict[str, str]) -> ManifestRow:
    values: dict[str, object] = {}
    for name in MANIFEST_COLUMNS:
        raw = record[name]
        values[name] = int(raw) if name in _INT_COLUMNS else float(raw) if name == "duration_s" else raw
    return ManifestRow(**values)  # type: ignore[arg-type]
