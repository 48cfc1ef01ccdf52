"""Pretrained backbones: GE2E with its real weights (from the resemblyzer wheel), the in-model resampler, the
probe over cached embeddings through train → evaluate → predict, and the backbone listing. Offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soxr
import torch

from earmark.checkpoint import load_checkpoint
from earmark.cli import main
from earmark.config import load_train_config
from earmark.data.dataset import PreparedData
from earmark.errors import EarmarkError
from earmark.evaluation.runner import score_clips
from earmark.features.resampler import Resampler
from earmark.inference import Predictor
from earmark.models.pretrained import backbone_spec, is_backbone, list_backbones
from earmark.models.pretrained.ge2e import FINGERPRINT, GE2E, WEIGHTS, partial_starts, read_weights, wheel_weights
from earmark.models.pretrained.layout import file_sha256, layout_fingerprint
from earmark.training.loop import train
from tests.conftest import private_copy

# The default learning rate: the head's standardised inputs train at what a user gets (epochs cost ~10 ms each).
PROBE = ["trainer.epochs=10", "trainer.batch_size=16", "data.window_s=0.5", "data.eval_hop_s=0.25",
         "trainer.device=cpu", "trainer.threads=1"]


def test_ge2e_weights_are_the_real_file_in_the_official_layout() -> None:
    path = wheel_weights()  # found from the wheel's metadata; resemblyzer itself is never imported
    assert path.stat().st_size == WEIGHTS.size and file_sha256(path) == WEIGHTS.sha256
    assert layout_fingerprint(read_weights(path)) == FINGERPRINT
    model = GE2E()
    assert layout_fingerprint(model.state_dict()) == FINGERPRINT  # the port reproduces it with random weights
    before = model.linear.weight.clone()
    model.load_official(path)
    assert not torch.equal(before, model.linear.weight)


def test_ge2e_front_end_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    t = np.arange(24000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + t)) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours = GE2E().frontend.mel_power(torch.from_numpy(wave)[None])[0].numpy()  # [T, 40]
    ref = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()  # float32 rounding of the peak power


def test_ge2e_partials_cover_the_window_and_embeddings_are_unit_vectors() -> None:
    assert partial_starts(51) == [0] and partial_starts(160) == [0]
    assert partial_starts(201) == [0, 77]  # the second partial is 78% real frames
    assert partial_starts(250) == [0, 77]  # a third would be 60% padding
    embeds = GE2E().eval()(torch.randn(3, 8000) * 0.1)
    assert embeds.shape == (3, 256) and torch.allclose(embeds.norm(dim=1), torch.ones(3), atol=1e-5)


def test_ge2e_raises_quiet_windows_to_its_training_level_and_leaves_loud_ones() -> None:
    from earmark.models.pretrained.ge2e import raise_quiet

    quiet, loud = torch.full((1, 1600), 1e-3), torch.full((1, 1600), 0.5)
    level = 10 * torch.log10(raise_quiet(quiet).pow(2).mean())
    assert level.item() == pytest.approx(-30.0, abs=1e-3)  # resemblyzer's target, increase only
    assert torch.equal(raise_quiet(loud), loud)
    silence = torch.zeros(1, 1600)
    assert torch.equal(raise_quiet(silence), silence)


@pytest.mark.parametrize(("source", "target"), [(16000, 32000), (22050, 16000), (8000, 16000), (16000, 16000)])
def test_resampler_in_the_model_agrees_with_soxr(source: int, target: int) -> None:
    t = np.arange(source) / source
    wave = (0.5 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1800 * t)).astype(np.float32)
    ours = Resampler(source, target)(torch.from_numpy(wave)[None])[0].numpy()
    ref = soxr.resample(wave, source, target)
    assert ours.shape == ref.shape
    edge = target // 50  # both treat the first and last few ms differently (padding)
    assert np.abs(ours[edge:-edge] - ref[edge:-edge]).max() < 1e-3


def test_registry_lists_ge2e_and_tolerates_absent_families() -> None:
    names = [spec.name for spec in list_backbones()]
    assert "ge2e" in names and is_backbone("ge2e") and is_backbone("hf:/any/folder") and not is_backbone("cnn")
    spec = backbone_spec("ge2e")
    assert spec is not None and spec.sample_rate == 16000 and spec.embedding_dim == 256
    assert "Apache-2.0" in spec.licence


@pytest.fixture(scope="module")
def probe_data(tone_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tone dataset: the probe writes its embedding cache into it."""
    return private_copy(tone_prepared, tmp_path_factory.mktemp("probe") / "data")


@pytest.fixture(scope="module")
def ge2e_run(probe_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    run, lines = tmp_path_factory.mktemp("ge2e") / "run", []
    config = load_train_config(overrides=PROBE, flags={"model.name": "ge2e"})
    train(probe_data, run, config, log=lines.append)
    return run, lines


def test_probe_trains_the_head_on_cached_embeddings(ge2e_run: tuple[Path, list[str]], probe_data: Path) -> None:
    run, lines = ge2e_run
    assert any(line.startswith("embeddings: computed") for line in lines), lines
    assert any("probe: frozen backbone" in line and "no resampling" in line for line in lines), lines
    assert len((run / "history.csv").read_text().splitlines()) == 11
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "ge2e" and metrics["test"]["n"] > 0
    # Three tones through a speaker encoder: well above chance (1/3) on validation; 0.67-0.88 over seeds 0-2.
    assert metrics["val"]["accuracy"] >= 0.5
    history = (run / "history.csv").read_text().splitlines()[1:]
    assert float(history[-1].split(",")[1]) < float(history[0].split(",")[1])  # the training loss fell
    record = json.loads((run / "run.json").read_text())["backbone"]
    assert record["weights_sha256"] == WEIGHTS.sha256 and record["official_weights"] is True
    loaded = load_checkpoint(run / "checkpoints" / "best.ckpt")  # weights-only, rebuilt without the wheel file
    assert loaded.state["backbone"]["weights_sha256"] == WEIGHTS.sha256
    frozen = [name for name, p in loaded.model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith("backbone.") for name in frozen)
    assert "Apache-2.0" in (run / "model_card.md").read_text()


def test_cached_scores_equal_the_waveform_path(ge2e_run: tuple[Path, list[str]], probe_data: Path) -> None:
    loaded = load_checkpoint(ge2e_run[0] / "checkpoints" / "best.ckpt")
    data = PreparedData.open(probe_data)
    rows = data.split_rows("test")

    class Whole(torch.nn.Module):  # the same model without the probe's shortcut: every window through the LSTM
        def __init__(self) -> None:
            super().__init__()
            self.inner = loaded.model

        def forward(self, wave: torch.Tensor) -> torch.Tensor:
            return self.inner(wave)

    cached = score_clips(loaded.model, data, rows, loaded.labels, loaded.config.data, 16)
    direct = score_clips(Whole(), data, rows, loaded.labels, loaded.config.data, 16)
    assert [r.path for r in cached.rows] == [r.path for r in direct.rows]
    assert np.abs(cached.probs - direct.probs).max() < 1e-4 and cached.loss == pytest.approx(direct.loss, abs=1e-4)


def test_a_second_probe_run_reuses_the_cache(ge2e_run: tuple[Path, list[str]], probe_data: Path,
                                             tmp_path: Path) -> None:
    lines: list[str] = []
    config = load_train_config(overrides=[*PROBE, "model.head=mlp", "trainer.seed=1"], flags={"model.name": "ge2e"})
    train(probe_data, tmp_path / "mlp", config, log=lines.append)
    assert any(line.startswith("embeddings: cached") for line in lines), lines
    assert not any(line.startswith("embeddings: computed") for line in lines)
    assert len(list((probe_data / "embeddings").iterdir())) == 1  # same backbone, weights and window: one key


def test_evaluate_scores_a_probe_from_the_cache(ge2e_run: tuple[Path, list[str]], probe_data: Path) -> None:
    from earmark.training.evaluate import evaluate_run

    metrics = evaluate_run(ge2e_run[0], probe_data, "test")
    saved = json.loads((ge2e_run[0] / "metrics.json").read_text())["test"]
    assert metrics["test"]["n"] == saved["n"] and metrics["test"]["accuracy"] == pytest.approx(saved["accuracy"])


def test_probe_predicts_files(ge2e_run: tuple[Path, list[str]], tone_corpus: Path) -> None:
    predictor = Predictor.from_path(ge2e_run[0])
    result = predictor.predict(next(tone_corpus.glob("low/*.wav")))
    assert result.label in predictor.labels and len(result.windows) >= 1


def test_models_lists_backbones_with_rate_size_and_licence(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("ge2e "))
    assert "16000" in line and "256" in line and "Apache-2.0" in line and "resemblyzer" in line


@pytest.mark.slow
def test_ge2e_exports_on_its_window_with_parity(ge2e_run: tuple[Path, list[str]], tmp_path: Path) -> None:
    from earmark.export import export_run

    report = export_run(ge2e_run[0], "onnx", tmp_path / "ge2e.onnx")
    assert report.parity.ok and not report.dynamic_samples  # the partials follow from the length
    assert not list(tmp_path.glob("*.data"))  # one file, weights inside


@pytest.mark.slow
def test_ge2e_torchscript_export_refuses_another_window_in_one_line(ge2e_run: tuple[Path, list[str]],
                                                                    tone_corpus: Path, tmp_path: Path) -> None:
    from earmark.export import export_run

    report = export_run(ge2e_run[0], "torchscript", tmp_path / "ge2e.torchscript.pt")
    assert report.parity.ok and not report.dynamic_samples  # the trace fixes the number of partials
    clip = next(tone_corpus.glob("low/*.wav"))
    own = Predictor.from_path(tmp_path / "ge2e.torchscript.pt").predict(clip)
    assert own.label == Predictor.from_path(ge2e_run[0]).predict(clip).label
    with pytest.raises(EarmarkError, match=r"takes windows of exactly \d+ samples .* leave --window"):
        Predictor.from_path(tmp_path / "ge2e.torchscript.pt", window_s=0.75).predict(clip)


def test_embedding_cache_holds_each_window_once_and_is_recomputed_when_stale(tone_prepared: Path,
                                                                             tmp_path: Path) -> None:
    from earmark.data.dataset import EvalWindows
    from earmark.data.embeddings import cache_dir, window_embeddings

    private_copy(tone_prepared, tmp_path / "data")
    data = PreparedData.open(tmp_path / "data")
    seen: list[int] = []

    def embed(wave: torch.Tensor) -> torch.Tensor:  # a stand-in backbone: the window's first samples, doubled
        seen.append(len(wave))
        return 2 * wave[:, :4]

    rows = data.split_rows("val")
    first = window_embeddings(data, rows, embed, "key", 8000, 4000, 16, log=lambda line: None)
    computed = sum(seen)
    assert computed == len(EvalWindows(data, data.rows, 8000, 4000, data.labels))  # every clip, all splits, once
    windows = EvalWindows(data, rows, 8000, 4000, data.labels)
    expected = np.stack([2 * windows[i][0][:4].numpy() for i in range(len(windows))])
    assert np.array_equal(first.vectors, expected) and first.clip.tolist() == [c for c, _ in windows.index]
    again = window_embeddings(data, rows, embed, "key", 8000, 4000, 16, log=lambda line: None)
    assert sum(seen) == computed and np.array_equal(again.vectors, first.vectors)  # read, not recomputed
    meta = cache_dir(data, "key") / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "manifest_sha256": "0" * 64}))  # another dataset
    window_embeddings(data, rows, embed, "key", 8000, 4000, 16, log=lambda line: None)
    assert sum(seen) == 2 * computed
    assert [p.name for p in (tmp_path / "data" / "embeddings").iterdir()] == ["key"]  # no temporaries left


def test_cache_key_follows_the_weights_bytes_not_their_path(tmp_path: Path) -> None:
    from earmark.config import AugmentConfig, ModelConfig
    from earmark.models.pretrained.classifier import build_backbone_classifier

    copy = tmp_path / "elsewhere.pt"
    shutil.copyfile(wheel_weights(), copy)
    official = build_backbone_classifier(ModelConfig(name="ge2e"), AugmentConfig(), 16000, 3)
    moved = build_backbone_classifier(ModelConfig(name="ge2e", weights=str(copy)), AugmentConfig(), 16000, 3)
    assert moved.provenance["weights_file"] != official.provenance["weights_file"]
    assert moved.embedding_key(8000, 4000) == official.embedding_key(8000, 4000)
    assert official.embedding_key(8000, 4000) != official.embedding_key(16000, 4000)  # another window
    at_8k = build_backbone_classifier(ModelConfig(name="ge2e"), AugmentConfig(), 8000, 3)
    assert "8000 Hz → 16000 Hz" in at_8k.provenance["resampling"]
    assert at_8k.embedding_key(8000, 4000) != official.embedding_key(8000, 4000)  # another resampling
