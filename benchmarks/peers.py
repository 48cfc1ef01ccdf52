"""earmark against the tools a user would otherwise pick, on FSDD, the same files and splits, in one run.

Peers, each used through its own public API (installed by `make bench` from the `bench` extra; nothing is
downloaded):
- pyAudioAnalysis: folder-per-class training (`audioTrainTest.extract_features_and_train`: its mid-term
  feature statistics, 1-s mid-term / 50-ms short-term windows, its own parameter search by repeated random
  splits) with its SVM and its random forest; test files classified one by one with
  `audioTrainTest.file_classification`. Wall time = everything from the folders to the test predictions.
  Its search fits 50,000 / n models per parameter value (the SVM's took about 4 minutes here), so it runs once,
  for the SVM on digits; the random forest's search (6 forest sizes up to 500 trees, each tree set predicting
  one clip at a time) did not finish in 7 minutes, so the forest uses 100 trees (one of the sizes it searches)
  without it. Everything else uses its per-file features (`MidTermFeatures.mid_feature_extraction`, as
  `file_classification` computes them) and its trainers (`train_svm`, `train_random_forest`), with the
  parameter chosen for digits. --quick skips the search too (on a tiny set it is slower still): C = 1.
- librosa MFCC statistics (20 MFCC and their deltas at the native 8 kHz, n_fft 256, hop 80; mean and std over
  time: 80 numbers per clip) + scikit-learn logistic regression and RBF-SVM (C = 10) after a StandardScaler.
  Wall time = features + fit + predict.
- the classic-notes pipeline: a torch Dataset running `librosa.load` + `librosa.feature.mfcc` per item
  (`benchmarks/throughput.py`), DataLoader with 2 workers, the same earmark `cnn` network, AdamW 3e-3; test
  accuracy after every epoch.
- earmark, through its library API with the default configuration: the default model (`tcresnet-8`) and
  `cnn` on 20 MFCCs (the classic pipeline's input), each from its prepared dataset (16 kHz cache).

Protocols (every accuracy names its protocol and n; intervals are exact binomial 95% intervals over clips,
the same formula for every row):
- digits, official split: test = takes 0-4 of every speaker and digit (n = 300), the rest train (earmark
  carves its validation set from train);
- digits, leave-one-speaker-out (LOSO): 6 folds, mean ± std over folds; n = all 3,000 clips. Peers' features
  are extracted once (they do not depend on the fold) and their hyper-parameters are those chosen in the
  official run; the classic pipeline's LOSO uses its per-item MFCCs computed once (the same inputs it sees every
  epoch) for the same number of epochs;
- speaker identification (6 speakers), official split only: LOSO makes no sense for it (the held-out speaker
  would be a class never seen in training).
Time to 97%: training seconds until the test accuracy first reaches 0.97. The classic pipeline is scored after
every epoch (evaluation time excluded); earmark trains full runs of a ladder of epoch budgets (each with its
warm-up and cosine schedule) and reports the smallest budget that reaches 0.97. clips/s = training clips
seen per training second (earmark's includes its per-epoch validation pass).

    python benchmarks/peers.py [--fsdd ../shared/data/fsdd] [--json results.json] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FSDD = ROOT.parent / "shared" / "data" / "fsdd"
SPEAKER_GROUP = r"regex:_(?P<group>[a-z]+)_"
SPEAKER_LABELS = r"regex:(?:^|/)\d_(?P<label>[a-z]+)_(?:(?P<split_test>[0-4])|(?P<split_train>[5-9]|\d\d+))\.wav$"
TARGET = 0.97


@dataclass(frozen=True)
class Clip:
    """One FSDD recording and what its name says."""

    path: Path
    digit: str
    speaker: str
    take: int

    def label(self, task: str) -> str:
        return self.digit if task == "digits" else self.speaker


def fsdd_subset(fsdd: Path, into: Path, takes: int | None, speakers: int | None) -> list[Clip]:
    """A source folder of symlinks (all of FSDD, or its first `takes` takes of the first `speakers` speakers)."""
    clips = []
    for path in sorted((fsdd / "recordings").glob("*.wav")):
        digit, speaker, take = path.stem.split("_")
        clips.append(Clip(path.resolve(), digit, speaker, int(take)))
    keep = sorted({c.speaker for c in clips})[:speakers]
    clips = [c for c in clips if c.speaker in keep and (takes is None or c.take < takes)]
    (into / "recordings").mkdir(parents=True)
    for clip in clips:
        (into / "recordings" / clip.path.name).symlink_to(clip.path)
    return [Clip(into / "recordings" / c.path.name, c.digit, c.speaker, c.take) for c in clips]


def interval(correct: int, n: int) -> tuple[float, float]:
    """Exact binomial (Clopper-Pearson) 95% interval of an accuracy."""
    from scipy.stats import binomtest

    ci = binomtest(correct, n).proportion_ci(0.95)
    return float(ci.low), float(ci.high)


def official_row(name: str, task: str, correct: int, n: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "task": task, "protocol": "official", "accuracy": correct / n, "n": n,
            "ci95": interval(correct, n), "seconds": seconds, **extra}


def loso_row(name: str, folds: list[tuple[str, int, int]], seconds: float) -> dict[str, Any]:
    """Mean ± sample std over (speaker, correct, n) folds."""
    accs = np.array([c / n for _, c, n in folds])
    return {"name": name, "task": "digits", "protocol": "loso", "accuracy": float(accs.mean()),
            "std": float(accs.std(ddof=1)) if len(accs) > 1 else 0.0, "n": sum(n for *_, n in folds),
            "folds": {s: c / n for s, c, n in folds}, "seconds": seconds}


def loso_splits(clips: list[Clip]) -> list[tuple[str, np.ndarray]]:
    """(speaker, boolean test mask) for each leave-one-speaker-out fold."""
    speakers = np.array([c.speaker for c in clips])
    return [(s, speakers == s) for s in sorted(set(speakers))]


# ---- librosa MFCC statistics + scikit-learn ---------------------------------------------------------------

def mfcc_stats(clips: list[Clip]) -> np.ndarray:
    """[N, 80]: mean and std over time of 20 MFCCs and their deltas, at each file's own rate."""
    import librosa

    rows = []
    for clip in clips:
        wave, rate = librosa.load(clip.path, sr=None)
        mfcc = librosa.feature.mfcc(y=wave, sr=rate, n_mfcc=20, n_fft=256, hop_length=80)
        both = np.concatenate([mfcc, librosa.feature.delta(mfcc, mode="nearest")])
        rows.append(np.concatenate([both.mean(1), both.std(1)]))
    return np.stack(rows)


def sklearn_models() -> dict[str, Callable[[], Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {"librosa MFCC stats + sklearn logistic regression":
            lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
            "librosa MFCC stats + sklearn RBF-SVM": lambda: make_pipeline(StandardScaler(), SVC(C=10.0))}


def run_sklearn(clips: list[Clip], log: Callable[[dict[str, Any]], None]) -> None:
    start = time.perf_counter()
    features = mfcc_stats(clips)
    extract = time.perf_counter() - start
    test = np.array([c.take < 5 for c in clips])
    for task in ("digits", "speakers"):
        y = np.array([c.label(task) for c in clips])
        for name, make in sklearn_models().items():
            begin = time.perf_counter()
            pred = make().fit(features[~test], y[~test]).predict(features[test])
            log(official_row(name, task, int((pred == y[test]).sum()), int(test.sum()),
                             extract + time.perf_counter() - begin, seconds_features=extract))
    y = np.array([c.digit for c in clips])
    for name, make in sklearn_models().items():
        begin, folds = time.perf_counter(), []
        for speaker, held in loso_splits(clips):
            pred = make().fit(features[~held], y[~held]).predict(features[held])
            folds.append((speaker, int((pred == y[held]).sum()), int(held.sum())))
        log(loso_row(name, folds, extract + time.perf_counter() - begin))


# ---- pyAudioAnalysis -------------------------------------------------------------------------------------

PYAA = {"pyAudioAnalysis SVM": "svm", "pyAudioAnalysis random forest": "randomforest"}
MID_S, SHORT_S = 1.0, 0.05


def pyaa_folders(clips: list[Clip], task: str, into: Path) -> list[str]:
    """Folder per class of the official training clips (symlinks), as pyAudioAnalysis expects."""
    for clip in clips:
        if clip.take >= 5:
            folder = into / clip.label(task)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / clip.path.name).symlink_to(clip.path)
    return sorted(str(p) for p in into.iterdir())


def pyaa_features(clips: list[Clip]) -> np.ndarray:
    """Each file's pyAudioAnalysis mid-term statistics, averaged over the file (what file_classification uses)."""
    from pyAudioAnalysis import MidTermFeatures, audioBasicIO

    rows = []
    for clip in clips:
        rate, signal = audioBasicIO.read_audio_file(str(clip.path))
        signal = audioBasicIO.stereo_to_mono(signal)
        mid = min(MID_S, signal.shape[0] / rate)
        features, _, _ = MidTermFeatures.mid_feature_extraction(signal, rate, mid * rate, mid * rate,
                                                                round(rate * SHORT_S), round(rate * SHORT_S))
        rows.append(features.mean(axis=1))
    return np.stack(rows)


def run_pyaa(clips: list[Clip], work: Path, search: bool, log: Callable[[dict[str, Any]], None]) -> None:
    """SVM on digits, official split: the whole folder-per-class workflow with its search, timed. The rest: its
    per-file features and trainers with that parameter (or 100 trees)."""
    from pyAudioAnalysis import audioTrainTest as aT

    chosen: dict[str, float] = {"svm": 1.0, "randomforest": 100.0}
    tests = [c for c in clips if c.take < 5]
    folders = pyaa_folders(clips, "digits", work / "pyaa-digits")
    for name, kind in list(PYAA.items())[:1] if search else ():
        model = str(work / f"pyaa-digits-{kind}")
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()) as said:  # it prints a line per file
            aT.extract_features_and_train(folders, MID_S, MID_S, SHORT_S, SHORT_S, kind, model, False)
            correct = 0
            for clip in tests:
                winner, _, classes = aT.file_classification(str(clip.path), model, kind)
                correct += Path(classes[int(winner)]).name == clip.digit
        chosen[kind] = float(re.findall(r"Selected params: ([0-9.]+)", said.getvalue())[-1])
        log(official_row(name, "digits", correct, len(tests), time.perf_counter() - start, param=chosen[kind]))
    start = time.perf_counter()
    features = pyaa_features(clips)
    extract = time.perf_counter() - start
    official = np.array([c.take < 5 for c in clips])
    digits, speakers = np.array([c.digit for c in clips]), np.array([c.speaker for c in clips])
    for name, kind in PYAA.items():
        for task, y in (("digits", digits), ("speakers", speakers)):
            if task == "digits" and kind in chosen and search and kind == "svm":
                continue  # done above, with its search
            begin = time.perf_counter()
            pred = pyaa_fit_predict(features, y, ~official, kind, chosen[kind])
            log(official_row(name + (" (no parameter search)" if task == "digits" else ""), task,
                             int((pred == y[official]).sum()), int(official.sum()),
                             extract + time.perf_counter() - begin, param=chosen[kind]))
        begin, folds = time.perf_counter(), []
        for speaker, held in loso_splits(clips):
            pred = pyaa_fit_predict(features, digits, ~held, kind, chosen[kind])
            folds.append((speaker, int((pred == digits[held]).sum()), int(held.sum())))
        log(loso_row(name, folds, extract + time.perf_counter() - begin))


def pyaa_fit_predict(features: np.ndarray, y: np.ndarray, train: np.ndarray, kind: str, param: float) -> np.ndarray:
    """pyAudioAnalysis's trainer on the standardised training rows (as it scales them); predictions for the rest."""
    from pyAudioAnalysis import audioTrainTest as aT

    mean, std = features[train].mean(0), features[train].std(0) + 1e-12
    scaled = (features - mean) / std
    model = (aT.train_svm(scaled[train], y[train], param) if kind == "svm"
             else aT.train_random_forest(scaled[train], y[train], int(param)))
    return model.predict(scaled[~train])


# ---- the classic-notes pipeline ---------------------------------------------------------------------------

def classic_official(clips: list[Clip], epochs: int, log: Callable[[dict[str, Any]], None]) -> None:
    """Per-item librosa MFCC + `cnn`: test accuracy after every epoch, training seconds to the first 0.97."""
    from benchmarks.throughput import BATCH, N_MFCC, LibrosaMFCC
    from earmark.models import create_model

    digits = sorted({c.digit for c in clips})
    train = [c for c in clips if c.take >= 5]
    tests = [c for c in clips if c.take < 5]
    torch.manual_seed(0)
    net = create_model("cnn", len(digits), N_MFCC)
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3)
    loader = torch.utils.data.DataLoader(LibrosaMFCC([c.path for c in train], [digits.index(c.digit) for c in train]),
                                         batch_size=BATCH, shuffle=True, num_workers=2, persistent_workers=True)
    test_loader = torch.utils.data.DataLoader(LibrosaMFCC([c.path for c in tests],
                                                          [digits.index(c.digit) for c in tests]),
                                              batch_size=64, num_workers=2)
    seconds, reached, curve, correct = 0.0, None, [], 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        for inputs, target in loader:
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs), target).backward()
            optimizer.step()
        seconds += time.perf_counter() - start
        correct = count_correct(net, test_loader)
        curve.append(correct / len(tests))
        if reached is None and correct / len(tests) >= TARGET:
            reached = {"epochs": epoch, "seconds": seconds}
    log(official_row("classic notes: per-item librosa MFCC Dataset + cnn", "digits", correct, len(tests), seconds,
                     epochs=epochs, clips_per_s=len(train) * epochs / seconds, to_target=reached, curve=curve))


def run_classic(clips: list[Clip], epochs: int, loso_epochs: int, log: Callable[[dict[str, Any]], None]) -> None:
    classic_official(clips, epochs, log)
    classic_loso(clips, loso_epochs, log)


@torch.no_grad()
def count_correct(net: torch.nn.Module, loader: Any) -> int:
    net.eval()
    return sum(int((net(x).argmax(1) == y).sum()) for x, y in loader)


def classic_loso(clips: list[Clip], epochs: int, log: Callable[[dict[str, Any]], None]) -> None:
    """The classic pipeline under LOSO, on its per-item MFCCs computed once (the inputs every epoch sees)."""
    from benchmarks.throughput import BATCH, N_MFCC, LibrosaMFCC
    from earmark.models import create_model

    digits = sorted({c.digit for c in clips})
    items = LibrosaMFCC([c.path for c in clips], [digits.index(c.digit) for c in clips])
    start = time.perf_counter()
    x = torch.stack([items[i][0] for i in range(len(items))])
    y = torch.tensor(items.labels)
    folds = []
    for speaker, held in loso_splits(clips):
        mask = torch.from_numpy(held)
        torch.manual_seed(0)
        net = create_model("cnn", len(digits), N_MFCC)
        optimizer = torch.optim.AdamW(net.parameters(), 3e-3)
        train = torch.utils.data.TensorDataset(x[~mask], y[~mask])
        for _ in range(epochs):
            net.train()
            for inputs, target in torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(net(inputs), target).backward()
                optimizer.step()
        held_loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[mask], y[mask]), batch_size=64)
        folds.append((speaker, count_correct(net, held_loader), int(mask.sum())))
    log(loso_row("classic notes: per-item librosa MFCC Dataset + cnn", folds, time.perf_counter() - start))


# ---- earmark ---------------------------------------------------------------------------------------------

EARMARK = {"earmark tcresnet-8 (default)": [], "earmark cnn (20 MFCC)": ["model.name=cnn", "features.kind=mfcc",
                                                                          "features.n_mfcc=20"]}


def earmark_prepare(source: Path, out: Path, **flags: Any) -> Path:
    from earmark.data.prepare import PrepareOptions, prepare
    from earmark.data.presets import source_options

    options = source_options("fsdd", **flags)
    with contextlib.redirect_stdout(io.StringIO()):
        prepare(source, out, options.spec, PrepareOptions(split=options.split))
    return out


def earmark_train(data: Path, run: Path, overrides: list[str], epochs: int) -> dict[str, Any]:
    from earmark.config import load_train_config
    from earmark.training.loop import train

    config = load_train_config(overrides=[*overrides, f"trainer.epochs={epochs}"])
    return train(data, run, config, log=lambda _: None)


def run_earmark(source: Path, work: Path, ladder: list[int], loso_epochs: int,
                log: Callable[[dict[str, Any]], None], quick: bool = False) -> None:
    digits = earmark_prepare(source, work / "em-digits")
    for name, overrides in list(EARMARK.items())[:1] if quick else EARMARK.items():  # quick: the default only
        rungs: list[dict[str, Any]] = []
        reached, metrics = None, {}
        for epochs in ladder:  # full runs of growing budgets: the smallest that reaches the target
            metrics = earmark_train(digits, work / f"em-{len(rungs)}-{name.split()[1]}", overrides, epochs)
            rungs.append({"epochs": epochs, "accuracy": metrics["test"]["accuracy"],
                          "seconds": metrics["seconds_train"]})
            if reached is None and metrics["test"]["accuracy"] >= TARGET:
                reached = rungs[-1]
        test, n_train = metrics["test"], metrics_train_clips(digits)
        log(official_row(name, "digits", round(test["accuracy"] * test["n"]), test["n"], metrics["seconds_train"],
                         epochs=ladder[-1], clips_per_s=n_train * ladder[-1] / metrics["seconds_train"],
                         to_target=reached, curve=rungs))
    speakers = earmark_prepare(source, work / "em-speakers", labels=SPEAKER_LABELS)
    name = next(iter(EARMARK))
    metrics = earmark_train(speakers, work / "em-speakers-run", EARMARK[name], ladder[-1])
    test = metrics["test"]
    log(official_row(name, "speakers", round(test["accuracy"] * test["n"]), test["n"], metrics["seconds_train"],
                     epochs=ladder[-1]))
    from earmark.config import load_train_config
    from earmark.training.cv import cross_validate

    grouped = earmark_prepare(source, work / "em-grouped", group=SPEAKER_GROUP)
    start = time.perf_counter()
    config = load_train_config(overrides=[f"trainer.epochs={loso_epochs}"])
    summary = cross_validate(grouped, work / "em-loso", config, "group", log=lambda _: None)
    folds = [(f["fold"], round(f["accuracy"] * f["n"]), f["n"]) for f in summary["folds"]]
    log(loso_row(name, folds, time.perf_counter() - start) | {"epochs": loso_epochs})


def metrics_train_clips(data: Path) -> int:
    from earmark.data.dataset import PreparedData

    return len(PreparedData.open(data).split_rows("train"))


# ---- report ----------------------------------------------------------------------------------------------

def print_row(row: dict[str, Any]) -> None:
    """One markdown table row as soon as a result is in."""
    if row["protocol"] == "loso":
        acc = f"{row['accuracy']:.3f} ± {row['std']:.3f} (folds {min(row['folds'].values()):.2f}–" \
              f"{max(row['folds'].values()):.2f})"
    else:
        acc = f"{row['accuracy']:.3f} [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]"
    reached = row.get("to_target", "")
    target = "" if "to_target" not in row else (
        f"{reached['seconds']:.1f} s ({reached['epochs']} epochs)" if reached else f"not reached in {row['epochs']}")
    speed = f"{row['clips_per_s']:.0f}" if "clips_per_s" in row else ""
    print(f"| {row['task']} | {row['protocol']} | {row['name']} | {acc} | {row['n']} | {row['seconds']:.1f} | "
          f"{target} | {speed} |", flush=True)


def main() -> None:
    sys.path.insert(0, str(ROOT))  # run as a script: make the sibling benchmarks importable
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fsdd", type=Path, default=DEFAULT_FSDD)
    parser.add_argument("--ladder", default="3,6,10", help="earmark epoch budgets for time to 97%%")
    parser.add_argument("--classic-epochs", type=int, default=6)
    parser.add_argument("--classic-loso-epochs", type=int, default=5)
    parser.add_argument("--loso-epochs", type=int, default=12, help="earmark epochs per LOSO fold")
    parser.add_argument("--only", default="earmark,sklearn,pyaa,classic", help="comma-separated parts, in order")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="3 speakers × 7 takes, 1 epoch (used by a test)")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))  # the reference machine has 2 cores
    ladder = [1] if args.quick else [int(e) for e in args.ladder.split(",")]
    classic_epochs, classic_loso_epochs, loso_epochs = (1, 1, 1) if args.quick else (
        args.classic_epochs, args.classic_loso_epochs, args.loso_epochs)
    parts, rows = args.only.split(","), []

    def log(row: dict[str, Any]) -> None:
        rows.append(row)
        print_row(row)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clips = fsdd_subset(args.fsdd, work / "fsdd", 7 if args.quick else None, 3 if args.quick else None)
        print(f"FSDD: {len(clips)} clips, {len({c.speaker for c in clips})} speakers; official split test = takes "
              f"0-4 (n = {sum(c.take < 5 for c in clips)}); {torch.get_num_threads()} torch threads, "
              f"{os.cpu_count()} CPU cores; target {TARGET}")
        print("| task | protocol | pipeline | accuracy [95% CI] or mean ± std over speakers | n | wall s | "
              f"time to {TARGET} | train clips/s |\n|---|---|---|---|---:|---:|---|---:|", flush=True)
        steps = {"sklearn": lambda: run_sklearn(clips, log),
                 "pyaa": lambda: run_pyaa(clips, work, not args.quick, log),
                 "classic": lambda: run_classic(clips, classic_epochs, classic_loso_epochs, log),
                 "earmark": lambda: run_earmark(work / "fsdd", work, ladder, loso_epochs, log, args.quick)}
        for part in parts:  # in the order given
            steps[part]()
    summarise(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def summarise(rows: list[dict[str, Any]]) -> None:
    """earmark's best against the best peer per task and protocol, and the time-to-target ratio."""
    for task, protocol in (("digits", "official"), ("digits", "loso"), ("speakers", "official")):
        group = [r for r in rows if r["task"] == task and r["protocol"] == protocol]
        ours = [r for r in group if r["name"].startswith("earmark")]
        peers = [r for r in group if not r["name"].startswith("earmark")]
        if ours and peers:
            best, peer = max(ours, key=lambda r: r["accuracy"]), max(peers, key=lambda r: r["accuracy"])
            verdict = "beats" if best["accuracy"] > peer["accuracy"] else "does NOT beat"
            print(f"{task}, {protocol}: {best['name']} {best['accuracy']:.3f} {verdict} the best peer, "
                  f"{peer['name']} {peer['accuracy']:.3f} (n = {best['n']})")
    timed = {r["name"]: r for r in rows if r["protocol"] == "official" and "to_target" in r}
    classic = next((r for n, r in timed.items() if n.startswith("classic")), None)
    for name, row in timed.items():
        if classic and row is not classic and row["to_target"] and classic["to_target"]:
            ratio = classic["to_target"]["seconds"] / row["to_target"]["seconds"]
            print(f"time to {TARGET}: {name} {row['to_target']['seconds']:.1f} s against the classic pipeline's "
                  f"{classic['to_target']['seconds']:.1f} s: {ratio:.1f}x faster")
        elif classic and row is not classic:
            print(f"time to {TARGET}: {name} {row['to_target']} against the classic pipeline's "
                  f"{classic['to_target']} (one of them did not reach it)")


if __name__ == "__main__":
    main()
