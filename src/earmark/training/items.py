"""Training on images and feature tables: the front-end facts copied from the prepared data into the config
(so the checkpoint holds them once), and the standardisation fitted on the training split."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from earmark.config import TrainConfig
from earmark.data.dataset import PreparedData
from earmark.data.manifest import ManifestRow
from earmark.errors import ConfigError
from earmark.features.items import ITEM_KINDS
from earmark.item_classifier import ItemClassifier

ITEM_WINDOW_S = 1.0  # an item is one "second" of `sample_rate` = N values (data/items.py): one window, whole


def fit_config_to_data(config: TrainConfig, data: PreparedData) -> TrainConfig:
    """`config` with the item facts of `data` (kind, shape, resize, columns) and one window per item; an audio
    dataset's config is returned as it is (an image or table front-end for it is a config error)."""
    if data.kind == "audio":
        if config.features.kind in ITEM_KINDS:
            raise ConfigError(f"features.kind {config.features.kind!r}: {data.root} holds audio")
        return config
    item = data.item
    features = dataclasses.replace(config.features, kind=data.kind, shape=[int(n) for n in item["shape"]],
                                   resize=str(item.get("resize", "")), columns=list(item.get("columns", [])))
    for key, value in (("data.window_s", config.data.window_s), ("data.eval_hop_s", config.data.eval_hop_s)):
        if value not in ("auto", ITEM_WINDOW_S):
            raise ConfigError(f"{key}={value}: an {data.kind} item is scored whole; leave it at auto")
    window = dataclasses.replace(config.data, window_s=ITEM_WINDOW_S, eval_hop_s=ITEM_WINDOW_S)
    return dataclasses.replace(config, features=features, data=window)


@torch.no_grad()
def fit_item_statistics(model: ItemClassifier, data: PreparedData, rows: list[ManifestRow],
                        limit: int = 20000) -> None:
    """The front-end's mean and standard deviation from (up to `limit`) training items."""
    step = max(1, len(rows) // limit)
    values = np.stack([data.samples(row) for row in rows[::step]])
    model.frontend.fit(torch.from_numpy(values))


def describe_items(model: ItemClassifier, config: TrainConfig) -> str:
    """The log line saying what the model sees."""
    channels, height, width = model.frontend.layout
    if model.kind == "table":
        return f"input: feature table, {height} features standardised with training-split statistics"
    augment = config.augment
    return (f"input: images {channels}x{height}x{width} (policy {config.features.resize}), standardised per "
            f"channel with training-split statistics; augmentation: shift up to {augment.image_shift:g} of each side"
            f"{', left-right flip' if augment.image_flip else ', no flip'}"
            f"{f', mixup alpha {augment.mixup_alpha}' if augment.mixup_alpha > 0 else ''}")
