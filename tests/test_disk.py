"""A full disk and a read-only one: every writing command stops with one line, and earlier results are intact.

The disk is a real small tmpfs mounted for the test (root only; where mounting is not allowed the tests skip,
or fail when EARMARK_REQUIRE_MOUNT is set, as in CI). "Nearly full" is a filler file leaving a few kB.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_hostile import Outcome, cli, leftovers

SIZE = "16m"


def _mount(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)], capture_output=True)
    return done.returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small, empty, writable filesystem of its own."""
    mount = tmp_path / "disk"
    if os.geteuid() != 0 or not _mount(mount):
        if os.environ.get("EARMARK_REQUIRE_MOUNT"):
            pytest.fail("EARMARK_REQUIRE_MOUNT is set but a tmpfs cannot be mounted here")
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Leave about `leave` bytes free on `disk`."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with (disk / "filler").open("wb") as handle:
        handle.truncate(0)
        block = b"\0" * (1 << 20)
        remaining = max(0, free - leave)
        while remaining > 0:
            written = handle.write(block[: min(len(block), remaining)])
            remaining -= written


def _read_only(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(result: Outcome, *fragments: str) -> None:
    assert not result.crash, result.crash
    assert result.rc == 1 and "Traceback" not in result.err, (result.rc, result.err)
    assert len(result.err_lines()) == 1, result.err
    for fragment in fragments:
        assert fragment.lower() in result.err.lower(), (fragment, result.err)


def test_prepare_on_a_full_disk_stops_cleanly(tone_corpus: Path, disk: Path) -> None:
    _fill(disk, leave=48 * 1024)
    out = disk / "data"
    _refused(cli("prepare", tone_corpus, out, "--group", r"regex:(?P<group>spk\d+)_"), "no space left")
    assert leftovers(disk) == [] and not (out / "manifest.csv").exists() and not (out / "prepare.json").exists()
    (disk / "filler").unlink()  # room again: the same command now finishes
    assert cli("prepare", tone_corpus, out, "--group", r"regex:(?P<group>spk\d+)_").rc == 0
    assert (out / "manifest.csv").is_file() and leftovers(disk) == []


def test_full_disk_keeps_a_finished_run_intact(tone_run: Path, disk: Path) -> None:
    run = disk / "run"
    shutil.copytree(tone_run, run)
    before = _snapshot(run)
    _fill(disk, leave=16 * 1024)
    _refused(cli("evaluate", run), "no space left")
    _refused(cli("export", run, "--out", run / "model.onnx"), "model.onnx")
    _refused(cli("train", run.parent / "no-data", "--out", disk / "run2"), "no-data")  # bad input first
    (disk / "filler").unlink()
    after = _snapshot(run)  # every file that was there is unchanged; only a refused evaluation's folder is new
    assert {k: after.get(k) for k in before} == before
    assert all(k.startswith("evaluations") for k in set(after) - set(before))
    assert leftovers(disk) == []


def test_read_only_output_is_one_line_and_changes_nothing(tone_run: Path, tone_corpus: Path, disk: Path) -> None:
    run = disk / "run"
    shutil.copytree(tone_run, run)
    before = _snapshot(run)
    _read_only(disk)
    _refused(cli("evaluate", run), "read-only")
    _refused(cli("export", run, "--out", run / "model.onnx"), "read-only")
    _refused(cli("prepare", tone_corpus, disk / "data"), "read-only")
    _refused(cli("predict", run, tone_corpus / "low", "--timeline", disk / "timeline.csv"), "read-only")
    assert _snapshot(run) == before
