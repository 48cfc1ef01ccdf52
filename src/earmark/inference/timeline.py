"""Per-window decisions as files: one CSV for every file, and an Audacity label track per audio file.

Naming rule: `--timeline out.csv` writes `out.csv` (file,start_s,end_s,label,score) and, beside it,
`out.txt` when one file was predicted, or `out.<audio file name>.txt` per file when several were
(`out.dog.wav.txt`; `-2`, `-3`... when two folders hold the same name). An Audacity label track is
`start<TAB>end<TAB>label` in seconds, one line per window; import it with File → Import → Labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from earmark.errors import EarmarkError
from earmark.fileio import write_csv_atomic, write_text_atomic

COLUMNS = ("file", "start_s", "end_s", "label", "score")


def label_track_paths(csv_path: Path, files: Sequence[str]) -> list[Path]:
    """Where the Audacity label track of each predicted file goes (see the module's naming rule)."""
    if csv_path.suffix.lower() == ".txt":
        raise EarmarkError(f"--timeline {csv_path}: name the CSV file (e.g. timeline.csv); the Audacity labels "
                           "are written beside it as .txt")
    if len(files) == 1:
        return [csv_path.with_suffix(".txt")]
    paths, seen = [], set()
    for file in files:
        base, number = f"{csv_path.stem}.{Path(file).name}", 1
        name = base
        while name in seen:
            number += 1
            name = f"{base}-{number}"
        seen.add(name)
        paths.append(csv_path.with_name(f"{name}.txt"))
    return paths


def write_timeline(csv_path: Path, results: Sequence[Mapping[str, Any]]) -> list[Path]:
    """Write the CSV and the label tracks of `results` (Prediction.to_dict rows); returns the track paths."""
    tracks = label_track_paths(csv_path, [str(r["file"]) for r in results])
    rows = [[r["file"], f"{w['start_s']:.3f}", f"{w['end_s']:.3f}", w["label"], f"{w['score']:.6f}"]
            for r in results for w in r["windows"]]
    write_csv_atomic(csv_path, COLUMNS, rows)
    for track, result in zip(tracks, results):
        lines = [f"{w['start_s']:.6f}\t{w['end_s']:.6f}\t{w['label']}\n" for w in result["windows"]]
        write_text_atomic(track, "".join(lines))
    return tracks
