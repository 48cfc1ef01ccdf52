"""The ONNX export of an image or feature-table model: the decoded, resized item in, logits out.

Decoding and resizing an image of any size inside an ONNX graph would tie the graph to one resize kernel
that onnxruntime and Pillow do not share; instead the graph takes the fixed-size image `[batch, C, H, W]`
(float32 pixels in [0, 1], after data/images.py's decode and resize, which `earmark predict` applies
identically for PyTorch and ONNX) or the feature row `[batch, F]`, and holds the standardisation (training
statistics) and the network. The item's shape, resize policy and columns travel in the metadata.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from earmark.errors import ExportError
from earmark.inference.backends import ModelInfo, import_optional
from earmark.item_classifier import ItemClassifier

OUTPUT = "logits"


class ItemGraph(nn.Module):
    """`[B, C, H, W]` images (or `[B, F]` rows) → logits `[B, K]`: the eval path of an ItemClassifier, its logits
    divided by the temperature fitted on validation (as the checkpoint backend divides them)."""

    def __init__(self, model: ItemClassifier, temperature: float = 1.0) -> None:
        super().__init__()
        self.model, self.temperature = model, float(temperature)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        logits = self.model(items.reshape(items.shape[0], -1))
        return logits if self.temperature == 1.0 else logits / self.temperature


def write_item_onnx(model: ItemClassifier, path: Path, info: ModelInfo, example: torch.Tensor) -> bool:
    """torch.onnx (dynamo) of `ItemGraph` with a dynamic batch axis; returns False (the item size is fixed)."""
    import_optional("onnxscript", "to export ONNX (torch.onnx's exporter)")
    import_optional("onnx", "to export ONNX")
    from earmark.export.exporter import _quiet

    name = "image" if info.input_kind == "image" else "features"
    shaped = example.reshape(example.shape[0], *info.item_shape)
    try:
        with _quiet():
            graph = ItemGraph(model.eval(), info.temperature).eval()
            program = torch.onnx.export(graph, (shaped,), dynamo=True, input_names=[name], output_names=[OUTPUT],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    except Exception as exc:  # the exporter's errors have no common base; the reason goes to the user
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"torch.onnx cannot export model {info.model!r}: {first[:200]}") from None
    assert program is not None
    program.model.metadata_props.update(info.to_metadata())
    layout = "x".join(map(str, info.item_shape))
    program.model.doc_string = (f"earmark {info.model}: {name} float32 [batch, {layout}]"
                                + (f" (pixels in [0, 1], resized by policy {info.resize})" if name == "image" else "")
                                + f" → {OUTPUT} [batch, {len(info.labels)}]")
    program.save(str(path), external_data=False)
    return False
