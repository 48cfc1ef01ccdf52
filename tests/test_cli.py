from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from earmark.cli import main

COMMANDS = ["demo", "synth", "doctor", "prepare", "train", "evaluate", "cv", "predict", "export", "models"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: earmark " + command in capsys.readouterr().out


def test_models_lists_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    assert "cnn" in capsys.readouterr().out


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF")
    cases = [
        ["prepare", str(tmp_path / "missing"), str(tmp_path / "out")],
        ["train", str(tmp_path), "--out", str(tmp_path / "run")],
        ["predict", str(tmp_path / "nothing.ckpt"), str(tmp_path / "bad.wav")],
        ["predict", str(tmp_path / "nothing.onnx"), str(tmp_path / "bad.wav")],
        ["export", str(tmp_path / "nothing")],
        ["prepare", str(tmp_path), str(tmp_path / "o"), "--preset", "nope"],
    ]
    for argv in cases:
        proc = subprocess.run([sys.executable, "-m", "earmark", *argv], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
