"""Defaults that fit the data: the new default (`auto`), the old default, `--auto`, the logreg baseline and the
best peer on several kinds of data, in one run, with train time.

Data sets and protocols (every accuracy is on the test clips; n is given; cross-validation rows are mean ± sample
std over folds):
- FSDD official split (takes 0-4 test, n = 300; val carved from train) and FSDD leave-one-speaker-out
  (6 folds, `earmark cv --by group`);
- ESC-10, 5-fold cross-validation over its official folds (`earmark cv --by fold`; val carved from the four
  training folds), or `--esc10-folds 5` for only some folds;
- the espeak corpus (`earmark synth`, 24 voices), split 60/15/25 by voice (voice-disjoint): digits, and speaker
  gender (`--label-column gender`).
Methods:
- new default: `earmark train` with nothing set (window, model, epochs and patience from the data);
- old default: tcresnet-8, 1-s windows (0.5-s hop), 30 epochs, no early stopping;
- --auto: `earmark train --auto` (the data-chosen model, the other network family, the logreg baseline and the GE2E
  probe where its wheel is installed; ranked on validation);
- logreg baseline: the one in the new default run's metrics.json (fitted on its train split, no extra time);
- best peer: librosa MFCC statistics + scikit-learn RBF-SVM (benchmarks/peers.py), fitted on the train split.
Every earmark run uses 1 torch thread (`trainer.threads=1`); train s is the loop's training seconds
(`seconds_train`, summed over folds), the peer's is feature extraction + fit.

    python benchmarks/recipes.py [--only espeak,fsdd,fsdd-loso,esc10] [--methods new,old,auto,peer]
                                 [--esc10-folds K] [--budget S] [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
THREADS = ["trainer.threads=1"]
OLD_DEFAULT = ["model.name=tcresnet-8", "data.window_s=1.0", "data.eval_hop_s=0.5", "trainer.epochs=30",
               "trainer.patience=null"]
SPEAKER = r"regex:_(?P<group>[a-z]+)_"


@dataclass(frozen=True)
class Task:
    """One row group: a prepared dataset and how it is scored (a fixed split, or cv by fold / by group)."""

    name: str
    protocol: str
    data: Path
    cv: str | None = None  # "fold" | "group"


def prepare(source: Path, out: Path, preset: str, **flags: Any) -> Path:
    """`earmark prepare` quietly (1 decoding process); a dataset prepared earlier in `--work` is reused."""
    from earmark.data.prepare import PrepareOptions, prepare
    from earmark.data.presets import source_options

    if (out / "prepare.json").is_file():
        return out

    options = source_options(preset, **flags)
    with contextlib.redirect_stdout(io.StringIO()):
        prepare(source.resolve(), out, options.spec, PrepareOptions(split=options.split, folds=options.folds,
                                                                       workers=1))
    return out


def tasks(work: Path, only: set[str], quick: bool, esc10_folds: int) -> list[Task]:
    """The data sets asked for, prepared under `work`."""
    from earmark.synth import synthesize_corpus

    found = []
    if "espeak" in only:
        corpus = synthesize_corpus(work / "espeak", voices=6 if quick else 24, takes=1 if quick else 6, seed=0).out_dir
        split = "50/25/25" if quick else "60/15/25"
        digits = prepare(corpus, work / "digits", "earmark-digits", split=split, folds=2 if quick else None)
        gender = prepare(corpus, work / "gender", "earmark-digits", split=split, label_column="gender")
        found += [Task("espeak digits", f"{split} by voice", digits) if not quick else
                  Task("espeak digits", "2 folds by voice (cv)", digits, "fold"),
                  Task("espeak gender", f"{split} by voice", gender)]
    if "fsdd" in only and (SHARED / "fsdd").is_dir() and not quick:
        found.append(Task("FSDD", "official split", prepare(SHARED / "fsdd", work / "fsdd", "fsdd")))
    if "fsdd-loso" in only and (SHARED / "fsdd").is_dir() and not quick:
        found.append(Task("FSDD", "leave-one-speaker-out (cv)",
                          prepare(SHARED / "fsdd", work / "fsdd-loso", "fsdd", group=SPEAKER), "group"))
    if "esc10" in only and (SHARED / "esc10").is_dir() and not quick:
        found.append(Task("ESC-10", f"official folds, {esc10_folds}-fold cv",
                          prepare(SHARED / "esc10", work / "esc10", "esc10"), "fold"))
    return found


def earmark_run(task: Task, out: Path, sets: list[str], auto: bool, folds: int | None,
                budget: float | None) -> list[dict[str, Any]]:
    """metrics.json of every run (one, or one per fold) of earmark with `sets`, as `--auto` when asked."""
    from earmark.config import load_train_config
    from earmark.data.dataset import PreparedData
    from earmark.training.auto import run_auto
    from earmark.training.folds import fold_keys
    from earmark.training.loop import train
    from earmark.training.outputs import finished_metrics

    config = load_train_config(overrides=[*THREADS, *sets])
    keys = [None] if task.cv is None else fold_keys(PreparedData.open(task.data), task.cv)[0][:folds]
    results = []
    for key in keys:
        run = out if key is None else out / f"{task.cv}-{key}"
        holdout = None if key is None else (str(task.cv), str(key))
        metrics = finished_metrics(run)
        if metrics is None:
            with contextlib.redirect_stdout(io.StringIO()):
                metrics = (run_auto(task.data, run, config, budget, log=lambda _: None, holdout=holdout) if auto
                           else train(task.data, run, config, log=lambda _: None, holdout=holdout))
        results.append(metrics)
    return results


def peer_run(task: Task, folds: int | None) -> list[dict[str, Any]]:
    """librosa MFCC statistics + RBF-SVM on the same train and test clips (per fold for cv)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from earmark.data.dataset import PreparedData
    from earmark.training.folds import fold_keys, hold_out
    from peers import mfcc_stats, sklearn_models

    data = PreparedData.open(task.data)
    start = time.perf_counter()
    features = mfcc_stats([_Clip(Path(row.source)) for row in data.rows])
    extract = time.perf_counter() - start
    index = {row.path: i for i, row in enumerate(data.rows)}
    keys = [None] if task.cv is None else fold_keys(data, task.cv)[0][:folds]
    results = []
    for key in keys:
        split = data if key is None else hold_out(data, str(key), str(task.cv), 0)
        train = np.array([index[r.path] for r in split.rows if r.split == "train"])
        test = np.array([index[r.path] for r in split.rows if r.split == "test"])
        labels = np.array([r.label for r in data.rows])
        start = time.perf_counter()
        model = sklearn_models()["librosa MFCC stats + sklearn RBF-SVM"]().fit(features[train], labels[train])
        accuracy = float(np.mean(model.predict(features[test]) == labels[test]))
        results.append({"test": {"accuracy": accuracy, "n": len(test)},
                        "seconds_train": extract / len(keys) + time.perf_counter() - start})
    return results


@dataclass(frozen=True)
class _Clip:
    """What peers.mfcc_stats reads of a clip."""

    path: Path


def summary(name: str, results: list[dict[str, Any]], pick: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
    """Mean ± std over folds (std 0 for one run), total n and train seconds."""
    values = [pick(m) for m in results]
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"method": name, "mean": mean, "std": std, "folds": len(values),
            "n": sum(int(m["test"]["n"]) for m in results),
            "seconds": sum(float(m.get("seconds_train") or 0.0) for m in results),
            "detail": ", ".join(f"{m.get('model', '')}" for m in results) if results and "model" in results[0]
            else ""}


def run_task(task: Task, work: Path, methods: set[str], quick: bool, folds: int | None,
             budget: float | None) -> list[dict[str, Any]]:
    """Every asked method on one task, as table rows."""
    short = ["trainer.epochs=2"] if quick else []
    test_acc = lambda m: float(m["test"]["accuracy"])  # noqa: E731
    rows = []
    slug = task.name.replace(" ", "-") + ("-cv" if task.cv else "")
    if "new" in methods:
        new = earmark_run(task, work / f"{slug}-new", short, False, folds, None)
        rows.append(summary("new default (auto)", new, test_acc))
        rows.append(summary("logreg baseline (metrics.json)", new,
                            lambda m: float(m["baselines"]["logreg"]["test"]["accuracy"])))
        rows[-1]["seconds"] = float("nan")  # fitted inside the run: seconds, not counted apart
        rows[-1]["detail"] = "fitted on each run's train split"
    if "old" in methods:
        rows.append(summary("old default (tcresnet-8, 1-s windows, 30 epochs)",
                            earmark_run(task, work / f"{slug}-old", [*OLD_DEFAULT, *short], False, folds, None),
                            test_acc))
    if "auto" in methods:
        auto = earmark_run(task, work / f"{slug}-auto", short, True, folds, budget)
        rows.append(summary("--auto" + (f" (budget {budget:g} s)" if budget else ""), auto, test_acc))
        rows[-1]["detail"] = "winners: " + ", ".join(str(m["auto"]["winner"]) for m in auto)
        rows[-1]["seconds"] = sum(float(m["auto"].get("seconds_train_all") or sum(
            float(c["seconds_train"] or 0.0) for c in m["candidates"])) for m in auto)  # every candidate's
    if "peer" in methods:
        rows.append(summary("librosa MFCC stats + RBF-SVM (peer)", peer_run(task, folds), test_acc))
    for row in rows:
        row.update(task=task.name, protocol=task.protocol)
        print_row(row)
    return rows


def print_row(row: dict[str, Any]) -> None:
    spread = f" ± {row['std']:.3f}" if row["folds"] > 1 else ""
    seconds = "–" if row["seconds"] != row["seconds"] else f"{row['seconds']:.0f}"
    print(f"| {row['task']} | {row['protocol']} | {row['method']} | {row['mean']:.3f}{spread} | {row['n']} | "
          f"{row['folds']} | {seconds} | {row['detail']} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="espeak,fsdd,fsdd-loso,esc10",
                        help="data sets: espeak, fsdd (official split), fsdd-loso, esc10")
    parser.add_argument("--methods", default="new,old,auto,peer", help="new, old, auto, peer")
    parser.add_argument("--esc10-folds", type=int, default=5, help="ESC-10 folds to run (default all 5)")
    parser.add_argument("--budget", type=float, default=600.0, help="--auto time budget per run (s)")
    parser.add_argument("--work", type=Path, default=None, help="keep prepared data and runs here (resumable)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--quick", action="store_true", help="a small espeak corpus, 2 epochs: a smoke run")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        print("| data | protocol | method | test accuracy | n | runs | train s | notes |")
        print("|---|---|---|---:|---:|---:|---:|---|")
        rows = []
        for task in tasks(work, set(args.only.split(",")), args.quick, args.esc10_folds):
            folds = args.esc10_folds if task.name == "ESC-10" else None
            rows += run_task(task, work, set(args.methods.split(",")), args.quick, folds,
                             None if args.quick else args.budget)
    print(f"1 torch thread per run; cv rows: mean ± sample std over folds, n = all held-out clips; "
          f"--auto ranks on validation only; {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
