"""Named bundles of label/group/split options for well-known layouts; each preset is a YAML file."""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from earmark.errors import DataError

_KEYS = {"description", "labels", "group", "label_column", "group_column", "split", "folds"}


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
    return dict(values)
