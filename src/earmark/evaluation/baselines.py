"""The two numbers a result is read against, fitted on the run's own train split and scored on its clips.

- `majority`: the class prior of the train split; it predicts the most frequent training class for every clip.
- `logreg`: multinomial logistic regression on each clip's per-band mean and standard deviation over time of
  the run's own front-end features (the classic "MFCC statistics" baseline), fitted full-batch with L-BFGS.

Both take a few seconds where the network takes minutes, so every run reports them on the same clips.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from earmark.data.dataset import PreparedData, fit_window
from earmark.data.manifest import ManifestRow
from earmark.evaluation.metrics import compute_metrics

BASELINES = ("majority", "logreg")
MAX_POOLED_S = 60.0  # seconds of each clip pooled: a long clip's statistics settle well before
L2 = 1e-3  # weight penalty per training clip, keeps separable data from diverging
MAX_ITER = 200
BATCH_SAMPLES = 2_000_000  # waveform samples scored at once (8 MB of float32)
_HEADLINE = ("n", "accuracy", "balanced_accuracy", "macro_f1", "accuracy_ci95", "macro_f1_ci95")


def pooled_features(frontend: nn.Module, data: PreparedData, rows: Sequence[ManifestRow],
                    window_samples: int, batch_samples: int = BATCH_SAMPLES) -> np.ndarray:
    """`[N, 2F]` float64: mean and standard deviation over time of every band of `frontend(clip)`.

    Clips shorter than a window are padded to it as training pads them; at most `MAX_POOLED_S` is read.
    Clips are scored in batches of similar length, zero-padded at the end; the frames that padding adds are
    left out of the statistics, so each clip's numbers are those of the clip alone.
    """
    limit = max(window_samples, round(MAX_POOLED_S * data.sample_rate))
    lengths = np.array([min(max(row.num_samples, window_samples), limit) for row in rows], dtype=np.int64)
    hop = int(getattr(frontend, "hop_length", 1))
    pooled: np.ndarray | None = None
    order = np.argsort(lengths, kind="stable")
    start = 0
    with torch.inference_mode():
        while start < len(order):
            stop = start + 1
            while stop < len(order) and (stop + 1 - start) * lengths[order[stop]] <= batch_samples:
                stop += 1
            batch = order[start:stop]
            waves = np.zeros((len(batch), int(lengths[batch[-1]])), dtype=np.float32)
            for slot, index in enumerate(batch):
                samples = data.samples(rows[index], 0, limit)
                waves[slot, : lengths[index]] = fit_window(samples, window_samples) \
                    if samples.size < window_samples else samples
            features = frontend(torch.from_numpy(waves))[:, 0].double()  # [B, F, T]
            frames = torch.from_numpy(1 + lengths[batch] // hop).clamp(max=features.shape[-1])
            mask = (torch.arange(features.shape[-1])[None, :] < frames[:, None]).double()[:, None, :]
            mean = (features * mask).sum(dim=-1) / frames[:, None]
            std = (((features - mean[..., None]) ** 2 * mask).sum(dim=-1) / frames[:, None]).sqrt()
            stats = torch.cat([mean, std], dim=1).numpy()
            if pooled is None:
                pooled = np.empty((len(rows), stats.shape[1]))
            pooled[batch] = stats
            start = stop
    return pooled if pooled is not None else np.zeros((0, 0))


def fit_logreg(x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Weights `[D, K]` and bias `[K]` of an L2-penalised multinomial logistic regression on standardised `x`.

    Returns the standardisation folded into the weights, so `x @ w + b` are the logits of raw features.
    """
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    features = torch.from_numpy((x - mean) / std)
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))
    generator = torch.Generator().manual_seed(seed)
    weight = (0.01 * torch.randn(x.shape[1], num_classes, generator=generator, dtype=torch.float64)).requires_grad_()
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    solver = torch.optim.LBFGS([weight, bias], max_iter=MAX_ITER, line_search_fn="strong_wolfe",
                               tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        solver.zero_grad()
        loss = nn.functional.cross_entropy(features @ weight + bias, target) + 0.5 * L2 * (weight**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        solver.step(closure)
    w = weight.detach().numpy() / std[:, None]
    return w, bias.detach().numpy() - mean @ w


@dataclass
class BaselineScores:
    """Probabilities `[N, K]` of every baseline on the clips of each split, with the clips' paths and labels."""

    n_train: int
    paths: dict[str, list[str]]
    y_true: dict[str, np.ndarray]
    probs: dict[str, dict[str, np.ndarray]]  # split → baseline name → probabilities


def baseline_scores(frontend: nn.Module, train_data: PreparedData, train_rows: Sequence[ManifestRow],
                    data: PreparedData, splits: Mapping[str, Sequence[ManifestRow]], labels: list[str],
                    window_samples: int, seed: int = 0) -> BaselineScores | None:
    """Fit both baselines on `train_rows` of `train_data`, score every non-empty split of `data` (clips whose
    label the model does not know are left out); None without a training clip of a known label."""
    index = {label: i for i, label in enumerate(labels)}
    train = [row for row in train_rows if row.label in index]
    if not train:
        return None
    y_train = np.array([index[row.label] for row in train])
    prior = np.bincount(y_train, minlength=len(labels)) / len(y_train)
    w, b = fit_logreg(pooled_features(frontend, train_data, train, window_samples), y_train, len(labels), seed)
    scores = BaselineScores(len(train), {}, {}, {})
    for split, rows in splits.items():
        known = [row for row in rows if row.label in index]
        if not known:
            continue
        scores.paths[split] = [row.path for row in known]
        scores.y_true[split] = np.array([index[row.label] for row in known])
        logits = pooled_features(frontend, data, known, window_samples) @ w + b
        scores.probs[split] = {"majority": np.tile(prior, (len(known), 1)), "logreg": _softmax(logits)}
    return scores


def baseline_metrics(frontend: nn.Module, train_data: PreparedData, train_rows: Sequence[ManifestRow],
                     data: PreparedData, splits: Mapping[str, Sequence[ManifestRow]], labels: list[str],
                     window_samples: int, seed: int = 0) -> dict[str, Any]:
    """`{"majority": {split: block}, "logreg": {split: block}, "protocol": text}` for every non-empty split.

    Fitted on `train_rows` of `train_data` (the model's own training clips), scored on `splits` of `data`
    (the same dataset, or another one for a cross-dataset evaluation). Each block holds n, accuracy, balanced
    accuracy, macro-F1 and their 95% intervals, computed exactly as the model's are (`compute_metrics`, same
    seed). Clips whose label the model does not know are left out.
    """
    scores = baseline_scores(frontend, train_data, train_rows, data, splits, labels, window_samples, seed)
    return {} if scores is None else summarise_baselines(scores, labels, seed)


def summarise_baselines(scores: BaselineScores, labels: list[str], seed: int = 0) -> dict[str, Any]:
    """The metrics.json block of `baseline_metrics` from already computed scores."""
    result: dict[str, Any] = {name: {} for name in BASELINES}
    for split, probs in scores.probs.items():
        for name in BASELINES:
            block = compute_metrics(scores.y_true[split], probs[name], labels, seed=seed)
            result[name][split] = {key: block[key] for key in _HEADLINE}
    result["protocol"] = (f"fitted on the train split ({scores.n_train} clips), scored on the same clips as the "
                          "model; logreg: per-band mean and std of the run's features, L2 logistic regression")
    return result


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))
