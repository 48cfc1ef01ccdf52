"""The dataset at a glance: class counts, durations, source sample rates and channel counts in one PNG."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from earmark.data.manifest import ManifestRow
from earmark.fileio import write_bytes_atomic


def plot_overview(rows: list[ManifestRow], path: Path) -> None:
    """Four panels: clips per class, duration histogram, source rates, source channels (Agg, no pyplot)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 7), layout="constrained")
    FigureCanvasAgg(figure)
    (classes, durations), (rates, channels) = figure.subplots(2, 2)
    _bars(classes, Counter(row.label for row in rows), "clips per class")
    durations.hist(np.array([row.duration_s for row in rows]), bins=40, color="#4477aa")
    durations.set_title("duration (s)")
    _bars(rates, Counter(f"{row.source_sample_rate} Hz" for row in rows), "source sample rate")
    _bars(channels, Counter(f"{row.source_channels} ch" for row in rows), "source channels")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    write_bytes_atomic(path, buffer.getvalue())


def _bars(ax, counts: Counter[str], title: str) -> None:  # type: ignore[no-untyped-def]
    """A bar chart of counts, labels rotated when there are many."""
    names = sorted(counts)
    ax.bar(range(len(names)), [counts[n] for n in names], color="#4477aa")
    ax.set_xticks(range(len(names)), names, rotation=90 if len(names) > 8 else 0,
                  fontsize=max(5, 10 - len(names) // 10))
    ax.set_title(title)
