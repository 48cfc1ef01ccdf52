"""Export to ONNX and TorchScript: metadata, parity with PyTorch, loud failures, and predict on the exports."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from earmark.checkpoint import load_checkpoint, resolve_checkpoint
from earmark.cli import main
from earmark.errors import EarmarkError
from earmark.export import check_parity
from earmark.export.parity import parity_windows
from earmark.inference import Predictor
from earmark.inference.backends import OnnxBackend, TorchBackend
from tests.conftest import write_tone

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def onnx_model(tone_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """`earmark export RUN --out model.onnx` once for the module: the file and what the command printed."""
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["export", str(tone_run), "--out", str(out)]) == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tone per file in every format the decoders take, at several rates and channel counts."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(7)
    write_tone(root / "low_pcm16.wav", 300, 0.8, 16000, rng)
    write_tone(root / "mid.flac", 900, 1.2, 22050, rng, subtype="PCM_24")
    write_tone(root / "high.ogg", 2400, 1.0, 16000, rng, subtype="VORBIS")
    write_tone(root / "mid.mp3", 900, 1.0, 16000, rng, subtype="MPEG_LAYER_III")
    write_tone(root / "high_stereo_44k.wav", 2400, 1.5, 44100, rng, channels=2)
    write_tone(root / "low_long.flac", 300, 3.0, 16000, rng)
    write_tone(root / "low_short_11k.wav", 300, 0.45, 11025, rng)  # shorter than the 0.5-s window: padded
    _write_m4a(root / "high.m4a", 2400, 1.0, 16000, rng)  # AAC: decoded by PyAV, not soundfile
    # Tones in turn, so that windows differ from one another and their scores are not all saturated: a path
    # that scored the wrong windows, or scaled the logits, would not agree with the other one here.
    segments = np.concatenate([_tone(freq, 0.7, 22050, rng) for freq in (300, 900, 2400, 900, 300)])
    sf.write(str(root / "turns.ogg"), segments, 22050, subtype="VORBIS")
    return root


def _tone(freq: float, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def _write_m4a(path: Path, freq: float, seconds: float, rate: int, rng: np.random.Generator) -> None:
    import av

    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(wave[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def _predict_json(model: Path, *inputs: Path) -> list[dict]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["predict", str(model), *map(str, inputs), "--format", "json", "--top-k", "3"]) == 0
    return list(json.loads(printed.getvalue()))


def test_export_writes_metadata_and_passes_parity_on_val_clips(onnx_model: tuple[Path, str], tone_run: Path) -> None:
    path, printed = onnx_model
    assert "parity with PyTorch" in printed and "val clips" in printed and "dynamic batch and length" in printed
    proto = onnx.load(str(path))
    props = {p.key: p.value for p in proto.metadata_props}
    loaded = load_checkpoint(resolve_checkpoint(tone_run))
    assert json.loads(props["labels"]) == loaded.labels
    assert int(props["sample_rate"]) == 16000 and int(props["window_samples"]) == 8000
    assert int(props["hop_samples"]) == 4000 and props["aggregate"] == "mean" and props["earmark_version"]
    assert proto.doc_string.startswith(f"earmark {loaded.config.model.name}: waveform")
    (graph_input,) = proto.graph.input
    dims = graph_input.type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, True]  # batch and samples are both symbolic
    assert not list(path.parent.glob(".*.tmp"))


def test_predict_checkpoint_and_onnx_agree_on_mixed_formats(onnx_model: tuple[Path, str], tone_run: Path,
                                                             mixed_folder: Path) -> None:
    from_ckpt = _predict_json(tone_run, mixed_folder)
    from_onnx = _predict_json(onnx_model[0], mixed_folder)
    assert len(from_ckpt) == len(from_onnx) == 9
    for a, b in zip(from_ckpt, from_onnx):
        assert a["file"] == b["file"] and a["label"] == b["label"]
        assert [label for label, _ in a["top_k"]] == [label for label, _ in b["top_k"]]
        assert np.allclose([s for _, s in a["top_k"]], [s for _, s in b["top_k"]], atol=1e-3)
        assert [(w["start_s"], w["end_s"], w["label"]) for w in a["windows"]] == \
            [(w["start_s"], w["end_s"], w["label"]) for w in b["windows"]]
        assert np.allclose([w["score"] for w in a["windows"]], [w["score"] for w in b["windows"]], atol=1e-3)
    by_name = {Path(r["file"]).name: r for r in from_ckpt}
    assert len(by_name["low_long.flac"]["windows"]) == 11 and len(by_name["low_short_11k.wav"]["windows"]) == 1


def test_every_format_decodes_to_its_tone(mixed_folder: Path) -> None:
    """What predict was fed from each format is the tone written into it (checked without a model: what a
    briefly trained model says of a lossy re-encoding it never saw is no test of the decoders)."""
    from earmark.audio import load_mono
    from tests.conftest import TONE_CLASSES

    for path in sorted(mixed_folder.iterdir()):
        if path.name == "turns.ogg":
            continue
        mono, info = load_mono(path, 16000)
        spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
        peak_hz = float(np.argmax(spectrum)) * 16000 / mono.size
        expected = TONE_CLASSES[path.name.split("_")[0].split(".")[0]]
        assert abs(peak_hz - expected) < 10, (path.name, peak_hz)
        assert info.channels == (2 if "stereo" in path.name else 1)


def _tamper(source: Path, target: Path) -> None:
    """Copy an ONNX file with every floating-point initializer scaled by 1.05: a subtly different model."""
    from onnx import numpy_helper

    proto = onnx.load(str(source))
    for index, tensor in enumerate(proto.graph.initializer):
        values = numpy_helper.to_array(tensor)
        if values.dtype == np.float32 and values.size > 1:
            proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(values * 1.05, tensor.name))
    onnx.save(proto, str(target))


def test_tampered_graph_fails_loudly_and_writes_nothing(onnx_model: tuple[Path, str], tone_run: Path,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from earmark.export import exporter

    def tampered_writer(model: object, path: Path, info: object, example: object) -> bool:
        _tamper(onnx_model[0], path)
        return True

    monkeypatch.setitem(exporter._WRITERS, "onnx", tampered_writer)
    out = tmp_path / "broken.onnx"
    assert main(["export", str(tone_run), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "parity check failed" in err and "not written" in err, err
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file


def test_mismatched_model_fails_the_parity_check(onnx_model: tuple[Path, str], tone_run: Path) -> None:
    checkpoint = resolve_checkpoint(tone_run)
    other = load_checkpoint(checkpoint)
    with torch.no_grad():
        for parameter in other.model.network.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    reference = TorchBackend(other)
    windows = parity_windows(tone_run, checkpoint, reference.info)
    report = check_parity(reference, OnnxBackend(onnx_model[0]), windows)
    assert not report.ok and report.max_abs_diff > 1e-3
    good = check_parity(TorchBackend(load_checkpoint(checkpoint)), OnnxBackend(onnx_model[0]), windows)
    assert good.ok and good.max_abs_diff < 1e-4, good.line()


def test_parity_falls_back_and_says_so_when_the_data_is_gone(tone_run: Path, tone_prepared: Path,
                                                             tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(resolve_checkpoint(tone_run), run / "checkpoints" / "best.ckpt")
    (run / "run.json").write_text(json.dumps({"data": str(tmp_path / "gone")}))
    info = TorchBackend(load_checkpoint(run / "checkpoints" / "best.ckpt")).info
    found = parity_windows(run, run / "checkpoints" / "best.ckpt", info)
    assert found.source == "24 synthetic signals" and "gone" in (found.fallback or "")
    assert found.windows.shape == (24, info.window_samples)
    (tmp_path / "gone").mkdir()  # a manifest without its cache: the source recordings it lists still exist
    shutil.copy(tone_prepared / "manifest.csv", tmp_path / "gone" / "manifest.csv")
    found = parity_windows(run, run / "checkpoints" / "best.ckpt", info)
    assert found.source.endswith("val source files") and "cannot be read" in (found.fallback or "")
    assert found.windows.shape[1] == info.window_samples and len(found.windows) >= 12


def test_torchscript_export_predicts_like_the_checkpoint(tone_run: Path, mixed_folder: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.torchscript.pt"
    assert main(["export", str(tone_run), "--format", "torchscript", "--out", str(out)]) == 0
    assert "parity with PyTorch" in capsys.readouterr().out
    files = [mixed_folder / "mid.flac", mixed_folder / "high_stereo_44k.wav"]
    for a, b in zip(_predict_json(tone_run, *files), _predict_json(out, *files)):
        assert a["label"] == b["label"] and abs(a["score"] - b["score"]) < 1e-4


def test_onnx_errors_are_one_line(tone_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus.onnx"
    bogus.write_bytes(b"not a model")
    with pytest.raises(EarmarkError, match="not a loadable ONNX model"):
        Predictor.from_path(bogus)
    with pytest.raises(EarmarkError, match=r"must end in \.onnx"):
        from earmark.export import export_run

        export_run(tone_run, "onnx", tmp_path / "model.bin")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if the export extra were not installed
    with pytest.raises(EarmarkError, match=r"onnxruntime is not installed.*earmark\[export\]"):
        Predictor.from_path(bogus)


def test_foreign_onnx_model_is_refused(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "foreign.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # one every onnxruntime reads
    onnx.save(model, str(path))
    with pytest.raises(EarmarkError, match="not an earmark export"):
        Predictor.from_path(path)


def test_export_of_a_missing_run_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checkpoint not found" in err, err


def test_default_export_paths(tone_run: Path, tmp_path: Path) -> None:
    from earmark.export.exporter import _target_path

    checkpoint = resolve_checkpoint(tone_run)
    assert _target_path(tone_run, checkpoint, "onnx", None) == tone_run / "model.onnx"
    assert _target_path(tone_run, checkpoint, "torchscript", None) == tone_run / "model.torchscript.pt"
    assert _target_path(checkpoint, checkpoint, "onnx", None) == checkpoint.with_name("best.onnx")
    with pytest.raises(EarmarkError, match="that is the checkpoint"):
        _target_path(checkpoint, checkpoint, "torchscript", checkpoint)


@pytest.mark.parametrize("n_fft, hop", [(512, 160), (400, 160), (512, 128), (256, 100), (256, 97), (511, 160)])
def test_factored_power_is_the_stft_power(n_fft: int, hop: int) -> None:
    from earmark.export.graph import FactoredPower

    window = torch.hann_window(n_fft, periodic=True)
    factored = FactoredPower(window, n_fft, hop)
    rng = np.random.default_rng(n_fft + hop)
    for samples in (16000, 16001, 12345, n_fft):
        wave = torch.from_numpy((0.3 * rng.standard_normal((3, samples))).astype(np.float32))
        spec = torch.stft(wave, n_fft, hop, window=window, center=True, pad_mode="constant", return_complex=True)
        expected = spec.abs() ** 2
        got = factored.spectrum(wave)
        assert got.shape == expected.shape
        assert float((got - expected).abs().max()) < 1e-5 * float(expected.max())


def test_onnx_predict_needs_no_torch(onnx_model: tuple[Path, str], mixed_folder: Path, tone_run: Path) -> None:
    """`earmark predict model.onnx` runs without importing torch (less memory, faster start)."""
    code = ("import json, sys; from pathlib import Path; from earmark.cli import main; "
            "code = main(['predict', sys.argv[1], sys.argv[2], '--format', 'json']); "
            "print(json.dumps([code, 'torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code, str(onnx_model[0]), str(mixed_folder / "low_long.flac")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr[-2000:]
    *printed, last = done.stdout.strip().splitlines()
    assert json.loads(last) == [0, False]
    (from_onnx,) = json.loads("\n".join(printed))
    (from_checkpoint,) = _predict_json(tone_run, mixed_folder / "low_long.flac")
    assert from_onnx["label"] == from_checkpoint["label"]
    assert from_onnx["score"] == pytest.approx(from_checkpoint["score"], abs=1e-3)
