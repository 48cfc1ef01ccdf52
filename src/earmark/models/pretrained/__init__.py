"""Registry of pretrained backbones: the fixed families' tables (SPECS) and `hf:<hub id or folder>`.

Families are imported on demand; one whose module is missing or cannot import (an optional dependency) is
simply not listed, so `earmark models` and the registry work with whatever is installed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from earmark.models.pretrained.base import Backbone, BackboneSpec, WeightsFile

FAMILIES = ("ge2e", "panns", "efficientat")  # modules of this package with a SPECS table
HF_PREFIX = "hf:"

__all__ = ["FAMILIES", "HF_PREFIX", "Backbone", "BackboneSpec", "WeightsFile", "backbone_spec", "is_backbone",
           "list_backbones"]


def _family(name: str) -> ModuleType | None:
    """The family module, or None where it is not part of this install."""
    try:
        return importlib.import_module(f"earmark.models.pretrained.{name}")
    except ImportError:
        return None


def list_backbones() -> list[BackboneSpec]:
    """Every registered fixed backbone (hf: models are named by the user, not listed), sorted by name."""
    specs: list[BackboneSpec] = []
    for family in FAMILIES:
        module = _family(family)
        specs += list(getattr(module, "SPECS", ())) if module is not None else []
    return sorted(specs, key=lambda spec: spec.name)


def is_backbone(name: str) -> bool:
    """Whether a model name means a pretrained backbone (`hf:...` or a registered backbone)."""
    return name.startswith(HF_PREFIX) or any(spec.name == name for spec in list_backbones())


def backbone_spec(name: str) -> BackboneSpec | None:
    """The registered backbone called `name` (None for `hf:` models and for names that are not backbones)."""
    return next((spec for spec in list_backbones() if spec.name == name), None)
