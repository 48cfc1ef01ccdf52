"""Official weights files in earmark's cache: fetched atomically and resumably, verified, or refused in one line.

The download itself is earmark.fetch's (shared with `earmark download`); this module says where weights live
and how a user passes a local copy instead. Offline (EARMARK_OFFLINE=1 or HF_HUB_OFFLINE=1) nothing is fetched:
the error names the URL and how to pass a local copy.
"""

from __future__ import annotations

from pathlib import Path

from earmark import fetch as fetching
from earmark.errors import EarmarkError
from earmark.fetch import cache_dir, offline_reason, recorded_sha256, sha256_of
from earmark.models.pretrained.base import Backbone, BackboneSpec, WeightsFile

__all__ = ["cache_dir", "fetch", "offline_reason", "pretrained", "recorded_sha256", "resolve_weights", "sha256_of",
           "weights_dir"]

PASS_LOCAL = "pass a local copy with --set model.weights=PATH"


def weights_dir() -> Path:
    """Where downloaded weights files live."""
    return cache_dir() / "weights"


def resolve_weights(spec: BackboneSpec, path: Path | str | None, timeout_s: float = 15.0) -> Path:
    """The weights file for `spec`: `path` when given (`--set model.weights=PATH`), else the official one, fetched."""
    if path is not None and str(path) != "":
        local = Path(path).expanduser()
        if not local.is_file():
            raise EarmarkError(f"{local}: weights file not found (for {spec.name})")
        return local
    if spec.weights is None:
        raise EarmarkError(f"{spec.name}: no official weights file is known; {PASS_LOCAL}")
    return fetch(spec.weights, timeout_s=timeout_s)


def pretrained(spec: BackboneSpec, path: Path | str | None = None, timeout_s: float = 15.0) -> Backbone:
    """`spec`'s backbone with its official weights (or those in `path`), loaded strictly, in eval mode."""
    model = spec.build()
    model.load_official(resolve_weights(spec, path, timeout_s))
    return model.eval()


def fetch(weights: WeightsFile, folder: Path | None = None, timeout_s: float = 15.0) -> Path:
    """The cached, verified copy of `weights` (downloaded when missing); its sha256 is in `<file>.sha256`."""
    return fetching.fetch(weights, folder or weights_dir(), PASS_LOCAL, timeout_s)
