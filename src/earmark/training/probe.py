"""The probe: a frozen pretrained backbone's cached window embeddings train its head through the usual loop.

Each epoch sees one window embedding per training clip, drawn at random among the clip's evaluation windows
(the cached counterpart of TrainWindows' random window); validation and test use every window, aggregated
per clip as for any model.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from earmark.data.embeddings import WindowEmbeddings
from earmark.data.manifest import ManifestRow


class CachedWindows(Dataset[tuple[torch.Tensor, int]]):
    """One random cached window embedding per clip per epoch, with the clip's label index."""

    def __init__(self, embeddings: WindowEmbeddings, rows: list[ManifestRow], labels: list[str]) -> None:
        self.vectors = torch.from_numpy(np.ascontiguousarray(embeddings.vectors))
        counts = np.bincount(embeddings.clip, minlength=len(rows))
        self.first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)  # windows of a clip are contiguous
        index = {label: i for i, label in enumerate(labels)}
        self.targets = [index[row.label] for row in rows]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        begin, end = int(self.first[i]), int(self.first[i + 1])
        pick = begin + int(torch.randint(0, end - begin, ()).item())  # torch RNG: seeded per run
        return self.vectors[pick], self.targets[i]
