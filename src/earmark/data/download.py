"""`earmark download`: well-known datasets fetched (verified, resumable), unpacked safely, ready for their preset.

The registry is data: one YAML file per dataset in earmark/data/datasets/ with its official URL, what is
published about the archive (size, md5, sha256, or that nothing is), licence, citation and the `prepare
--preset` that reads its layout. A dataset lands in DIR/NAME/ only once it is verified and fully extracted:
extraction goes to DIR/.NAME.extracting/, a marker file is written, and the folder is renamed in one step.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import MISSING, dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from earmark import fetch as fetching
from earmark.data.archives import extract
from earmark.data.presets import list_presets
from earmark.errors import EarmarkError
from earmark.fileio import make_dir, write_json_atomic

MARKER = ".earmark-download.json"  # inside DIR/NAME: the dataset is complete (what was verified, what was written)
BOUND = 2  # an archive may declare at most this many times the dataset's known extracted size


@dataclass(frozen=True)
class DatasetEntry:
    """One registry entry: where the archive is, what it must be, and how to use and credit what is in it."""

    name: str
    title: str
    about: str
    homepage: str
    licence: str
    citation: str
    preset: str
    url: str
    filename: str
    download_mb: float  # roughly, for --list and the announcement; never checked
    extracted_mb: float  # roughly: the archive may declare up to BOUND times this
    checksum: str  # where the size/md5/sha256 come from, or that none is published
    strip: int = 0  # leading path components of every member dropped (a GitHub archive's top folder)
    mirrors: tuple[str, ...] = ()
    size: int | None = None  # bytes, exactly, where published
    md5: str | None = None
    sha256: str | None = None


_FIELDS = {f.name for f in fields(DatasetEntry)} - {"name"}
_REQUIRED = {f.name for f in fields(DatasetEntry) if f.default is MISSING} - {"name"}


def list_datasets() -> list[str]:
    """Names of the datasets earmark can download."""
    folder = resources.files("earmark.data") / "datasets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_dataset(name: str) -> DatasetEntry:
    """The registry entry `name`; an unknown name lists the valid ones, a malformed entry names its fault."""
    if name not in list_datasets():
        raise EarmarkError(f"unknown dataset {name!r}; valid datasets: {', '.join(list_datasets())}")
    text = (resources.files("earmark.data") / "datasets" / f"{name}.yaml").read_text(encoding="utf-8")
    values: dict[str, Any] = yaml.safe_load(text) or {}
    problems = sorted(set(values) - _FIELDS) and [f"unknown keys {sorted(set(values) - _FIELDS)}"]
    problems += [f"missing {key}" for key in sorted(_REQUIRED - set(values))]
    if problems:
        raise EarmarkError(f"dataset registry {name}.yaml: {'; '.join(problems)}")
    values["mirrors"] = tuple(values.get("mirrors") or ())
    return DatasetEntry(name=name, **values)


def check_entry(entry: DatasetEntry) -> list[str]:
    """What is wrong with an entry (empty when it is well formed): URLs, checksums, preset, sizes."""
    wrong = [f"{url} is not an https/http URL" for url in (entry.url, *entry.mirrors)
             if not url.startswith(("https://", "http://"))]
    wrong += [f"{kind} {value!r} is not {length} hex digits" for kind, value, length in
              (("md5", entry.md5, 32), ("sha256", entry.sha256, 64))
              if value is not None and (len(value) != length or not _is_hex(value))]
    wrong += [f"preset {entry.preset!r} does not exist"] if entry.preset not in list_presets() else []
    wrong += ["filename must be a plain file name"] if Path(entry.filename).name != entry.filename else []
    if min(entry.download_mb, entry.extracted_mb) <= 0:
        wrong.append("download_mb and extracted_mb must be positive")
    published = entry.size is not None or entry.md5 or entry.sha256
    if not published and "none published" not in entry.checksum:
        wrong.append("no size or checksum: the checksum note must say 'none published'")
    return wrong


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())


def describe(entry: DatasetEntry) -> list[str]:
    """The lines shown before a download starts: what it is, its licence, how to cite it, what is checked."""
    checks = ", ".join(f"{kind} {value}" for kind, value in (("size", entry.size), ("md5", entry.md5),
                                                                ("sha256", entry.sha256)) if value)
    return [f"{entry.title}: {entry.about}",
            f"  source:   {entry.url} (about {entry.download_mb:.0f} MB)",
            f"  licence:  {entry.licence}",
            f"  cite:     {entry.citation}",
            f"  verified: {checks} ({entry.checksum})" if checks else f"  verified: {entry.checksum}",
            f"  then:     earmark prepare DIR/{entry.name} PREPARED --preset {entry.preset}"]


def table() -> list[str]:
    """`earmark download --list`: one row per dataset."""
    entries = [load_dataset(name) for name in list_datasets()]
    rows = [("name", "download", "licence", "preset", "checksum")]
    rows += [(e.name, f"{e.download_mb:,.0f} MB", e.licence.split(" (")[0].split(";")[0], e.preset,
              "+".join(k for k, v in (("size", e.size), ("md5", e.md5), ("sha256", e.sha256)) if v)
              or "none published") for e in entries]
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def download(dataset: str | DatasetEntry, folder: Path, extract_archive: bool = True, timeout_s: float = 30.0) -> Path:
    """DIR/NAME with the dataset verified and extracted (or, without extraction, the verified archive)."""
    entry = load_dataset(dataset) if isinstance(dataset, str) else dataset
    folder = make_dir(folder)
    with fetching.locked(folder / f".{entry.name}.lock"):  # two runs never extract into one staging folder
        return _download(entry, folder, extract_archive, timeout_s)


def _download(entry: DatasetEntry, folder: Path, extract_archive: bool, timeout_s: float) -> Path:
    """`download` under its lock."""
    dest = folder / entry.name
    if (dest / MARKER).is_file():
        return dest  # finished by an earlier run: nothing to do
    if extract_archive and dest.exists():
        raise EarmarkError(f"{dest}: exists but was not finished by `earmark download` (no {MARKER}); move it "
                           "away or remove it, then run again")
    hint = f"download {entry.url} by hand into {folder}/ and run again to use it"
    archive = fetching.fetch(entry, folder, hint, timeout_s, entry.mirrors)
    if not extract_archive:
        return archive
    _unpack(entry, archive, dest)
    for leftover in (archive, archive.with_name(archive.name + ".sha256"), folder / f".{archive.name}.lock"):
        leftover.unlink(missing_ok=True)  # the marker keeps the archive's sha256; the extracted files are the data
    return dest


def _unpack(entry: DatasetEntry, archive: Path, dest: Path) -> None:
    """Extract into a staging folder, write the marker, rename into place; on any failure remove the staging."""
    staging = dest.with_name(f".{dest.name}.extracting")
    shutil.rmtree(staging, ignore_errors=True)  # a run cut while extracting: start that step again
    staging.mkdir()
    try:
        written = extract(archive, staging, entry.strip, int(BOUND * entry.extracted_mb * 1e6))
        files = sum(1 for p in staging.rglob("*") if p.is_file())
        marker = {"dataset": entry.name, "archive": archive.name, "url": entry.url, "sha256":
                  fetching.recorded_sha256(archive) or fetching.sha256_of(archive), "files": files, "bytes": written,
                  "preset": entry.preset}
        write_json_atomic(staging / MARKER, marker)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if exc.errno in fetching.DISK_FULL:
            raise EarmarkError(f"{dest}: cannot extract {archive.name} ({exc.strerror}); removed the partial "
                               "extraction, the verified archive is kept: free some space and run again") from None
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(dest)
    fetching.fsync_dir(dest.parent)


def read_marker(dest: Path) -> dict[str, Any]:
    """What a finished download recorded about itself."""
    return dict(json.loads((dest / MARKER).read_text(encoding="utf-8")))
