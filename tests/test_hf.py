"""`hf:<folder>` backbones on tiny random transformers configs saved by the test (no hub, no network):
probe and fine-tune through the loop, the torch Kaldi fbank against ASTFeatureExtractor, the offline refusal
of a hub id and the broken-torchaudio guard, each in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from earmark.checkpoint import load_checkpoint
from earmark.config import load_train_config
from earmark.features.kaldi import KaldiFbank
from earmark.training.loop import train
from tests.conftest import private_copy

transformers = pytest.importorskip("transformers")

FAST = ["trainer.epochs=2", "trainer.batch_size=16", "data.window_s=0.5", "data.eval_hop_s=0.25", "optim.lr=0.03",
        "trainer.device=cpu", "trainer.threads=1"]


def save_tiny(kind: str, folder: Path) -> Path:
    """A random encoder with hidden size 32 and 2 layers, with its feature extractor, as save_pretrained writes."""
    torch.manual_seed(0)
    if kind == "wav2vec2":
        config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                             intermediate_size=64, conv_dim=(32, 32), conv_stride=(5, 4),
                                             conv_kernel=(10, 8), num_conv_pos_embeddings=16,
                                             num_conv_pos_embedding_groups=2)
        model, extractor = transformers.Wav2Vec2Model(config), transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    else:
        config = transformers.ASTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, num_mel_bins=64, max_length=100)
        model, extractor = transformers.ASTModel(config), transformers.ASTFeatureExtractor(num_mel_bins=64,
                                                                                           max_length=100)
    model.save_pretrained(folder)
    extractor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    return {kind: save_tiny(kind, root / kind) for kind in ("wav2vec2", "ast")}


@pytest.fixture(scope="module")
def hf_data(tone_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tone dataset: probes write their embedding caches into it."""
    return private_copy(tone_prepared, tmp_path_factory.mktemp("hfdata") / "data")


@pytest.mark.parametrize(("bins", "frames"), [(128, 1024), (64, 100)])
def test_ast_fbank_matches_the_feature_extractor(bins: int, frames: int) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    extractor = transformers.ASTFeatureExtractor(num_mel_bins=bins, max_length=frames)
    ref = extractor(wave, sampling_rate=16000, return_tensors="np")["input_values"][0]
    ours = KaldiFbank(16000, bins, frames, extractor.mean, extractor.std)(torch.from_numpy(wave)[None])[0].numpy()
    assert ours.shape == ref.shape and np.abs(ours - ref).max() < 2e-4


@pytest.mark.parametrize("kind", ["wav2vec2", "ast"])
def test_hf_folder_probe_trains_and_reloads(kind: str, tiny_models: dict[str, Path], hf_data: Path,
                                            tmp_path: Path) -> None:
    lines: list[str] = []
    name = f"hf:{tiny_models[kind]}"
    train(hf_data, tmp_path / "run", load_train_config(overrides=FAST, flags={"model.name": name}),
          log=lines.append)
    assert any("probe: frozen backbone" in line for line in lines) and any("embeddings:" in line for line in lines)
    loaded = load_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt")  # rebuilt from the recorded config
    record = loaded.state["backbone"]
    assert record["family"] == "hf" and len(record["weights_sha256"]) == 64 and "Apache-2.0" in record["licence"]
    fresh = transformers.AutoModel.from_pretrained(str(tiny_models[kind])).state_dict()
    kept = loaded.model.backbone.model.state_dict()  # the checkpoint holds the folder's weights, untouched
    assert kept.keys() == fresh.keys() and all(torch.equal(kept[k], fresh[k]) for k in fresh)
    wave = torch.randn(2, 8000) * 0.1
    assert loaded.model(wave).shape == (2, len(loaded.labels))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["model"] == name


def test_hf_finetune_trains_the_backbone_at_the_pretrained_rate(tiny_models: dict[str, Path], hf_data: Path,
                                                                tmp_path: Path) -> None:
    config = load_train_config(overrides=[*FAST, "model.finetune=true", "optim.pretrained_lr_scale=0.5"],
                               flags={"model.name": f"hf:{tiny_models['wav2vec2']}",
                                      "model.freeze": ["backbone.model.feature_extractor"]})
    lines: list[str] = []
    train(hf_data, tmp_path / "ft", config, log=lines.append)
    assert any(line.startswith("frozen:") for line in lines) and not any("embeddings:" in line for line in lines)
    loaded = load_checkpoint(tmp_path / "ft" / "checkpoints" / "last.ckpt")
    start = transformers.AutoModel.from_pretrained(str(tiny_models["wav2vec2"])).state_dict()
    state = loaded.state["model"]
    assert "backbone.layer_weights" in state  # learned layer-weighted pooling when fine-tuning
    encoder = "backbone.model.encoder.layers.0.attention.q_proj.weight"
    conv = "backbone.model.feature_extractor.conv_layers.0.conv.weight"
    assert not torch.equal(state[encoder], start[encoder.removeprefix("backbone.model.")])  # trained
    assert torch.equal(state[conv], start[conv.removeprefix("backbone.model.")])  # frozen by --freeze
    groups = loaded.state["optimizer"]["param_groups"]
    assert sorted(g["initial_lr"] for g in groups) == pytest.approx([0.015, 0.03])


def _earmark(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "earmark", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def test_hub_id_offline_fails_fast_in_one_line(tone_prepared: Path, tmp_path: Path) -> None:
    begin = time.perf_counter()
    proc = _earmark(["train", str(tone_prepared), "--out", str(tmp_path / "run"), "--model",
                     "hf:facebook/wav2vec2-base"], {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "HF_HUB_OFFLINE" in proc.stderr and "local folder" in proc.stderr
    assert time.perf_counter() - begin < 60  # interpreter start-up included; the hub client alone retries ~47 s
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_hub_id_without_a_route_to_the_hub_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from huggingface_hub import constants

    from earmark.errors import ConfigError
    from earmark.models.pretrained.hf import resolve

    with socket.socket() as probe:  # a port nothing listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    begin = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        resolve("facebook/wav2vec2-base")
    assert time.perf_counter() - begin < 10 and "cannot be reached" in str(caught.value)
    assert "\n" not in str(caught.value) and "local folder" in str(caught.value)


def test_broken_torchaudio_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from earmark.errors import EarmarkError
    from earmark.models.pretrained.hf import import_transformers

    fake = tmp_path / "site" / "torchaudio"
    fake.mkdir(parents=True)  # what a CUDA torchaudio wheel does beside the CPU torch: its library fails to load
    (fake / "__init__.py").write_text('raise OSError("Could not load this library: '
                                      '/site/torchaudio/lib/_torchaudio.abi3.so")\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # a real import of a package that fails as the wheel does
    monkeypatch.delitem(sys.modules, "torchaudio", raising=False)
    with pytest.raises(EarmarkError) as caught:
        import_transformers()
    message = str(caught.value)
    assert "\n" not in message and "pip uninstall -y torchaudio" in message and "_torchaudio.abi3.so" in message


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wav2vec2", "ast"])
def test_hf_exports_waveform_to_logits_with_parity(kind: str, tiny_models: dict[str, Path], hf_data: Path,
                                                   tmp_path: Path) -> None:
    from earmark.export import export_run

    config = load_train_config(overrides=[*FAST, "trainer.epochs=1"], flags={"model.name": f"hf:{tiny_models[kind]}"})
    train(hf_data, tmp_path / "run", config, log=lambda line: None)
    report = export_run(tmp_path / "run", "onnx", tmp_path / "model.onnx")
    assert report.parity.ok and not list(tmp_path.glob("*.data"))
