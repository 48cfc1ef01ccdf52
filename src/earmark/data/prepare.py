"""Decode, check and resample every file once, split without leakage, and write a prepared dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earmark.data.cache import CachedClip, build_cache
from earmark.data.fingerprint import near_duplicates
from earmark.data.manifest import MANIFEST_COLUMNS, ManifestRow, write_manifest
from earmark.data.report import build_report, write_report
from earmark.data.sources import Item, LabelSpec, Skipped, scan
from earmark.data.split import VAL_FRACTION, assign_folds, carve_val, parse_ratios, split_items
from earmark.errors import DataError
from earmark.fileio import make_dir, remove_stale_temporaries, write_csv_atomic, write_json_atomic

DEFAULT_SPLIT = "80/10/10"
CACHE_FORMAT = 2  # bump when decoding, resampling or fingerprints change: old caches are then rebuilt


@dataclass(frozen=True)
class ItemOptions:
    """What `prepare` needs beyond PrepareOptions for images and feature tables (data/items.py)."""

    kind: str = "auto"  # auto | audio | image | table
    image_size: str | None = None  # HEIGHTxWIDTH; None: the most common size, longer side at most 128
    feature_columns: str | None = None  # comma-separated; None: every numeric column but path/label/group/...


@dataclass(frozen=True)
class PrepareOptions:
    """How `prepare` turns a source into a dataset (recorded in `prepare.json`)."""

    sample_rate: int = 16000
    split: str | None = None  # train/val/test ratios; None: the source's split if it gives one, else 80/10/10
    val_fraction: float = VAL_FRACTION  # carved from train when the source fixes only the test set
    folds: int | None = None  # also assign K grouped, stratified folds (for `earmark cv`)
    seed: int = 0
    workers: int | None = None
    strict: bool = False
    shard_items: int = 256  # files per cache shard: the unit of parallel work and the most a kill can lose


def prepare(source: Path, out: Path, spec: LabelSpec, options: PrepareOptions, command: str = "",
            items_options: ItemOptions | None = None) -> dict[str, Any]:
    """Prepare `source` into `out`; returns the report. Re-running finished work is a no-op; an
    interrupted run resumes from its last finished cache shard. `command` (the command line) is recorded in
    prepare.json so a model card can say how to reproduce the data. A folder of images or a feature table
    (data/items.py decides, with `items_options`) is prepared by data/items.py the same way."""
    from earmark.data.items import detect_kind, prepare_items

    kind = detect_kind(source, spec, items_options)
    if kind != "audio":
        return prepare_items(source, out, spec, options, items_options or ItemOptions(), kind, command)
    items, skipped = scan(source, spec)
    job, cache_key = _job_ids(source, spec, options, items)
    done = _finished_report(out, job)
    if done is not None:
        return done
    if not items:
        raise DataError(f"{source}: no labelled audio files found (check --labels)")
    make_dir(out)
    remove_stale_temporaries(out, out / "cache")  # an earlier prepare killed mid-write
    clips, rejected = build_cache(items, out / "cache", options.sample_rate, options.workers, cache_key,
                                   options.shard_items)
    rows, report = analyse(source, spec, options, items, clips, [*skipped, *rejected])
    if options.strict and (report["n_rejected"] or not report["leakage"]["ok"]):
        raise DataError(f"{source}: {report['n_rejected']} file(s) rejected or leakage found (--strict); "
                        f"see {out / 'rejected.csv'} and the leakage section of the report")
    write_outputs(out, rows, rejected=[*skipped, *rejected], report=report, job=job, command=command)
    return report


def analyse(source: Path, spec: LabelSpec, options: PrepareOptions, items: list[Item], clips: list[CachedClip],
            rejected: list[Skipped], near_sets: list[list[int]] | None = None
            ) -> tuple[list[ManifestRow], dict[str, Any]]:
    """Manifest rows with splits and folds, and the report (duplicates, leakage) for decoded clips; near
    duplicates from the clips' audio fingerprints unless `near_sets` (indices into `clips`) are given."""
    rows = [_row(items[clip.index], clip, options.sample_rate) for clip in clips]
    if not rows:
        raise DataError(f"{source}: none of the {len(items)} files could be used (reasons in rejected.csv)")
    protocol = split_protocol(rows, options)  # from the source's splits, before any are assigned
    rows = _assign_folds(_assign_splits(rows, options), options)
    sets = near_sets if near_sets is not None else near_duplicates(
        [np.frombuffer(bytes.fromhex(c.fingerprint), dtype=np.uint8) for c in clips],
        [c.num_samples / options.sample_rate for c in clips])
    near = [[rows[i].path for i in members] for members in sets]
    report = build_report(source, rows, rejected, spec, options.sample_rate, near)
    return rows, {**report, "split_protocol": protocol}


def _job_ids(source: Path, spec: LabelSpec, options: PrepareOptions, items: list[Item]) -> tuple[str, str]:
    """(job, cache key). The job is the whole prepare: inputs, labels and options (the number of workers
    aside, which changes nothing written); an identical finished job is not redone. The cache key is what
    the decoded audio depends on: the files (size, mtime), their order, the rate and the shard size, so a
    new split, seed or group regex reuses the decoded shards."""
    decode_options = [CACHE_FORMAT, options.sample_rate, options.shard_items]
    job_options = {**asdict(options), "workers": None}
    job = hashlib.sha256(json.dumps([CACHE_FORMAT, str(source.resolve()), asdict(spec), job_options]).encode())
    cache = hashlib.sha256(json.dumps(decode_options).encode())
    for item in items:
        try:
            stat = item.source.stat()
            facts = f"{item.path}|{item.source}|{stat.st_size}|{stat.st_mtime_ns}"
        except OSError:  # a dangling or looping link: decoding rejects it with the reason
            facts = f"{item.path}|{item.source}|unreadable"
        job.update(f"{facts}|{item.label}".encode())
        cache.update(facts.encode())
    return job.hexdigest(), cache.hexdigest()


def _finished_report(out: Path, job: str) -> dict[str, Any] | None:
    """The report of an identical, completed earlier run in `out`, or None."""
    try:
        state = json.loads((out / "prepare.json").read_text())
        if state.get("job") == job and (out / "manifest.csv").is_file():
            return dict(json.loads((out / "report.json").read_text()))
    except (OSError, ValueError):
        pass
    return None


def _row(item: Item, clip: CachedClip, sample_rate: int) -> ManifestRow:
    """The manifest row of a kept clip."""
    return ManifestRow(
        path=item.path, source=str(item.source), label=item.label, group=item.group or item.path,
        split=item.split or "", fold=item.fold if item.fold is not None else -1,
        duration_s=round(clip.num_samples / sample_rate, 4), source_sample_rate=clip.source_sample_rate,
        source_channels=clip.source_channels, shard=clip.shard, offset=clip.offset,
        num_samples=clip.num_samples, sha1=clip.sha1,
    )


def split_protocol(rows: list[ManifestRow], options: PrepareOptions) -> str:
    """In words, how the splits were made (for the report and the model card)."""
    if options.split is None and all(row.split for row in rows):
        return "the source's own split (val carved from train if the source has none, grouped, stratified)"
    ratios = options.split or DEFAULT_SPLIT
    return f"{ratios} train/val/test, stratified by label, grouped by group, seed {options.seed}"


def _assign_splits(rows: list[ManifestRow], options: PrepareOptions) -> list[ManifestRow]:
    """The source's split unless ratios are asked for; otherwise a stratified, grouped, seeded split."""
    given = [row.split for row in rows]
    labels, groups = [row.label for row in rows], [row.group for row in rows]
    if options.split is None and all(given):
        splits = list(given)
        if "val" not in splits:
            train = [i for i, s in enumerate(splits) if s == "train"]
            carved = carve_val([labels[i] for i in train], [groups[i] for i in train],
                               options.val_fraction, options.seed)
            for i, s in zip(train, carved):
                splits[i] = s
    elif options.split is None and any(given):
        raise DataError("the source gives a split for some files but not all; give it for every file or pass --split")
    else:
        splits = split_items(labels, groups, parse_ratios(options.split or DEFAULT_SPLIT), options.seed)
    return [row.with_split(s) for row, s in zip(rows, splits)]


def _assign_folds(rows: list[ManifestRow], options: PrepareOptions) -> list[ManifestRow]:
    """K grouped, stratified folds when asked for and the source gives none."""
    if options.folds is None or any(row.fold >= 0 for row in rows):
        return rows
    folds = assign_folds([row.label for row in rows], [row.group for row in rows], options.folds, options.seed)
    return [dataclasses.replace(row, fold=fold) for row, fold in zip(rows, folds)]


def write_outputs(out: Path, rows: list[ManifestRow], rejected: list[Skipped], report: dict[str, Any],
                  job: str, command: str, extra: dict[str, Any] | None = None) -> None:
    """Labels, rejected files, reports, then the manifest and the done-marker last (`extra` goes into it)."""
    labels = sorted({row.label for row in rows})
    write_json_atomic(out / "labels.json", labels)
    write_csv_atomic(out / "rejected.csv", ["source", "reason"], [(r.source, r.reason) for r in rejected])
    write_report(out, report)
    write_manifest(out / "manifest.csv", rows)
    write_json_atomic(out / "prepare.json", {"job": job, "columns": list(MANIFEST_COLUMNS),
                                             "shards": 1 + max((row.shard for row in rows), default=0),
                                             "command": command, **(extra or {})})
