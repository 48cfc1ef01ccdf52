"""PNG figures for the run report: confusion matrix (counts and row-normalised), training curves, and the
spectrogram of a misclassified clip.

matplotlib is imported inside the functions (it costs about a second) and used through `Figure` with the
Agg canvas, never pyplot, so no global backend or figure registry is touched.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from earmark.fileio import write_bytes_atomic

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
ANNOTATE_MAX_CLASSES = 20
MAX_LABEL_CHARS = 24
_CURVE_PANELS = (("loss", "train_loss", "val_loss"), ("accuracy", "train_accuracy", "val_accuracy"))


def plot_confusion(
    confusion: np.ndarray | Sequence[Sequence[int]], labels: Sequence[str], path: Path
) -> None:
    """Save a two-panel confusion matrix PNG (counts, row-normalised recall) readable up to ~50 classes."""
    counts = np.asarray(confusion, dtype=np.int64)
    num_classes = len(labels)
    if counts.shape != (num_classes, num_classes):
        raise ValueError(f"confusion must be [K, K] with K={num_classes} labels, got shape {counts.shape}")
    support = counts.sum(axis=1, keepdims=True)
    # A class with no true clips gets an empty row rather than NaN.
    percent = 100.0 * np.divide(counts, support, out=np.zeros(counts.shape), where=support > 0)
    # Panel size grows with K so a 50-class matrix keeps ~16 pt per row; fonts follow the cell size.
    panel_in = float(np.clip(3.0 + 0.17 * num_classes, 4.5, 12.0))
    cell_pt = 72.0 * panel_in / max(num_classes, 1)
    tick_font = float(np.clip(0.5 * cell_pt, 5.0, 10.0))
    fig = _new_figure(2 * panel_in + 1.5, panel_in + 1.0)
    short = [_shorten(label) for label in labels]
    ax_counts, ax_norm = fig.subplots(1, 2)
    _draw_matrix(fig, ax_counts, counts.astype(np.float64), short, tick_font, "counts", None)
    _draw_matrix(fig, ax_norm, percent, short, tick_font, "row-normalised: % of true class", 100.0)
    if num_classes <= ANNOTATE_MAX_CLASSES:
        cell_font = float(np.clip(0.3 * cell_pt, 5.0, 10.0))
        _annotate(ax_counts, counts.astype(np.float64), cell_font, float(counts.max(initial=0)))
        _annotate(ax_norm, percent, cell_font, 100.0)
    _save(fig, path)


def plot_curves(history: Sequence[dict[str, Any]], path: Path) -> None:
    """Save a PNG of loss and accuracy per epoch, train and val; absent keys or values are skipped."""
    from matplotlib.ticker import MaxNLocator

    fig = _new_figure(11.0, 4.0)
    axes = fig.subplots(1, 2)
    for ax, (title, train_key, val_key) in zip(axes, _CURVE_PANELS, strict=True):
        drawn = 0
        for key, style, name in ((train_key, "-", "train"), (val_key, "--", "val")):
            epochs, values = _series(history, key)
            if values:
                ax.plot(epochs, values, style, marker="o", markersize=3, label=name)
                drawn += 1
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if drawn:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    _save(fig, path)


def spectrogram_png(features: np.ndarray) -> bytes:
    """One clip's feature map `[F, T]` as a PNG with a pixel per frame and band (low bands at the bottom).

    No axes: the page scales it and states the clip's duration beside it. Drawn without a figure, in a few
    milliseconds, so a report can show a dozen of them without slowing every run down.
    """
    from matplotlib.image import imsave

    values = np.asarray(features, dtype=np.float64)
    buffer = io.BytesIO()
    imsave(buffer, values, cmap="magma", origin="lower", format="png")
    return buffer.getvalue()


def _new_figure(width_in: float, height_in: float) -> Figure:
    """A pyplot-free figure bound to the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _draw_matrix(
    fig: Figure, ax: Axes, values: np.ndarray, labels: list[str], font: float, title: str, vmax: float | None
) -> None:
    """One heatmap panel with class names on both axes and its own colour bar."""
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    ticks = np.arange(len(labels))
    if len(labels) * max(map(len, labels), default=0) <= 60:
        ax.set_xticks(ticks, labels, fontsize=font)  # short names fit upright
    else:
        # Anchored rotation puts the end of each slanted name under its own column.
        rotation = 45 if len(labels) <= 10 else 90
        ax.set_xticks(
            ticks, labels, rotation=rotation, ha="right", va="center", rotation_mode="anchor", fontsize=font
        )
    ax.set_yticks(ticks, labels, fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)


def _annotate(ax: Axes, values: np.ndarray, font: float, vmax: float) -> None:
    """Write each non-zero cell's value as a whole number, white on dark cells so it stays legible."""
    threshold = 0.5 * vmax if vmax > 0 else math.inf
    for (row, col), value in np.ndenumerate(values):
        if value == 0:
            continue
        colour = "white" if value > threshold else "black"
        ax.text(col, row, f"{value:.0f}", ha="center", va="center", fontsize=font, color=colour)


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) for one history key, skipping rows where it is missing or not a finite number."""
    epochs: list[float] = []
    values: list[float] = []
    for position, row in enumerate(history):
        value = _as_float(row.get(key))
        if value is None:
            continue
        epoch = _as_float(row.get("epoch"))
        epochs.append(float(position + 1) if epoch is None else epoch)
        values.append(value)
    return epochs, values


def _as_float(value: Any) -> float | None:
    """A finite float from a number or numeric string, else None (history read from CSV is text)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _shorten(label: str) -> str:
    """Clip long class names so tick labels do not swallow the matrix."""
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"


def _save(fig: Figure, path: Path) -> None:
    """Render to memory, then write atomically so a crash never leaves a half-written PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    write_bytes_atomic(Path(path), buffer.getvalue())
