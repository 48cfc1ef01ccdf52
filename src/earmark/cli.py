"""The `earmark` command: parse arguments and call one library function per command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from earmark import __version__
from earmark.errors import EarmarkError, NotBuiltError
from earmark.runtime import tune_malloc

Handler = Callable[[argparse.Namespace], int]


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    """Label/group/split options shared by `doctor` and `prepare`."""
    parser.add_argument("--labels", default=None,
                        help="folder (default: parent folder is the label), 'regex:PATTERN' or 'csv:FILE'")
    parser.add_argument("--group", default=None,
                        help="'regex:PATTERN' with (?P<group>...): what must never cross splits (speaker, recording)")
    parser.add_argument("--label-column", default=None, help="CSV column holding the label (default: label)")
    parser.add_argument("--group-column", default=None, help="CSV column holding the group (default: group)")
    parser.add_argument("--split", default=None,
                        help="train/val/test percentages, e.g. 80/10/10 (default: the source's split if it gives one, "
                        "else 80/10/10)")
    parser.add_argument("--folds", type=int, default=None, help="also assign K grouped, stratified folds")
    parser.add_argument("--preset", default=None, help="named layout, e.g. fsdd, earmark-digits")
    parser.add_argument("--sample-rate", type=int, default=16000, help="target rate in Hz (default 16000)")
    parser.add_argument("--workers", type=int, default=None, help="decoding processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--strict", action="store_true", help="fail on any rejected file or leakage")


def _add_train_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `train` and `cv`."""
    parser.add_argument("--out", type=Path, required=True, help="run directory to write")
    parser.add_argument("--model", default=None, help="registered model name (see `earmark models`)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--config", type=Path, default=None, help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set optim.lr=0.001 (repeatable)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.add_argument("--devices", type=int, default=None, help="number of devices (DDP when > 1)")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    from earmark import commands

    parser = argparse.ArgumentParser(prog="earmark", description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"earmark {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="synthesize the spoken-digit corpus, then prepare, train, evaluate, predict")
    p.add_argument("--out", type=Path, default=Path("earmark-demo"),
                   help="folder for everything (default earmark-demo)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the demo's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corpus, split and training (default 0)")
    p.set_defaults(handler=commands.demo)

    p = sub.add_parser("synth", help="write the embedded spoken-digit corpus (WAV + metadata.csv)")
    p.add_argument("out", type=Path)
    p.add_argument("--voices", type=int, default=24, help="number of voices (default 24)")
    p.add_argument("--takes", type=int, default=6, help="takes per voice and digit (default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=commands.synth)

    p = sub.add_parser("doctor", help="inspect a source folder without preparing it: report.md/json, plots")
    p.add_argument("source", type=Path)
    _add_source_options(p)
    p.add_argument("--out", type=Path, default=None, help="report folder (default: ./<source name>-doctor)")
    p.set_defaults(handler=commands.doctor)

    p = sub.add_parser("prepare", help="decode, check, resample, split and cache a source folder")
    p.add_argument("source", type=Path)
    p.add_argument("out", type=Path)
    _add_source_options(p)
    p.set_defaults(handler=commands.prepare)

    p = sub.add_parser("train", help="train a model on a prepared dataset")
    p.add_argument("data", type=Path)
    _add_train_options(p)
    p.add_argument("--fold", type=int, default=None,
                   help="hold out fold K of the manifest as the test set (val carved from the other folds)")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.ckpt")
    p.set_defaults(handler=commands.train)

    p = sub.add_parser("evaluate", help="metrics and report for a run, on its own or another prepared dataset")
    p.add_argument("run", type=Path)
    p.add_argument("--data", type=Path, default=None, help="prepared dataset (default: the run's own)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.set_defaults(handler=commands.evaluate)

    p = sub.add_parser("cv", help="cross-validation: one run per held-out fold or group, then mean ± std")
    p.add_argument("data", type=Path)
    _add_train_options(p)
    p.add_argument("--by", choices=("fold", "group"), default=None,
                   help="fold: the manifest's folds; group: leave one group out (default: fold if the manifest "
                   "has folds, else group)")
    p.set_defaults(handler=commands.cv)

    p = sub.add_parser("predict", help="classify files of any format, rate, channels and length")
    p.add_argument("model", type=Path, help="run directory or checkpoint")
    p.add_argument("inputs", type=Path, nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("--window", type=float, default=None, help="window length in seconds (default: the model's)")
    p.add_argument("--hop", type=float, default=None, help="hop between windows in seconds (default: the model's)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.set_defaults(handler=commands.predict)

    p = sub.add_parser("export", help="export waveform → logits to ONNX with a parity check (not built yet)")
    p.add_argument("run", type=Path)
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--out", type=Path, default=None)
    p.set_defaults(handler=commands.not_built("export"))

    p = sub.add_parser("models", help="list registered models with parameter counts")
    p.set_defaults(handler=commands.models)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `earmark` console script; user errors are one line, never a traceback."""
    args = build_parser().parse_args(argv)
    tune_malloc()
    try:
        return int(args.handler(args))
    except NotBuiltError as exc:
        print(f"earmark {args.command}: {exc}", file=sys.stderr)
        return 2
    except EarmarkError as exc:
        print(f"earmark {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"earmark {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
