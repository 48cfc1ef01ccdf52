"""Run a model over every window of a set of clips and aggregate the windows back to clip scores.

A frozen pretrained backbone (the probe) is scored from its cached window embeddings through its head:
the same windows, the same aggregation, without running the backbone again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader

from earmark.config import DataConfig
from earmark.data.dataset import EvalWindows, PreparedData
from earmark.data.embeddings import WindowEmbeddings, window_embeddings
from earmark.data.manifest import ManifestRow
from earmark.evaluation.aggregate import AggregateMethod, aggregate_windows
from earmark.evaluation.calibration import temper_clips

Batches = Iterator[tuple[torch.Tensor, torch.Tensor, np.ndarray]]  # logits [B, K], targets [B], clips [B]


@dataclass
class ClipScores:
    """Per-clip probabilities and true label indices (-1 where the label is unknown to the model)."""

    rows: list[ManifestRow]
    probs: np.ndarray  # [C, K]
    y_true: np.ndarray  # [C]
    loss: float  # mean cross-entropy over windows with a known label
    window_logits: np.ndarray | None = None  # [W, K] as the model gave them (before any temperature), if kept
    window_clip: np.ndarray | None = None  # [W] index into `rows` of each window's clip, if kept


def is_probe(model: torch.nn.Module) -> bool:
    """A model whose frozen backbone's window embeddings can come from the cache (a BackboneClassifier)."""
    return bool(getattr(model, "frozen", False)) and hasattr(model, "embedding_key")


def window_hop(config: DataConfig, sample_rate: int) -> tuple[int, int]:
    """Evaluation window and hop in samples."""
    return config.window_samples(sample_rate), max(1, round(config.resolved_hop_s * sample_rate))


def probe_embeddings(model: Any, data: PreparedData, rows: list[ManifestRow], config: DataConfig, batch_size: int,
                     device: torch.device | str = "cpu",
                     log: Callable[[str], None] = lambda line: None) -> WindowEmbeddings:
    """The cached (or now computed and cached) backbone embeddings of every evaluation window of `rows`."""
    window, hop = window_hop(config, data.sample_rate)
    was_training = model.training
    model.eval()
    try:
        key = model.embedding_key(window, hop)
        return window_embeddings(data, rows, lambda wave: model.embed(wave.to(device)), key, window, hop, batch_size,
                                 log)
    finally:
        model.train(was_training)


@torch.no_grad()
def score_clips(
    model: torch.nn.Module,
    data: PreparedData,
    rows: list[ManifestRow],
    labels: list[str],
    config: DataConfig,
    batch_size: int,
    device: torch.device | str = "cpu",
    temperature: float = 1.0,
    keep_windows: bool = False,
) -> ClipScores:
    """Probabilities for each clip in `rows`: all windows scored (logits divided by `temperature`), then
    aggregated per `config.aggregate`; `keep_windows` also returns the windows' own logits."""
    if is_probe(model):
        embeddings = probe_embeddings(model, data, rows, config, batch_size, device)
        return score_embeddings(cast(torch.nn.Module, model.head), embeddings, rows, labels, config, batch_size, device,
                                temperature, keep_windows)
    window, hop = window_hop(config, data.sample_rate)
    windows = EvalWindows(data, rows, window, hop, labels)
    loader = DataLoader(windows, batch_size=batch_size, shuffle=False, num_workers=config.num_workers)

    def batches() -> Batches:
        for wave, target, clip in loader:
            yield model(wave.to(device)).float(), target, clip.numpy()

    return score_batches(model, batches(), rows, labels, config, temperature, keep_windows)


@torch.no_grad()
def score_embeddings(head: torch.nn.Module, embeddings: WindowEmbeddings, rows: list[ManifestRow], labels: list[str],
                     config: DataConfig, batch_size: int, device: torch.device | str = "cpu",
                     temperature: float = 1.0, keep_windows: bool = False) -> ClipScores:
    """`score_clips` for a probe: the head over cached window embeddings, aggregated the same way."""
    label_index = {label: i for i, label in enumerate(labels)}
    targets = np.array([label_index.get(rows[c].label, -1) for c in embeddings.clip], dtype=np.int64)
    step = max(batch_size, 256)  # a linear head: big batches cost nothing

    def batches() -> Batches:
        for i in range(0, len(targets), step):
            vectors = torch.from_numpy(np.ascontiguousarray(embeddings.vectors[i : i + step])).to(device)
            yield head(vectors).float(), torch.from_numpy(targets[i : i + step]), embeddings.clip[i : i + step]

    return score_batches(head, batches(), rows, labels, config, temperature, keep_windows)


def score_batches(model: torch.nn.Module, batches: Batches, rows: list[ManifestRow], labels: list[str],
                  config: DataConfig, temperature: float = 1.0, keep_windows: bool = False) -> ClipScores:
    """Window logits → window probabilities and loss → clip probabilities (eval mode while scoring)."""
    was_training = model.training
    model.eval()
    probs, clips, losses, targets, kept = [], [], [], [], []
    for raw, target, clip in batches:
        if keep_windows:
            kept.append(raw.cpu().numpy())
        logits = raw / temperature if temperature != 1.0 else raw
        known = target >= 0
        if known.any():
            losses.append(
                torch.nn.functional.cross_entropy(
                    logits[known.to(logits.device)], target[known].to(logits.device), reduction="sum"
                ).item()
            )
        probs.append(torch.softmax(raw, dim=1).cpu().numpy())  # the temperature acts on the clips, below
        clips.append(clip)
        targets.append(known.sum().item())
    model.train(was_training)
    window_probs = np.concatenate(probs) if probs else np.zeros((0, 1), dtype=np.float32)
    method = cast(AggregateMethod, config.aggregate)
    clip_ids, clip_probs = aggregate_windows(window_probs, np.concatenate(clips) if clips else np.zeros(0, np.int64),
                                             method)
    clip_probs = temper_clips(clip_probs, temperature)
    label_index = {label: i for i, label in enumerate(labels)}
    y_true = np.array([label_index.get(rows[c].label, -1) for c in clip_ids], dtype=np.int64)
    loss = float(sum(losses) / max(sum(targets), 1))
    window_clip = np.concatenate(clips) if clips and keep_windows else None
    window_logits = np.concatenate(kept) if kept else None
    return ClipScores([rows[c] for c in clip_ids], clip_probs, y_true, loss, window_logits, window_clip)
