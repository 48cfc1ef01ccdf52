"""Decode, check and resample every file once, split without leakage, and write a prepared dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from earmark.audio.decode import load_mono
from earmark.data.manifest import CACHE_NAME, MANIFEST_COLUMNS, ManifestRow, write_manifest
from earmark.data.report import build_report, write_report
from earmark.data.sources import Item, LabelSpec, Skipped, scan
from earmark.data.split import assign_folds, carve_val, parse_ratios, split_items
from earmark.errors import DataError, DecodeError
from earmark.fileio import write_csv_atomic, write_json_atomic
from earmark.progress import Progress

MIN_DURATION_S = 0.05  # shorter than one typical STFT frame hop run: nothing to learn from


@dataclass(frozen=True)
class PrepareOptions:
    """How `prepare` turns a source into a dataset (recorded in `prepare.json`)."""

    sample_rate: int = 16000
    split: str = "80/10/10"
    val_fraction: float = 0.1  # carved from train when the source fixes only the test set
    folds: int | None = None  # also assign K grouped, stratified folds (for `earmark cv`)
    seed: int = 0
    workers: int | None = None
    strict: bool = False


@dataclass(frozen=True)
class Decoded:
    """What one worker returns for one item: int16 samples and facts, or the reason it failed."""

    index: int
    samples: np.ndarray | None
    source_sample_rate: int = 0
    source_channels: int = 0
    reason: str = ""


def prepare(source: Path, out: Path, spec: LabelSpec, options: PrepareOptions) -> dict:
    """Prepare `source` into `out`; returns the report dict. Re-running with the same inputs is a no-op."""
    items, skipped = scan(source, spec)
    fingerprint = _fingerprint(source, spec, options, items)
    done = _finished_report(out, fingerprint)
    if done is not None:
        return done
    if not items:
        raise DataError(f"{source}: no labelled audio files found (check --labels)")
    out.mkdir(parents=True, exist_ok=True)
    rows, rejected = _decode_all(items, out, options)
    rejected = [*skipped, *rejected]
    rows = _assign_folds(_assign_splits(rows, options), options)
    report = build_report(source, rows, rejected, spec, options.sample_rate)
    if options.strict and (rejected or not report["leakage"]["ok"]):
        raise DataError(f"{source}: {len(rejected)} file(s) rejected or leakage found (--strict); see output")
    _write_outputs(out, rows, rejected, report, fingerprint)
    return report


def _fingerprint(source: Path, spec: LabelSpec, options: PrepareOptions, items: list[Item]) -> str:
    """Identity of a prepare job: inputs, options and every file's size and mtime."""
    digest = hashlib.sha256(json.dumps([str(source.resolve()), asdict(spec), asdict(options)]).encode())
    for item in items:
        stat = item.source.stat()
        digest.update(f"{item.path}|{item.label}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def _finished_report(out: Path, fingerprint: str) -> dict | None:
    """The report of an identical, completed earlier run in `out`, or None."""
    try:
        state = json.loads((out / "prepare.json").read_text())
        if state.get("fingerprint") == fingerprint and (out / "manifest.csv").is_file():
            return dict(json.loads((out / "report.json").read_text()))
    except (OSError, ValueError):
        pass
    return None


def _decode_worker(job: tuple[int, str, int]) -> Decoded:
    """Decode one file to int16 at the target rate (runs in a worker process)."""
    index, path, sample_rate = job
    try:
        mono, info = load_mono(Path(path), sample_rate)
    except DecodeError as exc:
        return Decoded(index, None, reason=str(exc))
    except Exception as exc:  # a decoder bug on one odd file must not stop a million-file job
        return Decoded(index, None, reason=f"undecodable ({type(exc).__name__}: {exc})")
    if mono.size < MIN_DURATION_S * sample_rate:
        return Decoded(index, None, reason=f"too short ({mono.size / sample_rate * 1000:.0f} ms)")
    peak = float(np.abs(mono).max())
    scale = 32767.0 / peak if peak > 1.0 else 32767.0  # float sources above full scale: scale, not clip
    samples = np.round(mono * scale).astype(np.int16)
    return Decoded(index, samples, info.sample_rate, info.channels)


def _decoded_stream(items: list[Item], options: PrepareOptions) -> Iterator[Decoded]:
    """Decoded items in input order, in parallel; memory bounded by workers × chunk, not dataset size."""
    jobs = [(i, str(item.source), options.sample_rate) for i, item in enumerate(items)]
    workers = options.workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < 64:
        yield from map(_decode_worker, jobs)
        return
    # spawn, not fork: the caller may already hold torch/OpenMP threads, which fork would deadlock.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        yield from pool.imap(_decode_worker, jobs, chunksize=16)


def _decode_all(items: list[Item], out: Path, options: PrepareOptions) -> tuple[list[ManifestRow], list[Skipped]]:
    """Decode every item into the int16 cache file; rows for kept clips, reasons for the others."""
    rows: list[ManifestRow] = []
    rejected: list[Skipped] = []
    tmp = out / f".{CACHE_NAME}.tmp"
    offset = 0
    progress = Progress("prepare", len(items))
    with tmp.open("wb") as cache:
        for result in _decoded_stream(items, options):
            item = items[result.index]
            progress.update(1)
            if result.samples is None:
                rejected.append(Skipped(item.path, result.reason))
                continue
            cache.write(result.samples.astype("<i2").tobytes())
            rows.append(_row(item, result, offset, options.sample_rate))
            offset += result.samples.size
        cache.flush()
        os.fsync(cache.fileno())
    progress.close()
    os.replace(tmp, out / CACHE_NAME)
    return rows, rejected


def _row(item: Item, result: Decoded, offset: int, sample_rate: int) -> ManifestRow:
    """The manifest row of a kept clip."""
    assert result.samples is not None
    return ManifestRow(
        path=item.path, source=str(item.source), label=item.label, group=item.group or item.path,
        split=item.split or "", fold=item.fold if item.fold is not None else -1,
        duration_s=round(result.samples.size / sample_rate, 4), source_sample_rate=result.source_sample_rate,
        source_channels=result.source_channels, offset=offset, num_samples=int(result.samples.size),
        sha1=hashlib.sha1(result.samples.tobytes()).hexdigest(),
    )


def _assign_splits(rows: list[ManifestRow], options: PrepareOptions) -> list[ManifestRow]:
    """Use the source's split where it gives one; otherwise a stratified, grouped, seeded split."""
    given = [row.split for row in rows]
    labels, groups = [row.label for row in rows], [row.group for row in rows]
    if all(given):
        splits = list(given)
        if "val" not in splits:
            train = [i for i, s in enumerate(splits) if s == "train"]
            carved = carve_val([labels[i] for i in train], [groups[i] for i in train],
                               options.val_fraction, options.seed)
            for i, s in zip(train, carved):
                splits[i] = s
    elif any(given):
        raise DataError("the source gives a split for some files but not all; give it for every file")
    else:
        splits = split_items(labels, groups, parse_ratios(options.split), options.seed)
    return [row.with_split(s) for row, s in zip(rows, splits)]


def _assign_folds(rows: list[ManifestRow], options: PrepareOptions) -> list[ManifestRow]:
    """K grouped, stratified folds when asked for and the source gives none."""
    if options.folds is None or any(row.fold >= 0 for row in rows):
        return rows
    folds = assign_folds([row.label for row in rows], [row.group for row in rows], options.folds, options.seed)
    return [dataclasses.replace(row, fold=fold) for row, fold in zip(rows, folds)]


def _write_outputs(out: Path, rows: list[ManifestRow], rejected: list[Skipped], report: dict, fp: str) -> None:
    """Labels, rejected files, reports, then the manifest and the done-marker last."""
    labels = sorted({row.label for row in rows})
    write_json_atomic(out / "labels.json", labels)
    write_csv_atomic(out / "rejected.csv", ["source", "reason"], [(r.source, r.reason) for r in rejected])
    write_report(out, report)
    write_manifest(out / "manifest.csv", rows)
    write_json_atomic(out / "prepare.json", {"fingerprint": fp, "columns": list(MANIFEST_COLUMNS)})
