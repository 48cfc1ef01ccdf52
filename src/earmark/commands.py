"""One handler per CLI command: turn parsed arguments into one library call and print the result."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from earmark.errors import EarmarkError

if TYPE_CHECKING:
    from earmark.config import TrainConfig
    from earmark.data.prepare import PrepareOptions
    from earmark.data.presets import SourceOptions


def synth(args: argparse.Namespace) -> int:
    from earmark.synth import synthesize_corpus

    summary = synthesize_corpus(args.out, voices=args.voices, takes=args.takes, seed=args.seed)
    print(f"wrote {summary.n_clips} clips from {summary.n_voices} voices at {summary.sample_rate} Hz "
          f"to {summary.out_dir} in {summary.wall_s:.1f} s (metadata.csv: path,digit,voice,gender)")
    return 0


def prepare(args: argparse.Namespace) -> int:
    from earmark.data.prepare import ItemOptions, prepare

    source = _source_options(args)
    items = ItemOptions(getattr(args, "kind", "auto"), getattr(args, "image_size", None),
                        getattr(args, "features_columns", None))
    report = prepare(args.source, args.out, source.spec, _prepare_options(args, source),
                     command=args.command_line, items_options=items)
    _print_prepare_summary(args.out, report)
    return 0


def _source_options(args: argparse.Namespace) -> SourceOptions:
    """--preset, then the explicit label/group/split flags on top."""
    from earmark.data.presets import source_options

    return source_options(args.preset, labels=args.labels, group=args.group, label_column=args.label_column,
                          group_column=args.group_column, split=args.split, folds=args.folds,
                          corrections=str(args.corrections.resolve()) if args.corrections else None)


def _prepare_options(args: argparse.Namespace, source: SourceOptions) -> PrepareOptions:
    """The decode/split options shared by `prepare` and `doctor`."""
    from earmark.data.prepare import PrepareOptions

    return PrepareOptions(sample_rate=args.sample_rate, split=source.split, folds=source.folds, seed=args.seed,
                          workers=args.workers, strict=args.strict)


def doctor(args: argparse.Namespace) -> int:
    from earmark.data.doctor import doctor

    source = _source_options(args)
    out = args.out or Path(f"{args.source.resolve().name}-doctor")
    report = doctor(args.source, out, source.spec, _prepare_options(args, source))
    _print_prepare_summary(out, report, "report folder")
    leak = report["leakage"]
    print(f"duplicates: {leak['n_exact_duplicate_sets']} identical, {leak['n_near_duplicate_sets']} near-identical"
          f" sets; overview plot: {out / 'overview.png'}")
    return 1 if args.strict and (report["n_rejected"] or not leak["ok"]) else 0


def _print_prepare_summary(out: Path, report: dict, what: str = "prepared dataset") -> None:
    sizes = {split: sum(counts.values()) for split, counts in report["split_counts"].items()}
    leak = "OK" if report["leakage"]["ok"] else "PROBLEM (see report.md)"
    print(f"kept {report['n_kept']} clips in {len(report['class_counts'])} classes, rejected "
          f"{report['n_rejected']} (rejected.csv); split {sizes}; leakage check: {leak}")
    print(f"{what}: {out}  (report: {out / 'report.md'})")
    if report["n_rejected"]:
        print(f"rejected by reason: {report['rejected_reasons']}", file=sys.stderr)


def train_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The dedicated training flags that were given, as typed config values."""
    flags = {"model.name": args.model, "trainer.epochs": args.epochs, "trainer.batch_size": args.batch_size,
             "trainer.seed": args.seed, "trainer.device": args.device, "trainer.devices": args.devices,
             "model.init_from": str(args.init_from.resolve()) if args.init_from else None,
             "model.freeze": args.freeze, "trainer.compile": True if args.compile else None}
    return {key: value for key, value in flags.items() if value is not None}


def train_config(args: argparse.Namespace) -> TrainConfig:
    """Config file, then --set, then the dedicated flags."""
    from earmark.config import load_train_config

    return load_train_config(args.config, args.overrides, train_flags(args))


def train(args: argparse.Namespace) -> int:
    from earmark.evaluation.report import format_summary_table
    from earmark.training.loop import train
    from earmark.training.outputs import choose_run_dir

    config = train_config(args)
    command = args.command_line
    holdout = ("fold", str(args.fold)) if args.fold is not None else None
    run_dir = choose_run_dir(args.out, "auto-search" if args.auto else config.model.name, args.data, args.resume)
    say = _rank_zero_print()
    if run_dir != args.out:
        say(f"new run folder: {run_dir}")
    if args.auto:
        return _train_auto(args, config, run_dir, holdout, say)
    if args.time_budget is not None:
        config.trainer.time_budget_s = args.time_budget
    metrics = train(args.data, run_dir, config, resume=args.resume, command=command, holdout=holdout, log=say)
    say(format_summary_table(metrics))
    say(f"run: {run_dir}  (report: {run_dir / 'report.html'})")
    return 0


def _train_auto(args: argparse.Namespace, config: TrainConfig, run_dir: Path, holdout: tuple[str, str] | None,
                say: Callable[[str], None]) -> int:
    """`train --auto`: the candidates, their table, then the winner's summary."""
    from earmark.evaluation.report import format_summary_table
    from earmark.training.auto import format_candidates_table, run_auto

    metrics = run_auto(args.data, run_dir, config, args.time_budget, args.command_line, say, holdout)
    say(format_candidates_table(metrics["candidates"]))
    say(format_summary_table(metrics))
    say(f"run: {run_dir}  (the winner, {metrics['auto']['winner']}; report: {run_dir / 'report.html'}, "
        f"candidates.csv)")
    return 0


def _rank_zero_print() -> Callable[[str], None]:
    """print in the process that talks to the user; silence in the other DDP ranks (they rerun the command)."""
    from earmark.training.engine import is_rank_zero

    return print if is_rank_zero() else lambda line: None


def cv(args: argparse.Namespace) -> int:
    from earmark.training.cv import cross_validate, format_cv_table

    say = _rank_zero_print()
    command = args.command_line
    summary = cross_validate(args.data, args.out, train_config(args), args.by, command, log=say)
    say(format_cv_table(summary))
    say(f"cross-validation: {args.out}  (cv.json, cv.csv, one run folder per {summary['scheme']})")
    return 0


def sweep(args: argparse.Namespace) -> int:
    from earmark.config import load_train_config
    from earmark.data.dataset import PreparedData
    from earmark.training.sweep import format_sweep_table, parse_grid, parse_seeds, plan_sweep, run_sweep

    base = load_train_config(args.config, args.overrides, train_flags(args))
    if args.search == "optuna":
        return _sweep_optuna(args, base.trainer.seed)
    if args.trials is not None or args.time_budget is not None:
        raise EarmarkError("--trials and --time-budget belong to --search optuna")
    seeds = parse_seeds(args.seeds, base.trainer.seed)
    runs = plan_sweep(parse_grid(args.grid), seeds, PreparedData.open(args.data), args.random, args.config,
                      args.overrides, train_flags(args))
    say = _rank_zero_print()
    say(f"sweep: {len(runs)} runs ({len(runs) // len(seeds)} combinations × {len(seeds)} seeds) → {args.out}")
    summary = run_sweep(args.data, args.out, runs, args.metric, args.command_line, log=say)
    say(format_sweep_table(summary))
    say(f"sweep: {args.out}  (sweep.csv, sweep.json, one run folder per combination and seed)")
    return 0


def _sweep_optuna(args: argparse.Namespace, seed: int) -> int:
    """`sweep --search optuna`: the search, its table and where it is stored."""
    from earmark.training.search import format_optuna_table, run_optuna
    from earmark.training.sweep import parse_grid

    if args.random is not None or args.seeds is not None:
        raise EarmarkError("--random and --seeds belong to the grid search; optuna draws its own trials")
    grid = parse_grid(args.grid) if args.grid else {}
    summary = run_optuna(args.data, args.out, grid, args.trials, args.time_budget, args.metric, seed, args.config,
                         args.overrides, train_flags(args), args.command_line, print)
    print(format_optuna_table(summary))
    print(f"sweep: {args.out}  (sweep.csv, sweep.json, optuna.db: run the same command again to continue)")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from earmark.evaluation.report import format_summary_table
    from earmark.training.evaluate import evaluate_run, evaluation_dir

    metrics = evaluate_run(args.run, args.data, args.split)
    print(format_summary_table(metrics))
    if args.run.is_dir():
        folder = evaluation_dir(args.run, Path(metrics["data"]), args.split)
        print(f"report: {folder / 'report.html'}")
    return 0


def predict(args: argparse.Namespace) -> int:
    from earmark.data.sources import audio_files
    from earmark.inference import Predictor
    from earmark.inference.items import input_extensions
    from earmark.inference.timeline import label_track_paths, write_timeline

    predictor = Predictor.from_path(args.model, hop_s=args.hop, window_s=args.window, top_k=args.top_k)
    kinds = input_extensions(predictor.info)  # an image or table model: its files, not audio, in a folder
    files = [f for item in args.inputs
             for f in ((audio_files(item, kinds) if kinds else audio_files(item)) if item.is_dir() else [item])]
    if args.timeline is not None:
        label_track_paths(args.timeline, [str(f) for f in files])  # a bad name fails before any work
    results, failed = [], 0
    for path in files:
        try:
            results += [prediction.to_dict() for prediction in predictor.predict_many(path)]
        except EarmarkError as exc:
            failed += 1
            print(f"earmark predict: {path}: {exc}", file=sys.stderr)
    _print_predictions(results, args.format)
    if args.timeline is not None and results:
        tracks = write_timeline(args.timeline, results)
        print(f"timeline: {args.timeline} (CSV), Audacity labels: {', '.join(map(str, tracks))}", file=sys.stderr)
    return 1 if failed and (args.strict or not results) else 0


def export(args: argparse.Namespace) -> int:
    from earmark.export import export_run

    report = export_run(args.run, args.format, args.out)
    info = report.info
    axes = ("" if report.format != "onnx" else " (dynamic batch and length)" if report.dynamic_samples
            else f" (dynamic batch; windows of exactly {info.window_samples} samples)")
    what = (f"waveform at {info.sample_rate} Hz" if info.input_kind == "waveform" else
            f"{info.input_kind} {'x'.join(map(str, info.item_shape))}")
    axes = " (dynamic batch)" if info.input_kind != "waveform" and report.format == "onnx" else axes
    print(f"exported {info.model}: {what} → {len(info.labels)} logits → {report.path}{axes}")
    print(f"parity with PyTorch: {report.parity.line()}  ({report.seconds:.1f} s)")
    if report.fallback:
        print(f"earmark export: note: parity checked on {report.parity.source}: {report.fallback}", file=sys.stderr)
    return 0


def _print_predictions(results: list[dict], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(results, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["file", "label", "score", "top_k", "windows"])
        for r in results:
            top = ";".join(f"{label}:{score:.4f}" for label, score in r["top_k"])
            writer.writerow([r["file"], r["label"], f"{r['score']:.4f}", top, len(r["windows"])])
    else:
        width = max([len(r["file"]) for r in results] + [4])
        print(f"{'file':<{width}}  {'label':<12} {'score':>6}  top-k")
        for r in results:
            top = ", ".join(f"{label} {score:.2f}" for label, score in r["top_k"])
            print(f"{r['file']:<{width}}  {r['label']:<12} {r['score']:6.3f}  {top}")


def models(args: argparse.Namespace) -> int:
    from earmark.models import count_parameters, create_model, list_models

    print(f"{'name':<16} {'family':<12} {'parameters':>11}  description")
    for spec in list_models():
        params = count_parameters(create_model(spec.name, num_classes=10, num_features=64))
        print(f"{spec.name:<16} {spec.family:<12} {params:>11,}  {spec.description}")
    print("(parameters counted for 10 classes over 64 log-mel bands)")
    _print_backbones()
    return 0


def _print_backbones() -> None:
    """Pretrained backbones: parameters, input rate, embedding size, licence and where the weights come from."""
    from earmark.models.pretrained import list_backbones
    from earmark.models.pretrained.hf import LICENCE

    print(f"\npretrained backbones (probe by default; --set model.finetune=true trains all of it):\n"
          f"{'name':<18} {'family':<12} {'parameters':>11} {'rate_hz':>7} {'embedding':>9}  licence; weights")
    for spec in list_backbones():
        params = sum(p.numel() for p in spec.build().parameters())
        print(f"{spec.name:<18} {spec.family:<12} {params:>11,} {spec.sample_rate:>7} {spec.embedding_dim:>9}  "
              f"{spec.licence}; {spec.weights_source}")
    print(f"{'hf:<id or folder>':<18} {'hf':<12} {'(model)':>11} {'(model)':>7} {'hidden':>9}  {LICENCE}; "
          "a Hugging Face hub id (into its cache, needs a network once) or a local save_pretrained folder")


def demo(args: argparse.Namespace) -> int:
    from earmark.demo import run_demo

    run_demo(args.out, epochs=args.epochs, seed=args.seed)
    return 0
