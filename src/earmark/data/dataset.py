"""The only way training and evaluation read audio: fixed-length windows cut from the memory-mapped cache."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from earmark.audio.windows import fit_window, loud_starts, window_starts
from earmark.data.cache import open_shards
from earmark.data.manifest import ManifestRow, read_manifest
from earmark.errors import DataError

__all__ = ["EvalWindows", "PreparedData", "TrainWindows", "fit_window"]


@dataclass
class PreparedData:
    """A prepared dataset directory: manifest rows, ordered labels, the int16 cache shards and their rate."""

    root: Path
    rows: list[ManifestRow]
    labels: list[str]
    sample_rate: int
    shards: list[np.ndarray]  # memory-mapped int16 (audio) or float32 (images, tables), one per cache shard
    kind: str = "audio"  # audio | image | table (data/items.py): an image or a table row is one "clip" of
    item: dict[str, Any] = field(default_factory=dict)  # `sample_rate` values, its shape, resize policy, columns

    @classmethod
    def open(cls, root: Path) -> PreparedData:
        """Open a directory written by `earmark prepare`."""
        rows = read_manifest(root / "manifest.csv")
        try:
            labels = list(json.loads((root / "labels.json").read_text(encoding="utf-8")))
            sample_rate = int(json.loads((root / "report.json").read_text(encoding="utf-8"))["sample_rate"])
            state = json.loads((root / "prepare.json").read_text(encoding="utf-8"))
            item = dict(state.get("item") or {})
            shards = open_shards(root / "cache", int(state["shards"]), "float32" if item else "int16")
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{root}: incomplete prepared dataset ({exc}); run `earmark prepare` again") from None
        for row in rows:
            if row.shard >= len(shards) or row.offset + row.num_samples > shards[row.shard].size:
                raise DataError(f"{root}: audio cache does not match the manifest; run `earmark prepare` again")
        return cls(root, rows, labels, sample_rate, shards, str(item.get("kind", "audio")), item)

    def split_rows(self, split: str) -> list[ManifestRow]:
        """Rows of one split (`train`, `val`, `test`)."""
        return [row for row in self.rows if row.split == split]

    def samples(self, row: ManifestRow, start: int = 0, stop: int | None = None) -> np.ndarray:
        """float32 samples `[start, stop)` of one clip in [-1, 1] (the whole clip by default)."""
        stop = row.num_samples if stop is None else min(stop, row.num_samples)
        begin = row.offset + start
        raw = self.shards[row.shard][begin : row.offset + stop]
        return raw.astype(np.float32) / 32768.0 if raw.dtype == np.int16 else np.array(raw, dtype=np.float32)


class TrainWindows(Dataset[tuple[torch.Tensor, int]]):
    """One random window per clip per epoch; short clips are placed at a random offset (the time shift).
    With `shift` False, the first window of a long clip and a short clip centred (no time shift).

    With `loud_db` set, the random window of a long clip is drawn among those within `loud_db` dB of its loudest
    window (`loud_starts`, every 10 ms, computed once per clip): a 2-s crop of a 5-s recording that holds one
    bark and silence is the bark, not a silence labelled "dog".
    """

    def __init__(self, data: PreparedData, rows: list[ManifestRow], window_samples: int, shift: bool = True,
                 loud_db: float | None = None) -> None:
        self.data, self.rows, self.window, self.shift, self.loud_db = data, rows, window_samples, shift, loud_db
        self.label_index = {label: i for i, label in enumerate(data.labels)}
        self.step = max(1, data.sample_rate // 100)
        self._starts: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        row = self.rows[index]
        slack = abs(row.num_samples - self.window)
        if not self.shift:
            shift = 0 if row.num_samples >= self.window else slack // 2
        elif self.loud_db is not None and row.num_samples > self.window:
            starts = self._starts.get(index)
            if starts is None:
                every = window_starts(row.num_samples, self.window, self.step)
                starts = self._starts[index] = loud_starts(self.data.samples(row), every, self.window, self.loud_db)
            pick = int(torch.randint(0, starts.size, ()).item())  # torch RNG: seeded per run and per worker
            jitter = int(torch.randint(0, self.step, ()).item())
            shift = min(int(starts[pick]) + jitter, slack)
        else:
            shift = int(torch.randint(0, slack + 1, ()).item())
        if row.num_samples >= self.window:
            clip = self.data.samples(row, shift, shift + self.window)
        else:
            clip = fit_window(self.data.samples(row), self.window, shift)
        return torch.from_numpy(clip), self.label_index[row.label]


class EvalWindows(Dataset[tuple[torch.Tensor, int, int]]):
    """Every window of every clip (hop `hop_samples`), tagged with its clip index for aggregation."""

    def __init__(self, data: PreparedData, rows: list[ManifestRow], window_samples: int, hop_samples: int,
                 labels: list[str]) -> None:
        self.data, self.rows, self.window = data, rows, window_samples
        self.label_index = {label: i for i, label in enumerate(labels)}  # the model's labels
        index = [(c, int(s)) for c, row in enumerate(rows)
                 for s in window_starts(row.num_samples, window_samples, hop_samples)]
        self.index = index

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
        clip, start = self.index[i]
        row = self.rows[clip]
        window = fit_window(self.data.samples(row, start, start + self.window), self.window)
        return torch.from_numpy(window), self.label_index.get(row.label, -1), clip
