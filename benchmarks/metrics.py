"""The bootstrap interval's cost: earmark's metrics against scikit-learn's on the same resampled clips.

`metrics.json` carries 95% intervals from 1000 bootstrap resamples for every split, so the bootstrap must stay
cheap next to training (the contract: under 0.5 s for 3,000 clips, 10 classes, macro-F1). The reference is the
same resampling loop calling `sklearn.metrics.f1_score`. Timed in this process, best of 3 after a warm-up call.

    python benchmarks/metrics.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: the sibling benchmarks

from benchmarks.features import best_of
from earmark.evaluation.metrics import bootstrap_ci, macro_f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 resamples instead of 1000")
    args = parser.parse_args()
    from sklearn.metrics import f1_score

    n_boot, n, classes = (100 if args.quick else 1000), 3000, 10
    rng = np.random.default_rng(12)
    y_true = rng.integers(0, classes, n)
    y_pred = np.where(rng.random(n) < 0.8, y_true, rng.integers(0, classes, n))

    def sklearn_bootstrap() -> None:
        draw = np.random.default_rng(0)
        for _ in range(n_boot):
            idx = draw.integers(0, n, n)
            f1_score(y_true[idx], y_pred[idx], average="macro", labels=np.arange(classes), zero_division=0)

    ours = best_of(lambda: bootstrap_ci(y_true, y_pred, macro_f1, n_boot=n_boot), 3)
    reference = best_of(sklearn_bootstrap, 1 if args.quick else 3)
    print(f"cores: {os.cpu_count()}; {n} clips, {classes} classes, {n_boot} resamples")
    print(f"earmark bootstrap macro-F1: {ours:.3f} s; scikit-learn f1_score loop: {reference:.3f} s; "
          f"ratio {reference / ours:.1f}x")
    if not args.quick:
        print(f"contract (< 0.5 s at 1000 resamples): {'met' if ours < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
