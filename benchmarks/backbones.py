"""Pretrained backbone ports at real size (random weights: the compute is the same as with the real ones).

Per port and thread count: parameters, embedding throughput (clips/s, batches of `--batch` clips of
`--clip-s` seconds, eager PyTorch under inference_mode, best of `--rounds`), and 1-s clip latency at batch 1
(median over `--repeats` calls) of eager PyTorch against the ONNX export run by onnxruntime with the same
thread count, called in alternating rounds so both see the same machine. The load average is printed before
and after: on a shared machine the figures move with it; the eager/ONNX ratio is the robust one.

    python benchmarks/backbones.py [--quick] [--models efficientat-mn04,panns-cnn6] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: busy-waiting threads skew timings

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the sibling benchmarks

from benchmarks.features import best_of  # noqa: E402
from earmark.models.pretrained import efficientat, panns  # noqa: E402
from earmark.models.pretrained.base import Backbone, BackboneSpec  # noqa: E402

SPECS: dict[str, BackboneSpec] = {spec.name: spec for spec in (*efficientat.SPECS, *panns.SPECS)}
QUICK = ["efficientat-mn04", "panns-cnn6"]


def load_average() -> str:
    """The 1/5/15-minute load averages (the machine is shared: say how busy it was)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def export_onnx(model: Backbone, folder: Path) -> Path:
    """Waveform → embedding in one ONNX file, dynamic batch and length."""
    rate = model.sample_rate
    dims = {"waveform": {0: torch.export.Dim("batch", min=1, max=64),
                         1: torch.export.Dim("samples", min=rate // 2, max=rate * 60)}}  # Cnn14 needs >= 0.15 s
    path = folder / "backbone.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):  # the exporter's chatter is not a figure
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (0.1 * torch.randn(2, rate),), path, dynamo=True, external_data=False,
                          input_names=["waveform"], output_names=["embedding"], dynamic_shapes=dims)
    return path


def latency(model: Backbone, path: Path, threads: int, repeats: int) -> dict[str, float]:
    """Median 1-s clip latency (ms) of eager PyTorch and onnxruntime, alternating, plus their parity."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    clip = 0.1 * torch.randn(1, model.sample_rate, generator=torch.Generator().manual_seed(1))
    feed = {"waveform": clip.numpy()}
    eager, onnx = [], []
    with torch.inference_mode():
        expected = model(clip).numpy()
        got = session.run(None, feed)[0]
        for _ in range(repeats):
            start = time.perf_counter()
            model(clip)
            eager.append(time.perf_counter() - start)
            start = time.perf_counter()
            session.run(None, feed)
            onnx.append(time.perf_counter() - start)
    parity = float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-12))
    return {"eager_ms": 1e3 * statistics.median(eager), "onnx_ms": 1e3 * statistics.median(onnx), "parity": parity}


def measure(name: str, threads: tuple[int, ...] = (1, 2), clip_s: float = 1.0, batch: int = 8, rounds: int = 3,
            repeats: int = 20, onnx: bool = True) -> list[dict[str, Any]]:
    """All figures for one port, one row per thread count (see the module docstring)."""
    model = SPECS[name].build().eval()
    params = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(0)
    clips = 0.1 * torch.randn(batch, int(model.sample_rate * clip_s), generator=gen)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = export_onnx(model, Path(folder)) if onnx else None
        export_s = time.perf_counter() - start
        for count in threads:
            torch.set_num_threads(count)
            with torch.inference_mode():
                seconds = best_of(lambda: model(clips), rounds)
            row: dict[str, Any] = {"model": name, "threads": count, "params_m": params / 1e6,
                                   "dim": model.embedding_dim, "clips_per_s": batch / seconds}
            if path is not None:
                row.update(latency(model, path, count, repeats), export_s=export_s)
            rows.append(row)
            print(f"  {row}", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict[str, Any]], clip_s: float, batch: int) -> str:
    """The figures as a Markdown table."""
    head = (f"| model | threads | params (M) | dim | {clip_s:g}-s clips/s (batch {batch}) | 1-s eager ms | "
            "1-s onnxruntime ms | eager/ONNX | ONNX parity (rel.) |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        onnx = (f"{r['eager_ms']:.1f} | {r['onnx_ms']:.1f} | {r['eager_ms'] / r['onnx_ms']:.2f}x | {r['parity']:.1e}"
                if "onnx_ms" in r else "- | - | - | -")
        lines.append(f"| {r['model']} | {r['threads']} | {r['params_m']:.2f} | {r['dim']} | {r['clips_per_s']:.1f} | "
                     f"{onnx} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, few repeats")
    parser.add_argument("--models", default="", help=f"comma-separated, from: {', '.join(SPECS)}")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--clip-s", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else (QUICK if args.quick else list(SPECS))
    if unknown := sorted(set(names) - set(SPECS)):
        parser.error(f"unknown backbone {unknown}; valid: {', '.join(SPECS)}")
    if args.quick:
        args.rounds, args.repeats, args.batch = 2, 5, 4
    threads = tuple(int(t) for t in args.threads.split(","))
    before = load_average()
    rows = [row for name in names for row in measure(name, threads, args.clip_s, args.batch, args.rounds,
                                                      args.repeats, args.onnx)]
    print(f"Backbone ports, random weights, torch {torch.__version__}, OMP_WAIT_POLICY="
          f"{os.environ['OMP_WAIT_POLICY']}; before: {before}; after: {load_average()}\n")
    print(table(rows, args.clip_s, args.batch))


if __name__ == "__main__":
    main()
