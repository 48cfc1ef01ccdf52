"""Reading official checkpoint files safely and loading them strictly; the layout fingerprint that checks a port.

An official file is data: it is read with torch's weights-only unpickler, which builds tensors and plain
containers and nothing else. PANNs' files also hold their training sampler's numpy arrays, so the few numpy
globals that rebuild an array (and nothing that runs code) are allowed for those files.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from earmark.errors import EarmarkError
from earmark.models.pretrained.layout import layout_fingerprint

__all__ = ["layout_fingerprint", "load_strict", "read_official"]


def _numpy_globals() -> list[Any]:
    """What unpickling a numpy array or scalar needs, under numpy 1's module names and numpy 2's."""
    multiarray: Any = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray  # type: ignore[attr-defined]
    reconstruct, scalar = multiarray._reconstruct, multiarray.scalar
    allowed: list[Any] = [np.ndarray, np.dtype, reconstruct, scalar]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(reconstruct, f"{module}._reconstruct"), (scalar, f"{module}.scalar")]
    # numpy >= 1.25 pickles a dtype as its class (numpy.dtypes.Int64DType ...): data-only classes
    allowed += [type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDGUS"]
    return allowed


def read_official(path: Path, key: str | None = None, allow_numpy: bool = False) -> dict[str, torch.Tensor]:
    """The state dict in an official file (`file[key]` when given), read without running any code."""
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(_numpy_globals() if allow_numpy else []):
            warnings.simplefilter("ignore")  # numpy's note on numpy.core's new name is not the user's business
            content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise EarmarkError(f"{path}: weights file not found") from None
    except Exception as exc:  # the weights-only unpickler raises whatever it trips on for garbage
        raise EarmarkError(f"{path}: {_refusal(exc)}") from None
    if key is not None:
        if not isinstance(content, dict) or key not in content:
            raise EarmarkError(f"{path}: not an official checkpoint (no {key!r} entry)")
        content = content[key]
    if not isinstance(content, dict) or not all(isinstance(v, torch.Tensor) for v in content.values()):
        raise EarmarkError(f"{path}: not an official checkpoint (no state dict of tensors)")
    return content


def _refusal(exc: BaseException) -> str:
    """Why torch.load refused a file, in one line; a pickle that would run code is named so."""
    text = str(exc).strip()
    found = re.search(r"unsupported GLOBAL ([^\s]+)", text, re.IGNORECASE)
    if isinstance(exc, pickle.UnpicklingError) and found:
        return (f"refused: not only tensors and plain data (GLOBAL {found.group(1)}); "
                "earmark never unpickles code from a weights file")
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"not a loadable weights file ({first[:200]})"


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], path: Path, what: str) -> None:
    """`module.load_state_dict(state, strict=True)`, with a mismatch told in one line naming `path` and `what`."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    reshaped = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = [f"{label} {_few(keys)}" for label, keys in
                (("missing", missing), ("unexpected", unexpected), ("other shape for", reshaped)) if keys]
    if problems:
        raise EarmarkError(f"{path}: not a {what} checkpoint ({'; '.join(problems)})")
    module.load_state_dict(state, strict=True)


def _few(keys: list[str], shown: int = 3) -> str:
    """The first few keys, and how many more."""
    more = f" (+{len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
