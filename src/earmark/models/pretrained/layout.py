"""Facts that tie a port to its official weights without the weights: layout fingerprints and file hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch


def layout_fingerprint(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 of `key<TAB>shape<TAB>dtype` lines over the sorted keys (shared/PRETRAINED.md's definition)."""
    lines = [f"{key}\t{','.join(map(str, state[key].shape))}\t{str(state[key].dtype).removeprefix('torch.')}"
             for key in sorted(state)]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (weights files run to hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
