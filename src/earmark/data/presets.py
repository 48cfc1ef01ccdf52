"""Named bundles of label/group/split options for well-known layouts; each preset is a YAML file."""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from earmark.data.sources import LabelSpec
from earmark.errors import DataError

_SPEC_KEYS = {f.name for f in fields(LabelSpec)}
_KEYS = _SPEC_KEYS | {"description", "split", "folds"}


@dataclass(frozen=True)
class SourceOptions:
    """Everything that says how to read a source: the label spec plus the split request."""

    spec: LabelSpec
    split: str | None = None  # None: the source's own split if it gives one, else 80/10/10
    folds: int | None = None


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    folder = resources.files("earmark.data") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """The options of preset `name`; an unknown name lists the valid ones."""
    if name not in list_presets():
        raise DataError(f"unknown preset {name!r}; valid presets: {', '.join(list_presets())}")
    text = (resources.files("earmark.data") / "presets" / f"{name}.yaml").read_text(encoding="utf-8")
    values = yaml.safe_load(text) or {}
    unknown = set(values) - _KEYS
    if unknown:
        raise DataError(f"preset {name}: unknown keys {sorted(unknown)}")
    if isinstance(values.get("split_lists"), dict):  # lists shipped with earmark: earmark:presets/<file>
        values["split_lists"] = {split: _shipped(file) for split, file in values["split_lists"].items()}
    return dict(values)


def _shipped(name: str) -> str:
    """A split-list name as given, or the absolute path of a list that ships in earmark.data."""
    if not name.startswith("earmark:"):
        return name
    return str(Path(str(resources.files("earmark.data") / name.removeprefix("earmark:"))))


def source_options(preset: str | None = None, **flags: Any) -> SourceOptions:
    """A preset's options with explicit flags on top (a flag of None means: not given)."""
    values = load_preset(preset) if preset else {}
    values.update({key: value for key, value in flags.items() if value is not None})
    unknown = set(values) - _KEYS
    if unknown:
        raise DataError(f"unknown source options {sorted(unknown)}")
    spec_values = {key: _frozen(values[key]) for key in _SPEC_KEYS if key in values}
    return SourceOptions(LabelSpec(**spec_values), values.get("split"), values.get("folds"))


def _frozen(value: Any) -> Any:
    """Mappings become sorted (key, value) pairs so the spec stays hashable and JSON-friendly."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    return value
