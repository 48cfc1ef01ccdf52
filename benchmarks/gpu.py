"""Training on a GPU: clips/s of `cnn` and the default model in bf16, and the share of step time spent waiting
for data; against this machine's CPU in the same run.

For each model, from FSDD prepared at 16 kHz (official split):
1. `earmark train` itself (`trainer.device=cuda`, `trainer.precision=bf16-mixed`, default batch and loader)
   for a few epochs: clips/s of its last epoch, as the run's history records it (validation pass included);
2. the same loader and model stepped by hand, with the device synchronised around each step, to split each
   step into waiting for the batch (loader + host-to-device copy) and computing (forward, backward, optimiser):
   clips/s of the steps and the share of the time spent waiting. The same loop on the CPU (float32, this
   machine's cores) is the reference of the ratio.
Without CUDA the script says so and measures nothing (exit 0), unless `--device cpu` asks for the same loop on
the CPU (how the test keeps this script from rotting on machines without a GPU).

    python benchmarks/gpu.py [--fsdd ../shared/data/fsdd] [--epochs 3] [--steps 60] [--device cuda|cpu] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FSDD = ROOT.parent / "shared" / "data" / "fsdd"
MODELS = {"tcresnet-8 (default)": ["model.name=tcresnet-8"],
          "cnn (20 MFCC)": ["model.name=cnn", "features.kind=mfcc", "features.n_mfcc=20"]}


def precision_for(device: str) -> str:
    """bf16 autocast on CUDA; float32 (earmark's "auto") on the CPU."""
    return "bf16-mixed" if device == "cuda" else "auto"


def train_clips_per_s(data: Path, run: Path, overrides: list[str], device: str, epochs: int) -> float:
    """Clips/s of the last epoch of a real `earmark train` run on `device` (bf16 on CUDA)."""
    from earmark.config import load_train_config
    from earmark.training.loop import train

    config = load_train_config(overrides=[*overrides, f"trainer.epochs={epochs}", f"trainer.device={device}",
                                          f"trainer.precision={precision_for(device)}"])
    train(data, run, config, log=lambda _: None)
    with (run / "history.csv").open() as f:
        return float(list(csv.DictReader(f))[-1]["clips_per_s"])


def step_split(data: Path, overrides: list[str], device: str, steps: int) -> dict[str, float]:
    """Hand-stepped training with earmark's loader and model: clips/s and the share of time waiting for data."""
    from torch.utils.data import DataLoader

    from earmark.checkpoint import build_model
    from earmark.config import load_train_config
    from earmark.data.dataset import PreparedData, TrainWindows
    from earmark.training.loop import fit_normalizer
    from earmark.training.recipe import resolve_recipe

    prepared = PreparedData.open(data)
    rows = prepared.split_rows("train")
    config, _ = resolve_recipe(load_train_config(overrides=overrides), rows, len(prepared.labels))  # as train does
    window = round(config.data.resolved_window_s * prepared.sample_rate)
    model = build_model(config, prepared.labels, prepared.sample_rate)
    fit_normalizer(model, prepared, rows, window)
    model = model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    loader = DataLoader(TrainWindows(prepared, rows, window), batch_size=config.trainer.batch_size, shuffle=True,
                        drop_last=True, num_workers=config.data.num_workers, pin_memory=device == "cuda")
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")
    wait = compute = 0.0
    seen = done = 0
    while done < steps + 3:
        batches = iter(loader)
        while done < steps + 3:
            sync(device)
            start = time.perf_counter()
            try:
                wave, target = next(batches)
            except StopIteration:
                break
            wave, target = wave.to(device, non_blocking=True), target.to(device, non_blocking=True)
            sync(device)
            loaded = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                logits = model(wave)
            torch.nn.functional.cross_entropy(logits.float(), target).backward()
            optimizer.step()
            sync(device)
            if done >= 3:  # warm-up steps are not counted
                wait += loaded - start
                compute += time.perf_counter() - loaded
                seen += target.shape[0]
            done += 1
    return {"clips_per_s": seen / (wait + compute), "wait_share": wait / (wait + compute)}


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each real training run")
    parser.add_argument("--steps", type=int, default=60, help="hand-timed steps per model and device")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--quick", action="store_true", help="a small subset, 1 epoch, 4 steps (used by a test)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no GPU: torch.cuda.is_available() is False here, so nothing was measured")
        return
    from benchmarks.models import prepare_fsdd

    epochs, steps = (1, 4) if args.quick else (args.epochs, args.steps)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    kind = "bf16 autocast" if args.device == "cuda" else "float32"
    print(f"{name}: FSDD official split, default batch and loader, {kind} on the device, "
          f"reference: the same hand-stepped loop on this machine's CPU ({torch.get_num_threads()} threads, float32)")
    print("| model | earmark train clips/s | stepped clips/s | waiting for data | CPU stepped clips/s | ratio |\n"
          "|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_fsdd(args.fsdd, Path(tmp) / "fsdd", takes=8 if args.quick else None)
        for model, overrides in MODELS.items():
            trained = train_clips_per_s(data, Path(tmp) / model.split()[0], overrides, args.device, epochs)
            on_device = step_split(data, overrides, args.device, steps)
            on_cpu = step_split(data, overrides, "cpu", max(4, steps // 4))
            print(f"| {model} | {trained:.0f} | {on_device['clips_per_s']:.0f} | {on_device['wait_share']:.1%} | "
                  f"{on_cpu['clips_per_s']:.0f} | {on_device['clips_per_s'] / on_cpu['clips_per_s']:.1f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
