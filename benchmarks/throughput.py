"""Training throughput, end to end, against the classic notebook pipeline; and time to accuracy on FSDD.

1. Throughput (clips/s over whole epochs, the same `cnn` network, batch size and MFCC shape):
   - reference: a torch Dataset whose `__getitem__` runs `librosa.load(path, sr=16000)` and
     `librosa.feature.mfcc` (20 coefficients, n_fft 512, hop 160) on one 1-s window, DataLoader with 2
     workers, AdamW steps on the MFCC map;
   - earmark: the prepared dataset (int16 cache, memory-mapped), MFCC computed on the batch by the model's
     front-end, the same network and optimiser, through `earmark.training.loop.train`'s data path.
   Both run in this process, one after the other; the ratio is what counts (the machine is shared).
2. Time to accuracy: the default model on FSDD's official split (test = takes 0-4, n = 300) from prepared
   data: test accuracy after each of a few epoch budgets and the training wall time it took.

    python benchmarks/throughput.py [--fsdd ../shared/data/fsdd] [--epochs 2] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FSDD = ROOT.parent / "shared" / "data" / "fsdd"
BATCH, N_MFCC, RATE, WINDOW = 32, 20, 16000, 16000


class LibrosaMFCC(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """The classic pipeline: decode, resample and compute MFCC for every item, every epoch."""

    def __init__(self, files: list[Path], labels: list[int]) -> None:
        self.files, self.labels = files, labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        import librosa

        wave, _ = librosa.load(self.files[index], sr=RATE)
        wave = librosa.util.fix_length(wave, size=WINDOW)
        mfcc = librosa.feature.mfcc(y=wave, sr=RATE, n_mfcc=N_MFCC, n_fft=512, hop_length=160)
        return torch.from_numpy(mfcc[None].astype(np.float32)), self.labels[index]


def reference_clips_per_s(files: list[Path], labels: list[int], epochs: int) -> float:
    """Clips/s of the classic pipeline training `cnn` (workers started and warmed inside the timing)."""
    from earmark.models import create_model

    torch.manual_seed(0)
    net = create_model("cnn", 10, N_MFCC).train()
    loader = torch.utils.data.DataLoader(LibrosaMFCC(files, labels), batch_size=BATCH, shuffle=True, num_workers=2,
                                         drop_last=True, persistent_workers=True)
    return clips_per_s(net, loader, epochs)


def earmark_clips_per_s(data: Path, epochs: int) -> float:
    """Clips/s of earmark's data path and on-device MFCC front-end training the same `cnn`."""
    from earmark.checkpoint import build_model
    from earmark.config import load_train_config
    from earmark.data.dataset import PreparedData, TrainWindows

    torch.manual_seed(0)
    config = load_train_config(overrides=["model.name=cnn", "features.kind=mfcc", f"features.n_mfcc={N_MFCC}",
                                          "augment.noise_snr_db=null", "augment.gain_db=0", "augment.warp_freq=0",
                                          "augment.warp_time=0"])
    prepared = PreparedData.open(data)
    net = build_model(config, prepared.labels, prepared.sample_rate).train()
    loader = torch.utils.data.DataLoader(TrainWindows(prepared, prepared.split_rows("train"), WINDOW),
                                         batch_size=BATCH, shuffle=True, drop_last=True)
    return clips_per_s(net, loader, epochs)


def clips_per_s(net: torch.nn.Module, loader: Any, epochs: int) -> float:
    """Train `net` with AdamW over `epochs` passes of `loader` (inputs, targets); clips per second."""
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3)
    seen = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for inputs, target in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs), target).backward()
            optimizer.step()
            seen += target.shape[0]
    return seen / (time.perf_counter() - start)


def time_to_accuracy(data: Path, out: Path, budgets: list[int]) -> list[dict[str, Any]]:
    """The default model trained for each epoch budget: test accuracy and training wall seconds."""
    from earmark.config import load_train_config
    from earmark.models.registry import DEFAULT_MODEL
    from earmark.training.loop import train

    rows = []
    for epochs in budgets:
        config = load_train_config(overrides=[f"trainer.epochs={epochs}"])
        start = time.perf_counter()
        metrics = train(data, out / f"e{epochs}", config, log=lambda _: None)
        rows.append({"model": DEFAULT_MODEL, "epochs": epochs, "seconds_train": metrics["seconds_train"],
                     "seconds_call": time.perf_counter() - start, "test": metrics["test"]["accuracy"],
                     "n": metrics["test"]["n"]})
    return rows


def main() -> None:
    sys.path.insert(0, str(ROOT))  # run as a script: make the sibling benchmark importable
    from benchmarks.models import prepare_fsdd

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the throughput comparison")
    parser.add_argument("--budgets", default="6,10", help="epoch budgets of the time-to-accuracy runs")
    parser.add_argument("--quick", action="store_true", help="600 files, 1 epoch, one 1-epoch budget (a test)")
    args = parser.parse_args()
    takes = 10 if args.quick else None
    epochs = 1 if args.quick else args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_fsdd(args.fsdd, Path(tmp) / "fsdd", takes=takes)
        from earmark.data.dataset import PreparedData

        prepared = PreparedData.open(data)
        rows = prepared.split_rows("train")
        files = [Path(row.source) for row in rows]
        labels = [prepared.labels.index(row.label) for row in rows]
        ours = earmark_clips_per_s(data, epochs)
        reference = reference_clips_per_s(files, labels, epochs)
        print(f"training throughput, cnn on 20 MFCC, batch {BATCH}, {len(rows)} FSDD clips × {epochs} epochs, "
              f"{torch.get_num_threads()} torch threads: classic librosa Dataset + 2 workers {reference:.0f} clips/s, "
              f"earmark {ours:.0f} clips/s, ratio {ours / reference:.1f}x")
        budgets = [1] if args.quick else [int(b) for b in args.budgets.split(",")]
        for row in time_to_accuracy(data, Path(tmp), budgets):
            print(f"time to accuracy, {row['model']} (default config), FSDD official split: {row['epochs']} epochs "
                  f"in {row['seconds_train']:.1f} s of training ({row['seconds_call']:.1f} s with set-up and the final "
                  f"evaluation) → test accuracy {row['test']:.3f} (n = {row['n']})")


if __name__ == "__main__":
    main()
