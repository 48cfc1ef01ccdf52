"""Published files fetched over HTTP: atomically and resumably, verified against their published checksums.

A download goes to `<file>.part` (continued with an HTTP Range request after a cut, restarted when the server
ignores Range), is checked against the published size and checksums, fsynced and renamed; only then is it
`<file>`, with its computed sha256 beside it in `<file>.sha256`. Offline (EARMARK_OFFLINE=1 or HF_HUB_OFFLINE=1)
nothing is fetched. Weights (models.pretrained.weights) and datasets (data.download) both come through here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import http.client
import os
import re
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from earmark.errors import EarmarkError
from earmark.fileio import make_dir, write_text_atomic
from earmark.progress import Progress

CHUNK = 1 << 20  # bytes per read
ATTEMPTS = 4  # a cut connection is resumed this many times in all before giving up (the .part stays)
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})  # a write the system refuses for want of room


class Published(Protocol):
    """What a fetched file must be: where it lives and, where published, its size and checksums."""

    @property
    def url(self) -> str: ...
    @property
    def filename(self) -> str: ...
    @property
    def size(self) -> int | None: ...
    @property
    def md5(self) -> str | None: ...
    @property
    def sha256(self) -> str | None: ...


def cache_dir() -> Path:
    """earmark's cache: $EARMARK_CACHE, else $XDG_CACHE_HOME/earmark, else ~/.cache/earmark."""
    if os.environ.get("EARMARK_CACHE"):
        return Path(os.environ["EARMARK_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "earmark"


def offline_reason() -> str | None:
    """The variable that forbids downloads (EARMARK_OFFLINE=1 or HF_HUB_OFFLINE=1), or None."""
    for name in ("EARMARK_OFFLINE", "HF_HUB_OFFLINE"):
        if os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on"):
            return f"{name}={os.environ[name]}"
    return None


def sha256_of(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    return _digests(path)["sha256"]


def recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded beside a stored file when it was verified, or None."""
    with contextlib.suppress(OSError, IndexError):
        return path.with_name(path.name + ".sha256").read_text(encoding="utf-8").split()[0]
    return None


def fetch(remote: Published, folder: Path, hint: str, timeout_s: float = 15.0, mirrors: tuple[str, ...] = ()) -> Path:
    """`folder/<filename>`, verified (downloaded from the URL or its mirrors when missing); `hint` ends every error."""
    folder = make_dir(folder)
    target = folder / remote.filename
    with locked(folder / f".{remote.filename}.lock"):
        if target.is_file():
            try:
                return _store(target, target, _verify(target, remote, f"existing {target}"))
            except EarmarkError as exc:  # a damaged or foreign file: removed, fetched again
                _say(str(exc))
        reason = offline_reason()
        if reason:
            raise EarmarkError(f"{remote.url}: not downloaded ({reason} is set); {hint}")
        part = target.with_name(target.name + ".part")
        urls = (remote.url, *mirrors)
        for number, url in enumerate(urls, start=1):
            try:
                _download(url, part, timeout_s, hint)
                break
            except EarmarkError as exc:
                if number == len(urls) or (part.exists() and part.stat().st_size):  # bytes came: resume, not switch
                    raise
                _say(f"{exc}; trying the mirror {urls[number]}")
        target = _store(part, target, _verify(part, remote, url))
        _say(f"{remote.filename}: stored in {folder} (sha256 {recorded_sha256(target)})")
        return target


def _store(source: Path, target: Path, digests: dict[str, str]) -> Path:
    """Rename a verified `source` to `target` durably and record its sha256 beside it (when not yet recorded)."""
    if source != target:
        os.replace(source, target)
        fsync_dir(target.parent)
    if recorded_sha256(target) != digests["sha256"]:
        write_text_atomic(target.with_name(target.name + ".sha256"), f"{digests['sha256']}  {target.name}\n")
    return target


def _verify(path: Path, remote: Published, where: str) -> dict[str, str]:
    """Check size and published checksums; on a mismatch the file is removed and the error is one line."""
    size = path.stat().st_size
    digests = _digests(path)
    wrong = [f"size {size} B, expected {remote.size} B"] if remote.size is not None and size != remote.size else []
    wrong += [f"{kind} {digests[kind]}, expected {want}" for kind, want in (("md5", remote.md5),
              ("sha256", remote.sha256)) if want is not None and digests[kind] != want.lower()]
    if wrong:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        raise EarmarkError(f"{where}: {remote.filename} is not the published file ({'; '.join(wrong)}); "
                           "removed it, nothing was kept")
    return digests


def _digests(path: Path) -> dict[str, str]:
    """md5 and sha256 of a file in one pass."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            md5.update(block)
            sha.update(block)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def _download(url: str, part: Path, timeout_s: float, hint: str) -> None:
    """Bring `part` to the whole file at `url`, resuming after cuts; a cut that persists leaves `part` to resume."""
    for attempt in range(1, ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        try:
            if _transfer(url, part, have, timeout_s):
                return
            detail = "the connection closed early"
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, IncompleteRead...
            if isinstance(exc, urllib.error.HTTPError):
                raise EarmarkError(f"{url}: cannot download (HTTP {exc.code} {exc.reason}); {hint}") from None
            if isinstance(exc, OSError) and exc.errno in DISK_FULL:  # retrying cannot help: say so at once
                raise EarmarkError(f"{part}: cannot write ({exc.strerror}; {_free(part.parent)} free there); the "
                                   ".part is kept: free some space and run again to resume") from None
            got = part.stat().st_size if part.exists() else 0
            detail = _why(exc)
            if got == have:  # no progress at all: the network is not there, do not keep trying
                raise EarmarkError(f"{url}: cannot download ({detail}); {hint}") from None
        if attempt < ATTEMPTS:
            _say(f"{part.name}: {detail} at {part.stat().st_size} B; resuming")
    raise EarmarkError(f"{url}: download cut ({detail}) after {ATTEMPTS} attempts; {part} is kept and the next "
                       f"run resumes it, or {hint}")


def _transfer(url: str, part: Path, have: int, timeout_s: float) -> bool:
    """One request from byte `have` on; True when `part` is then complete."""
    request = urllib.request.Request(url, headers={"User-Agent": "earmark", "Accept-Encoding": "identity"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the .part is not a prefix the server knows: start again
            part.unlink()
            return _transfer(url, part, 0, timeout_s)
        raise
    with response:
        start, total = _span(response)
        resumed = have > 0 and response.status == 206
        if resumed and start != have:  # an answer for other bytes than asked: trust nothing, start again
            part.unlink()
            return _transfer(url, part, 0, timeout_s)
        if have and not resumed:
            _say(f"{part.name}: the server ignored the range request; starting again")
        if total is None and response.status == 200:
            total = _length(response)
        _check_room(part, total - (have if resumed else 0) if total else None)
        about = f"{total / 1e6:.1f} MB" if total else "size not told"
        _say(f"downloading {url} ({about}{f', resuming at {have} B' if resumed else ''})")
        with part.open("ab" if resumed else "wb") as handle:
            done = _copy(response, handle, have if resumed else 0, total, part.name.removesuffix(".part"))
            handle.flush()
            os.fsync(handle.fileno())
    return total is None or done == total


def _check_room(part: Path, needed: int | None) -> None:
    """Refuse before writing when the server's announced size does not fit on the disk."""
    if needed is not None and needed > shutil.disk_usage(part.parent).free:
        raise OSError(errno.ENOSPC, f"{needed / 1e6:.1f} MB to write, more than is free", str(part))


def _free(folder: Path) -> str:
    """Free space in `folder` in words."""
    with contextlib.suppress(OSError):
        return f"{shutil.disk_usage(folder).free / 1e6:.1f} MB"
    return "unknown"


def _span(response: http.client.HTTPResponse) -> tuple[int, int | None]:
    """Where a partial answer starts and the whole file's size (Content-Range); (0, None) for a whole answer."""
    found = re.fullmatch(r"bytes (\d+)-\d+/(\d+)", response.headers.get("Content-Range", "").strip())
    return (int(found.group(1)), int(found.group(2))) if found else (0, None)


def _length(response: http.client.HTTPResponse) -> int | None:
    """Content-Length, or None when not told."""
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _copy(response: BinaryIO, handle: BinaryIO, done: int, total: int | None, name: str) -> int:
    """Copy the body to `handle` with a progress line in MB (on a terminal); returns the bytes now in the file."""
    progress = Progress(f"downloading {name} (MB)", round(total / 1e6) if total else 0)
    progress.update(int(done / 1e6))
    for block in iter(lambda: response.read(CHUNK), b""):
        handle.write(block)
        done += len(block)
        progress.update(int(done / 1e6) - progress.done)
    progress.close()
    return done


def _why(exc: BaseException) -> str:
    """A network failure in a few words."""
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`, so that two processes never write the same .part."""
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _say(text: str) -> None:
    """A line for people on stderr."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
