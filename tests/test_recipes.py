"""Defaults from the data (`auto`), the baseline guard, and `train --auto` with a logreg winner that predicts
and exports."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmark.cli import main
from earmark.config import TrainConfig, load_train_config
from earmark.data.manifest import ManifestRow
from earmark.errors import ConfigError
from earmark.evaluation.guard import baseline_guard, mcnemar_p
from earmark.training.auto import pretrained_candidates
from earmark.training.recipe import is_unresolved, resolve_recipe

QUICK = ["--set", "trainer.threads=1", "--set", "trainer.batch_size=16", "--set", "trainer.device=cpu"]


def rows(durations: list[float], labels: int = 2) -> list[ManifestRow]:
    """Manifest rows of the given durations (only the facts the recipe reads matter)."""
    return [ManifestRow(f"c{i}.wav", f"c{i}.wav", f"l{i % labels}", f"g{i}", "train", -1, d, 16000, 1, 0, 0,
                        round(d * 16000), "") for i, d in enumerate(durations)]


@pytest.mark.parametrize("durations, window, model", [
    ([0.4] * 90 + [0.9] * 10, 0.5, "tcresnet-8"),  # short words: the lower bound
    ([0.6] * 50 + [0.8] * 50, 1.0, "tcresnet-8"),  # 90th percentile 0.8 s, rounded up to 1.0
    ([1.0] * 50 + [1.3] * 50, 1.5, "tcresnet-8"),  # 1.3 s rounded up to a multiple of 0.25 s
    ([1.0] * 50 + [1.6] * 50, 1.75, "cnn-stats"),  # longer than word-like: the 2-D CNN
    ([3.0] * 50 + [4.6] * 50, 2.0, "cnn-stats"),  # utterances of seconds: the upper bound, windowed
    ([30.0] * 100, 2.0, "cnn-stats"),  # long recordings: windowed
])
def test_auto_window_and_model_follow_the_durations(durations: list[float], window: float, model: str) -> None:
    config, record = resolve_recipe(TrainConfig(), rows(durations), 2)
    assert not is_unresolved(config)
    assert config.data.window_s == window and config.data.eval_hop_s == window / 2
    assert config.model.name == model
    assert record["data.window_s"]["auto"] and "percentile" in record["data.window_s"]["reason"]


@pytest.mark.parametrize("clips, epochs", [(2430, 30), (960, 80), (240, 100), (20_000, 30)])
def test_auto_epochs_follow_the_dataset_size(clips: int, epochs: int) -> None:
    config, _ = resolve_recipe(TrainConfig(), rows([1.0] * clips), 2)
    assert config.trainer.epochs == epochs  # about 2400 steps at batch 32, within 30-100
    assert config.trainer.patience == max(10, round(epochs / 5))  # early stopping is on


def test_given_values_win_and_a_resumed_run_keeps_its_own() -> None:
    given = load_train_config(overrides=["data.window_s=2.0", "model.name=vgg-s", "trainer.epochs=7",
                                         "trainer.patience=null"])
    config, record = resolve_recipe(given, rows([0.4] * 10), 2)
    assert (config.data.window_s, config.data.eval_hop_s, config.model.name) == (2.0, 1.0, "vgg-s")
    assert (config.trainer.epochs, config.trainer.patience) == (7, None)
    assert record["model.name"] == {"value": "vgg-s", "auto": False, "reason": "given"}
    saved = {"data": {"window_s": 0.75, "eval_hop_s": 0.25}, "model": {"name": "cnn"},
             "trainer": {"epochs": 12, "patience": 3}}  # what the interrupted run resolved on its data
    config, record = resolve_recipe(TrainConfig(), rows([5.0] * 10), 2, saved)
    assert (config.data.window_s, config.model.name, config.trainer.epochs) == (0.75, "cnn", 12)
    assert "checkpoint" in record["model.name"]["reason"]


def test_auto_is_the_only_string_a_number_takes() -> None:
    assert load_train_config(overrides=["data.window_s=auto"]).data.window_s == "auto"
    with pytest.raises(ConfigError, match=r"data.window_s: expected float or 'auto'"):
        load_train_config(overrides=["data.window_s=long"])
    with pytest.raises(ConfigError, match=r"trainer.epochs=-1: expected a positive number or 'auto'"):
        resolve_recipe(load_train_config(overrides=["trainer.epochs=-1"]), rows([1.0]), 2)
    with pytest.raises(RuntimeError, match="resolve"):
        _ = TrainConfig().data.resolved_window_s  # nothing may read `auto` as a number


def test_mcnemar_and_the_guard_rule() -> None:
    assert mcnemar_p(0, 0) == 1.0 and mcnemar_p(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_p(3, 3) == 1.0
    truth = np.array([0, 1] * 10)
    right = np.eye(2)[truth]
    constant = np.tile([1.0, 0.0], (20, 1))  # right on half the clips
    assert baseline_guard(truth, constant, right)["fired"]  # 10 clips only the baseline gets: p = 0.002
    assert not baseline_guard(truth, right, constant)["fired"]  # the model is the better one
    assert not baseline_guard(truth[:8], constant[:8], right[:8])["fired"]  # 4 discordant clips: noise


def loudness_corpus(root: Path, per_class: int = 80, seed: int = 0) -> Path:
    """Two classes of 0.5-s white noise that differ only in level (20 dB apart, ±3 dB within a class)."""
    rng = np.random.default_rng(seed)
    for label, level_db in (("quiet", -32.0), ("loud", -12.0)):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            gain = 10 ** ((level_db + rng.uniform(-3, 3)) / 20)
            sf.write(str(folder / f"src{i}.wav"), (gain * rng.standard_normal(8000)).astype(np.float32), 16000,
                     subtype="PCM_16")
    return root


@pytest.fixture(scope="module")
def loudness_prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loudness")
    assert main(["prepare", str(loudness_corpus(out / "source")), str(out / "data"), "--split", "50/25/25",
                 "--workers", "1"]) == 0
    return out / "data"


# Instance normalisation removes a map's overall level: the network cannot hear loudness, the baseline can.
BLIND = ["--set", "features.normalize=instance", "--epochs", "2", *QUICK]


def test_guard_fires_where_the_baseline_must_win(loudness_prepared: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", str(loudness_prepared), "--out", str(run), *BLIND]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    guard = metrics["baseline_guard"]
    assert guard["fired"] and guard["baseline_accuracy"] > 0.9 and guard["p_value"] < 0.05, guard
    assert "WARNING: the logreg baseline beats this model" in capsys.readouterr().out
    assert (run / "model_card.md").read_text().splitlines()[2].startswith("> **WARNING")
    page = (run / "report.html").read_text()
    assert page.index('id="baseline-guard"') < page.index('id="summary"')
    recipe = json.loads((run / "run.json").read_text())["recipe"]
    assert recipe["data.window_s"]["value"] == 0.5 and recipe["model.name"]["value"] == "tcresnet-8"


@pytest.mark.slow  # three candidates, a report, an ONNX export and its parity check: about 15 s of CPU
def test_auto_chooses_the_baseline_which_predicts_and_exports(loudness_prepared: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    run = tmp_path / "auto"
    assert main(["train", str(loudness_prepared), "--out", str(run), "--auto", "--time-budget", "900", *BLIND]) == 0
    out = capsys.readouterr().out
    assert "<- chosen" in out and "ranked on validation only" in out
    # cheapest first, the data-chosen model last; each trained one gets an even share of what is left
    started = re.findall(r"^\[\d/\d\] (\S+) → .*?(?: \((\d+) s of training\))?$", out, flags=re.M)
    assert started[0] == ("logreg", "") and started[-1][0] == "tcresnet-8", started
    seconds = {row["candidate"]: float(row["seconds_train"]) for row in csv.DictReader((run / "candidates.csv").open())}
    trained, spent = [name for name, share in started if share], 0.0
    for k, name in enumerate(trained):
        assert abs(int(dict(started)[name]) - (900 - spent) / (len(trained) - k)) <= 1, (started, seconds)
        spent += seconds[name]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["auto"]["winner"] == "logreg" and metrics["model"] == "logreg"
    beat = metrics["auto"]["decision"]["beats_default"]  # better than the data-chosen tcresnet-8 beyond noise
    assert beat["candidate"] == "logreg" and beat["p_value"] < 0.05 and metrics["auto"]["decision"]["default"] == \
        "tcresnet-8"
    assert metrics["auto"]["decision"]["summary"] in out
    assert metrics["val"]["accuracy"] > 0.9 and not metrics["baseline_guard"]["fired"]
    table = (run / "candidates.csv").read_text().splitlines()
    probe = [candidate.name for candidate in pretrained_candidates()]  # the GE2E probe where its wheel is installed
    assert table[0].startswith("rank,candidate") and table[1].startswith("1,logreg,") and len(table) == 4 + len(probe)
    assert {row.split(",")[1] for row in table[1:]} == {"tcresnet-8", "cnn-stats", "logreg", *probe}
    assert 'id="candidates"' in (run / "report.html").read_text() and "auto: chose logreg: right on" in \
        (run / "report.html").read_text()
    source = loudness_prepared.parent / "source"
    assert main(["predict", str(run), str(source / "loud" / "src0.wav"), str(source / "quiet" / "src0.wav"),
                 "--format", "json"]) == 0
    predicted = [item["label"] for item in json.loads(capsys.readouterr().out)]
    assert predicted == ["loud", "quiet"]
    assert main(["export", str(run)]) == 0 and (run / "model.onnx").is_file()
    # a second --auto into the same folder is refused; the finished candidates were kept
    assert main(["train", str(loudness_prepared), "--out", str(run), "--auto", *BLIND]) == 1
    assert all((run / "candidates" / name / "metrics.json").is_file() for name in ("tcresnet-8", "cnn-stats", "logreg"))
