"""The parity check of an export: the same real windows through PyTorch and through the export, logits compared.

The windows come from the run's own validation clips (the prepared dataset named in run.json). When that
cache is gone, from the source files its manifest lists; when those are gone too, from synthetic signals,
and the report says so.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earmark.audio.stream import stream_mono
from earmark.audio.windows import window_starts
from earmark.data.dataset import PreparedData, fit_window
from earmark.data.manifest import ManifestRow, read_manifest
from earmark.errors import EarmarkError, ExportError
from earmark.fileio import read_json_object
from earmark.inference.backends import Backend, ModelInfo
from earmark.inference.predictor import stream_windows

TOLERANCE = 1e-3  # max |Δlogit| allowed between PyTorch and the export
MAX_CLIPS, MAX_WINDOWS = 24, 96
_SPLITS = ("val", "test", "train")


@dataclass(frozen=True)
class ParityWindows:
    """Waveform windows `[N, S]` to check on, where they came from, and why not from the run's data."""

    windows: np.ndarray
    source: str
    fallback: str | None = None


@dataclass(frozen=True)
class ParityReport:
    """How close the export came to PyTorch."""

    n_windows: int
    source: str
    max_abs_diff: float
    top1_same: int
    tolerance: float = TOLERANCE

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance and self.top1_same == self.n_windows

    def line(self) -> str:
        return (f"max |Δlogit| {self.max_abs_diff:.1e} (limit {self.tolerance:.0e}), top-1 identical on "
                f"{self.top1_same}/{self.n_windows} windows of {self.source}")


def check_parity(reference: Backend, candidate: Backend, data: ParityWindows,
                 tolerance: float = TOLERANCE) -> ParityReport:
    """Compare logits window by window; the candidate also sees a batch of one, to prove the batch axis."""
    windows = data.windows
    expected = np.concatenate([reference.logits(windows[i : i + 32]) for i in range(0, len(windows), 32)])
    chunks = [windows[:1], *(windows[i : i + 16] for i in range(1, len(windows), 16))]
    got = np.concatenate([candidate.logits(chunk) for chunk in chunks])
    if got.shape != expected.shape:
        raise ExportError(f"parity check failed: the export gives logits {list(got.shape)}, PyTorch "
                          f"{list(expected.shape)}")
    diff = np.abs(got.astype(np.float64) - expected.astype(np.float64))
    worst = float(diff.max()) if np.isfinite(diff).all() else float("inf")
    same = int((got.argmax(axis=1) == expected.argmax(axis=1)).sum())
    return ParityReport(len(windows), data.source, worst, same, tolerance)


def parity_windows(run: Path, checkpoint: Path, info: ModelInfo) -> ParityWindows:
    """Real windows of the run's validation clips, or the best fallback there is (and why)."""
    data_dir = _run_data_dir(run, checkpoint)
    if data_dir is None:
        return _synthetic(info, "no run.json names the training data")
    try:
        return _from_prepared(PreparedData.open(data_dir), info)
    except EarmarkError as exc:
        reason = f"the prepared data {data_dir} cannot be read ({str(exc)[:120]})"
    try:
        found = _from_sources(read_manifest(data_dir / "manifest.csv"), info)
    except EarmarkError:
        found = None
    if found is not None:
        return ParityWindows(found.windows, found.source, reason)
    return _synthetic(info, f"{reason}, nor the source files of its manifest")


def _run_data_dir(run: Path, checkpoint: Path) -> Path | None:
    """The prepared dataset recorded in the run's run.json (beside checkpoints/ for a checkpoint path)."""
    candidates = [run / "run.json"] if run.is_dir() else []
    candidates += [checkpoint.parent.parent / "run.json", checkpoint.parent / "run.json"]
    for path in candidates:
        data = read_json_object(path).get("data")
        if isinstance(data, str):
            return Path(data)
    return None


def _pick_rows(rows: list[ManifestRow]) -> tuple[list[ManifestRow], str]:
    """Up to MAX_CLIPS rows of the first non-empty split, taken in turn from each label."""
    for split in _SPLITS:
        chosen = [row for row in rows if row.split == split]
        if chosen:
            by_label: dict[str, list[ManifestRow]] = {}
            for row in chosen:
                by_label.setdefault(row.label, []).append(row)
            queues = list(by_label.values())
            picked = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)][:MAX_CLIPS]
            return picked, split
    return [], "no"


def _from_prepared(data: PreparedData, info: ModelInfo) -> ParityWindows:
    rows, split = _pick_rows(data.rows)
    every = (fit_window(data.samples(row, int(s), int(s) + info.window_samples), info.window_samples)
             for row in rows for s in window_starts(row.num_samples, info.window_samples, info.hop_samples))
    windows = list(itertools.islice(every, MAX_WINDOWS))  # cut lazily: long clips have thousands of windows
    if not windows:
        raise EarmarkError("no clips in any split")
    return ParityWindows(np.stack(windows), f"{len(rows)} {split} clips of {data.root}")


def _from_sources(rows: list[ManifestRow], info: ModelInfo) -> ParityWindows | None:
    picked, split = _pick_rows([row for row in rows if Path(row.source).is_file()])
    windows: list[np.ndarray] = []
    for row in picked:
        if len(windows) >= MAX_WINDOWS:  # later files could only add windows that are cut off
            break
        try:
            blocks = stream_mono(Path(row.source), info.sample_rate)
            windows += [w for _, _, w in stream_windows(blocks, info.window_samples, info.hop_samples)]
        except EarmarkError:
            continue
    if not windows:
        return None
    return ParityWindows(np.stack(windows[:MAX_WINDOWS]), f"{len(picked)} {split} source files")


def _synthetic(info: ModelInfo, reason: str) -> ParityWindows:
    """Seeded tones, chirps and noise at the model's rate: not the model's data, but real signal shapes."""
    rng = np.random.default_rng(0)
    t = np.arange(info.window_samples) / info.sample_rate
    nyquist = info.sample_rate / 2
    windows = []
    for i in range(24):
        freq = nyquist * (0.02 + 0.9 * rng.random())
        kind = i % 3
        if kind == 0:
            wave = np.sin(2 * np.pi * freq * t)
        elif kind == 1:
            wave = np.sin(2 * np.pi * freq * t * (0.5 + t / max(t[-1], 1e-9) / 2))
        else:
            wave = rng.standard_normal(t.size)
        windows.append((rng.uniform(0.05, 0.5) * wave + 0.01 * rng.standard_normal(t.size)).astype(np.float32))
    return ParityWindows(np.stack(windows), "24 synthetic signals", reason)
