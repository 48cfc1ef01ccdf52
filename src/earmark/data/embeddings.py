"""The probe's embedding cache: a frozen backbone's embedding of every evaluation window, computed once.

Stored next to the prepared dataset's audio cache, in `DATA/embeddings/<key>/`, where the key names the
backbone, its weights' sha256, its front-end, the resampling and the window/hop. Every clip of the dataset
(all splits) is embedded on the first run; a later run with another head, seed or split of the same data
only reads the files. The folder is written under a temporary name and renamed into place (atomic).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from earmark.data.dataset import EvalWindows, PreparedData
from earmark.data.manifest import ManifestRow
from earmark.progress import Progress

FOLDER = "embeddings"
Embed = Callable[[torch.Tensor], torch.Tensor]  # waveforms [B, S] at the dataset's rate → embeddings [B, D]


@dataclass(frozen=True)
class WindowEmbeddings:
    """Embeddings of the evaluation windows of some clips, in `window_starts` order, tagged with their clip."""

    vectors: np.ndarray  # [W, D] float32
    clip: np.ndarray  # [W] index into the rows asked for


@dataclass(frozen=True)
class _Store:
    """The cached embeddings of every clip of a dataset."""

    vectors: np.ndarray  # [W, D]
    first: np.ndarray  # [R + 1]: windows of stored clip r are vectors[first[r] : first[r + 1]]
    index: dict[tuple[int, int, int], int]  # (shard, offset, samples) of a clip → r


def _identity(row: ManifestRow) -> tuple[int, int, int]:
    """Where a clip's audio is in the cache: what its embeddings belong to, whatever its split or label."""
    return (row.shard, row.offset, row.num_samples)


def window_embeddings(data: PreparedData, rows: list[ManifestRow], embed: Embed, key: str, window: int, hop: int,
                      batch_size: int, log: Callable[[str], None] = print) -> WindowEmbeddings:
    """Embeddings of every evaluation window of `rows`, from the cache (computed for the whole dataset if need be)."""
    store = _open(data, key, window, hop, embed, batch_size, log)
    vectors, clips = [], []
    for c, row in enumerate(rows):
        r = store.index[_identity(row)]
        part = store.vectors[store.first[r] : store.first[r + 1]]
        vectors.append(part)
        clips.append(np.full(len(part), c, dtype=np.int64))
    dim = store.vectors.shape[1]
    return WindowEmbeddings(np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
                            np.concatenate(clips) if clips else np.zeros(0, np.int64))


def cache_dir(data: PreparedData, key: str) -> Path:
    return data.root / FOLDER / key


def _manifest_sha(data: PreparedData) -> str:
    return hashlib.sha256((data.root / "manifest.csv").read_bytes()).hexdigest()


def _open(data: PreparedData, key: str, window: int, hop: int, embed: Embed, batch_size: int,
          log: Callable[[str], None]) -> _Store:
    folder, manifest = cache_dir(data, key), _manifest_sha(data)
    store = _read(folder, manifest)
    if store is not None:
        log(f"embeddings: cached ({len(store.vectors)} windows of {len(store.first) - 1} clips, {folder})")
        return store
    begin = time.perf_counter()
    vectors, first = _compute(data, embed, window, hop, batch_size)
    seconds = time.perf_counter() - begin
    where = _write(folder, vectors, first, data.rows, {"manifest_sha256": manifest, "window": window, "hop": hop})
    log(f"embeddings: computed {len(vectors)} windows of {len(data.rows)} clips in {seconds:.1f} s "
        f"({len(data.rows) / max(seconds, 1e-9):.1f} clips/s) → {where}")
    index = {_identity(row): r for r, row in enumerate(data.rows)}
    return _Store(vectors, first, index)


def _compute(data: PreparedData, embed: Embed, window: int, hop: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Embed every window of every clip of the dataset, in manifest order."""
    windows = EvalWindows(data, data.rows, window, hop, data.labels)
    loader = DataLoader(windows, batch_size=batch_size, shuffle=False)
    progress = Progress("embeddings", len(loader))
    parts, clips = [], []
    with torch.inference_mode():
        for wave, _, clip in loader:
            parts.append(embed(wave).float().cpu().numpy())
            clips.append(clip.numpy())
            progress.update(1)
    progress.close()
    counts = np.bincount(np.concatenate(clips), minlength=len(data.rows)) if clips else np.zeros(0, np.int64)
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.concatenate(parts).astype(np.float32), first


def _read(folder: Path, manifest: str) -> _Store | None:
    """The store in `folder` if it is complete and made from this manifest, else None (recomputed)."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta.get("manifest_sha256") != manifest:
            return None
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        first, identity = np.load(folder / "first.npy"), np.load(folder / "clips.npy")
    except (OSError, ValueError):
        return None
    index = {(int(a), int(b), int(c)): r for r, (a, b, c) in enumerate(identity.tolist())}
    return _Store(vectors, first, index) if len(first) == len(identity) + 1 else None


def _write(folder: Path, vectors: np.ndarray, first: np.ndarray, rows: list[ManifestRow], meta: dict) -> str:
    """Publish the store atomically (a temporary folder renamed into place); on a read-only dataset, say so."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as exc:
        return f"not cached ({folder.parent}: {exc.strerror})"
    try:
        np.save(tmp / "vectors.npy", vectors)
        np.save(tmp / "first.npy", first)
        np.save(tmp / "clips.npy", np.array([_identity(row) for row in rows], dtype=np.int64).reshape(-1, 3))
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if folder.exists():  # another run wrote it meanwhile (or a stale one): the new one replaces it
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        return str(folder)
    except OSError as exc:
        return f"not cached ({folder}: {exc.strerror})"
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp)
