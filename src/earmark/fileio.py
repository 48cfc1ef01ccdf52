"""Atomic writes: a temporary file in the same folder, then a rename, so nothing is ever half-written."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from earmark.errors import EarmarkError

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: mkstemp makes 0600 files, the rename should leave the usual 0666 & ~umask
FILE_MODE = 0o666 & ~_UMASK


def make_dir(path: Path) -> Path:
    """Create folder `path` (and its parents) or say in one line why it cannot be (a file in the way, no permission)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EarmarkError(f"{path}: cannot create this folder ({exc.strerror}: {exc.filename})") from None
    return path


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in `path`, or {} when it is missing, unreadable or not an object (a record that may
    not exist yet, such as a run's run.json or a dataset's report.json)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def remove_stale_temporaries(*folders: Path, pattern: str = ".*.tmp") -> None:
    """Delete what killed processes left of their atomic writes in `folders` (never renamed, never read).

    Called by a command when it starts on a folder it owns, before it writes anything there.
    """
    for folder in folders:
        for stale in folder.glob(pattern) if folder.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a mix."""
    make_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc) from None
        raise


def cannot_write(path: Path, exc: OSError) -> EarmarkError:
    """One line for a write the system refused (disk full, read-only, no permission); the old file is intact."""
    kept = " (the previous file is unchanged)" if path.exists() else ""
    return EarmarkError(f"{path}: cannot write ({exc.strerror or exc}){kept}")


def write_text_atomic(path: Path, text: str) -> None:
    """Atomic UTF-8 text write."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, value: Any) -> None:
    """Atomic, pretty-printed JSON write."""
    write_text_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def write_csv_atomic(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Atomic CSV write with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
