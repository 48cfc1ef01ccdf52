"""Defaults that fit the data: `auto` window, hop, model, epochs and patience, chosen once from dataset facts.

Resolution reads only facts of the training split (clip durations, clip count, class count) and the batch
size; it never looks inside a model. The resolved numbers replace `auto` in the config before anything else
reads it, so config.yaml and every checkpoint hold plain numbers and evaluate, predict and export never see
`auto`. A resumed run takes the values its checkpoint holds, so it cannot resolve differently.

The rules and the measurements behind them are in the README ("What auto chooses") and benchmarks/recipes.py.
They read durations and sizes only, never the dataset's name: short words, gender and environmental sounds
were all measured with the same rules.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from earmark.config import AUTO, TrainConfig
from earmark.data.manifest import ManifestRow
from earmark.errors import ConfigError

WINDOW_PERCENTILE = 90  # most clips are seen whole; the longest tenth is windowed
WINDOW_STEP_S = 0.25  # the window is rounded up to a multiple of this
# Below 0.5 s too little context for a sound. Above 2 s, long clips are cut into random 2-s windows in training
# (a new crop every epoch) and scored as the mean over windows: on ESC-10 (5-s clips; folds 1-3 train, 4 val,
# 5 test, n = 80) tcresnet-8 scored val/test 0.763/0.700 in 1-s windows, 0.800/0.788 in 2-s and 0.763/0.675 in
# whole 5-s windows; over its five folds (n = 400, 30 epochs) 1-s and 2-s windows scored alike, 0.713 and 0.705
# (README). Longer windows also cost memory and time per example.
WINDOW_BOUNDS_S = (0.5, 2.0)
SHORT_WINDOW_S = 1.5  # windows up to this: word-like clips, the temporal CNN; longer: the 2-D CNN (auto_model)
SHORT_MODEL, LONG_MODEL = "tcresnet-8", "cnn-stats"
IMAGE_MODEL, TABLE_MODEL = "cnn", "mlp"  # images and feature tables (data/items.py): auto_item_model
TARGET_STEPS = 2400  # optimiser steps a run aims at: small datasets get more epochs, large ones fewer
EPOCH_BOUNDS = (30, 100)
PATIENCE_FRACTION = 0.2  # early stopping after a fifth of the epochs without improvement...
MIN_PATIENCE = 10  # ...but never sooner than this


@dataclass(frozen=True)
class DatasetFacts:
    """What the recipe reads about a training split."""

    n_train: int
    n_classes: int
    median_s: float
    p90_s: float
    max_s: float

    def describe(self) -> str:
        return (f"{self.n_train} train clips, {self.n_classes} classes, durations median {self.median_s:.2f} s, "
                f"90th percentile {self.p90_s:.2f} s, longest {self.max_s:.2f} s")


def dataset_facts(rows: Sequence[ManifestRow], n_classes: int) -> DatasetFacts:
    """Durations and sizes of the training clips."""
    durations = np.array([row.duration_s for row in rows] or [0.0], dtype=np.float64)
    return DatasetFacts(len(rows), n_classes, float(np.median(durations)),
                        float(np.percentile(durations, WINDOW_PERCENTILE)), float(durations.max()))


def auto_window_s(facts: DatasetFacts) -> tuple[float, str]:
    """The window: the 90th percentile of train durations rounded up to 0.25 s, within 0.5-5 s."""
    rounded = math.ceil(round(facts.p90_s / WINDOW_STEP_S, 6)) * WINDOW_STEP_S
    low, high = WINDOW_BOUNDS_S
    window = min(max(rounded, low), high)
    bound = " (the lower bound)" if rounded < low else " (the upper bound: longer clips are windowed)" \
        if rounded > high else ""
    return window, (f"{WINDOW_PERCENTILE}th percentile of train clip durations {facts.p90_s:.2f} s, rounded up "
                    f"to {WINDOW_STEP_S} s, within {low:g}-{high:g} s{bound}")


def auto_model(window_s: float) -> tuple[str, str]:
    """The model for windows of this length (measurements in the README and benchmarks/recipes.py).

    Short windows (word-like clips): tcresnet-8, well above the logreg baseline on FSDD and the espeak digits and
    the fastest per CPU-second there. Long windows: the 2-D CNN with mean and max over time, `cnn-stats`. On
    ESC-10 (5-s sounds, five folds, n = 400) tcresnet-8 was below the baseline (0.652 against 0.780); `cnn`
    scored 0.853 ± 0.030 and `cnn-stats` 0.880 ± 0.059 (loud training crops, clip-level temperature; README).
    They train several times slower per epoch than tcresnet-8.
    """
    if window_s <= SHORT_WINDOW_S:
        return SHORT_MODEL, (f"windows of {window_s:g} s <= {SHORT_WINDOW_S:g} s (short, word-like clips): the "
                             "temporal CNN, accurate and fastest on short clips")
    return LONG_MODEL, (f"windows of {window_s:g} s > {SHORT_WINDOW_S:g} s (long clips): the 2-D CNN with mean "
                        "and max over time, which beat the temporal CNN and the plain cnn on long environmental "
                        "sounds (slower per epoch)")


def auto_item_model(kind: str) -> tuple[str, str]:
    """The model for images (`cnn`) and feature tables (`mlp`); benchmarks/images.py measures both on the UCI
    digits against scikit-learn's SVC and logistic regression, and every report shows the logreg baseline."""
    if kind == "image":
        return IMAGE_MODEL, "images: the 2-D CNN (conv blocks with max-pooling) over the standardised pixels"
    return TABLE_MODEL, "feature table: the MLP over the standardised features (logreg is the report's baseline)"


def auto_epochs(n_train: int, batch_size: int) -> tuple[int, str]:
    """Epochs for about `TARGET_STEPS` optimiser steps, rounded to 5, within 30-100."""
    steps = max(1, math.ceil(n_train / max(1, batch_size)))
    low, high = EPOCH_BOUNDS
    epochs = int(min(max(5 * round(TARGET_STEPS / steps / 5), low), high))
    return epochs, (f"about {TARGET_STEPS} optimiser steps at {steps} steps per epoch ({n_train} clips, batch "
                    f"{batch_size}), rounded to 5, within {low}-{high}")


def auto_patience(epochs: int) -> tuple[int, str]:
    """Early-stopping patience: a fifth of the epochs, at least 10."""
    patience = max(MIN_PATIENCE, round(PATIENCE_FRACTION * epochs))
    return patience, f"a fifth of {epochs} epochs, at least {MIN_PATIENCE}"


def resolve_recipe(config: TrainConfig, rows: Sequence[ManifestRow], n_classes: int,
                   saved: dict[str, Any] | None = None) -> tuple[TrainConfig, dict[str, Any]]:
    """`config` with every `auto` replaced by a number or name, and the record of what was chosen and why.

    `saved` is the resolved config (a dict) of the run being resumed: its values are taken as they are.
    The record maps each key to {"value", "auto", "reason"} plus "facts"; it goes into run.json.
    """
    facts = dataset_facts(rows, n_classes)
    record: dict[str, Any] = {"facts": dataclasses.asdict(facts)}
    data, model, trainer = config.data, config.model, config.trainer

    def choose(key: str, current: Any, rule: Any) -> Any:
        section, name = key.split(".")
        if current != AUTO:
            record[key] = {"value": current, "auto": False, "reason": "given"}
            return current
        if saved is not None and saved.get(section, {}).get(name, AUTO) != AUTO:
            value = saved[section][name]
            record[key] = {"value": value, "auto": True, "reason": "resolved when the run started (checkpoint)"}
            return value
        value, reason = rule()
        record[key] = {"value": value, "auto": True, "reason": reason}
        return value

    _check_positive(config)
    window = float(choose("data.window_s", data.window_s, lambda: auto_window_s(facts)))
    hop = float(choose("data.eval_hop_s", data.eval_hop_s, lambda: (window / 2, "half the window")))
    kind = config.features.kind
    name = str(choose("model.name", model.name,
                      lambda: auto_item_model(kind) if kind in ("image", "table") else auto_model(window)))
    epochs = int(choose("trainer.epochs", trainer.epochs, lambda: auto_epochs(facts.n_train, trainer.batch_size)))
    patience = choose("trainer.patience", trainer.patience, lambda: auto_patience(epochs))
    resolved = dataclasses.replace(
        config, data=dataclasses.replace(data, window_s=window, eval_hop_s=hop),
        model=dataclasses.replace(model, name=name),
        trainer=dataclasses.replace(trainer, epochs=epochs, patience=None if patience is None else int(patience)))
    return resolved, record


def _check_positive(config: TrainConfig) -> None:
    """Given numbers that cannot work are a config error, not a crash later."""
    for key, value in (("data.window_s", config.data.window_s), ("data.eval_hop_s", config.data.eval_hop_s),
                       ("trainer.epochs", config.trainer.epochs), ("trainer.patience", config.trainer.patience)):
        if not isinstance(value, str) and value is not None and value <= 0:
            raise ConfigError(f"{key}={value}: expected a positive number or {AUTO!r}")


def recipe_lines(record: dict[str, Any]) -> list[str]:
    """What was chosen from the data and why, one line per choice (printed at the start of training)."""
    chosen = [(key, item) for key, item in record.items() if key != "facts" and item["auto"]]
    if not chosen:
        return []
    lines = [f"auto: from {DatasetFacts(**record['facts']).describe()}"]
    lines += [f"auto: {key} = {item['value']}: {item['reason']}" for key, item in chosen]
    return lines


def is_unresolved(config: TrainConfig) -> bool:
    """Whether any key still holds `auto`."""
    return AUTO in (config.data.window_s, config.data.eval_hop_s, config.model.name, config.trainer.epochs,
                    config.trainer.patience)
