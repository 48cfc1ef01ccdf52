"""`earmark doctor`: what `prepare` would find, without writing a dataset: decodability, formats, classes,
duplicates and the leakage risk of the split it would make."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from earmark.data.cache import CachedClip, clip_facts
from earmark.data.decoding import decode_stream, worker_pool
from earmark.data.plots import plot_overview
from earmark.data.prepare import PrepareOptions, analyse
from earmark.data.report import write_report
from earmark.data.sources import LabelSpec, Skipped, scan
from earmark.errors import DataError
from earmark.fileio import make_dir, write_csv_atomic
from earmark.progress import Progress


def doctor(source: Path, out: Path, spec: LabelSpec, options: PrepareOptions) -> dict[str, Any]:
    """Decode every file with prepare's code and write report.md/json, rejected.csv and overview.png to `out`."""
    from earmark.data.items import detect_kind

    kind = detect_kind(source, spec, None)
    if kind != "audio":
        raise DataError(f"{source}: holds {'images' if kind == 'image' else 'a feature table'}; `doctor` is for "
                        "audio: `earmark prepare` checks images and tables and writes the same report")
    items, skipped = scan(source, spec)
    if not items:
        raise DataError(f"{source}: no labelled audio files found (check --labels)")
    clips: list[CachedClip] = []
    rejected: list[Skipped] = list(skipped)
    progress = Progress("doctor", len(items))
    workers = (options.workers or os.cpu_count() or 1) if len(items) >= 64 else 1
    with worker_pool(workers) as pool:
        for result in decode_stream(pool, [(i, item.source) for i, item in enumerate(items)], options.sample_rate):
            progress.update(1)
            if result.samples is None:
                rejected.append(Skipped(items[result.index].path, result.reason))
            else:
                clips.append(clip_facts(result, shard=-1, offset=0))
    progress.close()
    make_dir(out)
    write_csv_atomic(out / "rejected.csv", ["source", "reason"], [(r.source, r.reason) for r in rejected])
    rows, report = analyse(source, spec, options, items, clips, rejected)
    write_report(out, report)
    plot_overview(rows, out / "overview.png")
    return report
