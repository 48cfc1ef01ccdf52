"""The `earmark` command: parse arguments and call one library function per command."""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from earmark import __version__
from earmark.errors import EarmarkError
from earmark.runtime import apply_thread_policy, tune_malloc

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
    parser.add_argument("--corrections", type=Path, default=None, metavar="FILE",
                        help="a corrections CSV (written by `earmark serve` as RUN/corrections.csv): relabel or "
                        "exclude the clips it names; the source files are not modified")


def _add_train_options(parser: argparse.ArgumentParser, out_help: str) -> None:
    """Options shared by `train`, `cv` and `sweep`."""
    parser.add_argument("--out", type=Path, required=True, help=out_help)
    parser.add_argument("--model", default=None, help="registered model name (see `earmark models`)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--config", type=Path, default=None, help="YAML config file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set optim.lr=0.001 (repeatable)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.add_argument("--devices", type=int, default=None, help="number of devices (DDP when > 1)")
    parser.add_argument("--init-from", type=Path, default=None, metavar="CKPT",
                        help="start from a checkpoint or run directory: every weight whose name and shape match is "
                        "loaded (a new label set gets a fresh head) and trains at optim.pretrained_lr_scale × lr")
    parser.add_argument("--freeze", action="append", default=None, metavar="PATTERN",
                        help="do not train parameters matching a glob ('network.features.0.*', or a module path "
                        "such as network.features) or 'regex:PATTERN' (repeatable)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (CPU: needs g++)")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    from earmark import commands, commands_download, commands_robustness
    from earmark.serve.command import add_arguments as serve_arguments
    from earmark.serve.command import serve as serve_command

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
    p.add_argument("--kind", default="auto", choices=("auto", "audio", "image", "table"),
                   help="what SOURCE holds (default: images when its files are images, a feature table when the "
                   "--labels CSV has no path column or --features-columns is given, else audio)")
    p.add_argument("--image-size", default=None,
                   help="images: HEIGHTxWIDTH they are stretched to (default: the most common size, longer side "
                   "at most 128)")
    p.add_argument("--features-columns", default=None,
                   help="feature table: comma-separated feature columns (default: every numeric column but "
                   "path, label, group, split and fold)")
    p.set_defaults(handler=commands.prepare)

    p = sub.add_parser("train", help="train a model on a prepared dataset")
    p.add_argument("data", type=Path)
    _add_train_options(p, "run directory to write; if it is an existing folder that is not empty and not a run, "
                       "the run goes into a new subfolder <model>-<data folder>-<YYYYmmdd-HHMMSS> (printed)")
    p.add_argument("--fold", type=int, default=None,
                   help="hold out fold K of the manifest as the test set (val carved from the other folds)")
    p.add_argument("--auto", action="store_true",
                   help="train a few candidates (the data-chosen model, a 2-D CNN, the logreg baseline), rank them "
                   "on validation only and leave RUN as a run of the winner, with candidates.csv")
    p.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="seconds of training: split among the --auto candidates, or the limit of this run; "
                   "training stops after the epoch that spends it")
    p.add_argument("--resume", action="store_true", help="continue from checkpoints/last.ckpt")
    p.set_defaults(handler=commands.train)

    p = sub.add_parser("evaluate", help="metrics and report for a run, on its own or another prepared dataset")
    p.add_argument("run", type=Path)
    p.add_argument("--data", type=Path, default=None, help="prepared dataset (default: the run's own)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.set_defaults(handler=commands.evaluate)

    p = sub.add_parser("cv", help="cross-validation: one run per held-out fold or group, then mean ± std")
    p.add_argument("data", type=Path)
    _add_train_options(p, "folder for one run per fold, cv.json and cv.csv")
    p.add_argument("--by", choices=("fold", "group"), default=None,
                   help="fold: the manifest's folds; group: leave one group out (default: fold if the manifest "
                   "has folds, else group)")
    p.set_defaults(handler=commands.cv)

    p = sub.add_parser("sweep", help="hyperparameter search: one run per grid combination and seed, ranked")
    p.add_argument("data", type=Path)
    _add_train_options(p, "folder for one run per combination and seed, sweep.json and sweep.csv")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="config key and the values to try, e.g. optim.lr=0.01,0.003 (repeatable: all combinations)")
    p.add_argument("--random", type=int, default=None, metavar="N",
                   help="train N combinations drawn at random from the grid instead of all of them")
    p.add_argument("--seeds", default=None, help="seeds per combination, e.g. 0,1,2 (default: --seed or the config's)")
    p.add_argument("--metric", default="val_accuracy", choices=("val_accuracy", "val_balanced_accuracy",
                                                                  "val_macro_f1"),
                   help="validation metric that ranks the combinations (mean over seeds; default val_accuracy)")
    p.add_argument("--search", choices=("grid", "optuna"), default="grid",
                   help="grid: every --grid combination (or --random N of them); optuna: --trials N trials of a "
                   "TPE search with median pruning, resumable (the optuna extra)")
    p.add_argument("--trials", type=int, default=None, metavar="N", help="optuna trials (default 20)")
    p.add_argument("--time-budget", type=float, default=None, metavar="S",
                   help="optuna: start no trial after S seconds, and stop the running one there")
    p.set_defaults(handler=commands.sweep)

    p = sub.add_parser("predict", help="classify files of any format, rate, channels and length")
    p.add_argument("model", type=Path, help="run directory, checkpoint, exported .onnx or TorchScript export")
    p.add_argument("inputs", type=Path, nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("--window", type=float, default=None, help="window length in seconds (default: the model's)")
    p.add_argument("--hop", type=float, default=None, help="hop between windows in seconds (default: the model's)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--timeline", type=Path, default=None, metavar="FILE",
                   help="write every window's label to FILE (CSV) and an Audacity label track beside it: "
                   "FILE with .txt for one input file, FILE-stem.<audio file name>.txt for several")
    p.add_argument("--strict", action="store_true", help="non-zero exit if any file cannot be classified")
    p.set_defaults(handler=commands.predict)

    p = sub.add_parser("export", help="export waveform → logits (front-end included) with a parity check")
    p.add_argument("run", type=Path, help="run directory or checkpoint")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx",
                   help="onnx (default) or torchscript (torch.jit.trace, deprecated by PyTorch)")
    p.add_argument("--out", type=Path, default=None,
                   help="file to write (default: RUN/model.onnx, or RUN/model.torchscript.pt)")
    p.set_defaults(handler=commands.export)

    p = sub.add_parser("download", help="fetch a well-known dataset (checksummed, resumable, safe extraction) "
                       "with its matching --preset")
    p.add_argument("name", nargs="?", default=None, help="dataset name (see --list)")
    p.add_argument("dir", nargs="?", type=Path, default=None,
                   help="folder to download into: the data lands in DIR/NAME")
    p.add_argument("--list", action="store_true", help="list the datasets: sizes, licences, presets")
    p.add_argument("--no-extract", action="store_true", help="download and verify the archive only (DIR/<archive>)")
    p.set_defaults(handler=commands_download.download)

    p = sub.add_parser("serve", help="local web app: try a model on a file or the microphone, browse a run's "
                       "mistakes, write label corrections")
    serve_arguments(p)
    p.set_defaults(handler=serve_command)

    commands_robustness.add_parser(sub)

    p = sub.add_parser("models", help="list registered models with parameter counts")
    p.set_defaults(handler=commands.models)
    return parser


# What the system refuses for reasons outside earmark: full or read-only disk, permissions, quotas.
SYSTEM_REFUSALS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `earmark` console script; user errors are one line, never a traceback."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    args.command_line = shlex.join(["earmark", *words])  # recorded in prepare.json and run.json as typed
    tune_malloc()
    apply_thread_policy()  # before any command imports torch
    try:
        return int(args.handler(args))
    except EarmarkError as exc:
        print(f"earmark {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno not in SYSTEM_REFUSALS:
            raise  # anything else is a bug: keep its traceback
        print(f"earmark {args.command}: error: {exc.filename or ''}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"earmark {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
