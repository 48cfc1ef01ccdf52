"""Every registered model on FSDD: official-split test accuracy, parameters and training time, in one table;
then leave-one-speaker-out cross-validation of the default model against the `logreg` baseline.

Protocols (both printed with n):
- official split: takes 0-4 of every speaker and digit are the test set (n = 300), the rest train, with a
  10% validation set carved from train (grouped, stratified); speakers are shared between train and test;
- leave-one-speaker-out: 6 folds, each speaker in turn is the whole test set (about 500 clips), val carved
  from the other speakers; nobody in the test set was heard in training.

Every model trains with the default configuration on the same CPU-time budget (the number of epochs
is the budget over the model's measured seconds per epoch, at least 1 and at most --max-epochs), or for
a fixed number of epochs with --epochs; one after another in this process, so training times are
comparable within one run only. This is the "accuracy per CPU-second" the default model is chosen by.

    python benchmarks/models.py [--fsdd ../shared/data/fsdd] [--budget 60 | --epochs 15] [--models cnn,logreg]
                                [--loso default|MODELS] [--json results.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FSDD = ROOT.parent / "shared" / "data" / "fsdd"
SPEAKER_GROUP = r"regex:_(?P<group>[a-z]+)_"


def prepare_fsdd(fsdd: Path, out: Path, by_speaker: bool = False, takes: int | None = None) -> Path:
    """FSDD prepared at 16 kHz with the fsdd preset (official split), or grouped by speaker for LOSO."""
    from earmark.data.prepare import PrepareOptions, prepare
    from earmark.data.presets import source_options

    source = fsdd
    if takes is not None:  # a small, still balanced subset: takes 0..takes-1 of every digit and speaker
        source = out.with_name(out.name + "-source") / "recordings"
        source.mkdir(parents=True)
        for path in sorted((fsdd / "recordings").glob("*.wav")):
            if int(path.stem.rsplit("_", 1)[1]) < takes:
                (source / path.name).symlink_to(path.resolve())
        source = source.parent
    options = source_options("fsdd", group=SPEAKER_GROUP if by_speaker else None)
    prepare(source, out, options.spec, PrepareOptions(split=options.split))
    return out


def seconds_per_epoch(data: Path, model: str, steps: int = 6) -> float:
    """Estimated training seconds per epoch of `model`: timed steps on real batches, scaled to an epoch."""
    import torch

    from earmark.checkpoint import build_model
    from earmark.config import load_train_config
    from earmark.data.dataset import PreparedData, TrainWindows

    config = load_train_config(overrides=[f"model.name={model}"])
    prepared = PreparedData.open(data)
    rows = prepared.split_rows("train")
    net = build_model(config, prepared.labels, prepared.sample_rate).train()
    optimizer = torch.optim.AdamW(net.parameters(), config.optim.lr)
    loader = iter(torch.utils.data.DataLoader(TrainWindows(prepared, rows, prepared.sample_rate),
                                              batch_size=config.trainer.batch_size, shuffle=True))
    for step in range(steps + 1):
        if step == 1:  # the first step pays for one-off set-up
            start = time.perf_counter()
        wave, target = next(loader)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(wave), target).backward()
        optimizer.step()
    per_step = (time.perf_counter() - start) / steps
    return per_step * len(rows) / config.trainer.batch_size


def train_one(data: Path, run: Path, model: str, epochs: int) -> dict[str, Any]:
    """Train `model` with the default config; its metrics plus parameters and seconds."""
    from earmark.config import load_train_config
    from earmark.models import count_parameters, create_model
    from earmark.training.loop import train

    config = load_train_config(overrides=[f"model.name={model}", f"trainer.epochs={epochs}"])
    start = time.perf_counter()
    metrics = train(data, run, config, log=lambda _: None)
    params = count_parameters(create_model(model, 10, config.features.n_mels))
    return {"model": model, "params": params, "epochs": epochs, "test": metrics["test"]["accuracy"],
            "ci": metrics["test"]["accuracy_ci95"], "n": metrics["test"]["n"],
            "seconds_train": metrics["seconds_train"], "seconds_total": time.perf_counter() - start}


def loso(data: Path, out: Path, model: str, epochs: int) -> dict[str, Any]:
    """Leave-one-speaker-out cross-validation summary of `model`."""
    from earmark.config import load_train_config
    from earmark.training.cv import cross_validate

    config = load_train_config(overrides=[f"model.name={model}", f"trainer.epochs={epochs}"])
    return cross_validate(data, out, config, "group", "", log=lambda _: None)


def main() -> None:
    from earmark.models import list_models
    from earmark.models.registry import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    parser.add_argument("--budget", type=float, default=60.0, help="training seconds per model")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=None, help="a fixed number of epochs instead of a budget")
    parser.add_argument("--models", default=None, help="comma-separated (default: every registered model)")
    parser.add_argument("--loso", default=None, help="also leave-one-speaker-out for these models (comma-separated; "
                        "'default': the default model and logreg)")
    parser.add_argument("--loso-epochs", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    parser.add_argument("--quick", action="store_true", help="600 files, 1 epoch, 2 models (used by a test)")
    args = parser.parse_args()
    takes = 10 if args.quick else None
    fixed = 1 if args.quick else args.epochs
    names = args.models.split(",") if args.models else [spec.name for spec in list_models()]
    names = ["majority", DEFAULT_MODEL] if args.quick else names
    results: dict[str, Any] = {"budget_s": args.budget, "epochs": fixed, "models": []}
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_fsdd(args.fsdd, Path(tmp) / "official", takes=takes)
        plan = f"{fixed} epochs each" if fixed else f"a {args.budget:.0f}-s training budget each"
        print(f"FSDD official split (test = takes 0-4), {plan}, default config, 16 kHz log-mel, "
              f"{os.cpu_count()} CPU cores")
        print("| model | parameters | s/epoch (est.) | epochs | test accuracy [95% CI] | n | train time (s) |\n"
              "|---|---:|---:|---:|---|---:|---:|")
        for name in names:
            per_epoch = seconds_per_epoch(data, name)
            epochs = fixed or max(1, min(args.max_epochs, int(args.budget / per_epoch)))
            row = {**train_one(data, Path(tmp) / name, name, epochs), "seconds_per_epoch_estimate": per_epoch}
            results["models"].append(row)
            print(f"| {name} | {row['params']:,} | {per_epoch:.1f} | {epochs} | {row['test']:.3f} "
                  f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}] | {row['n']} | {row['seconds_train']:.0f} |", flush=True)
        if args.loso:
            grouped = prepare_fsdd(args.fsdd, Path(tmp) / "by-speaker", by_speaker=True, takes=takes)
            results["loso"] = {}
            for name in [DEFAULT_MODEL, "logreg"] if args.loso == "default" else args.loso.split(","):
                summary = loso(grouped, Path(tmp) / f"loso-{name}", name, fixed or args.loso_epochs)
                results["loso"][name] = summary
                folds = ", ".join(f"{f['fold']} {f['accuracy']:.3f} (n {f['n']})" for f in summary["folds"])
                acc = summary["accuracy"]
                print(f"leave-one-speaker-out, {name}: {acc['mean']:.3f} ± {acc['std']:.3f} "
                      f"(95% CI {acc['ci95'][0]:.3f}–{acc['ci95'][1]:.3f}) over {summary['n_folds']} speakers, "
                      f"n = {summary['n_clips']}: {folds}",
                      flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
