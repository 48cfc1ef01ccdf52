"""Ports export waveform → embedding to one ONNX file (front-end inside) and onnxruntime agrees with PyTorch."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.models.pretrained import efficientat, panns
from earmark.models.pretrained.base import Backbone


@pytest.mark.slow  # the dynamo exporter takes 15-30 s per model on a busy 2-core machine
@pytest.mark.parametrize("build, name", [(efficientat.build, "efficientat-mn04"), (panns.build, "panns-cnn6")])
def test_a_port_exports_with_dynamic_batch_and_length(build: Callable[[str], Backbone], name: str,
                                                     tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build(name)
    rate = model.sample_rate
    dims = {"waveform": {0: torch.export.Dim("batch", min=1, max=64),
                         1: torch.export.Dim("samples", min=rate // 2, max=rate * 60)}}  # Cnn14 needs >= 0.15 s
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, rate) * 0.1,), path, dynamo=True, external_data=False,
                          input_names=["waveform"], output_names=["embedding"], dynamic_shapes=dims)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # one file, weights inside
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    for shape in [(2, rate), (1, int(rate * 2.5)), (3, rate // 2)]:
        wave = 0.1 * torch.randn(*shape, generator=gen)
        with torch.no_grad():
            expected = model(wave).numpy()
        got = session.run(None, {"waveform": wave.numpy()})[0]
        assert got.shape == (shape[0], model.embedding_dim)
        assert np.abs(got - expected).max() <= 2e-4 * np.abs(expected).max()  # measured 3.5e-5 (mn04), 4e-7 (Cnn6)
