"""doctor on a hostile folder; near duplicates; prepare killed with SIGKILL resumes to an identical result."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmark.data.doctor import doctor
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.sources import LabelSpec
from tests.conftest import make_tone_corpus, write_tone


def test_doctor_reports_rejects_and_near_duplicates(tmp_path: Path) -> None:
    src = make_tone_corpus(tmp_path / "src", speakers=3, takes=2)
    original, rate = sf.read(str(src / "low" / "spk0_0.wav"), dtype="float32")
    sf.write(str(src / "high" / "copy_louder.wav"), original * 0.5, rate)  # same recording, another class
    sf.write(str(src / "low" / "copy_flac.flac"), original, rate)
    (src / "mid" / "broken.wav").write_bytes(b"RIFF\x00\x00")
    report = doctor(src, tmp_path / "doc", LabelSpec(group=r"regex:(?P<group>spk\d|copy)"), PrepareOptions())
    assert report["n_rejected"] == 1 and "mid/broken.wav" in (tmp_path / "doc" / "rejected.csv").read_text()
    near = report["leakage"]["near_duplicates"]
    assert any({"low/spk0_0.wav", "high/copy_louder.wav", "low/copy_flac.flac"} <= set(s) for s in near), near
    assert report["leakage"]["n_exact_duplicate_sets"] >= 1  # the FLAC copy is bit-identical after decoding
    for name in ("report.md", "report.json", "overview.png"):
        assert (tmp_path / "doc" / name).is_file()
    assert not (tmp_path / "doc" / "manifest.csv").exists()


def test_different_takes_of_a_tone_are_not_near_duplicates(tone_corpus: Path, tmp_path: Path) -> None:
    report = doctor(tone_corpus, tmp_path, LabelSpec(), PrepareOptions(workers=1))
    assert report["leakage"]["n_near_duplicate_sets"] == 0


PREPARE = """
import sys
from pathlib import Path
from earmark.data.prepare import PrepareOptions, prepare
from earmark.data.sources import LabelSpec
prepare(Path(sys.argv[1]), Path(sys.argv[2]), LabelSpec(group=r"regex:(?P<group>spk\\d+)_"),
        PrepareOptions(workers=2, shard_items=40))
"""


def _digest(folder: Path) -> dict[str, str]:
    """Hashes of every output file (paths inside the manifest made relative to the folder)."""
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes().replace(str(folder).encode(), b"<out>")
            result[str(path.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return result


@pytest.mark.parametrize("kill_after_s", [1.5, 3.0])
def test_prepare_killed_then_rerun_is_identical(tmp_path_factory: pytest.TempPathFactory, kill_after_s: float) -> None:
    src = make_tone_corpus(tmp_path_factory.mktemp("big"), speakers=20, takes=5, seed=3)  # 300 files, 8 shards
    reference = tmp_path_factory.mktemp("ref")
    prepare(src, reference, LabelSpec(group=r"regex:(?P<group>spk\d+)_"), PrepareOptions(workers=2, shard_items=40))
    out = tmp_path_factory.mktemp("killed")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", PREPARE, str(src), str(out)], env=env)
    time.sleep(kill_after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.csv").exists() or json.loads((out / "prepare.json").read_text())
    subprocess.run([sys.executable, "-c", PREPARE, str(src), str(out)], env=env, check=True, timeout=300)
    assert _digest(out) == _digest(reference)


def test_rejected_files_never_leave_half_written_cache(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(6):
        write_tone(tmp_path / "src" / ("a" if i % 2 else "b") / f"{i}.wav", 300.0 + 500 * (i % 2), 0.4, 16000, rng)
    prepare(tmp_path / "src", tmp_path / "out", LabelSpec(), PrepareOptions(split="50/0/50", shard_items=2))
    leftovers = [p.name for p in (tmp_path / "out").rglob("*.tmp")]
    assert leftovers == []
