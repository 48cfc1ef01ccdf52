"""`earmark export`: waveform `[batch, samples]` → logits as ONNX (or TorchScript), front-end included.

The ONNX graph is the eval path of AudioClassifier (STFT as matrix products, see `graph.py`; mel, dB,
normaliser, network; no augmentation). It is written to a temporary file beside the target, checked
against PyTorch on real clips, and only then renamed into place: a failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from earmark.checkpoint import Classifier, load_checkpoint, resolve_checkpoint
from earmark.classifier import AudioClassifier
from earmark.errors import EarmarkError, ExportError
from earmark.export.graph import ExportGraph
from earmark.export.items import write_item_onnx
from earmark.export.parity import ParityReport, check_parity, parity_windows
from earmark.fileio import FILE_MODE, cannot_write, make_dir, remove_stale_temporaries
from earmark.inference.backends import (
    FIXED_SAMPLES,
    TORCHSCRIPT_EXTRA,
    Backend,
    ModelInfo,
    OnnxBackend,
    TorchBackend,
    TorchScriptBackend,
    import_optional,
)
from earmark.item_classifier import ItemClassifier

FORMATS = ("onnx", "torchscript")
_DEFAULT_NAMES = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
INPUT, OUTPUT = "waveform", "logits"
MIN_BACKBONE_SAMPLES = 1024  # the shortest window a dynamic-length backbone export is traced for


@dataclass(frozen=True)
class ExportReport:
    """What was written and how it compared with PyTorch."""

    path: Path
    format: str
    info: ModelInfo
    dynamic_samples: bool  # False: the graph takes exactly info.window_samples samples per window
    parity: ParityReport
    fallback: str | None  # why the parity check did not use the run's validation clips
    seconds: float


def export_run(run: Path, fmt: str = "onnx", out: Path | None = None) -> ExportReport:
    """Export a run directory's best checkpoint (or a checkpoint file); raises ExportError on a parity failure."""
    if fmt not in FORMATS:
        raise EarmarkError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    begin = time.perf_counter()
    checkpoint = resolve_checkpoint(run)
    reference = TorchBackend(load_checkpoint(checkpoint))
    target = _target_path(run, checkpoint, fmt, out)
    data = parity_windows(run, checkpoint, reference.info)
    example = torch.from_numpy(data.windows[:2] if len(data.windows) > 1 else data.windows.repeat(2, axis=0))
    make_dir(target.parent)
    remove_stale_temporaries(target.parent, pattern=f".{glob.escape(target.name)}.*.tmp")  # a killed export's
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    os.close(handle)
    tmp = Path(name)
    try:
        dynamic = _WRITERS[fmt](reference.loaded.model, tmp, reference.info, example)
        candidate: Backend = OnnxBackend(tmp) if fmt == "onnx" else TorchScriptBackend(tmp)
        parity = check_parity(reference, candidate, data)
        if not parity.ok:
            raise ExportError(f"parity check failed: {parity.line()}; {target} not written")
        os.chmod(tmp, FILE_MODE)  # mkstemp made it private; an export is meant to be shared
        os.replace(tmp, target)
    except OSError as exc:  # a full or read-only disk: the earlier export, if any, is left as it was
        raise cannot_write(target, exc) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return ExportReport(target, fmt, reference.info, dynamic, parity, data.fallback, time.perf_counter() - begin)


def _target_path(run: Path, checkpoint: Path, fmt: str, out: Path | None) -> Path:
    """--out, or `RUN/model.onnx` (`model.torchscript.pt`), or beside a checkpoint file given directly."""
    if out is None:
        out = run / f"model{_DEFAULT_NAMES[fmt]}" if run.is_dir() else checkpoint.with_name(
            checkpoint.stem + _DEFAULT_NAMES[fmt])
    if fmt == "onnx" and out.suffix.lower() != ".onnx":
        raise EarmarkError(f"--out {out}: an ONNX export must end in .onnx (predict recognises it by that)")
    if out.resolve() == checkpoint.resolve():
        raise EarmarkError(f"--out {out}: that is the checkpoint being exported")
    return out


def write_onnx(model: Classifier, path: Path, info: ModelInfo, example: torch.Tensor) -> bool:
    """torch.onnx (dynamo) of `ExportGraph` (the STFT as matrix products, which onnxruntime runs fast), or of a
    BackboneClassifier as it is, with dynamic batch and length axes, or dynamic batch only where the network
    fixes the length (LSTM layers); the ModelInfo goes into metadata_props; the weights are inside the one
    file. Returns whether length is dynamic."""
    if isinstance(model, ItemClassifier):  # images, tables: the decoded item in (export/items.py)
        return write_item_onnx(model, path, info, example)
    import_optional("onnxscript", "to export ONNX (torch.onnx's exporter)")
    import_optional("onnx", "to export ONNX")
    graph = with_temperature(ExportGraph(model.eval()) if isinstance(model, AudioClassifier) else model,
                             info.temperature).eval()
    batch = torch.export.Dim("batch")
    shortest = model.frontend.n_fft if isinstance(model, AudioClassifier) else MIN_BACKBONE_SAMPLES
    samples = torch.export.Dim("samples", min=shortest)
    failure = ""
    lengths = (True, False) if isinstance(model, AudioClassifier) or model.backbone.dynamic_length else (False,)
    for dynamic_samples in lengths:
        axes = {0: batch, 1: samples} if dynamic_samples else {0: batch}
        try:
            with _quiet():
                program = torch.onnx.export(graph, (example,), dynamo=True,
                                            input_names=[INPUT], output_names=[OUTPUT], dynamic_shapes=(axes,),
                                            verbose=False)
        except Exception as exc:  # the exporter's errors have no common base; the reason goes to the user
            failure = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            continue
        assert program is not None
        program.model.metadata_props.update(info.to_metadata())  # set on the IR model: the file is written once
        program.model.doc_string = (f"earmark {info.model}: {INPUT} float32 [batch, samples], mono at "
                                    f"{info.sample_rate} Hz → {OUTPUT} [batch, {len(info.labels)}]")
        program.save(str(path), external_data=False)  # one file (a backbone's weights too; < 2 GB)
        return dynamic_samples
    raise ExportError(f"torch.onnx cannot export model {info.model!r}: {failure[:200]}")


def write_torchscript(model: Classifier, path: Path, info: ModelInfo, example: torch.Tensor) -> bool:
    """torch.jit.trace of the eval path; the ModelInfo rides along as an extra file in the archive."""
    try:
        with torch.no_grad(), _quiet():
            traced = torch.jit.trace(with_temperature(model, info.temperature).eval(), (example,), check_trace=False)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ExportError(f"torch.jit.trace cannot trace model {info.model!r}: {str(exc).splitlines()[0][:200]}"
                          ) from None
    # an image's or table row's item has one size; a trace fixes GE2E's partials
    dynamic = not isinstance(model, ItemClassifier) and (isinstance(model, AudioClassifier)
                                                         or model.backbone.dynamic_length)
    metadata = info.to_metadata() | ({} if dynamic else {FIXED_SAMPLES: str(example.shape[1])})
    torch.jit.save(traced, str(path), _extra_files={TORCHSCRIPT_EXTRA: json.dumps(metadata)})
    return dynamic


class Tempered(nn.Module):
    """A model whose logits are divided by the temperature fitted on validation, inside the exported graph."""

    def __init__(self, model: nn.Module, temperature: float) -> None:
        super().__init__()
        self.model, self.temperature = model, float(temperature)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.model(waveform) / self.temperature


def with_temperature(model: nn.Module, temperature: float) -> nn.Module:
    """`model`, or `Tempered(model)` when it was calibrated (a temperature of 1 adds no node)."""
    return model if temperature == 1.0 else Tempered(model, temperature)


_WRITERS: dict[str, Callable[[Classifier, Path, ModelInfo, torch.Tensor], bool]] = {
    "onnx": write_onnx, "torchscript": write_torchscript}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters' progress notes, registry warnings and deprecation notices are not the user's business."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
