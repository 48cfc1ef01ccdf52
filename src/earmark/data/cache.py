"""The audio cache: kept clips as int16 at the dataset rate, in shards written atomically, so an
interrupted `prepare` (even kill -9) resumes from the last finished shard and never reads a half file."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from earmark.data.decoding import Decoded, decode_many, worker_pool
from earmark.data.sources import Item, Skipped
from earmark.fileio import cannot_write, write_json_atomic
from earmark.progress import Progress


@dataclass(frozen=True)
class CachedClip:
    """Where a kept item's samples are and what was learnt decoding it."""

    index: int  # position in the scanned item list
    shard: int
    offset: int
    num_samples: int
    source_sample_rate: int
    source_channels: int
    sha1: str
    fingerprint: str  # hex


_CLIP_FIELDS = tuple(f.name for f in fields(CachedClip))


def shard_path(cache_dir: Path, shard: int, dtype: str = "int16") -> Path:
    """A shard's data file: int16 audio, or float32 values of images and feature tables (data/items.py)."""
    return cache_dir / f"shard-{shard:05d}.{dtype}"


def _sidecar_path(cache_dir: Path, shard: int) -> Path:
    """The JSON record that marks a shard finished."""
    return cache_dir / f"shard-{shard:05d}.json"


def build_cache(items: list[Item], cache_dir: Path, sample_rate: int, workers: int | None, job: str,
                shard_items: int) -> tuple[list[CachedClip], list[Skipped]]:
    """Decode every item into shards under `cache_dir`, reusing shards an earlier run with the same cache key
    (`job`: same files, order, rate and shard size) finished."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    clips: list[CachedClip] = []
    rejected: list[Skipped] = []
    todo: list[int] = []
    indexed = list(enumerate(items))
    shards = [indexed[start : start + shard_items] for start in range(0, len(items), shard_items)]
    for shard in range(len(shards)):
        done = _finished_shard(cache_dir, shard, job)
        if done is None:
            todo.append(shard)
        else:
            clips += done[0]
            rejected += done[1]
    progress = Progress("prepare", sum(len(shards[s]) for s in todo))
    # A worker owns a whole shard (decode, write, sidecar): only small records cross processes.
    tasks = [_ShardTask(shard, [(i, str(item.source), item.path) for i, item in shards[shard]], cache_dir,
                        sample_rate, job) for shard in todo]
    with worker_pool(min(workers or os.cpu_count() or 1, len(tasks))) as pool:
        for shard_clips, shard_rejected in (pool.imap_unordered(_write_shard, tasks) if pool else
                                            map(_write_shard, tasks)):
            progress.update(len(shard_clips) + len(shard_rejected))
            clips += shard_clips
            rejected += shard_rejected
    progress.close()
    clips.sort(key=lambda clip: clip.index)
    return clips, rejected


def _finished_shard(cache_dir: Path, shard: int, job: str) -> tuple[list[CachedClip], list[Skipped]] | None:
    """A shard's records if this job finished it before (sidecar present, same job, data file intact)."""
    try:
        record = json.loads(_sidecar_path(cache_dir, shard).read_text(encoding="utf-8"))
        clips = [CachedClip(*clip) for clip in record["clips"]]
        size = shard_path(cache_dir, shard).stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("job") != job or size != 2 * sum(clip.num_samples for clip in clips):
        return None
    return clips, [Skipped(**skip) for skip in record["rejected"]]


@dataclass(frozen=True)
class _ShardTask:
    """One shard's work: (item index, file, relative path) for each member, and where to write."""

    shard: int
    members: list[tuple[int, str, str]]
    cache_dir: Path
    sample_rate: int
    job: str


def _write_shard(task: _ShardTask) -> tuple[list[CachedClip], list[Skipped]]:
    """Decode one shard's items; data file first (atomic rename), then its sidecar, which marks it done."""
    clips: list[CachedClip] = []
    rejected: list[Skipped] = []
    cache_dir, shard, job = task.cache_dir, task.shard, task.job
    final = shard_path(cache_dir, shard)
    tmp = final.with_name(f".{final.name}.tmp")
    offset = 0
    try:
        with tmp.open("wb") as handle:
            relative = {index: path for index, _, path in task.members}
            for result in decode_many([(index, path) for index, path, _ in task.members], task.sample_rate):
                if result.samples is None:
                    rejected.append(Skipped(relative[result.index], result.reason))
                    continue
                handle.write(result.samples.astype("<i2").tobytes())
                clips.append(clip_facts(result, shard, offset))
                offset += result.samples.size
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise cannot_write(final, exc) from None
    write_json_atomic(_sidecar_path(cache_dir, shard), {
        "job": job, "clips": [list(astuple_flat(c)) for c in clips], "rejected": [asdict(r) for r in rejected]})
    return clips, rejected


def astuple_flat(clip: CachedClip) -> tuple[object, ...]:
    """The fields of a clip record in order (no deep copy, unlike dataclasses.astuple)."""
    return tuple(getattr(clip, name) for name in _CLIP_FIELDS)


def clip_facts(result: Decoded, shard: int, offset: int) -> CachedClip:
    """The record of a decoded clip (shard -1 when it is not cached, as in `doctor`)."""
    assert result.samples is not None and result.fingerprint is not None
    return CachedClip(result.index, shard, offset, int(result.samples.size), result.source_sample_rate,
                      result.source_channels, result.sha1,
                      result.fingerprint.tobytes().hex())


def open_shards(cache_dir: Path, count: int, dtype: str = "int16") -> list[np.ndarray]:
    """Memory-mapped int16 (or float32) views of shards 0..count-1 (an empty shard maps to an empty array)."""
    maps: list[np.ndarray] = []
    layout = "<i2" if dtype == "int16" else "<f4"
    for shard in range(count):
        path = shard_path(cache_dir, shard, dtype)
        size = path.stat().st_size if path.is_file() else 0
        maps.append(np.memmap(path, dtype=layout, mode="r") if size else np.zeros(0, dtype=layout))
    return maps
