"""How far the default model can be trusted off its test split: `earmark robustness` on FSDD and ESC-10.

Data sets and protocols (every accuracy is on the test clips; n is given):
- FSDD official split (takes 0-4 test, n = 300; val carved from train), `--preset fsdd`;
- ESC-10, official fold 5 held out as test (n = 80; val carved from folds 1-4), `--preset esc10`, `--fold 5`.
Method: `earmark train` with the defaults (model, window and patience chosen from the data) but a modest, fixed
number of epochs (`--epochs`, default 15) on 1 torch thread; the temperature is fitted on validation at the end
of training (`calibration.temperature`, the default). Then one `earmark evaluate` and one `earmark robustness`
of the run, each timed in this process (wall seconds; the ratio is the figure, the machine is shared).
Printed: accuracy per condition for both data sets (with the clean score), ECE on val and test before and after
temperature scaling, and the wall times.

    python benchmarks/robustness.py [--only fsdd,esc10] [--epochs N] [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))


def datasets(work: Path, only: set[str], quick: bool) -> list[tuple[str, str, Path, tuple[str, str] | None]]:
    """(name, protocol, prepared data, held-out fold) of each data set asked for, prepared under `work`."""
    from recipes import prepare

    found: list[tuple[str, str, Path, tuple[str, str] | None]] = []
    if quick:
        from earmark.synth import synthesize_corpus

        corpus = synthesize_corpus(work / "espeak", voices=6, takes=1, seed=0).out_dir
        return [("espeak digits", "50/25/25 by voice", prepare(corpus, work / "digits", "earmark-digits",
                                                                split="50/25/25"), None)]
    if "fsdd" in only and (SHARED / "fsdd").is_dir():
        found.append(("FSDD", "official split", prepare(SHARED / "fsdd", work / "fsdd", "fsdd"), None))
    if "esc10" in only and (SHARED / "esc10").is_dir():
        found.append(("ESC-10", "fold 5 held out", prepare(SHARED / "esc10", work / "esc10", "esc10"), ("fold", "5")))
    return found


def measure(name: str, data: Path, holdout: tuple[str, str] | None, work: Path, epochs: int,
            quick: bool) -> dict[str, Any]:
    """Train (or reuse) the run, then time one evaluate and one robustness of it."""
    from earmark.config import load_train_config
    from earmark.training.evaluate import evaluate_run
    from earmark.training.loop import train
    from earmark.training.outputs import finished_metrics
    from earmark.training.robustness import FAMILIES, robustness_run

    run = work / f"run-{name.replace(' ', '-')}-{epochs}"
    metrics = finished_metrics(run)
    if metrics is None:
        config = load_train_config(overrides=["trainer.threads=1", f"trainer.epochs={epochs}"])
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = train(data, run, config, log=lambda _: None, holdout=holdout)
    begin = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        evaluate_run(run)
    seconds_evaluate = time.perf_counter() - begin
    begin = time.perf_counter()
    families = ("noise", "codec", "telephone") if quick else FAMILIES
    result = robustness_run(run, families=families, log=lambda _: None)
    return {"name": name, "metrics": metrics, "result": result, "evaluate_s": seconds_evaluate,
            "robustness_s": time.perf_counter() - begin}


def print_tables(found: list[dict[str, Any]], protocols: dict[str, str], epochs: int) -> None:
    """The condition table (one accuracy column per data set), the calibration table, the wall times."""
    names = [f["name"] for f in found]
    print("| condition | " + " | ".join(f"{n} accuracy [95% CI]" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    rows = {f["name"]: [f["result"]["clean"], *f["result"]["conditions"]] for f in found}
    for i, row in enumerate(rows[names[0]]):
        cells = []
        for n in names:
            r = rows[n][i]
            cells.append(f"{r['accuracy']:.3f} [{r['accuracy_ci95'][0]:.3f}, {r['accuracy_ci95'][1]:.3f}]")
        print(f"| {row['condition']} | " + " | ".join(cells) + " |")
    print()
    print("| data | protocol | model | n val / test | temperature | val ECE before → after | "
          "test ECE before → after | test top-1 changed by T |")
    print("|---|---|---|---|---:|---|---|---:|")
    for f in found:
        cal = f["result"]["calibration"]
        val, test = cal["splits"].get("val", {}), cal["splits"]["test"]
        print(f"| {f['name']} | {protocols[f['name']]} | {f['metrics']['model']} | {val.get('n', '–')} / "
              f"{test['n']} | {cal['temperature']:.3f} | {val.get('ece_before', float('nan')):.3f} → "
              f"{val.get('ece_after', float('nan')):.3f} | {test['ece_before']:.3f} → {test['ece_after']:.3f} | "
              f"{test['top1_changed']} |")
    print()
    for f in found:
        ratio = f["robustness_s"] / f["evaluate_s"]
        print(f"{f['name']}: earmark robustness {f['robustness_s']:.1f} s ({len(f['result']['conditions'])} "
              f"conditions + clean val and test) against one earmark evaluate {f['evaluate_s']:.1f} s: ratio "
              f"{ratio:.1f}x; training: {epochs} epochs, {f['metrics'].get('seconds_train', 0):.0f} s, 1 torch thread")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="fsdd,esc10", help="data sets: fsdd, esc10")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs of each run (default 15)")
    parser.add_argument("--work", type=Path, default=None, help="keep prepared data and runs here (reused)")
    parser.add_argument("--quick", action="store_true", help="a small espeak corpus, 2 epochs, 3 families: smoke")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    epochs = 2 if args.quick else args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        chosen = datasets(work, set(args.only.split(",")), args.quick)
        if not chosen:
            print("no data set found (FSDD and ESC-10 are read from ../shared/data)")
            return
        found = [measure(name, data, holdout, work, epochs, args.quick) for name, _, data, holdout in chosen]
        print_tables(found, {name: protocol for name, protocol, _, _ in chosen}, epochs)
    print(f"1 torch thread; accuracy per clip with a 95% percentile-bootstrap (or exact binomial) interval; ECE: "
          f"15 equal-width bins of the top score; {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")


if __name__ == "__main__":
    main()
