"""The models a server offers: each a Predictor (the one `earmark predict` uses) and, for a run folder, its
RunView; and what classifying one uploaded file costs and returns."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from earmark.audio.stream import stream_mono
from earmark.errors import EarmarkError
from earmark.inference import Predictor
from earmark.serve.runview import RunView
from earmark.serve.spectrogram import SpectrogramSketch


@dataclass(frozen=True)
class Limits:
    """What one upload may be: bytes received and seconds of audio decoded."""

    max_upload_bytes: int = 200 * 2**20
    max_duration_s: float = 3600.0


class TooLong(EarmarkError):
    """Audio past the duration limit (or a body past the size limit): refused, nothing kept."""


@dataclass
class ServedModel:
    """One model on offer: how the page names it, its Predictor, and its run folder when it has one."""

    id: int
    name: str
    path: Path
    kind: str  # run | checkpoint | onnx | torchscript
    predictor: Predictor
    run: RunView | None
    lock: threading.Lock = field(default_factory=threading.Lock)  # one prediction at a time per model

    def describe(self) -> dict[str, Any]:
        predictor = self.predictor
        rate = predictor.sample_rate
        return {"id": self.id, "name": self.name, "kind": self.kind, "labels": predictor.labels, "sample_rate": rate,
                "window_s": predictor.window / rate, "hop_s": predictor.hop / rate, "model": predictor.info.model,
                "has_run": self.run is not None}


def load_models(paths: Sequence[Path], threads: int | None = None) -> list[ServedModel]:
    """Open every model given (a run folder, a checkpoint, an .onnx or TorchScript export), named uniquely."""
    served: list[ServedModel] = []
    seen: set[str] = set()
    for index, path in enumerate(paths):
        predictor = Predictor.from_path(path, threads)
        run = RunView(path) if RunView.is_run(path) else None
        name = path.resolve().name if path.is_dir() else path.name
        base, number = name, 1
        while name in seen:
            number += 1
            name = f"{base} ({number})"
        seen.add(name)
        served.append(ServedModel(index, name, path, _kind(path, run), predictor, run))
    return served


def _kind(path: Path, run: RunView | None) -> str:
    if run is not None or path.is_dir():
        return "run"
    suffix = path.suffix.lower()
    return "onnx" if suffix == ".onnx" else "checkpoint" if suffix == ".ckpt" else "torchscript"


def display_name(name: str) -> str:
    """The file name the browser sent, for messages only: its last part, printable, at most 100 characters."""
    last = re.split(r"[\\/]", name)[-1]
    clean = "".join(ch for ch in last if ch.isprintable())[:100].strip()
    return clean or "upload"


def upload_suffix(name: str) -> str:
    """A safe extension for the temporary copy (decoders sniff the content; the WAV fast path wants .wav)."""
    match = re.search(r"\.([A-Za-z0-9]{1,10})$", display_name(name))
    return f".{match.group(1).lower()}" if match else ""


def classify_file(model: ServedModel, path: Path, name: str, limits: Limits) -> dict[str, Any]:
    """Classify the uploaded copy at `path` as `earmark predict` would, plus its duration and spectrogram."""
    start = time.perf_counter()
    predictor = model.predictor
    sketch = SpectrogramSketch(predictor.sample_rate)
    counter = _Counter()
    blocks = stream_mono(path, predictor.sample_rate, predictor.block_frames)
    limited = _within(blocks, round(limits.max_duration_s * predictor.sample_rate), name, limits, sketch, counter)
    try:
        with model.lock:
            prediction = predictor.predict_blocks(limited, name)
    except TooLong:
        raise
    except EarmarkError as exc:
        raise EarmarkError(f"{name}: {exc}") from None
    png = base64.b64encode(sketch.png()).decode("ascii")
    return {**prediction.to_dict(), "duration_s": round(counter.samples / predictor.sample_rate, 3),
            "spectrogram": f"data:image/png;base64,{png}", "seconds_per_column": sketch.seconds_per_column,
            "server_s": round(time.perf_counter() - start, 4)}


@dataclass
class _Counter:
    samples: int = 0


def _within(blocks: Iterable[np.ndarray], max_samples: int, name: str, limits: Limits, sketch: SpectrogramSketch,
            counter: _Counter) -> Iterator[np.ndarray]:
    """The blocks, drawn into `sketch` and counted, refused as soon as they pass the duration limit."""
    for block in blocks:
        counter.samples += block.size
        if counter.samples > max_samples:
            raise TooLong(f"{name}: longer than the {limits.max_duration_s:g} s of audio this server accepts "
                          "(earmark serve --max-duration S); use `earmark predict` for it")
        sketch.push(block)
        yield block
