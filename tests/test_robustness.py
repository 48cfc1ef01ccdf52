"""Robustness conditions are what they say; temperature scaling keeps top-1; `unknown` is exactly below the
threshold; `earmark robustness` writes its files on a trained run."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmark.errors import ConfigError
from earmark.evaluation.calibration import (
    UNKNOWN,
    choose_threshold,
    clip_probabilities,
    fit_temperature,
    scaled_softmax,
    selective,
)
from earmark.evaluation.codecs import describe, encode
from earmark.evaluation.conditions import (
    CODECS,
    RATES_HZ,
    SNRS_DB,
    default_conditions,
    impulse_response,
    measured_snr_db,
    read_back,
)

RATE = 16000


def _speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A few harmonics under a slow envelope, plus a little noise: energy across the band, not a pure tone."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / k for k, f in enumerate((220, 660, 1500, 3100, 5200), 1))
    return (0.2 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 0.005 * rng.standard_normal(t.size)).astype(
        np.float32)


def _condition(key: str, noises: list[np.ndarray] | None = None):  # type: ignore[no-untyped-def]
    return next(c for c in default_conditions(noises or []) if c.key == key)


@pytest.mark.parametrize("color", ["white", "pink", "files"])
def test_noise_is_added_at_the_target_snr(color: str, tmp_path: Path) -> None:
    clip = _speechlike()
    noises = [np.random.default_rng(5).standard_normal(3000).astype(np.float32)]
    for snr in SNRS_DB:
        noisy = _condition(f"noise-{color}-{snr:g}db", noises).apply(clip, RATE, np.random.default_rng(1), tmp_path)
        assert noisy.shape == clip.shape
        assert abs(measured_snr_db(clip, noisy) - snr) < 0.5


def test_pink_noise_falls_3_db_per_octave(tmp_path: Path) -> None:
    from earmark.evaluation.conditions import pink_noise

    power = np.abs(np.fft.rfft(pink_noise(1 << 16, np.random.default_rng(0)))) ** 2
    freqs = np.fft.rfftfreq(1 << 16, 1 / RATE)
    low = power[(freqs > 500) & (freqs < 1000)].mean()
    high = power[(freqs > 1000) & (freqs < 2000)].mean()
    assert 10 * np.log10(low / high) == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize(("codec", "kbps"), CODECS)
def test_codec_output_is_really_that_codec_and_decodes(codec: str, kbps: int, tmp_path: Path) -> None:
    clip = _speechlike()
    path = encode(clip, RATE, codec, kbps * 1000, tmp_path / "clip")
    container, name, _ = describe(path)
    assert (container, name.removesuffix("float")) == (("mp3", "mp3") if codec == "mp3" else ("ogg", "opus"))
    back = read_back(path, RATE)
    assert abs(back.size - clip.size) <= 0.02 * clip.size
    heard = _condition(f"codec-{codec}-{kbps}k").apply(clip, RATE, np.random.default_rng(0), tmp_path)
    assert heard.size == back.size
    lag = int(np.argmax(np.correlate(heard[:4000], clip[:4000], "full"))) - 3999  # the codec's own delay
    a, b = (heard[lag:], clip) if lag >= 0 else (heard, clip[-lag:])
    n = min(a.size, b.size)
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.9  # lossy, but the same sound


def test_telephone_chain_has_no_energy_above_4_khz(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, RATE).astype(np.float32)  # energy up to 8 kHz
    phone = _condition("telephone").apply(noise, RATE, np.random.default_rng(0), tmp_path)
    info = sf.info(str(tmp_path / "telephone.wav"))
    assert (info.samplerate, info.subtype) == (8000, "ULAW")
    power = np.abs(np.fft.rfft(phone * np.hanning(phone.size))) ** 2  # a window: no leakage from the clip's edges
    freqs = np.fft.rfftfreq(phone.size, 1 / RATE)
    assert power[freqs > 4000].sum() < 1e-10 * power.sum()
    assert power[(freqs > 300) & (freqs < 3400)].sum() > 0.95 * power.sum()


@pytest.mark.parametrize("rate", RATES_HZ)
def test_sample_rate_round_trip_goes_through_a_file_at_that_rate(rate: int, tmp_path: Path) -> None:
    clip = _speechlike()
    heard = _condition(f"rate-{rate}").apply(clip, RATE, np.random.default_rng(0), tmp_path)
    assert sf.info(str(tmp_path / f"rate-{rate}.wav")).samplerate == rate
    assert abs(heard.size - clip.size) <= 2
    if rate > RATE:  # up and back down: the same sound, to the 16-bit file's rounding
        assert np.corrcoef(heard[: clip.size], clip[: heard.size])[0, 1] > 0.9999
    else:  # 8 kHz: nothing left above its Nyquist frequency
        power = np.abs(np.fft.rfft(heard * np.hanning(heard.size))) ** 2
        assert power[np.fft.rfftfreq(heard.size, 1 / RATE) > rate / 2].sum() < 1e-4 * power.sum()


def test_gain_shift_and_reverb(tmp_path: Path) -> None:
    clip, rng = _speechlike(), np.random.default_rng(0)
    quiet = _condition("gain-quiet-30db").apply(clip, RATE, rng, tmp_path)
    assert 20 * np.log10(np.abs(quiet).max() / np.abs(clip).max()) == pytest.approx(-30.0, abs=1e-3)
    clipped = _condition("gain-clipped-20db").apply(clip, RATE, rng, tmp_path)
    assert np.abs(clipped).max() == pytest.approx(1.0) and np.mean(np.abs(clipped) == 1.0) > 0.05
    late = _condition("shift-500ms").apply(clip, RATE, rng, tmp_path)
    assert late.size == clip.size + RATE // 2 and not late[: RATE // 2].any()
    assert np.array_equal(late[RATE // 2 :], clip)
    wet = _condition("reverb-0.8s").apply(clip, RATE, rng, tmp_path)
    assert np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(clip**2)), rel=1e-3)
    response = impulse_response(RATE, 0.8, np.random.default_rng(0))
    assert response[0] == 1.0 and np.sum(response[1:] ** 2) == pytest.approx(1.0)
    head, tail = response[1:801], response[-800:]  # 50-ms stretches 0.75 s apart: 60 dB per RT60 of 0.8 s
    assert 10 * np.log10(np.mean(head**2) / np.mean(tail**2)) == pytest.approx(60.0 * 0.75 / 0.8, abs=2.0)


def test_temperature_never_changes_a_window_or_clip_top1() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (500, 7))
    for temperature in (0.05, 0.3, 1.0, 2.7, 20.0):
        assert np.array_equal(scaled_softmax(logits, temperature).argmax(1), logits.argmax(1))
    one_window = np.arange(500)  # a clip of one window: the tempered clip score is the tempered window's
    np.testing.assert_allclose(clip_probabilities(logits, one_window, 0.3), scaled_softmax(logits, 0.3), atol=1e-12)
    clips = np.repeat(np.arange(100), 5)  # five disagreeing windows per clip
    for method in ("mean", "vote", "max"):
        base = clip_probabilities(logits, clips, 1.0, method).argmax(1)
        for temperature in (0.05, 0.3, 4.0, 20.0):
            assert np.array_equal(clip_probabilities(logits, clips, temperature, method).argmax(1), base)
    # Dividing the windows' logits before the mean (what evaluation once did) does move clips:
    from earmark.evaluation.aggregate import aggregate_windows
    divided_first = aggregate_windows(scaled_softmax(logits, 0.05), clips, "mean")[1].argmax(1)
    assert np.sum(divided_first != clip_probabilities(logits, clips, 1.0, "mean").argmax(1)) > 0


def test_fit_temperature_recovers_an_overconfident_scale() -> None:
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 1.5, (3000, 5))
    probs = scaled_softmax(true_logits)
    labels = np.array([rng.choice(5, p=p) for p in probs])
    fitted = fit_temperature(3.0 * true_logits, np.arange(3000), labels)
    assert fitted == pytest.approx(3.0, rel=0.1)
    perfect = np.eye(5)[labels] * 12.0  # no mistake to learn from: stay at T = 1, do not sharpen
    assert fit_temperature(perfect, np.arange(3000), labels) == 1.0


def test_threshold_targets() -> None:
    rng = np.random.default_rng(2)
    probs = scaled_softmax(rng.normal(0, 2, (400, 4)))
    y = np.where(rng.random(400) < probs.max(1), probs.argmax(1), (probs.argmax(1) + 1) % 4)
    by_coverage = choose_threshold(y, probs, coverage=0.8)
    assert selective(y, probs, by_coverage.value)["coverage"] == pytest.approx(0.8, abs=0.0025 + 1e-9)
    by_precision = choose_threshold(y, probs, precision=0.9)
    chosen = selective(y, probs, by_precision.value)
    assert by_precision.reached and chosen["accuracy_accepted"] >= 0.9
    lower = np.sort(probs.max(1))[np.sort(probs.max(1)) < by_precision.value]
    assert selective(y, probs, lower[-1])["accuracy_accepted"] < 0.9  # the lowest threshold that reaches it


def test_reject_options_are_checked() -> None:
    from earmark.config import load_train_config

    with pytest.raises(ConfigError, match="set one, not both"):
        load_train_config(overrides=["calibration.reject_coverage=0.9", "calibration.reject_precision=0.9"])
    with pytest.raises(ConfigError, match="fraction"):
        load_train_config(overrides=["calibration.reject_coverage=1.5"])


def test_unknown_exactly_below_the_threshold(tone_run: Path, tmp_path: Path) -> None:
    from earmark.audio.stream import stream_mono
    from earmark.inference import Predictor
    from earmark.inference.backends import open_backend

    path = tmp_path / "long.wav"
    t = np.arange(3 * RATE) / RATE
    noise = 0.02 * np.random.default_rng(0).standard_normal(t.size)  # like the training tones: scores below 1
    sf.write(str(path), (0.5 * np.where(t < 1.5, np.sin(2 * np.pi * 900 * t), np.sin(2 * np.pi * 300 * t)) + noise)
             .astype(np.float32), RATE)
    backend = open_backend(tone_run)
    plain = Predictor(backend, top_k=1)
    window_scores = plain.window_probs(stream_mono(path, plain.sample_rate)).__getitem__(2).max(axis=1)
    threshold = float(np.median(window_scores))
    backend.info = dataclasses.replace(backend.info, reject_threshold=threshold)
    result = Predictor(backend, top_k=1).predict(path)
    expected = [UNKNOWN if score < threshold else "x" for score in window_scores]
    assert [UNKNOWN if w["label"] == UNKNOWN else "x" for w in result.windows] == expected
    assert UNKNOWN in expected and "x" in expected
    clip_score = float(plain.predict(path).score)
    for cut, answer in ((clip_score - 1e-6, plain.predict(path).label), (clip_score + 1e-6, UNKNOWN)):
        backend.info = dataclasses.replace(backend.info, reject_threshold=cut)
        assert Predictor(backend, top_k=1).predict(path).label == answer


def test_robustness_command_on_a_trained_run(tone_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from earmark.cli import main
    from earmark.inference.backends import open_backend

    run = tmp_path / "run"
    shutil.copytree(tone_run, run)
    assert main(["robustness", str(run), "--reject-coverage", "0.9"]) == 0
    result = json.loads((run / "robustness" / "robustness.json").read_text())
    for name in ("robustness.csv", "robustness.png", "reliability.png"):
        assert (run / "robustness" / name).stat().st_size > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert result["clean"]["accuracy"] == metrics["test"]["accuracy"]
    assert {row["family"] for row in result["conditions"]} == {"noise", "codec", "telephone", "sample rate", "gain",
                                                                "time shift", "reverb"}
    assert set(result["calibration"]["splits"]) == {"val", "test"}
    threshold = result["reject_threshold"]
    assert threshold is not None and open_backend(run).info.reject_threshold == threshold
    assert "selective" in result["clean"] and "unknown" in capsys.readouterr().out
    noise = [row for row in result["conditions"] if row["family"] == "noise"]
    assert main(["robustness", str(run), "--conditions", "noise"]) == 0  # again: same numbers, one section
    again = json.loads((run / "robustness" / "robustness.json").read_text())
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in again["conditions"]] == \
        [{k: v for k, v in row.items() if k != "seconds"} for row in noise]
    for page in ("report.html", "model_card.md"):
        assert (run / page).read_text().count("earmark robustness: start") == 1
    assert main(["evaluate", str(run)]) == 0
    evaluated = json.loads(next((run / "evaluations").glob("*/metrics.json")).read_text())
    assert evaluated["test"]["selective"]["threshold"] == pytest.approx(threshold)


def test_export_divides_by_the_stored_temperature(tone_run: Path, tmp_path: Path) -> None:
    import torch

    from earmark.checkpoint import load_checkpoint, store_in_checkpoint
    from earmark.export import export_run
    from earmark.inference.backends import OnnxBackend, open_backend

    run = tmp_path / "run"
    shutil.copytree(tone_run, run, ignore=shutil.ignore_patterns("robustness", "evaluations", "*.onnx"))
    best = run / "checkpoints" / "best.ckpt"
    loaded = load_checkpoint(best)
    windows = _speechlike(0.5)[None, :].repeat(3, 0)
    with torch.no_grad():
        raw = loaded.model(torch.from_numpy(windows)).numpy()
    store_in_checkpoint(best, loaded, calibration={**loaded.calibration, "temperature": 2.5})
    report = export_run(run)  # its parity check compares with the checkpoint backend, which divides too
    assert report.parity.ok and report.info.temperature == 2.5
    onnx = OnnxBackend(report.path)
    np.testing.assert_allclose(onnx.logits(windows) * 2.5, raw, atol=1e-3)
    np.testing.assert_allclose(open_backend(run).logits(windows), onnx.logits(windows), atol=1e-3)
    assert onnx.info.temperature == 2.5


def test_predict_and_evaluate_give_a_clip_the_same_tempered_score(tone_run: Path, tmp_path: Path) -> None:
    """With T != 1 the clip score of `predict` (checkpoint and ONNX) is the one evaluation computes: the windows'
    softmax averaged, then tempered."""
    from earmark.checkpoint import load_checkpoint, store_in_checkpoint
    from earmark.data.dataset import PreparedData
    from earmark.evaluation.runner import score_clips
    from earmark.export import export_run
    from earmark.inference import Predictor

    run = tmp_path / "run"
    shutil.copytree(tone_run, run, ignore=shutil.ignore_patterns("robustness", "evaluations", "*.onnx"))
    best = run / "checkpoints" / "best.ckpt"
    store_in_checkpoint(best, load_checkpoint(best), calibration={"temperature": 0.3})
    loaded = load_checkpoint(best)
    config = json.loads((run / "run.json").read_text())
    data = PreparedData.open(Path(config["data"]))
    window = loaded.config.data.window_samples(data.sample_rate)
    rows = [row for row in data.split_rows("test") if row.num_samples > 2 * window][:4]  # several windows each
    assert rows
    scores = score_clips(loaded.model, data, rows, loaded.labels, loaded.config.data, 8, temperature=0.3)
    onnx = export_run(run).path
    for model in (run, onnx):
        predictor = Predictor.from_path(model, top_k=len(loaded.labels))
        for row, probs in zip(scores.rows, scores.probs):
            prediction = predictor.predict_array(data.samples(row), data.sample_rate)
            got = dict(prediction.top_k)
            np.testing.assert_allclose([got[label] for label in loaded.labels], probs, atol=2e-4)
