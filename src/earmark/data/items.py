"""`prepare` for images and feature tables: the same labels, groups, splits, checks, reports and cache as audio.

An image (or a table row) is one item of `N` float32 values (`C·H·W` pixels in [0, 1], or `F` features) kept
in a float32 cache shard. The dataset's `sample_rate` is `N` and every item is one second long, so the
shared machinery (windows, evaluation, parity, predict) handles an item as a one-window clip. prepare.json
records `item` = {kind, shape, resize, columns}; training copies it into `features` (training/items.py).
Duplicates: the sha1 of the decoded pixels (or values); near duplicates: a 256-bit dHash of each image (a
feature row's values equal once rounded to float16): images sharing a row of their dHash are compared by
their thumbnails (data/images.py).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.cache import CachedClip, shard_path
from earmark.data.images import (
    IMAGE_EXTENSIONS,
    RESIZE_POLICY,
    ImageHeader,
    default_size,
    dhash,
    load_image,
    near_duplicate_images,
    parse_size,
    read_header,
    thumbnail,
)
from earmark.data.prepare import ItemOptions, PrepareOptions, _finished_report, analyse, write_outputs
from earmark.data.sources import AUDIO_EXTENSIONS, Item, LabelSpec, Skipped, scan
from earmark.data.tables import feature_columns, read_rows, read_table
from earmark.errors import DataError, DecodeError
from earmark.fileio import make_dir, remove_stale_temporaries, write_bytes_atomic
from earmark.progress import Progress

KINDS = ("audio", "image", "table")
ITEM_FORMAT = 1  # bump when decoding, resizing or hashing changes


def detect_kind(source: Path, spec: LabelSpec, options: ItemOptions | None) -> str:
    """audio, image or table: as given, else a CSV with --features-columns, or without a path column but with
    labels and a numeric column, is a table, and a source whose files are images and not audio is an image
    folder."""
    options = options or ItemOptions()
    if options.kind not in ("auto", *KINDS):
        raise DataError(f"--kind {options.kind!r}: choose auto, {', '.join(KINDS)}")
    if options.kind != "auto":
        return options.kind
    if spec.labels.startswith("csv:"):
        table = Path(spec.labels[4:])
        try:
            header, rows = read_rows(table if table.is_absolute() else source / table)
        except DataError:  # the audio scan reports an unreadable table in its own words
            return "audio"
        if options.feature_columns:
            return "table"
        if spec.path_column not in header:  # a table when it has labels and numbers; else audio's error
            features, _ = feature_columns(header, rows, spec, None)
            return "table" if spec.label_column in header and features else "audio"
        suffixes = Counter(os.path.splitext(row.get(spec.path_column) or "")[1].lower() for row in rows)
        images = sum(n for s, n in suffixes.items() if s in IMAGE_EXTENSIONS)
        return "image" if images > sum(n for s, n in suffixes.items() if s in AUDIO_EXTENSIONS) else "audio"
    found = Counter("image" if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS else "audio"
                    for _, _, names in os.walk(source) for name in names
                    if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS | AUDIO_EXTENSIONS)
    return "image" if found["image"] and not found["audio"] else "audio"


def prepare_items(source: Path, out: Path, spec: LabelSpec, options: PrepareOptions, items_options: ItemOptions,
                  kind: str, command: str = "") -> dict[str, Any]:
    """`prepare` of an image folder or a feature table into `out`; returns the report (a finished identical job
    is not redone)."""
    if not source.is_dir():
        raise DataError(f"{source}: not a directory")
    job = _job_id(source, spec, options, items_options, kind)
    done = _finished_report(out, job)
    if done is not None:
        return done
    if kind == "table":
        if not spec.labels.startswith("csv:"):
            raise DataError(f"{source}: a feature table needs --labels csv:FILE")
        loaded = _load_table(source, spec, items_options)
    else:
        loaded = _load_images(source, spec, items_options)
    items, values, rejected, item, near = loaded
    if not items:
        raise DataError(f"{source}: no usable {kind} items found (reasons in the rejected list: "
                        f"{rejected[0].reason if rejected else 'no files'})")
    size = int(np.prod(item["shape"]))
    clips = [CachedClip(i, 0, i * size, size, 0, int(meta[1]), meta[0], meta[2]) for i, meta in enumerate(values)]
    make_dir(out / "cache")
    remove_stale_temporaries(out, out / "cache")
    write_bytes_atomic(shard_path(out / "cache", 0, "float32"),
                       np.concatenate([v[3] for v in values]).astype("<f4").tobytes())
    rows, report = analyse(source, spec, dataclasses.replace(options, sample_rate=size), items, clips, rejected,
                           near)
    report = {**report, "kind": kind, "item": item}
    if options.strict and (report["n_rejected"] or not report["leakage"]["ok"]):
        raise DataError(f"{source}: {report['n_rejected']} item(s) rejected or leakage found (--strict); "
                        f"see {out / 'rejected.csv'} and the leakage section of the report")
    write_outputs(out, rows, rejected, report, job, command, extra={"item": item})
    return report


# items, (sha1, source channels, fingerprint hex, values) per item, rejected, the `item` facts, near-duplicate sets
Loaded = tuple[list[Item], list[tuple[str, int, str, np.ndarray]], list[Skipped], dict[str, Any], list[list[int]]]


def _load_images(source: Path, spec: LabelSpec, options: ItemOptions) -> Loaded:
    """Scan, read headers (channels, the common size), decode and resize every image once."""
    found, rejected = scan(source, spec, IMAGE_EXTENSIONS)
    headers: list[tuple[Item, ImageHeader]] = []
    for item in found:
        try:
            headers.append((item, read_header(item.source)))
        except DecodeError as exc:
            rejected.append(Skipped(item.path, str(exc)))
    channels = 1 if all(h.channels == 1 for _, h in headers) else 3
    height, width = parse_size(options.image_size) if options.image_size else \
        default_size([h for _, h in headers]) if headers else (1, 1)
    items, values, thumbs = [], [], []
    progress = Progress("prepare", len(headers))
    for item, _ in headers:
        progress.update(1)
        try:
            pixels, sha1, own = load_image(item.source, channels, height, width)
        except DecodeError as exc:
            rejected.append(Skipped(item.path, str(exc)))
            continue
        items.append(item)
        values.append((sha1, own, dhash(pixels).tobytes().hex(), pixels.reshape(-1)))
        thumbs.append(thumbnail(pixels))
    progress.close()
    hashes = np.stack([np.frombuffer(bytes.fromhex(v[2]), np.uint8) for v in values]) if values else np.zeros((0, 32))
    near = near_duplicate_images(hashes.astype(np.uint8), np.stack(thumbs) if thumbs else np.zeros((0, 0)))
    sizes = Counter(f"{h.width}x{h.height}" for _, h in headers)
    item_facts = {"kind": "image", "shape": [channels, height, width], "resize": RESIZE_POLICY,
                  "source_sizes": dict(sizes.most_common(10))}
    return items, values, rejected, item_facts, near


def _load_table(source: Path, spec: LabelSpec, options: ItemOptions) -> Loaded:
    """Every usable row of the feature table, with its content hash and rounded-value fingerprint."""
    table = read_table(source, Path(spec.labels[4:]), spec, options.feature_columns)
    values = []
    for vector in table.values:
        sha1 = hashlib.sha1(vector.tobytes()).hexdigest()
        rounded = hashlib.sha1(vector.astype(np.float16).tobytes()).hexdigest()
        values.append((sha1, 1, rounded, vector))
    item_facts = {"kind": "table", "shape": [len(table.columns)], "columns": table.columns,
                  "ignored_columns": table.ignored}
    same: dict[str, list[int]] = {}
    for i, value in enumerate(values):
        same.setdefault(value[2], []).append(i)
    return table.items, values, table.skipped, item_facts, [m for m in same.values() if len(m) > 1]


def _job_id(source: Path, spec: LabelSpec, options: PrepareOptions, items_options: ItemOptions, kind: str) -> str:
    """The whole job: inputs (names, sizes, times), labels and options; an identical finished job is not redone."""
    job = hashlib.sha256(json.dumps([ITEM_FORMAT, kind, str(source.resolve()), asdict(spec),
                                     {**asdict(options), "workers": None}, asdict(items_options)]).encode())
    for folder, dirs, names in sorted(os.walk(source)):
        dirs.sort()
        for name in sorted(names):
            try:
                stat = os.stat(os.path.join(folder, name))
                job.update(f"{folder}/{name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
            except OSError:
                job.update(f"{folder}/{name}|unreadable".encode())
    return job.hexdigest()
