"""Files are data: a checkpoint that would run code on unpickling, and ONNX metadata, are never executed."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from earmark.checkpoint import load_checkpoint
from earmark.errors import EarmarkError
from earmark.inference import Predictor
from tests.test_hostile import cli, expect_refusal


class _Touch:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_that_runs_code_is_refused_and_never_runs(tone_run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    state = torch.load(tone_run / "checkpoints" / "best.ckpt", weights_only=True)
    evil = {"plain pickle": lambda p: p.write_bytes(pickle.dumps({"format": _Touch(marker)}, protocol=2)),
            "inside a real checkpoint": lambda p: torch.save({**state, "history": [_Touch(marker)]}, p)}
    for kind, write in evil.items():
        path = tmp_path / f"{kind.replace(' ', '_')}.ckpt"
        write(path)
        with pytest.raises(EarmarkError, match="refused: not only tensors and plain data") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        expect_refusal("predict", cli("predict", path, tone_run), str(path), "refused", kind=kind)
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(_Touch(marker))) == 0 and marker.exists()  # the payload is real


def _earmark_onnx(path: Path, props: dict[str, str], outputs: int = 2) -> Path:
    """A tiny graph (waveform → `outputs` scores) carrying the given metadata."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [outputs])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("Slice", ["waveform", "starts", "ends", "axes"], ["logits"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, ["b", "s"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", outputs])],
                              initializer=[starts, ends, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


GOOD = {"labels": '["a", "b"]', "sample_rate": "16000", "window_samples": "8000", "hop_samples": "4000",
        "aggregate": "mean", "model": "cnn"}


@pytest.mark.parametrize(("change", "reason"), [
    ({"labels": "__import__('os').system('touch {marker}')"}, "metadata"),
    ({"labels": '"ab"'}, "not a list"),
    ({"labels": "[]"}, "not a list"),
    ({"sample_rate": "16000; import os"}, "metadata"),
    ({"window_samples": "-8000"}, "must be positive"),
    ({"aggregate": "eval"}, "aggregate"),
])
def test_malformed_onnx_metadata_is_refused_as_data(change: dict[str, str], reason: str, tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    props = {**GOOD, **{key: value.format(marker=marker) for key, value in change.items()}}
    path = _earmark_onnx(tmp_path / "model.onnx", props)
    with pytest.raises(EarmarkError, match=reason):
        Predictor.from_path(path)
    assert not marker.exists()


def test_metadata_that_does_not_match_the_graph_is_refused(tmp_path: Path) -> None:
    path = _earmark_onnx(tmp_path / "model.onnx", GOOD, outputs=4)  # 4 scores, 2 labels
    clip = tmp_path / "clip.wav"
    import numpy as np
    import soundfile as sf

    sf.write(str(clip), (0.3 * np.sin(np.arange(16000) / 5.0)).astype(np.float32), 16000)
    assert Predictor.from_path(_earmark_onnx(tmp_path / "fine.onnx", GOOD)).predict(clip).label in ("a", "b")
    expect_refusal("predict", cli("predict", path, clip), str(clip), "4", "2 labels", kind="ONNX labels ≠ outputs")
