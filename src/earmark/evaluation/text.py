"""How numbers and user strings are written in the report page, the model card and the terminal."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def fmt(value: Any, digits: int = 3) -> str:
    """A metric for display; a dash when it was not computed."""
    return f"{float(value):.{digits}f}" if isinstance(value, (int, float)) else "–"


def with_ci(block: Mapping[str, Any], key: str = "accuracy") -> str:
    """`0.990 [0.975, 0.997]` from a metrics block's `key` and `key_ci95`, or the bare value without one."""
    ci = block.get(f"{key}_ci95")
    text = fmt(block.get(key))
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"{text} [{fmt(ci[0])}, {fmt(ci[1])}]"
    return text


def esc(value: Any) -> str:
    """HTML-escaped text of any value: every user string on the page goes through here."""
    return html.escape(str(value), quote=True)


def headline_split(blocks: Mapping[str, Any]) -> str | None:
    """The split a result is quoted on: test when it was evaluated, else the first one."""
    if "test" in blocks:
        return "test"
    return next(iter(blocks), None)


def pairs(mapping: Any) -> str:
    """`8000: 2900, 16000: 100` from a small count mapping; a dash for anything else."""
    if not isinstance(mapping, Mapping):
        return "–"
    return ", ".join(f"{key}: {value}" for key, value in mapping.items())
