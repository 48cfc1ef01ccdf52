"""Unpack a downloaded zip or tar(.gz) so that nothing in it can land outside the target folder or fill the disk.

Every member is checked before anything is written: no absolute path, no `..`, no link, device or FIFO; the
declared total size must stay under a bound and each member's compression ratio must be believable (a zip bomb
declares little and expands to much). Members are then streamed out with their declared size as a hard limit.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from earmark.errors import EarmarkError

MAX_RATIO = 200  # decompressed / compressed bytes of one member; audio and CSV stay far below this
RATIO_FLOOR = 1 << 20  # members smaller than this are not judged by their ratio (a tiny text file may compress well)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """One regular file or folder of an archive, already judged safe: where it goes and how big it says it is."""

    name: str  # the archive's own name for it
    parts: tuple[str, ...]  # path under the target, after dropping the leading `strip` components
    size: int
    is_dir: bool


def extract(archive: Path, target: Path, strip: int = 0, max_bytes: int | None = None) -> int:
    """Unpack `archive` (zip, tar, tar.gz) into `target`; returns the bytes written. Refuses hostile archives whole."""
    if zipfile.is_zipfile(archive):
        try:
            with zipfile.ZipFile(archive) as handle:
                members = [_zip_member(info, strip) for info in handle.infolist()]
                _check_one_top(archive, handle.namelist(), strip)
                _check_total(archive, target, [m for m in members if m is not None], max_bytes)
                return _write(target, ((m, lambda m=m: handle.open(m.name)) for m in members if m is not None))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise EarmarkError(f"{archive}: a damaged zip archive ({exc}); nothing was extracted") from None
    try:
        with tarfile.open(archive, "r:*") as handle:
            infos = handle.getmembers()
            members = [_tar_member(archive, info, strip) for info in infos]
            _check_one_top(archive, [info.name for info in infos], strip)
            _check_total(archive, target, [m for m in members if m is not None], max_bytes)
            sources = {info.name: info for info in infos}
            return _write(target, ((m, lambda m=m: _tar_open(handle, sources[m.name])) for m in members
                                   if m is not None))
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        detail = str(exc).splitlines()[0].rstrip(":")  # tarfile lists every method it tried, one per line
        raise EarmarkError(f"{archive}: not a readable zip or tar archive ({detail}); nothing was extracted") from None


def _zip_member(info: zipfile.ZipInfo, strip: int) -> Member | None:
    """A zip entry judged: links, devices and escaping names are refused; None for what `strip` drops."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):  # no unix mode at all (DOS-made zips) is a plain file
        raise _hostile(info.filename, "is a symbolic link or special file" if stat.S_ISLNK(mode) else
                       "is a special file")
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise _hostile(info.filename, f"declares {info.file_size} B from {info.compress_size} B compressed "
                       f"(ratio over {MAX_RATIO}: a zip bomb)")
    return _member(info.filename, info.file_size, info.is_dir(), strip)


def _tar_member(archive: Path, info: tarfile.TarInfo, strip: int) -> Member | None:
    """A tar entry judged the same way: only regular files and folders may be in it."""
    if not (info.isreg() or info.isdir()):
        what = "a symbolic link" if info.issym() else "a hard link" if info.islnk() else "a device or FIFO"
        raise _hostile(info.name, f"is {what}")
    return _member(info.name, info.size, info.isdir(), strip)


def _member(name: str, size: int, is_dir: bool, strip: int) -> Member | None:
    """The member's place under the target, refusing absolute paths and `..`."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise _hostile(name, "has an absolute or non-POSIX path")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if ".." in parts:
        raise _hostile(name, "climbs out of the folder with '..'")
    if len(parts) <= strip:
        if not is_dir:  # a file beside the one top folder that `strip` removes: the layout is not the expected one
            raise EarmarkError(f"archive member {name!r} lies outside the archive's top folder; the archive is "
                               "not laid out as this dataset's is, nothing was extracted")
        return None  # the archive's top folder itself
    return Member(name, parts[strip:], size, is_dir)


def _check_one_top(archive: Path, names: list[str], strip: int) -> None:
    """With `strip`, every member must sit under one top folder, or stripping would merge unrelated folders."""
    parts = (tuple(p for p in PurePosixPath(name).parts if p != ".") for name in names)
    tops = {found[:strip] for found in parts if found}  # a "./" entry of its own has no top
    if strip and len(tops) > 1:
        shown = ", ".join(sorted("/".join(top) for top in tops)[:3])
        raise EarmarkError(f"{archive}: expected one top folder, found {len(tops)} ({shown}...); the archive is not "
                           "laid out as this dataset's is, nothing was extracted")


def _check_total(archive: Path, target: Path, members: list[Member], max_bytes: int | None) -> None:
    """Refuse an archive that declares more than its bound, or more than the disk has free."""
    if not members:
        raise EarmarkError(f"{archive}: holds no files; nothing was extracted")
    total = sum(m.size for m in members if not m.is_dir)
    if max_bytes is not None and total > max_bytes:
        raise EarmarkError(f"{archive}: declares {total / 1e6:.1f} MB of files, more than the {max_bytes / 1e6:.0f} "
                           "MB this dataset can be; refused, nothing was extracted")
    probe = target if target.exists() else target.parent
    free = shutil.disk_usage(probe).free
    if total > free:
        raise EarmarkError(f"{archive}: needs {total / 1e6:.1f} MB to extract, {free / 1e6:.1f} MB free in {probe}; "
                           "nothing was extracted")


def _write(target: Path, members: Iterator[tuple[Member, object]]) -> int:
    """Stream each member out, never past its declared size; returns the bytes written."""
    written = 0
    for member, opener in members:
        path = target.joinpath(*member.parts)
        if member.is_dir:
            path.mkdir(parents=True, exist_ok=True)
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            sink_handle = path.open("xb")
        except (FileExistsError, NotADirectoryError):
            raise _hostile(member.name, "appears twice or under a file of the same name") from None
        with opener() as source, sink_handle as sink:  # type: ignore[operator]
            written += _copy_bounded(source, sink, member)
    return written


def _copy_bounded(source: IO[bytes], sink: IO[bytes], member: Member) -> int:
    """Copy at most the declared size, and fail if the data goes on beyond it."""
    done = 0
    for block in iter(lambda: source.read(CHUNK), b""):
        done += len(block)
        if done > member.size:
            raise _hostile(member.name, f"holds more than the {member.size} B it declares")
        sink.write(block)
    return done


def _tar_open(handle: tarfile.TarFile, info: tarfile.TarInfo) -> IO[bytes]:
    """A reader of a regular tar member."""
    reader = handle.extractfile(info)
    if reader is None:  # only for non-regular members, which _tar_member refused
        raise _hostile(info.name, "cannot be read as a file")
    return reader


def _hostile(name: str, why: str) -> EarmarkError:
    """One line naming the member and the reason; the caller removes what was half written."""
    return EarmarkError(f"archive member {name!r} {why}; refused, nothing was extracted")
