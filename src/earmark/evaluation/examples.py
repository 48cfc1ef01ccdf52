"""The misclassified clips a person should listen to: the most confident mistakes, each with audio and a picture."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import torch
from torch import nn

from earmark.data.dataset import PreparedData, fit_window
from earmark.data.manifest import ManifestRow
from earmark.evaluation.plots import spectrogram_png

MAX_EXAMPLES = 12  # clips shown in report.html; each costs ~40 kB of audio and a small PNG
EXCERPT_S = 8.0  # the first seconds of a long clip are embedded, not the whole file


@dataclass(frozen=True)
class ClipExample:
    """One misclassified clip as the report shows it: 16-bit WAV bytes of its start and a spectrogram PNG."""

    clip: str
    true: str
    predicted: str
    score: float  # the model's probability for the wrong label
    duration_s: float
    excerpt_s: float
    wav: bytes
    png: bytes


def most_confident_mistakes(y_true: np.ndarray, probs: np.ndarray, limit: int = MAX_EXAMPLES) -> list[int]:
    """Indices of clips predicted wrongly (true label known), the most confident mistake first."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero((y_true >= 0) & (predicted != y_true))
    confidence = probs[wrong, predicted[wrong]]
    return [int(i) for i in wrong[np.argsort(-confidence, kind="stable")][:limit]]


def misclassified_examples(frontend: nn.Module, data: PreparedData, rows: Sequence[ManifestRow],
                           y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str], window_samples: int,
                           limit: int = MAX_EXAMPLES) -> list[ClipExample]:
    """Audio and spectrogram of up to `limit` misclassified clips (`rows[i]` scored as `probs[i]`).

    A clip shorter than the model's window is shown padded to it, as the model heard it.
    """
    examples = []
    for i in most_confident_mistakes(y_true, probs, limit):
        row = rows[i]
        samples = data.samples(row, 0, max(window_samples, round(EXCERPT_S * data.sample_rate)))
        if samples.size < window_samples:
            samples = fit_window(samples, window_samples)
        seconds = samples.size / data.sample_rate
        with torch.inference_mode():
            features = frontend(torch.from_numpy(samples)[None])[0, 0].numpy()
        predicted = labels[int(probs[i].argmax())]
        examples.append(ClipExample(
            clip=row.path, true=labels[int(y_true[i])], predicted=predicted, score=float(probs[i].max()),
            duration_s=row.duration_s, excerpt_s=seconds, wav=wav_bytes(samples, data.sample_rate),
            png=spectrogram_png(features),
        ))
    return examples


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file in memory, as browsers play it from a data URI."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
