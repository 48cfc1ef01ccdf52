"""`earmark download` against a real HTTP server on 127.0.0.1: verified, resumable, atomic, safe to extract."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from earmark.cli import main
from earmark.data.download import (
    MARKER,
    DatasetEntry,
    check_entry,
    describe,
    download,
    list_datasets,
    load_dataset,
    read_marker,
)
from earmark.errors import EarmarkError
from tests.dataset_layouts import LAYOUTS, pack, tone
from tests.loopback import Behaviour, serve

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EARMARK_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def _entry(name: str, url: str, data: bytes, **changes: object) -> DatasetEntry:
    """The registry entry `name`, pointed at the test server and at the checksum of the archive it serves."""
    published = {"size": len(data), "md5": None, "sha256": hashlib.sha256(data).hexdigest(), **changes}
    return dataclasses.replace(load_dataset(name), url=url, mirrors=(), **published)  # type: ignore[arg-type]


def _left(folder: Path) -> list[str]:
    """What a run left in DIR, lock files aside."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def test_the_registry_is_well_formed_and_listed(capsys: pytest.CaptureFixture[str]) -> None:
    names = list_datasets()
    assert {"fsdd", "esc50", "urbansound8k", "speech-commands", "gtzan", "ravdess", "vctk", "audio-mnist"} <= set(names)
    for name in names:
        entry = load_dataset(name)
        assert check_entry(entry) == [], name
        shown = "\n".join(describe(entry))
        assert entry.licence in shown and entry.citation in shown and f"--preset {entry.preset}" in shown
    assert check_entry(dataclasses.replace(load_dataset("esc50"), md5="xyz", url="ftp://x", preset="nope")) == [
        "ftp://x is not an https/http URL", "md5 'xyz' is not 32 hex digits", "preset 'nope' does not exist"]
    assert main(["download", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in names) and "CC BY-NC 3.0" in listed and "none published" in listed
    assert main(["download", "nope", "x"]) == 1 and "valid datasets: audio-mnist" in capsys.readouterr().err


def test_a_zip_is_verified_extracted_marked_and_a_second_run_does_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = pack(LAYOUTS["esc50"][0](), "zip")
    with serve(data, "/ESC-50-master.zip") as (url, behaviour):
        dest = download(_entry("esc50", url, data), tmp_path)
        assert dest == tmp_path / "esc50" and len(behaviour.ranges) == 1
        assert (dest / "meta" / "esc50.csv").is_file() and len(list((dest / "audio").glob("*.wav"))) == 40
        marker = read_marker(dest)
        assert marker["sha256"] == hashlib.sha256(data).hexdigest() and marker["files"] == 43
        assert _left(tmp_path) == ["esc50"]  # archive, .sha256 and staging gone: DIR/NAME is the data
        assert download(_entry("esc50", url, data), tmp_path) == dest and len(behaviour.ranges) == 1
    assert main(["download", "esc50", str(tmp_path)]) == 0  # the registry's real URL is never asked for
    assert "already downloaded and extracted; nothing to do" in capsys.readouterr().out


def test_a_cut_connection_is_resumed_with_a_range_request(tmp_path: Path) -> None:
    data = pack(LAYOUTS["urbansound8k"][0](), "tar.gz")
    with serve(data) as (url, behaviour):
        behaviour.cut_answers, behaviour.cut_after = 1, len(data) // 2
        dest = download(_entry("urbansound8k", url, data), tmp_path)
        assert behaviour.ranges == [None, f"bytes={len(data) // 2}-"]
    assert len(list((dest / "audio").glob("fold*/*.wav"))) == 40 and (dest / "metadata" / "UrbanSound8K.csv").is_file()


def test_a_checksum_mismatch_extracts_nothing(tmp_path: Path) -> None:
    data = pack(LAYOUTS["ravdess"][0](), "zip")
    with serve(data) as (url, _), pytest.raises(EarmarkError, match="is not the published file") as info:
        download(_entry("ravdess", url, data, sha256="0" * 64), tmp_path)
    assert "\n" not in str(info.value) and _left(tmp_path) == []


def test_no_extract_keeps_the_verified_archive_only(tmp_path: Path) -> None:
    data = pack(LAYOUTS["fsdd"][0](), "zip")
    with serve(data) as (url, _):
        path = download(_entry("fsdd", url, data), tmp_path, extract_archive=False)
    assert path.read_bytes() == data and _left(tmp_path) == [path.name, path.name + ".sha256"]


def _zip(*members: tuple[zipfile.ZipInfo | str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return buffer.getvalue()


def _tar(kind: bytes, name: str = "top/evil", link: str = "/etc/passwd") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.addfile(tarfile.TarInfo("top/a.wav"), io.BytesIO(b""))
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        archive.addfile(info)
    return buffer.getvalue()


def _zip_link() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("top/link.wav")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


HOSTILE = {
    "climbs out": (lambda: _zip(("top/a.wav", tone(0)), ("top/../../evil.wav", b"x")), "climbs out"),
    "absolute": (lambda: _zip(("top/a.wav", tone(0)), ("/tmp/evil.wav", b"x")), "absolute"),
    "zip symlink": (lambda: _zip(("top/a.wav", tone(0)), (_zip_link(), b"../../evil")), "symbolic link"),
    "tar symlink": (lambda: _tar(tarfile.SYMTYPE), "symbolic link"),
    "tar hard link": (lambda: _tar(tarfile.LNKTYPE, link="top/a.wav"), "hard link"),
    "tar device": (lambda: _tar(tarfile.CHRTYPE), "device"),
    "zip bomb": (lambda: _zip(("top/zeros.wav", bytes(8 << 20))), "zip bomb"),
    "absurd total": (lambda: _zip(("top/a.wav", os.urandom(300_000))), "more than the 0 MB"),
    "two top folders": (lambda: _zip(("top/a.wav", tone(0)), ("other/b.wav", tone(1))), "expected one top folder"),
    "not an archive": (lambda: b"<html>Not Found</html>\n" * 100, "not a readable zip or tar archive"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_archive_is_refused_whole(tmp_path: Path, case: str) -> None:
    build, reason = HOSTILE[case]
    data = build()
    with serve(data) as (url, _), pytest.raises(EarmarkError, match=reason) as info:
        download(_entry("fsdd", url, data, extracted_mb=0.1), tmp_path / "dir")
    assert "\n" not in str(info.value) and "nothing was extracted" in str(info.value)
    assert "fsdd" not in _left(tmp_path / "dir") and ".fsdd.extracting" not in _left(tmp_path / "dir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir"]  # nothing landed beside DIR either


def test_a_folder_not_made_by_download_is_not_overwritten(tmp_path: Path) -> None:
    (tmp_path / "esc50").mkdir()
    with pytest.raises(EarmarkError, match=f"no {MARKER}"):
        download("esc50", tmp_path)


def test_a_full_disk_while_downloading_keeps_nothing_and_says_so(tmp_path: Path) -> None:
    # A real ENOSPC from the kernel: the .part is a link to /dev/full, where every write fails for want of room.
    data = pack(LAYOUTS["ravdess"][0](), "zip")
    entry = load_dataset("ravdess")
    (tmp_path / (entry.filename + ".part")).symlink_to("/dev/full")
    with serve(data) as (url, _), pytest.raises(EarmarkError, match="No space left on device") as info:
        download(_entry("ravdess", url, data), tmp_path)
    assert "free some space and run again" in str(info.value) and "ravdess" not in _left(tmp_path)


def test_a_full_disk_while_extracting_removes_the_partial_copy_and_keeps_the_archive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real refused write: the child's file-size limit (RLIMIT_FSIZE) makes the kernel fail the write of a member
    # larger than it with EFBIG, as a full disk fails it with ENOSPC; both take the same path in earmark.
    members = LAYOUTS["fsdd"][0]()
    top = next(iter(members)).split("/")[0]
    members[f"{top}/recordings/9_theo_0.wav"] = tone(9, seconds=20.0)  # 320 kB
    archive = tmp_path / load_dataset("fsdd").filename
    archive.write_bytes(pack(members, "zip"))  # put there by hand: no checksum is published for FSDD, so it is taken
    limit = 200_000
    child = (f"import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
             f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); from earmark.cli import main; "
             f"raise SystemExit(main(['download', 'fsdd', {str(tmp_path)!r}]))")
    env = {**os.environ, "EARMARK_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "cannot extract" in done.stderr and "File too large" in done.stderr
    assert _left(tmp_path) == [archive.name, archive.name + ".sha256"]  # no fsdd/, no .fsdd.extracting/
    monkeypatch.setenv("EARMARK_OFFLINE", "1")  # the rerun with room uses the kept archive; nothing is fetched
    dest = download("fsdd", tmp_path)
    assert read_marker(dest)["files"] == 64 and _left(tmp_path) == ["fsdd"]


def test_offline_refuses_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EARMARK_OFFLINE", "1")
    data = pack(LAYOUTS["fsdd"][0](), "zip")
    behaviour: Behaviour
    with serve(data) as (url, behaviour), pytest.raises(EarmarkError, match="EARMARK_OFFLINE=1"):
        download(_entry("fsdd", url, data), tmp_path)
    assert behaviour.ranges == [] and _left(tmp_path) == []


def test_the_command_credits_the_dataset_before_it_starts_and_says_what_is_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EARMARK_OFFLINE", "1")  # the archive is put there by hand: nothing may be fetched
    entry = load_dataset("audio-mnist")
    (tmp_path / entry.filename).write_bytes(pack(LAYOUTS["audio-mnist"][0](), "zip"))
    assert main(["download", "audio-mnist", str(tmp_path), "--no-extract"]) == 0
    out = capsys.readouterr().out
    assert out.index(f"licence:  {entry.licence}") < out.index("cite:") < out.index("verified archive (not extracted)")
    assert _left(tmp_path) == [entry.filename, entry.filename + ".sha256"]
    assert main(["download", "audio-mnist", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'audio-mnist'}: 42 files" in out and "--preset audio-mnist" in out.splitlines()[-1]


def test_a_dead_source_falls_back_to_the_mirror(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/genres.tar.gz"
    data = pack(LAYOUTS["speech-commands"][0](), "tar.gz")
    with serve(data) as (mirror, behaviour):
        entry = dataclasses.replace(_entry("speech-commands", dead, data), mirrors=(mirror,))
        dest = download(entry, tmp_path, timeout_s=5.0)
    assert len(behaviour.ranges) == 1 and (dest / "validation_list.txt").is_file()
    assert len(list((dest / "yes").glob("*_nohash_*.wav"))) == 20  # "./yes/..." members land in DIR/NAME/yes
