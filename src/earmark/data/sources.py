"""Scan a source folder into labelled items: label per folder, per regex over the path, or per CSV row."""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

from earmark.errors import DataError

AUDIO_EXTENSIONS = frozenset(
    [".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".au", ".snd", ".aif",
     ".aiff", ".aifc", ".webm", ".wma", ".caf", ".w64"]
)


@dataclass(frozen=True)
class LabelSpec:
    """Where labels, groups, splits and folds come from."""

    labels: str = "folder"  # folder | regex:PATTERN | csv:FILE
    group: str | None = None  # regex:PATTERN with a `group` named group (or a CSV column via group_column)
    label_column: str = "label"
    group_column: str = "group"
    path_column: str = "path"
    split_column: str = "split"
    fold_column: str = "fold"
    path_prefix: str = ""  # CSV paths are relative to SOURCE/path_prefix (ESC-50 keeps them in audio/)
    label_map: tuple[tuple[str, str], ...] = ()  # code → name (RAVDESS emotion "05" → "angry")
    exclude: str | None = None  # regex over the relative path: listed as excluded, never used
    split_lists: tuple[tuple[str, str], ...] = ()  # (split, list file): files named there get that split
    corrections: str | None = None  # a corrections CSV (earmark serve): clips to relabel or exclude


@dataclass(frozen=True)
class Item:
    """One source file with what the source says about it."""

    path: str  # relative to the source root, POSIX slashes: the clip's identity
    source: Path  # absolute path of the file
    label: str
    group: str | None = None
    split: str | None = None
    fold: int | None = None


@dataclass(frozen=True)
class Skipped:
    """A file (or CSV row) that cannot become an item, with the reason."""

    source: str
    reason: str


def scan(root: Path, spec: LabelSpec,
         extensions: frozenset[str] = AUDIO_EXTENSIONS) -> tuple[list[Item], list[Skipped]]:
    """All labelled items under `root` per `spec` (files with one of `extensions`), sorted by path, plus what was
    skipped and why."""
    if not root.is_dir():
        raise DataError(f"{root}: not a directory")
    if spec.labels.startswith("csv:"):
        items, skipped = _scan_csv(root, Path(spec.labels[4:]), spec)
    elif spec.labels.startswith("regex:"):
        pattern = _compile(spec.labels[6:], "--labels", "label")
        files, skipped = _named_files(root, extensions)
        items, more = _scan_regex(root, files, pattern)
        skipped += more
    elif spec.labels == "folder":
        files, skipped = _named_files(root, extensions)
        items, more = _scan_folder(root, files)
        skipped += more
    else:
        raise DataError(f"--labels {spec.labels!r}: expected folder, 'regex:PATTERN' or 'csv:FILE'")
    if spec.group and spec.group.startswith("regex:"):
        items, more = _apply_group_regex(items, _compile(spec.group[6:], "--group", "group"))
        skipped += more
    elif spec.group:
        raise DataError(f"--group {spec.group!r}: expected 'regex:PATTERN' with a (?P<group>...) group")
    items, more = refine(root, items, spec)
    skipped += more
    if spec.exclude:
        excluded = re.compile(spec.exclude)
        skipped = [s if not excluded.search(s.source) else Skipped(s.source, "excluded by the preset") for s in skipped]
        skipped += [Skipped(item.path, "excluded by the preset") for item in items if excluded.search(item.path)]
        items = [item for item in items if not excluded.search(item.path)]
    if spec.corrections:
        from earmark.data.corrections import apply_corrections

        items, skipped = apply_corrections(items, skipped, Path(spec.corrections))
    return sorted(items, key=lambda item: item.path), skipped


def refine(root: Path, items: list[Item], spec: LabelSpec) -> tuple[list[Item], list[Skipped]]:
    """Apply the spec's exclusions, label names and split lists to scanned items."""
    skipped: list[Skipped] = []
    if spec.label_map:
        names = dict(spec.label_map)
        skipped += [Skipped(i.path, f"label code {i.label!r} not in the label map")
                    for i in items if i.label not in names]
        items = [dataclasses.replace(i, label=names[i.label]) for i in items if i.label in names]
    if spec.split_lists:
        split_of = _read_split_lists(root, spec.split_lists)
        # With a train list the lists are closed (GTZAN's filtered split leaves faulty excerpts out); without one
        # the unlisted rest is train (Speech Commands).
        rest = None if any(split == "train" for split, _ in spec.split_lists) else "train"
        listed = [(i, _listed_split(split_of, i.path) or rest) for i in items]
        skipped += [Skipped(i.path, "not in the preset's split lists") for i, split in listed if split is None]
        items = [dataclasses.replace(i, split=split) for i, split in listed if split is not None]
    return items, skipped


def _listed_split(split_of: dict[str, str], path: str) -> str | None:
    """The split a list gives `path` or its tail (lists name paths from the dataset's own root: blues/x.au),
    extensions aside (GTZAN's lists name .au files; a WAV copy of it names them .wav)."""
    parts = os.path.splitext(path)[0].split("/")
    return next((split_of[tail] for tail in ("/".join(parts[k:]) for k in range(len(parts))) if tail in split_of),
                None)


def _read_split_lists(root: Path, lists: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Relative path → split from list files (one path per line, as Speech Commands ships them)."""
    split_of: dict[str, str] = {}
    for split, name in lists:
        try:
            lines = (root / name).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DataError(f"{root / name}: cannot read the {split} list ({exc.strerror})") from None
        split_of.update({os.path.splitext(line.strip())[0]: split for line in lines if line.strip()})
    return split_of


def _compile(pattern: str, option: str, required: str) -> re.Pattern[str]:
    """Compile a user regex, insisting on the named group it must provide."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise DataError(f"{option} regex {pattern!r}: {exc}") from None
    if required not in compiled.groupindex:
        raise DataError(f"{option} regex {pattern!r}: needs a named group (?P<{required}>...)")
    return compiled


def audio_files(root: Path, extensions: frozenset[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """Every file under `root` with an audio extension (or one of `extensions`), sorted; directory symlinks are
    not followed (no loops)."""
    return [root / rel for rel in _relative_audio_paths(root, extensions)]


def _relative_audio_paths(root: Path, extensions: frozenset[str] = AUDIO_EXTENSIONS) -> list[str]:
    """Sorted POSIX paths, relative to `root`, of the audio (or `extensions`) files under it (string work only)."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        prefix = os.path.relpath(folder, root).replace(os.sep, "/") + "/"
        prefix = "" if prefix == "./" else prefix
        found += [prefix + name for name in names if os.path.splitext(name)[1].lower() in extensions]
    return sorted(found)


def _named_files(root: Path, extensions: frozenset[str] = AUDIO_EXTENSIONS) -> tuple[list[str], list[Skipped]]:
    """The audio files under `root`, less those whose names are not UTF-8 (they cannot go into a manifest)."""
    files, skipped = [], []
    for rel in _relative_audio_paths(root, extensions):
        if printable_name(rel) == rel:
            files.append(rel)
        else:
            skipped.append(Skipped(printable_name(rel), "file name is not valid UTF-8; rename the file"))
    return files, skipped


def printable_name(name: str) -> str:
    """`name` as text that can be printed and written anywhere: bytes that are not UTF-8 shown as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _scan_folder(root: Path, files: list[str]) -> tuple[list[Item], list[Skipped]]:
    """Label = name of the parent folder; files directly under the root have no label."""
    items, skipped = [], []
    for rel in files:
        folder, _, _ = rel.rpartition("/")
        if not folder:
            skipped.append(Skipped(rel, "no label: file is not inside a class folder"))
        else:
            items.append(Item(rel, root / rel, folder.rpartition("/")[2]))
    return items, skipped


def _scan_regex(root: Path, files: list[str], pattern: re.Pattern[str]) -> tuple[list[Item], list[Skipped]]:
    """Label (and optional group/split/fold) from named groups matched against the relative path."""
    items, skipped = [], []
    for rel in files:
        path = root / rel
        match = pattern.search(rel)
        if match is None or not match.group("label"):
            skipped.append(Skipped(rel, "path does not match the --labels regex"))
            continue
        fields = match.groupdict()
        try:
            items.append(_item(rel, path, fields))
        except ValueError as exc:
            skipped.append(Skipped(rel, str(exc)))
    return items, skipped


def _item(rel: str, path: Path, fields: dict[str, str | None]) -> Item:
    """An item from named fields (label, group, split, fold), validating split and fold."""
    split = (fields.get("split") or "").strip().lower() or _split_from_alternatives(fields)
    if split is not None:
        split = {"training": "train", "validation": "val", "valid": "val", "dev": "val"}.get(split, split)
        if split not in ("train", "val", "test"):
            raise ValueError(f"split {split!r} is not train, val or test")
    fold_text = (fields.get("fold") or "").strip()
    if fold_text and not fold_text.lstrip("-").isdigit():
        raise ValueError(f"fold {fold_text!r} is not an integer")
    label = (fields.get("label") or "").strip()
    if not label:
        raise ValueError("empty label")
    group = (fields.get("group") or "").strip() or None
    return Item(rel, path, label, group, split, int(fold_text) if fold_text else None)


def _split_from_alternatives(fields: dict[str, str | None]) -> str | None:
    """A regex may mark the split by which alternative matched: (?P<split_test>...)|(?P<split_train>...)."""
    matched = [key[6:] for key, value in fields.items() if key.startswith("split_") and value is not None]
    return matched[0] if matched else None


def _apply_group_regex(items: list[Item], pattern: re.Pattern[str]) -> tuple[list[Item], list[Skipped]]:
    """Set each item's group from the --group regex; an item it does not match is skipped."""
    kept, skipped = [], []
    for item in items:
        match = pattern.search(item.path)
        if match is None or not match.group("group"):
            skipped.append(Skipped(item.path, "path does not match the --group regex"))
        else:
            kept.append(Item(item.path, item.source, item.label, match.group("group"), item.split, item.fold))
    return kept, skipped


def _scan_csv(root: Path, table: Path, spec: LabelSpec) -> tuple[list[Item], list[Skipped]]:
    """Rows `path,label[,group][,split][,fold]` (or the configured columns); paths relative to root."""
    table = table if table.is_absolute() else root / table
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{table}: cannot read label table ({exc})") from None
    dialect = "excel-tab" if table.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else "excel"
    rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
    columns = set(rows[0]) if rows else set()
    for needed in (spec.path_column, spec.label_column):
        if needed not in columns:
            raise DataError(f"{table}: no {needed!r} column (columns: {', '.join(sorted(columns)) or 'none'})")
    items, skipped, seen = [], [], set[str]()
    root_resolved = root.resolve()
    for number, row in enumerate(rows, start=2):
        rel = (row.get(spec.path_column) or "").strip()
        rel = f"{spec.path_prefix.rstrip('/')}/{rel}" if spec.path_prefix and rel else rel
        where = rel or f"{table.name}:{number}"
        reason = _csv_row_problem(root_resolved, rel, seen)
        if reason:
            skipped.append(Skipped(where, reason))
            continue
        seen.add(rel)
        fields = {"label": row.get(spec.label_column), "group": row.get(spec.group_column),
                  "split": row.get(spec.split_column), "fold": row.get(spec.fold_column)}
        try:
            items.append(_item(Path(rel).as_posix(), root / rel, fields))
        except ValueError as exc:
            skipped.append(Skipped(where, f"{table.name} line {number}: {exc}"))
    return items, skipped


def _csv_row_problem(root: Path, rel: str, seen: set[str]) -> str | None:
    """Why a CSV path cannot be used (missing, duplicate, outside the source), or None."""
    if not rel:
        return "empty path in label table"
    if rel in seen:
        return "duplicate path in label table"
    try:
        (root / rel).resolve().relative_to(root)
    except ValueError:
        return "path points outside the source folder"
    if not (root / rel).is_file():
        return "file listed in label table does not exist"
    return None
