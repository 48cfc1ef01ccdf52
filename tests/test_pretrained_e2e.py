"""The native ports (PANNs, EfficientAT) as ordinary earmark models: probe → predict → export with parity.

Their weights here are random values in the official file format (no hub is reachable from a test): what is
checked is the plumbing (resampling 16 → 32 kHz inside the model, the embedding cache, the checkpoint, the ONNX
export and its parity), never an accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from earmark.cli import main
from earmark.config import load_train_config
from earmark.models.pretrained import backbone_spec
from earmark.training.loop import train
from tests.conftest import private_copy

PROBE = ["trainer.epochs=3", "trainer.batch_size=16", "data.window_s=1.0", "data.eval_hop_s=1.0",
         "trainer.device=cpu", "trainer.threads=1", "model.name=efficientat-mn04"]


@pytest.fixture(scope="module")
def mn04_run(tone_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A probe over efficientat-mn04 with random weights saved as EfficientAT publishes them (a state dict)."""
    root = tmp_path_factory.mktemp("mn04")
    spec = backbone_spec("efficientat-mn04")
    assert spec is not None
    torch.manual_seed(3)
    weights = root / "mn04_as_mAP_432.pt"
    torch.save(spec.build().state_dict(), weights)
    data = root / "data"
    private_copy(tone_prepared, data)
    lines: list[str] = []
    train(data, root / "run", load_train_config(overrides=[*PROBE, f"model.weights={weights}"]), log=lines.append)
    return root / "run", lines


def test_a_port_trains_as_a_probe_with_explicit_resampling(mn04_run: tuple[Path, list[str]]) -> None:
    run, lines = mn04_run
    assert any("16000 Hz → 32000 Hz" in line or "16000 → 32000" in line for line in lines), lines
    record = json.loads((run / "run.json").read_text())["backbone"]
    assert record["name"] == "efficientat-mn04" and len(record["weights_sha256"]) == 64
    assert json.loads((run / "metrics.json").read_text())["model"] == "efficientat-mn04"


def test_a_port_predicts_and_exports_with_parity(mn04_run: tuple[Path, list[str]], tone_corpus: Path,
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = mn04_run
    clip = sorted((tone_corpus / "high").glob("*.wav"))[0]
    assert main(["predict", str(run), str(clip), "--format", "json"]) == 0
    from_checkpoint = json.loads(capsys.readouterr().out)[0]
    assert main(["export", str(run), "--out", str(tmp_path / "mn04.onnx")]) == 0
    assert "parity with PyTorch" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "mn04.onnx"), str(clip), "--format", "json"]) == 0
    from_onnx = json.loads(capsys.readouterr().out)[0]
    assert from_onnx["label"] == from_checkpoint["label"]
    assert from_onnx["score"] == pytest.approx(from_checkpoint["score"], abs=1e-3)
