"""The `earmark robustness` command: its arguments and its handler (the work is in training/robustness.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

FAMILIES = ("noise", "codec", "telephone", "sample rate", "gain", "time shift", "reverb")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The subcommand's options."""
    p = sub.add_parser("robustness", help="score a model under noise, codecs, sample rates, gain, shift and reverb; "
                       "calibration before and after the temperature; writes RUN/robustness/")
    p.add_argument("run", type=Path, help="run directory, checkpoint, exported .onnx or TorchScript export")
    p.add_argument("--data", type=Path, default=None, help="prepared dataset (default: the run's own)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--noise-dir", type=Path, default=None,
                   help="a folder of your own background recordings: crops of them are mixed in at each SNR")
    p.add_argument("--conditions", default=",".join(FAMILIES).replace(" ", "-"),
                   help="families to run, comma-separated (default: all): " + ", ".join(f.replace(" ", "-")
                                                                                        for f in FAMILIES))
    p.add_argument("--reject-coverage", type=float, default=None, metavar="C",
                   help="refit the `unknown` threshold on validation to answer this share of clips (e.g. 0.95)")
    p.add_argument("--reject-precision", type=float, default=None, metavar="P",
                   help="refit the `unknown` threshold as the lowest one whose answers are right this often")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise, impulse responses and intervals")
    p.add_argument("--out", type=Path, default=None, help="folder for the files (default: RUN/robustness)")
    p.set_defaults(handler=robustness)


def robustness(args: argparse.Namespace) -> int:
    from earmark.config import CalibrationConfig
    from earmark.errors import EarmarkError
    from earmark.training.robustness import robustness_run

    CalibrationConfig(reject_coverage=args.reject_coverage, reject_precision=args.reject_precision)  # checks them
    families = tuple(name.strip().replace("-", " ") for name in args.conditions.split(",") if name.strip())
    wrong = [name for name in families if name not in FAMILIES]
    if wrong:
        raise EarmarkError(f"--conditions {wrong[0]}: choose from {', '.join(f.replace(' ', '-') for f in FAMILIES)}")
    result = robustness_run(args.run, args.data, args.split, args.noise_dir, args.out, args.seed,
                            args.reject_coverage, args.reject_precision, families)
    calibration = result["calibration"]
    eces = "; ".join(f"{split} ECE {block['ece_before']:.3f} → {block['ece_after']:.3f}"
                     for split, block in calibration["splits"].items())
    print(f"calibration: temperature {calibration['temperature']:.3f} ({calibration['source']}); {eces}")
    where = args.out or (args.run / "robustness" if args.run.is_dir() else args.run.with_name(
        f"{args.run.stem}-robustness"))
    print(f"robustness: {len(result['conditions'])} conditions on {result['clean']['n']} {args.split} clips in "
          f"{result['seconds']['total']:.1f} s → {where} (robustness.json, robustness.csv, robustness.png, "
          "reliability.png)")
    return 0
