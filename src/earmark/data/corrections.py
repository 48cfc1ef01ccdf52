"""Label corrections: a CSV of clips to relabel or exclude, written by `earmark serve` into a run folder and
applied by `earmark prepare --corrections FILE` on the next prepare (the source files are never modified).

Columns: `path` (the clip's identity: its path relative to SOURCE, as in manifest.csv), `action` (`relabel`
or `exclude`), `label` (the new label of a relabel, empty for an exclusion), `previous_label` (what the
manifest said when the mark was made, for the reader), `note`. One row per clip: a new mark replaces the old.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from earmark.data.sources import Item, Skipped
from earmark.errors import DataError
from earmark.fileio import write_csv_atomic

COLUMNS = ("path", "action", "label", "previous_label", "note")
ACTIONS = ("relabel", "exclude")
FILE_NAME = "corrections.csv"  # in the run folder


@dataclass(frozen=True)
class Correction:
    """One marked clip."""

    path: str
    action: str  # relabel | exclude
    label: str = ""  # the new label of a relabel
    previous_label: str = ""
    note: str = ""


def read_corrections(path: Path) -> list[Correction]:
    """The corrections in `path` (none when it does not exist); a malformed file is one clear error."""
    if not path.exists():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"path", "action"} - set(reader.fieldnames or ())
            if missing:
                raise DataError(f"{path}: not a corrections file (no column {', '.join(sorted(missing))}); "
                                f"expected columns {','.join(COLUMNS)}")
            rows = [_parse(record, path, number) for number, record in enumerate(reader, start=2)]
    except OSError as exc:
        raise DataError(f"{path}: cannot read corrections ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a corrections file (not UTF-8 text)") from None
    return rows


def _parse(record: dict[str, str | None], path: Path, line: int) -> Correction:
    values = {name: (record.get(name) or "").strip() for name in COLUMNS}
    if not values["path"]:
        raise DataError(f"{path}: line {line}: empty path")
    if values["action"] not in ACTIONS:
        raise DataError(f"{path}: line {line}: action {values['action']!r}: expected {' or '.join(ACTIONS)}")
    if values["action"] == "relabel" and not values["label"]:
        raise DataError(f"{path}: line {line}: relabel of {values['path']} names no label")
    return Correction(**values)


_PROCESS_LOCK = threading.Lock()  # threads of one server; flock below covers other processes


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Exclusive use of `folder`'s corrections: a thread lock, then flock on the folder itself (no lock file)."""
    with _PROCESS_LOCK:
        fd = os.open(folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock


def mark(path: Path, correction: Correction | None, clip: str) -> list[Correction]:
    """Set (or with None, clear) the mark of `clip` in the corrections file `path`; returns the new list.

    Read, change and atomic rewrite happen under one lock, so concurrent marks are all kept and a reader sees
    the old file or the new one.
    """
    with _locked(path.parent):
        rows = [row for row in read_corrections(path) if row.path != clip]
        if correction is not None:
            rows.append(dataclasses.replace(correction, path=clip))
        rows.sort(key=lambda row: row.path)
        write_csv_atomic(path, COLUMNS, [[getattr(row, name) for name in COLUMNS] for row in rows])
        return rows


def apply_corrections(items: list[Item], skipped: list[Skipped], path: Path) -> tuple[list[Item], list[Skipped]]:
    """`scan`'s (items, skipped) with the corrections in `path` applied: relabelled items, excluded ones moved to
    skipped with the reason. A correction naming a clip the source does not have is an error (wrong source?)."""
    if not path.is_file():
        raise DataError(f"--corrections {path}: no such file")
    corrections = {row.path: row for row in read_corrections(path)}
    known = {item.path for item in items} | {entry.source for entry in skipped}
    unknown = sorted(set(corrections) - known)
    if unknown:
        raise DataError(f"--corrections {path}: {len(unknown)} clip(s) not in this source (first: {unknown[0]}); "
                        "is it the source the run was prepared from?")
    kept: list[Item] = []
    excluded: list[Skipped] = []
    for item in items:
        row = corrections.get(item.path)
        if row is None:
            kept.append(item)
        elif row.action == "exclude":
            excluded.append(Skipped(item.path, f"excluded by {path.name}"))
        else:
            kept.append(dataclasses.replace(item, label=row.label))
    return kept, [*skipped, *excluded]
