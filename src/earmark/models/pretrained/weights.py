"""Official weights files in earmark's cache: downloaded atomically and resumably, verified, or refused in one line.

A download goes to `<file>.part` (continued with an HTTP Range request after a cut, restarted when the server
ignores Range), is checked against the published size and checksums, fsynced and renamed; only then is it in
the cache, with its computed sha256 beside it in `<file>.sha256`. Offline (EARMARK_OFFLINE=1 or HF_HUB_OFFLINE=1)
nothing is fetched: the error names the URL and how to pass a local copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from earmark.errors import EarmarkError
from earmark.fileio import make_dir, write_text_atomic
from earmark.models.pretrained.base import Backbone, BackboneSpec, WeightsFile

PASS_LOCAL = "pass a local copy with --set model.weights=PATH"
CHUNK = 1 << 20  # bytes per read
ATTEMPTS = 4  # a cut connection is resumed this many times in all before giving up (the .part stays)


def cache_dir() -> Path:
    """earmark's cache: $EARMARK_CACHE, else $XDG_CACHE_HOME/earmark, else ~/.cache/earmark."""
    if os.environ.get("EARMARK_CACHE"):
        return Path(os.environ["EARMARK_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "earmark"


def weights_dir() -> Path:
    """Where downloaded weights files live."""
    return cache_dir() / "weights"


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
    """The sha256 recorded beside a cached file when it was verified and stored, or None."""
    with contextlib.suppress(OSError, IndexError):
        return path.with_name(path.name + ".sha256").read_text(encoding="utf-8").split()[0]
    return None


def resolve_weights(spec: BackboneSpec, path: Path | str | None, timeout_s: float = 15.0) -> Path:
    """The weights file for `spec`: `path` when given (`--set model.weights=PATH`), else the official one, fetched."""
    if path is not None and str(path) != "":
        local = Path(path).expanduser()
        if not local.is_file():
            raise EarmarkError(f"{local}: weights file not found (for {spec.name})")
        return local
    if spec.weights is None:
        raise EarmarkError(f"{spec.name}: no official weights file is known; {PASS_LOCAL}")
    return fetch(spec.weights, timeout_s=timeout_s)


def pretrained(spec: BackboneSpec, path: Path | str | None = None, timeout_s: float = 15.0) -> Backbone:
    """`spec`'s backbone with its official weights (or those in `path`), loaded strictly, in eval mode."""
    model = spec.build()
    model.load_official(resolve_weights(spec, path, timeout_s))
    return model.eval()


def fetch(weights: WeightsFile, folder: Path | None = None, timeout_s: float = 15.0) -> Path:
    """The cached, verified copy of `weights` (downloaded when missing); its sha256 is in `<file>.sha256`."""
    folder = make_dir(folder or weights_dir())
    target = folder / weights.filename
    with _locked(folder / f".{weights.filename}.lock"):
        if target.is_file():
            try:
                return _store(target, target, _verify(target, weights, where=f"cached {target}"))
            except EarmarkError as exc:  # a damaged or foreign file in the cache: removed, fetched again
                _say(str(exc))
        reason = offline_reason()
        if reason:
            raise EarmarkError(f"{weights.url}: not downloaded ({reason} is set); {PASS_LOCAL}")
        part = target.with_name(target.name + ".part")
        _download(weights.url, part, timeout_s)
        target = _store(part, target, _verify(part, weights, where=weights.url))
        _say(f"{weights.filename}: stored in {folder} (sha256 {recorded_sha256(target)})")
        return target


def _store(source: Path, target: Path, digests: dict[str, str]) -> Path:
    """Rename a verified `source` to `target` durably and record its sha256 beside it (when not yet recorded)."""
    if source != target:
        os.replace(source, target)
        _fsync_dir(target.parent)
    if recorded_sha256(target) != digests["sha256"]:
        write_text_atomic(target.with_name(target.name + ".sha256"), f"{digests['sha256']}  {target.name}\n")
    return target


def _verify(path: Path, weights: WeightsFile, where: str) -> dict[str, str]:
    """Check size and published checksums; on a mismatch the file is removed and the error is one line."""
    size = path.stat().st_size
    digests = _digests(path)
    wrong = [f"size {size} B, expected {weights.size} B"] if weights.size is not None and size != weights.size else []
    wrong += [f"{kind} {digests[kind]}, expected {want}" for kind, want in (("md5", weights.md5),
              ("sha256", weights.sha256)) if want is not None and digests[kind] != want.lower()]
    if wrong:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".sha256").unlink(missing_ok=True)
        raise EarmarkError(f"{where}: {weights.filename} is not the published file ({'; '.join(wrong)}); "
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


def _download(url: str, part: Path, timeout_s: float) -> None:
    """Bring `part` to the whole file at `url`, resuming after cuts; a cut that persists leaves `part` to resume."""
    for attempt in range(1, ATTEMPTS + 1):
        have = part.stat().st_size if part.exists() else 0
        try:
            if _transfer(url, part, have, timeout_s):
                return
            detail = "the connection closed early"
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, IncompleteRead...
            if isinstance(exc, urllib.error.HTTPError):
                raise EarmarkError(f"{url}: cannot download (HTTP {exc.code} {exc.reason}); {PASS_LOCAL}") from None
            got = part.stat().st_size if part.exists() else 0
            detail = _why(exc)
            if got == have:  # no progress at all: the network is not there, do not keep trying
                raise EarmarkError(f"{url}: cannot download ({detail}); {PASS_LOCAL}") from None
        if attempt < ATTEMPTS:
            _say(f"{part.name}: {detail} at {part.stat().st_size} B; resuming")
    raise EarmarkError(f"{url}: download cut ({detail}) after {ATTEMPTS} attempts; {part} is kept and the next "
                       f"run resumes it, or {PASS_LOCAL}")


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
        about = f"{total / 1e6:.1f} MB" if total else "size not told"
        _say(f"downloading {url} ({about}{f', resuming at {have} B' if resumed else ''})")
        with part.open("ab" if resumed else "wb") as handle:
            done = _copy(response, handle, have if resumed else 0, total, part.name.removesuffix(".part"))
            handle.flush()
            os.fsync(handle.fileno())
    return total is None or done == total


def _span(response: http.client.HTTPResponse) -> tuple[int, int | None]:
    """Where a partial answer starts and the whole file's size (Content-Range); (0, None) for a whole answer."""
    found = re.fullmatch(r"bytes (\d+)-\d+/(\d+)", response.headers.get("Content-Range", "").strip())
    return (int(found.group(1)), int(found.group(2))) if found else (0, None)


def _length(response: http.client.HTTPResponse) -> int | None:
    """Content-Length, or None when not told."""
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def _copy(response: BinaryIO, handle: BinaryIO, done: int, total: int | None, name: str) -> int:
    """Copy the body to `handle` (a progress line on a terminal's stderr); returns the bytes now in the file."""
    last, live = 0.0, sys.stderr.isatty()
    for block in iter(lambda: response.read(CHUNK), b""):
        handle.write(block)
        done += len(block)
        if live and (time.monotonic() - last > 0.2 or done == total):
            last = time.monotonic()
            share = f" / {total / 1e6:.1f} MB ({100 * done / total:.0f}%)" if total else " MB"
            _say(f"downloading {name}: {done / 1e6:.1f}{share}", end="\r")
    if live:
        sys.stderr.write("\n")
    return done


def _why(exc: BaseException) -> str:
    """A network failure in a few words."""
    reason = getattr(exc, "reason", None) or exc
    return f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`, so that two processes never write the same .part."""
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _say(text: str, end: str = "\n") -> None:
    """A line for people on stderr."""
    sys.stderr.write(text + ("\033[K" if end == "\r" else "") + end)
    sys.stderr.flush()
