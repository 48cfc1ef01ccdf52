"""Inference: long-file throughput, peak memory on a very long file, and 1-s clip latency, ONNX vs PyTorch.

All figures come from this run on this machine, with the default model (its weights untrained: the compute
is the same):
1. Long-file throughput: a 10-minute 44.1 kHz stereo FLAC predicted with the model's own window and hop,
   streamed (decode in blocks, streaming resample, windows scored a batch at a time), in x real time,
   through eager PyTorch and through onnxruntime; the reference is the in-memory path in the same process
   (the whole file decoded with `load_mono`, then the same windows scored), and the ratio is printed.
2. Peak RSS of a fresh `Predictor.predict` process on a 2-hour 16 kHz FLAC (window hop `--rss-hop`, so
   the run stays short; memory does not depend on it), against the same process after loading the model,
   and against what the decoded file alone would take in memory.
3. Latency of one 1-s clip through the model (p50/p99 over `--repeats` calls, 1 thread each): onnxruntime
   against eager PyTorch; the ratio is PyTorch's time over onnxruntime's.

    python benchmarks/inference.py [--quick] [--repeats 300] [--rss-hop 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
LABELS = [f"class{i}" for i in range(10)]
RATE = 16000


def make_model(folder: Path) -> tuple[Path, Path]:
    """A default-config checkpoint and its ONNX export (parity-checked on synthetic signals)."""
    from earmark.checkpoint import build_model, save_checkpoint
    from earmark.config import TrainConfig
    from earmark.export import export_run

    torch.manual_seed(0)
    config = TrainConfig()
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


def throughput(checkpoint: Path, onnx_path: Path, path: Path, seconds: float) -> None:
    from earmark.audio.decode import load_mono
    from earmark.inference import Predictor

    torch_predictor, onnx_predictor = Predictor.from_path(checkpoint), Predictor.from_path(onnx_path)
    times = {}
    for name, run in (("in-memory PyTorch (reference)", lambda: torch_predictor.predict_array(
                          load_mono(path, RATE)[0], RATE, str(path))),
                      ("streamed PyTorch", lambda: torch_predictor.predict(path)),
                      ("streamed onnxruntime", lambda: onnx_predictor.predict(path))):
        begin = time.perf_counter()
        result = run()
        times[name] = time.perf_counter() - begin
        print(f"  {name:<30} {seconds / times[name]:7.1f}x real time  ({times[name]:.1f} s, "
              f"{len(result.windows)} windows)")
    reference = times["in-memory PyTorch (reference)"]
    print(f"  ratio streamed/in-memory speed: PyTorch {reference / times['streamed PyTorch']:.2f}x, "
          f"onnxruntime {reference / times['streamed onnxruntime']:.2f}x")


_RSS_CHILD = """
import json, resource, sys, time
from pathlib import Path
from earmark.inference import Predictor
predictor = Predictor.from_path(Path(sys.argv[1]), hop_s=float(sys.argv[3]))
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
begin = time.perf_counter()
result = predictor.predict(Path(sys.argv[2]))
print(json.dumps([loaded, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(result.windows),
                  time.perf_counter() - begin]))
"""


def peak_rss(checkpoint: Path, path: Path, seconds: float, hop_s: float) -> None:
    """Peak RSS of a fresh process predicting `path`, against the same process with only the model loaded."""
    done = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(checkpoint), str(path), str(hop_s)],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    loaded_kb, peak_kb, windows, wall = json.loads(done.stdout.strip().splitlines()[-1])
    whole_mb = seconds * RATE * 4 / 1e6
    print(f"  peak RSS {peak_kb / 1024:.0f} MB, {(peak_kb - loaded_kb) / 1024:.0f} MB above the loaded model "
          f"({loaded_kb / 1024:.0f} MB); the decoded file alone would be {whole_mb:.0f} MB at 16 kHz float32 "
          f"({windows} windows at hop {hop_s:g} s, {wall:.1f} s)")


def latency(checkpoint: Path, onnx_path: Path, repeats: int) -> None:
    """p50/p99 of one 1-s clip through the model: eager PyTorch and onnxruntime, each on 1 thread."""
    from earmark.checkpoint import load_checkpoint
    from earmark.inference.backends import OnnxBackend, TorchBackend

    torch.set_num_threads(1)
    clip = (0.1 * np.random.default_rng(1).standard_normal((1, RATE))).astype(np.float32)
    backends = {"eager PyTorch": TorchBackend(load_checkpoint(checkpoint)), "onnxruntime": OnnxBackend(onnx_path, 1)}
    stats = {}
    for name, backend in backends.items():
        for _ in range(max(3, repeats // 10)):  # warm-up
            backend.logits(clip)
        samples = []
        for _ in range(repeats):
            begin = time.perf_counter()
            backend.logits(clip)
            samples.append((time.perf_counter() - begin) * 1000)
        stats[name] = (float(np.percentile(samples, 50)), float(np.percentile(samples, 99)))
        print(f"  {name:<14} p50 {stats[name][0]:6.2f} ms  p99 {stats[name][1]:6.2f} ms  ({repeats} calls, 1 thread)")
    (torch_50, torch_99), (onnx_50, onnx_99) = stats["eager PyTorch"], stats["onnxruntime"]
    print(f"  ratio PyTorch/onnxruntime: p50 {torch_50 / onnx_50:.2f}x, p99 {torch_99 / onnx_99:.2f}x "
          "(above 1: onnxruntime is faster)")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}-hour"
    return f"{seconds / 60:g}-minute" if seconds >= 60 else f"{seconds:g}-second"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20-s and 60-s files, 20 calls (used by a test)")
    parser.add_argument("--repeats", type=int, default=300, help="latency calls per backend")
    parser.add_argument("--rss-hop", type=float, default=5.0, help="window hop in s for the 2-hour file")
    args = parser.parse_args()
    long_s, huge_s, repeats = (20.0, 60.0, 20) if args.quick else (600.0, 7200.0, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        checkpoint, onnx_path = make_model(folder)
        print(f"long-file throughput: {_duration(long_s)} 44.1 kHz stereo FLAC, default model, "
              f"torch threads {torch.get_num_threads()}")
        write_long_file(folder / "long.flac", long_s, 44100, 2)
        throughput(checkpoint, onnx_path, folder / "long.flac", long_s)
        print(f"peak memory: {_duration(huge_s)} 16 kHz mono FLAC, streamed, in a fresh process")
        write_long_file(folder / "huge.flac", huge_s, RATE, 1)
        peak_rss(checkpoint, folder / "huge.flac", huge_s, args.rss_hop)
        print("latency: one 1-s clip through the model (waveform → logits, front-end included)")
        latency(checkpoint, onnx_path, repeats)


if __name__ == "__main__":
    main()
