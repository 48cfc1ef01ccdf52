from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmark.config import TrainConfig, apply_overrides, dump_yaml, from_dict, load_train_config, to_dict
from earmark.errors import ConfigError


def test_defaults_round_trip_through_yaml(tmp_path: Path) -> None:
    config = load_train_config()
    path = tmp_path / "c.yaml"
    path.write_text(dump_yaml(config))
    assert load_train_config(path) == config


def test_lists_and_typed_flags() -> None:
    config = load_train_config(overrides=["model.freeze=['network.features.*', 'regex:.*bias']"],
                               flags={"model.init_from": "runs/a: b", "trainer.compile": True})
    assert config.model.freeze == ["network.features.*", "regex:.*bias"]
    assert config.model.init_from == "runs/a: b" and config.trainer.compile is True  # flags skip YAML parsing


def test_overrides_are_typed_and_nested() -> None:
    config = load_train_config(overrides=["optim.lr=0.01", "trainer.epochs=3", "features.f_max=null"])
    assert config.optim.lr == 0.01 and config.trainer.epochs == 3 and config.features.f_max is None
    assert isinstance(from_dict(TrainConfig, {"optim": {"lr": 1}}).optim.lr, float)
    # YAML 1.1 reads 3e-4 (no dot) as a string: a float key takes it as the number it means
    config = load_train_config(overrides=["optim.lr=3e-4", "trainer.time_budget_s=1E2", "data.window_s=2e0"])
    assert (config.optim.lr, config.trainer.time_budget_s, config.data.window_s) == (3e-4, 100.0, 2.0)
    with pytest.raises(ConfigError, match=r"trainer\.epochs: expected int or 'auto', got '1e3'"):
        load_train_config(overrides=["trainer.epochs=1e3"])  # an int key does not


@pytest.mark.parametrize("override, message", [
    (["optim.lrr=0.1"], "unknown key optim.lrr"),
    (["trainer.epochs=three"], "trainer.epochs: expected int"),
    (["bogus.x=1"], "unknown key bogus"),
    (["novalue"], "expected key=value"),
    (["model.freeze=network.head"], "model.freeze: expected a list"),
    (["model.freeze=[network.head, 3]"], r"model.freeze\[1\]: expected str"),
])
def test_bad_config_is_a_clear_error(override: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_train_config(overrides=override)


def test_unknown_key_lists_valid_choices() -> None:
    with pytest.raises(ConfigError, match=r"valid keys: .*lr"):
        from_dict(TrainConfig, apply_overrides({}, ["optim.learning_rate=1"]))


def test_to_dict_is_plain() -> None:
    from earmark.models import DEFAULT_MODEL

    plain = to_dict(TrainConfig())
    assert plain["model"]["name"] == plain["data"]["window_s"] == plain["trainer"]["epochs"] == "auto"  # from data
    assert DEFAULT_MODEL == "tcresnet-8"  # what auto picks on the kinds of data measured


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "constant"])
def test_learning_rate_schedules(schedule: str) -> None:
    import torch

    from earmark.config import OptimConfig
    from earmark.training.optim import build_optimizer, build_scheduler

    config = OptimConfig(lr=1.0, schedule=schedule, warmup_epochs=0 if schedule == "onecycle" else 1.0)
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(1))], config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=10, epochs=10)
    rates = []
    for _ in range(100):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    peak = int(np.argmax(rates))
    if schedule == "onecycle":
        assert rates[0] == pytest.approx(1 / 25) and peak == 30 and rates[-1] < 0.01
    elif schedule == "cosine":
        assert rates[0] < 0.2 and peak == 10 and rates[-1] < 0.01
    else:
        assert rates[-1] == 1.0
    assert max(rates) == pytest.approx(1.0, abs=1e-3)
