"""Inference (issue 7's figures): long-file throughput, peak memory on a 2-hour file, 1-s clip latency.

All figures come from this run on this machine, with the default model (its weights untrained: the compute
is the same), best of `--rounds` where a time is taken, start-up (imports, model loading) excluded:
1. Long-file throughput: a 10-minute 44.1 kHz stereo FLAC predicted with the model's own window and hop,
   streamed (decode in blocks, streaming resample, windows scored a batch at a time), in x real time:
   PyTorch (overlapping windows scored from one feature map per batch), onnxruntime, and the reference,
   PyTorch computing every window's front-end from its own samples (the path before feature maps). Decoding
   and resampling alone, and scoring alone (audio already decoded), show where the time goes. Then the same
   audio as a 16 kHz mono WAV, which costs next to nothing to decode.
2. Peak RSS of a fresh process predicting a 2-hour 16 kHz FLAC (model's hop unless `--rss-hop`), from the
   checkpoint and from the ONNX export, against the same process after loading the model and against what
   the decoded file alone would take in memory. Target: below 600 MB.
3. Latency of one 1-s clip through the model (p50/p99 over `--repeats` calls, 1 thread each, the two
   backends called in alternating rounds so both see the same machine): onnxruntime against eager PyTorch.
   Target: onnxruntime at least 3x faster.

    python benchmarks/inference.py [--quick] [--repeats 300] [--rounds 3] [--rss-hop S]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
LABELS = [f"class{i}" for i in range(10)]
RATE = 16000
THROUGHPUT_TARGET, RSS_TARGET_MB, LATENCY_TARGET = 1000.0, 600.0, 3.0


def make_model(folder: Path) -> tuple[Path, Path]:
    """A `tcresnet-8` checkpoint on 1-s windows (what `auto` picks for word-like clips) and its ONNX export
    (parity-checked on synthetic signals)."""
    from earmark.checkpoint import build_model, save_checkpoint
    from earmark.config import load_train_config
    from earmark.export import export_run

    torch.manual_seed(0)
    config = load_train_config(overrides=["model.name=tcresnet-8", "data.window_s=1.0", "data.eval_hop_s=0.5"])
    checkpoint = folder / "default.ckpt"
    save_checkpoint(checkpoint, build_model(config, LABELS, RATE), config, LABELS, RATE)
    with contextlib.redirect_stdout(io.StringIO()):
        export_run(checkpoint, "onnx", folder / "default.onnx")
    return checkpoint, folder / "default.onnx"


def write_long_file(path: Path, seconds: float, rate: int, channels: int) -> None:
    """Tones and noise written block by block, so the file is never whole in this process's memory."""
    rng = np.random.default_rng(0)
    block = rate * 10
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, format="FLAC", subtype="PCM_16") as out:
        for start in range(0, int(seconds * rate), block):
            n = min(block, int(seconds * rate) - start)
            t = (start + np.arange(n)) / rate
            wave = 0.3 * np.sin(2 * np.pi * (300 + 100 * (start // block % 20)) * t) + 0.05 * rng.standard_normal(n)
            out.write(np.repeat(wave[:, None], channels, axis=1).astype(np.float32))


class PerWindow:
    """A backend whose every window goes through the whole model from its own samples (the reference)."""

    def __init__(self, backend: Any) -> None:
        self.backend, self.info = backend, backend.info

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.backend.logits(batch))

    def span_logits(self, span: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
        from earmark.audio.windows import cut_windows

        return self.logits(cut_windows(span, offsets, window))


def best_of(fn: Callable[[], object], rounds: int) -> float:
    """Fastest wall time of `rounds` calls, after one untimed call (first-call set-up is start-up)."""
    fn()
    times = []
    for _ in range(rounds):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return min(times)


def throughput(checkpoint: Path, onnx_path: Path, path: Path, seconds: float, rounds: int, detail: bool) -> None:
    """x real time of `Predictor.predict(path)` per backend; with `detail`, decoding and scoring apart too."""
    from earmark.audio.stream import stream_mono
    from earmark.inference import Predictor

    torch_predictor, onnx_predictor = Predictor.from_path(checkpoint), Predictor.from_path(onnx_path)
    onnx_one = Predictor.from_path(onnx_path, threads=1)
    reference = Predictor(PerWindow(torch_predictor.backend))
    threads = torch.get_num_threads()
    runs: dict[str, Callable[[], object]] = {
        "PyTorch, per-window front-end (reference)": lambda: reference.predict(path),
        "PyTorch, feature map": lambda: torch_predictor.predict(path),
        "onnxruntime": lambda: onnx_predictor.predict(path),
        "PyTorch, feature map, 1 thread": lambda: _one_thread(lambda: torch_predictor.predict(path), threads),
        "onnxruntime, 1 thread": lambda: onnx_one.predict(path),
    }
    if detail:
        blocks = list(stream_mono(path, RATE))
        runs |= {
            "decode + resample only": lambda: sum(block.size for block in stream_mono(path, RATE)),
            "scoring only, reference (decoded)": lambda: reference.window_probs(blocks),
            "scoring only, PyTorch feature map (decoded)": lambda: torch_predictor.window_probs(blocks),
            "scoring only, onnxruntime (decoded)": lambda: onnx_predictor.window_probs(blocks),
        }
    times = {name: best_of(run, rounds) for name, run in runs.items()}
    for name, wall in times.items():
        print(f"  {name:<44} {seconds / wall:7.1f}x real time  ({wall:.2f} s)")
    ref = times["PyTorch, per-window front-end (reference)"]
    best = min(wall for name, wall in times.items() if " only" not in name)
    print(f"  ratio to the reference: feature map {ref / times['PyTorch, feature map']:.2f}x, onnxruntime "
          f"{ref / times['onnxruntime']:.2f}x; best {seconds / best:.0f}x real time "
          f"(target {THROUGHPUT_TARGET:.0f}x: {'met' if seconds / best >= THROUGHPUT_TARGET else 'not met'})")


def _one_thread(run: Callable[[], object], threads: int) -> None:
    """`run` with torch on one intra-op thread (under contention two threads can stall each other)."""
    torch.set_num_threads(1)
    try:
        run()
    finally:
        torch.set_num_threads(threads)


# VmHWM, not getrusage's ru_maxrss: Linux carries the parent's high-water mark into a child across fork and
# exec, so ru_maxrss of a child of this (large) process reported the parent's peak (907 MB where the child
# itself never went above ~320 MB).
_RSS_CHILD = """
import json, sys, time
from pathlib import Path
from earmark.inference import Predictor
def hwm_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
hop = float(sys.argv[3]) if sys.argv[3] != "model" else None
predictor = Predictor.from_path(Path(sys.argv[1]), hop_s=hop)
loaded = hwm_kb()
begin = time.perf_counter()
result = predictor.predict(Path(sys.argv[2]))
print(json.dumps([loaded, hwm_kb(), len(result.windows), time.perf_counter() - begin, "torch" in sys.modules]))
"""


def peak_rss(model: Path, path: Path, seconds: float, hop: str) -> None:
    """Peak RSS of a fresh process predicting `path`, against the same process with only the model loaded."""
    done = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(model), str(path), hop],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    loaded_kb, peak_kb, windows, wall, torch_loaded = json.loads(done.stdout.strip().splitlines()[-1])
    whole_mb = seconds * RATE * 4 / 1e6
    verdict = "met" if peak_kb / 1024 < RSS_TARGET_MB else "not met"
    print(f"  {model.suffix[1:]:<5} peak RSS {peak_kb / 1024:4.0f} MB (target < {RSS_TARGET_MB:.0f} MB: {verdict}), "
          f"{(peak_kb - loaded_kb) / 1024:.0f} MB above the loaded model ({loaded_kb / 1024:.0f} MB, torch "
          f"{'imported' if torch_loaded else 'not imported'}); the decoded file alone would be {whole_mb:.0f} MB "
          f"({windows} windows, {wall:.1f} s)")


def latency(checkpoint: Path, onnx_path: Path, repeats: int) -> None:
    """p50/p99 of one 1-s clip through the model: eager PyTorch and onnxruntime, each on 1 thread."""
    from earmark.checkpoint import load_checkpoint
    from earmark.inference.backends import OnnxBackend
    from earmark.inference.torch_backends import TorchBackend

    torch.set_num_threads(1)
    clip = (0.1 * np.random.default_rng(1).standard_normal((1, RATE))).astype(np.float32)
    backends = {"eager PyTorch": TorchBackend(load_checkpoint(checkpoint)), "onnxruntime": OnnxBackend(onnx_path, 1)}
    samples: dict[str, list[float]] = {name: [] for name in backends}
    for backend in backends.values():
        for _ in range(max(3, repeats // 10)):  # warm-up
            backend.logits(clip)
    per_round = max(1, min(30, repeats // 10))
    for _ in range(-(-repeats // per_round)):  # alternating rounds: both backends see the same machine
        for name, backend in backends.items():
            for _ in range(per_round):
                begin = time.perf_counter()
                backend.logits(clip)
                samples[name].append((time.perf_counter() - begin) * 1000)
    stats = {name: (float(np.percentile(s, 50)), float(np.percentile(s, 99))) for name, s in samples.items()}
    for name, (p50, p99) in stats.items():
        print(f"  {name:<14} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ({len(samples[name])} calls, 1 thread)")
    (torch_50, torch_99), (onnx_50, onnx_99) = stats["eager PyTorch"], stats["onnxruntime"]
    verdict = "met" if torch_50 / onnx_50 >= LATENCY_TARGET else "not met"
    print(f"  ratio PyTorch/onnxruntime: p50 {torch_50 / onnx_50:.2f}x, p99 {torch_99 / onnx_99:.2f}x "
          f"(above 1: onnxruntime is faster; target p50 {LATENCY_TARGET:.0f}x: {verdict})")


def _blocks(path: Path) -> Any:
    from earmark.audio.stream import stream_mono

    return stream_mono(path, RATE)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}-hour"
    return f"{seconds / 60:g}-minute" if seconds >= 60 else f"{seconds:g}-second"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20-s and 60-s files, 20 calls, 1 round (for a test)")
    parser.add_argument("--repeats", type=int, default=300, help="latency calls per backend")
    parser.add_argument("--rounds", type=int, default=3, help="throughput: best of this many runs")
    parser.add_argument("--rss-hop", default="model", help="window hop in s for the 2-hour file (default: model's)")
    args = parser.parse_args()
    long_s, huge_s, repeats, rounds = (20.0, 60.0, 20, 1) if args.quick else (600.0, 7200.0, args.repeats,
                                                                              args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint, onnx_path = make_model(folder)
        protocol = (f"default model (tcresnet-8, 1-s windows, 0.5-s hop, batch 64), {os.cpu_count()} CPU cores, "
                    f"torch threads {torch.get_num_threads()}, onnxruntime default threads, best of {rounds}")
        print(f"long-file throughput: {_duration(long_s)} 44.1 kHz stereo FLAC → 16 kHz, {protocol}")
        write_long_file(folder / "long.flac", long_s, 44100, 2)
        throughput(checkpoint, onnx_path, folder / "long.flac", long_s, rounds, detail=True)
        print(f"long-file throughput: {_duration(long_s)} 16 kHz mono WAV (the model's rate: no resampling), "
              f"{protocol}")
        sf.write(str(folder / "long.wav"), np.concatenate(list(_blocks(folder / "long.flac"))), RATE,
                 subtype="PCM_16")
        throughput(checkpoint, onnx_path, folder / "long.wav", long_s, rounds, detail=False)
        print(f"peak memory: {_duration(huge_s)} 16 kHz mono FLAC, streamed, in a fresh process")
        write_long_file(folder / "huge.flac", huge_s, RATE, 1)
        for model in (checkpoint, onnx_path):
            peak_rss(model, folder / "huge.flac", huge_s, args.rss_hop)
        print("latency: one 1-s clip through the model (waveform → logits, front-end included), batch 1")
        latency(checkpoint, onnx_path, repeats)


if __name__ == "__main__":
    main()
