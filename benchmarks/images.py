"""Images through earmark's pipeline: the UCI hand-written digits, earmark's `cnn` and `mlp` against scikit-learn's
SVC and logistic regression on the same split, and the exported ONNX model's parity.

Data: `sklearn.datasets.load_digits` (1,797 8 × 8 grayscale images, 16 levels; UCI ML hand-written digits,
Alpaydin and Kaynak 1998, CC BY 4.0), written as PNG files (0-16 scaled to 0-255) into a temporary folder that
is deleted afterwards, then `earmark prepare` with its defaults (80/10/10 stratified split, seed 0; every image
its own group). earmark runs: `earmark train --model cnn|mlp` with the recipe's epochs and early stopping, one
torch thread; the checkpoint is the best validation epoch. scikit-learn: SVC (RBF, its defaults) and
LogisticRegression (max_iter 5000) on the standardised pixel values of the same cache, fitted on the train split
(validation unused). Every accuracy is on the same test images with earmark's 95% bootstrap interval. The cnn run
is then exported to ONNX and its logits compared with PyTorch (earmark's parity check) and once more on every
test image through `earmark predict`'s path (decode + resize from the PNG files).

    python benchmarks/images.py [--models cnn,mlp] [--work DIR] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THREADS = ["trainer.threads=1"]


def write_digits(folder: Path) -> int:
    """The UCI digits as PNG files `folder/<digit>/<index>.png`; returns how many."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (image, target) in enumerate(zip(digits.images, digits.target)):
        path = folder / str(target) / f"{index:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(image * 255 / 16).astype(np.uint8), "L").save(path)
    return len(digits.target)


def quiet(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Run an earmark library call with its progress lines swallowed."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return call(*args, **kwargs)


def train_earmark(data: Path, run: Path, model: str, quick: bool) -> tuple[dict, float]:
    """(metrics.json, wall seconds) of `earmark train --model MODEL` on the prepared digits."""
    from earmark.config import load_train_config
    from earmark.training.loop import train

    overrides = [*THREADS, f"model.name={model}", *(["trainer.epochs=2"] if quick else [])]
    start = time.perf_counter()
    metrics = quiet(train, data, run, load_train_config(None, overrides), log=lambda line: None)
    return metrics, time.perf_counter() - start


def sklearn_rows(data_dir: Path) -> list[tuple[str, dict, float]]:
    """SVC and logistic regression fitted on the train split's pixels, scored on the test split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from earmark.data.dataset import PreparedData
    from earmark.evaluation.metrics import compute_metrics

    data = PreparedData.open(data_dir)
    index = {label: i for i, label in enumerate(data.labels)}

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        rows = data.split_rows(name)
        return np.stack([data.samples(row) for row in rows]), np.array([index[row.label] for row in rows])

    (x_train, y_train), (x_test, y_test) = split("train"), split("test")
    found = []
    for name, estimator in (("scikit-learn SVC (RBF)", SVC()),
                            ("scikit-learn LogisticRegression", LogisticRegression(max_iter=5000))):
        start = time.perf_counter()
        model = make_pipeline(StandardScaler(), estimator).fit(x_train, y_train)
        decided = np.eye(len(data.labels))[model.predict(x_test)]  # the decisions are all the metrics need
        found.append((name, compute_metrics(y_test, decided, data.labels), time.perf_counter() - start))
    return found


def export_parity(run: Path, data_dir: Path) -> list[str]:
    """Export the run to ONNX; the parity check's line, and max |Δ| over every test image read from its file."""
    from earmark.checkpoint import load_checkpoint, resolve_checkpoint
    from earmark.data.dataset import PreparedData
    from earmark.export import export_run
    from earmark.inference.backends import OnnxBackend, TorchBackend
    from earmark.inference.items import image_values

    report = quiet(export_run, run, "onnx")
    onnx, torch_backend = OnnxBackend(report.path), TorchBackend(load_checkpoint(resolve_checkpoint(run)))
    rows = PreparedData.open(data_dir).split_rows("test")
    images = np.stack([image_values(Path(row.source), onnx.info) for row in rows])
    got, expected = onnx.logits(images), torch_backend.logits(images)
    same = int((got.argmax(1) == expected.argmax(1)).sum())
    return [f"ONNX export of the cnn run: {report.parity.line()}",
            f"ONNX against PyTorch on all {len(rows)} test images decoded from their PNG files as `earmark predict` "
            f"does: max |Δlogit| {float(np.abs(got - expected).max()):.1e}, top-1 identical on {same}/{len(rows)}"]


def row(name: str, metrics: dict, seconds: float) -> str:
    test = metrics["test"]
    low, high = test["accuracy_ci95"]
    return f"| {name} | {test['n']} | {test['accuracy']:.3f} [{low:.3f}, {high:.3f}] | {test['macro_f1']:.3f} | " \
           f"{seconds:.1f} |"


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cnn,mlp")
    parser.add_argument("--work", type=Path, default=None, help="keep the PNG files, data and runs here")
    parser.add_argument("--quick", action="store_true", help="cnn only, 2 epochs: a smoke run, not results")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="earmark-images-") as temp:
        work = args.work or Path(temp)
        from earmark.data.prepare import PrepareOptions, prepare
        from earmark.data.sources import LabelSpec

        count = write_digits(work / "digits")
        start = time.perf_counter()
        report = quiet(prepare, work / "digits", work / "data", LabelSpec(), PrepareOptions(workers=1))
        print(f"UCI digits: {count} PNG files, prepared in {time.perf_counter() - start:.1f} s: "
              f"{report['n_kept']} kept, split {report['split_protocol']}, leakage check "
              f"{'OK' if report['leakage']['ok'] else 'PROBLEM'} ({report['leakage']['n_exact_duplicate_sets']} "
              f"identical, {report['leakage']['n_near_duplicate_sets']} near-identical sets)")
        lines = ["| method | test n | accuracy [95% CI] | macro-F1 | wall s |", "|---|---:|---|---:|---:|"]
        for model in ["cnn"] if args.quick else args.models.split(","):
            metrics, seconds = train_earmark(work / "data", work / f"run-{model}", model, args.quick)
            epochs = len((work / f"run-{model}" / "history.csv").read_text().splitlines()) - 1
            lines.append(row(f"earmark {model} ({epochs} epochs)", metrics, seconds))
        for name, metrics, seconds in sklearn_rows(work / "data"):
            lines.append(row(name, {"test": metrics}, seconds))
        print("\n".join(lines))
        print("threads: 1 torch thread for earmark, scikit-learn's defaults; earmark's wall s includes its final "
              "evaluation, baselines and reports; scikit-learn's is fit + predict")
        if "cnn" in args.models.split(","):
            for line in export_parity(work / "run-cnn", work / "data"):
                print(line)


if __name__ == "__main__":
    main()
