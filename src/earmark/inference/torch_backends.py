"""The PyTorch backends of prediction: a checkpoint (scored from feature maps) and a TorchScript export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from earmark.audio.windows import cut_windows
from earmark.checkpoint import LoadedModel
from earmark.classifier import AudioClassifier
from earmark.errors import EarmarkError
from earmark.inference.backends import FIXED_SAMPLES, TORCHSCRIPT_EXTRA, ModelInfo, check_window_length
from earmark.inference.featuremap import FeatureMap


class TorchBackend:
    """A checkpoint's AudioClassifier in eval mode (the reference every export is checked against).

    Overlapping windows of a long file are scored from one feature map per span (`FeatureMap`) instead of
    computing the front-end of every window from its samples: the same logits to float rounding.
    """

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded, self.model = loaded, loaded.model.eval()
        self.info = ModelInfo.of_checkpoint(loaded)
        # A backbone's front-end is its own (and may be a recurrent net): windows are scored one by one.
        self.feature_map = FeatureMap(self.model) if isinstance(self.model, AudioClassifier) else None

    @torch.inference_mode()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(batch)).float().numpy()

    @torch.inference_mode()
    def span_logits(self, span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
        samples = np.asarray(span, dtype=np.float32)
        if not samples.flags.writeable:  # torch.from_numpy warns about read-only arrays (a caller's memmap)
            samples = samples.copy()
        if self.feature_map is None:
            return self.logits(cut_windows(samples, offsets, window))
        return self.feature_map.logits(torch.from_numpy(samples), np.asarray(offsets, dtype=np.int64),
                                       window).float().numpy()


class TorchScriptBackend:
    """A TorchScript export (`earmark export --format torchscript`), its ModelInfo stored inside the archive."""

    def __init__(self, path: Path) -> None:
        extra = {TORCHSCRIPT_EXTRA: ""}
        try:
            self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra).eval()
        except (RuntimeError, ValueError, OSError) as exc:
            raise EarmarkError(f"{path}: not a loadable TorchScript model ({str(exc).splitlines()[0][:160]})") from None
        try:
            props = json.loads(extra[TORCHSCRIPT_EXTRA] or "{}")
        except ValueError:
            props = {}
        self.info = ModelInfo.from_metadata(props, path)
        fixed = props.get(FIXED_SAMPLES)
        self.fixed_samples = int(fixed) if str(fixed or "").isdigit() else None  # None: any length

    @torch.no_grad()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        check_window_length(self.fixed_samples, batch.shape[1], "TorchScript")
        return self.module(torch.from_numpy(batch)).float().numpy()

    def span_logits(self, span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
        return self.logits(cut_windows(span, offsets, window))
