"""Feature tables as model input: a CSV whose rows are items (label, optional path/group/split/fold) and whose
numeric columns are the features.

Feature columns: `--features-columns a,b,c`, or by default every column other than the path, label, group,
split and fold columns that holds at least one number (a column of text only, such as a name, is ignored and
reported). A row with a missing, non-numeric or non-finite value in a feature column is rejected, named by
its line. An item is named by its path column when there is one, else `TABLE:LINE`.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from earmark.data.sources import Item, LabelSpec, Skipped, _item
from earmark.errors import DataError


@dataclass
class Table:
    """The kept rows of a feature table as items with their values, and what was left out."""

    items: list[Item]
    values: list[np.ndarray]  # float32 [F] per item
    columns: list[str]  # the feature columns, in table order
    ignored: list[str]  # columns that are neither features nor label/group/split/fold/path
    skipped: list[Skipped]


def read_rows(table: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV (or TSV) file."""
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{table}: cannot read the table ({exc})") from None
    dialect = "excel-tab" if table.suffix.lower() == ".tsv" or "\t" in text.split("\n", 1)[0] else "excel"
    reader = csv.DictReader(text.splitlines(), dialect=dialect)
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def finite_number(text: str | None) -> float | None:
    """The finite float in `text`, or None."""
    try:
        value = float((text or "").strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def feature_columns(header: list[str], rows: list[dict[str, str]], spec: LabelSpec,
                    given: str | None) -> tuple[list[str], list[str]]:
    """(features, ignored): the given columns (checked to exist) or the documented default."""
    reserved = {spec.path_column, spec.label_column, spec.group_column, spec.split_column, spec.fold_column}
    if given:
        wanted = [name.strip() for name in given.split(",") if name.strip()]
        missing = [name for name in wanted if name not in header]
        if missing:
            raise DataError(f"--features-columns: no column {missing[0]!r} (columns: {', '.join(header)})")
        return wanted, [c for c in header if c not in reserved and c not in wanted]
    candidates = [c for c in header if c not in reserved]
    features = [c for c in candidates if any(finite_number(row.get(c)) is not None for row in rows)]
    return features, [c for c in candidates if c not in features]


def read_table(root: Path, table: Path, spec: LabelSpec, given: str | None = None) -> Table:
    """Every row of `table` (relative to `root` unless absolute) as an item with its feature values."""
    table = table if table.is_absolute() else root / table
    header, rows = read_rows(table)
    if spec.label_column not in header:
        raise DataError(f"{table}: no {spec.label_column!r} column (columns: {', '.join(header) or 'none'})")
    columns, ignored = feature_columns(header, rows, spec, given)
    if not columns:
        raise DataError(f"{table}: no numeric feature columns (columns: {', '.join(header)}); "
                        "name them with --features-columns")
    result = Table([], [], columns, ignored, [])
    seen: set[str] = set()
    for number, row in enumerate(rows, start=2):
        name = (row.get(spec.path_column) or "").strip() or f"{table.name}:{number}"
        problem = _row_problem(row, columns, name in seen)
        if problem:
            result.skipped.append(Skipped(name, f"{problem} ({table.name} line {number})"))
            continue
        fields = {"label": row.get(spec.label_column), "group": row.get(spec.group_column),
                  "split": row.get(spec.split_column), "fold": row.get(spec.fold_column)}
        try:
            item = _item(name, table, fields)
        except ValueError as exc:
            result.skipped.append(Skipped(name, f"{table.name} line {number}: {exc}"))
            continue
        seen.add(name)
        result.items.append(item)
        result.values.append(np.array([float(row[c]) for c in columns], dtype=np.float32))
    return result


def _row_problem(row: dict[str, str], columns: list[str], duplicate: bool) -> str | None:
    """Why a table row cannot be an item (a bad feature value, a repeated name), or None."""
    if duplicate:
        return "duplicate path in the table"
    for column in columns:
        raw = row.get(column)
        if raw is None or not raw.strip():
            return f"feature {column!r} is missing"
        if finite_number(raw) is None:
            return f"feature {column!r} is not a finite number: {raw.strip()[:40]!r}"
    return None
