"""What runs a model for prediction: a checkpoint in PyTorch, an exported `.onnx` in onnxruntime, or TorchScript.

Each backend maps a batch of waveforms `[B, S]` (float32, mono, at the model's rate) to logits `[B, K]` and
carries the facts needed to feed it (`ModelInfo`), read from the checkpoint or the export's metadata. This
module imports no torch: an `.onnx` is predicted without it (~190 MB less memory, seconds less start-up);
the PyTorch backends live in `torch_backends`.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from earmark import __version__
from earmark.audio.windows import cut_windows
from earmark.errors import EarmarkError

if TYPE_CHECKING:
    from earmark.checkpoint import LoadedModel

TORCHSCRIPT_EXTRA = "earmark.json"  # the ModelInfo inside a TorchScript archive (`_extra_files`)
FIXED_SAMPLES = "fixed_samples"  # in that ModelInfo when the trace takes one window length only (GE2E)
_LISTS = ("labels", "item_shape", "columns")  # ModelInfo fields written to metadata as JSON lists


@dataclass(frozen=True)
class ModelInfo:
    """How to feed a model and read its output; written into every export's metadata."""

    labels: list[str]
    sample_rate: int  # Hz of the waveform input
    window_samples: int  # samples per scored window (short clips are padded to it)
    hop_samples: int  # default hop between windows of a long file
    aggregate: str  # windows → clip decision: mean | vote | max
    model: str  # registered model name
    earmark_version: str = __version__
    temperature: float = 1.0  # the logits are already divided by it (the checkpoint backend and every export do)
    reject_threshold: float | None = None  # a clip or window scoring below it is answered `unknown`
    # Images and feature tables (data/items.py): what an input is, its shape, the resize policy, the columns.
    input_kind: str = "waveform"  # waveform | image | table
    item_shape: tuple[int, ...] = ()  # image (C, H, W) or table (F,); a window is their product of values
    resize: str = ""  # images: the policy of data/images.py that predict applies before the model
    columns: tuple[str, ...] = ()  # table: the feature columns, in the order the model reads them

    @classmethod
    def of_checkpoint(cls, loaded: LoadedModel) -> ModelInfo:
        hop = max(1, round(loaded.config.data.resolved_hop_s * loaded.sample_rate))
        features = loaded.config.features
        item = features.kind in ("image", "table")
        return cls(list(loaded.labels), loaded.sample_rate, loaded.window_samples, hop, loaded.config.data.aggregate,
                   loaded.config.model.name, str(loaded.state.get("earmark_version", __version__)),
                   temperature=loaded.temperature, reject_threshold=loaded.reject_threshold,
                   input_kind=features.kind if item else "waveform", item_shape=tuple(features.shape) if item else (),
                   resize=features.resize if item else "", columns=tuple(features.columns) if item else ())

    def to_metadata(self) -> dict[str, str]:
        """String key/value pairs (ONNX metadata_props); labels, shape and columns as JSON lists; no threshold:
        no key."""
        return {key: json.dumps(list(value)) if key in _LISTS else str(value) for key, value in asdict(self).items()
                if value is not None}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str], source: Path) -> ModelInfo:
        """Read back `to_metadata`; a file without it is not an earmark export."""
        try:  # plain data only: JSON and integers, never evaluated
            labels = json.loads(props["labels"])
            if not isinstance(labels, list) or not labels:
                raise ValueError(f"labels {props['labels'][:40]!r} is not a list of names")
            info = cls([str(label) for label in labels], int(props["sample_rate"]), int(props["window_samples"]),
                       int(props["hop_samples"]), props["aggregate"], props.get("model", "?"),
                       props.get("earmark_version", "?"), temperature=float(props.get("temperature", 1.0)),
                       reject_threshold=float(props["reject_threshold"]) if "reject_threshold" in props else None,
                       input_kind=props.get("input_kind", "waveform"),
                       item_shape=tuple(int(n) for n in json.loads(props.get("item_shape", "[]"))),
                       resize=props.get("resize", ""),
                       columns=tuple(str(c) for c in json.loads(props.get("columns", "[]"))))
            if min(info.sample_rate, info.window_samples, info.hop_samples) <= 0 or not info.temperature > 0:
                raise ValueError("sample_rate, window_samples, hop_samples and temperature must be positive")
            return info
        except (KeyError, ValueError, TypeError) as exc:
            detail = f"no {exc}" if isinstance(exc, KeyError) else str(exc)[:160]
            raise EarmarkError(f"{source}: not an earmark export (metadata: {detail}); "
                               "export it with `earmark export RUN`") from None


class Backend(Protocol):
    """Waveforms `[B, S]` → logits `[B, K]`, with the facts to feed it."""

    info: ModelInfo

    def logits(self, batch: np.ndarray) -> np.ndarray: ...

    def span_logits(self, span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
        """Logits `[n, K]` of the windows `span[o : o + window]` for `o` in `offsets` (sorted, all inside)."""
        ...


class OnnxBackend:
    """An exported `.onnx` graph run by onnxruntime on the CPU."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        ort = import_optional("onnxruntime", "to run .onnx models")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the optimiser's notes are not the user's business
        if threads is not None:
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except _onnxruntime_errors() as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EarmarkError(f"{path}: not a loadable ONNX model ({first[:160]})") from None
        self.info = ModelInfo.from_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        (first_input,) = self.session.get_inputs()
        self.input = first_input.name
        samples_axis = first_input.shape[1] if len(first_input.shape) == 2 else None
        self.fixed_samples = samples_axis if isinstance(samples_axis, int) else None  # None: any length
        self.item_shape = tuple(first_input.shape[1:]) if len(first_input.shape) > 2 else None  # an image [C, H, W]

    def logits(self, batch: np.ndarray) -> np.ndarray:
        check_window_length(self.fixed_samples, batch.shape[1], "ONNX")
        if self.item_shape is not None:  # flat image values [B, C·H·W], as every backend takes them
            batch = batch.reshape(batch.shape[0], *self.item_shape)
        return np.asarray(self.session.run(None, {self.input: np.ascontiguousarray(batch, dtype=np.float32)})[0])

    def span_logits(self, span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
        return self.logits(cut_windows(span, offsets, window))


def open_backend(path: Path, threads: int | None = None) -> Backend:
    """A run directory or checkpoint (PyTorch), an `.onnx` (onnxruntime) or a TorchScript export."""
    if path.suffix.lower() == ".onnx":
        return OnnxBackend(path, threads)
    from earmark.checkpoint import load_checkpoint, resolve_checkpoint
    from earmark.inference.torch_backends import TorchBackend, TorchScriptBackend

    if is_torchscript(path):
        return TorchScriptBackend(path)
    return TorchBackend(load_checkpoint(resolve_checkpoint(path)))


def is_torchscript(path: Path) -> bool:
    """A zip archive holding earmark's TorchScript metadata (checkpoints are zips too, without it)."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith(f"extra/{TORCHSCRIPT_EXTRA}") for name in archive.namelist())


def import_optional(module: str, purpose: str) -> Any:
    """Import an optional dependency of the `export` extra, or say in one line how to install it."""
    try:
        imported: ModuleType = importlib.import_module(module)
    except ImportError:
        raise EarmarkError(f"{module} is not installed; it is needed {purpose}: "
                           "pip install 'earmark[export]'") from None
    return imported


def _onnxruntime_errors() -> tuple[type[BaseException], ...]:
    """onnxruntime's load errors (they derive from Exception directly, not from RuntimeError)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidArgument", "NoSuchFile", "NoModel", "InvalidProtobuf", "InvalidGraph",
             "RuntimeException", "NotImplemented")
    return (OSError, *(getattr(state, name) for name in names if hasattr(state, name)))


def __getattr__(name: str) -> Any:
    """`TorchBackend` and `TorchScriptBackend`, where they used to be, imported (with torch) only when asked for."""
    if name in ("TorchBackend", "TorchScriptBackend"):
        from earmark.inference import torch_backends

        return getattr(torch_backends, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_window_length(fixed: int | None, got: int, what: str) -> None:
    """An export traced for one window length refuses another (`--window`) in one line instead of failing inside."""
    if fixed is not None and got != fixed:
        raise EarmarkError(f"this {what} export takes windows of exactly {fixed} samples (got {got}); leave "
                           "--window at the model's")
