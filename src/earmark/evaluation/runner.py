"""Run a model over every window of a set of clips and aggregate the windows back to clip scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from earmark.config import DataConfig
from earmark.data.dataset import EvalWindows, PreparedData
from earmark.data.manifest import ManifestRow
from earmark.evaluation.aggregate import AggregateMethod, aggregate_windows


@dataclass
class ClipScores:
    """Per-clip probabilities and true label indices (-1 where the label is unknown to the model)."""

    rows: list[ManifestRow]
    probs: np.ndarray  # [C, K]
    y_true: np.ndarray  # [C]
    loss: float  # mean cross-entropy over windows with a known label


@torch.no_grad()
def score_clips(
    model: torch.nn.Module,
    data: PreparedData,
    rows: list[ManifestRow],
    labels: list[str],
    config: DataConfig,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> ClipScores:
    """Probabilities for each clip in `rows`: all windows scored, then aggregated per `config.aggregate`."""
    window = round(config.resolved_window_s * data.sample_rate)
    hop = max(1, round(config.resolved_hop_s * data.sample_rate))
    windows = EvalWindows(data, rows, window, hop, labels)
    loader = DataLoader(windows, batch_size=batch_size, shuffle=False, num_workers=config.num_workers)
    was_training = model.training
    model.eval()
    probs, clips, losses, targets = [], [], [], []
    for wave, target, clip in loader:
        logits = model(wave.to(device)).float()
        known = target >= 0
        if known.any():
            losses.append(
                torch.nn.functional.cross_entropy(
                    logits[known.to(logits.device)], target[known].to(logits.device), reduction="sum"
                ).item()
            )
        probs.append(torch.softmax(logits, dim=1).cpu().numpy())
        clips.append(clip.numpy())
        targets.append(known.sum().item())
    model.train(was_training)
    window_probs = np.concatenate(probs) if probs else np.zeros((0, 1), dtype=np.float32)
    method = cast(AggregateMethod, config.aggregate)
    clip_ids, clip_probs = aggregate_windows(window_probs, np.concatenate(clips), method)
    label_index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([label_index.get(rows[c].label, -1) for c in clip_ids], dtype=np.int64)
    loss = float(sum(losses) / max(sum(targets), 1))
    return ClipScores([rows[c] for c in clip_ids], clip_probs, y_true, loss)
