"""Pretrained backbones: the GE2E probe (real weights) against the default model and the logreg baseline on
four tasks, the probe's cost per backbone at real size, and export parity and latency per family.

Tasks and protocols (each printed with n):
- espeak gender: the `earmark synth` corpus, `--preset earmark-digits --label-column gender`; voice-disjoint
  80/10/10 split (a voice is in one split only);
- FSDD speaker identification: official split (takes 0-4 of every speaker and digit are the test set);
- FSDD digits, leave-one-speaker-out: mean ± std over folds (--quick: 3 speakers, takes 0-4);
- ESC-10: official fold 1 held out (the full protocol is 5-fold; --quick: 2 classes).
The default model and GE2E's head train for --epochs / --probe-epochs; logreg is earmark's baseline (mean and
std of log-mel bands) fitted on the same training clips. Probe cost and export latency use random weights at
real size for the hf families (wav2vec2-base and AST-base layouts): speed only, never accuracy. Accuracy with
real AudioSet or LibriSpeech weights cannot be measured here (no hub access): it is not claimed.

    python benchmarks/pretrained.py [--quick] [--threads 1] [--epochs 10] [--probe-epochs 40]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd"
ESC10 = ROOT.parent / "shared" / "data" / "esc10"
SPEAKER = r"regex:(?:^|/)\d_(?P<label>[a-z]+)_(?:(?P<split_test>[0-4])|(?P<split_train>[5-9]|\d\d+))\.wav$"
DIGIT_LOSO = r"regex:(?:^|/)(?P<label>\d)_(?P<group>[a-z]+)_\d+\.wav$"
ESC_FOLDS = r"regex:^(?P<label>[^/]+)/(?P<fold>\d)-(?P<group>\d+)-"


def subset(source: Path, into: Path, keep: Any) -> Path:
    """A folder of symlinks to the files under `source` for which keep(relative path) holds."""
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and path.suffix in (".wav", ".ogg") and keep(rel):
            (into / rel).parent.mkdir(parents=True, exist_ok=True)
            (into / rel).symlink_to(path.resolve())
    return into


def prepare(source: Path, out: Path, labels: str | None = None, preset: str | None = None, **flags: Any) -> Path:
    from earmark.data.prepare import PrepareOptions
    from earmark.data.prepare import prepare as run_prepare
    from earmark.data.presets import source_options

    options = source_options(preset, labels=labels, **flags)
    run_prepare(source, out, options.spec, PrepareOptions(split=options.split, workers=1))
    return out


def accuracy(data: Path, run: Path, model: str, epochs: int, args: argparse.Namespace,
             holdout: tuple[str, str] | None = None) -> dict[str, Any]:
    """Train one run; its test accuracy and n, and the logreg baseline's on the same clips."""
    from earmark.config import load_train_config
    from earmark.training.loop import train

    flags = {"model.name": model, "trainer.epochs": epochs, "trainer.threads": args.threads, "trainer.device": "cpu"}
    if model == "ge2e" and args.probe_lr is not None:
        flags["optim.lr"] = args.probe_lr
    config = load_train_config(flags=flags)
    begin = time.perf_counter()
    metrics = train(data, run, config, log=lambda line: None, holdout=holdout)
    return {"acc": metrics["test"]["accuracy"], "n": metrics["test"]["n"], "s": time.perf_counter() - begin,
            "logreg": metrics.get("baselines", {}).get("logreg", {}).get("test", {}).get("accuracy")}


def compare(name: str, protocol: str, data: Path, work: Path, args: argparse.Namespace,
            holdouts: list[tuple[str, str]] | None = None) -> None:
    """One table row per model: the default, GE2E's probe, and logreg (from the default model's run)."""
    from earmark.models import DEFAULT_MODEL

    for model, epochs in ((DEFAULT_MODEL, args.epochs), ("ge2e", args.probe_epochs)):
        folds = [accuracy(data, work / f"{model}-{i}", model, epochs, args, h)
                 for i, h in enumerate(holdouts or [None])]
        accs, n = [f["acc"] for f in folds], sum(f["n"] for f in folds)
        spread = f" ± {statistics.stdev(accs):.3f}" if len(accs) > 1 else ""
        print(f"| {name} | {protocol} | {model} | {statistics.mean(accs):.3f}{spread} | {n} | "
              f"{sum(f['s'] for f in folds):.0f} |", flush=True)
        if model == DEFAULT_MODEL and folds[0]["logreg"] is not None:
            logreg = [f["logreg"] for f in folds]
            spread = f" ± {statistics.stdev(logreg):.3f}" if len(logreg) > 1 else ""
            print(f"| {name} | {protocol} | logreg baseline | {statistics.mean(logreg):.3f}{spread} | {n} | – |",
                  flush=True)


def tasks(work: Path, args: argparse.Namespace) -> None:
    from earmark.synth import synthesize_corpus

    print("\n| task | protocol | model | test accuracy | n | train+eval s |\n|---|---|---|---|---|---|")
    corpus = synthesize_corpus(work / "espeak", voices=8 if args.quick else 24, takes=2 if args.quick else 4).out_dir
    gender = prepare(corpus, work / "gender", preset="earmark-digits", label_column="gender")
    compare("espeak gender", "voice-disjoint 80/10/10", gender, work / "g", args)
    if not FSDD.is_dir():
        print("(FSDD not found: speaker ID and LOSO skipped)")
    else:
        source = subset(FSDD, work / "fsdd", lambda rel: not args.quick or int(rel.stem.split("_")[2]) < 8)
        compare("FSDD speaker ID", "official split", prepare(source, work / "spk", labels=SPEAKER), work / "s", args)
        speakers = sorted({p.stem.split("_")[1] for p in FSDD.glob("recordings/*.wav")})[: 3 if args.quick else None]
        loso = subset(FSDD, work / "fsdd-loso", lambda rel: rel.stem.split("_")[1] in speakers
                      and (not args.quick or int(rel.stem.split("_")[2]) < 5))
        compare("FSDD digits", f"LOSO, {len(speakers)} folds", prepare(loso, work / "loso", labels=DIGIT_LOSO),
                work / "l", args, [("group", s) for s in speakers])
    if not ESC10.is_dir():
        print("(ESC-10 not found: skipped)")
        return
    classes = sorted(p.name for p in ESC10.iterdir() if p.is_dir())[: 2 if args.quick else None]
    esc = subset(ESC10, work / "esc", lambda rel: rel.parts[0] in classes)
    compare("ESC-10", f"fold 1 held out, {len(classes)} classes", prepare(esc, work / "escp", labels=ESC_FOLDS),
            work / "e", args, [("fold", "1")])


def backbones(tiny: bool) -> list[tuple[str, Any]]:
    """(name, builder of a Backbone) for every family there is here: the registered ones and the hf layouts at
    real size with random weights (with `tiny`: hidden 32, 2 layers, for --quick)."""
    from earmark.models.pretrained import list_backbones

    found: list[tuple[str, Any]] = [(spec.name, spec.build) for spec in list_backbones()]
    try:
        import transformers

        from earmark.models.pretrained.hf import HFBackbone
    except ImportError:
        print("(transformers not installed: hf families skipped)")
        return found
    small = ({"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
             if tiny else {})
    conv = {"conv_dim": (32, 32), "conv_stride": (5, 4), "conv_kernel": (10, 8), "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 2} if tiny else {}
    wave = {"model_type": "wav2vec2", "sample_rate": 16000, "do_normalize": True}
    ast = {"model_type": "audio-spectrogram-transformer", "sample_rate": 16000, "do_normalize": True,
           "num_mel_bins": 128, "max_length": 1024, "mean": -4.2677393, "std": 4.5689974}
    size = "tiny" if tiny else "base"
    found.append((f"hf wav2vec2-{size} (random)", lambda: HFBackbone(
        transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**small, **conv)), wave, False)))
    found.append((f"hf AST-{size} (random)", lambda: HFBackbone(
        transformers.ASTModel(transformers.ASTConfig(**small)), ast, False)))
    return found


def probe_cost(work: Path, args: argparse.Namespace) -> None:
    """Embedding clips/s of 1-s windows per backbone, and the cache's second read against the first compute."""
    import torch

    print(f"\n| backbone | parameters | 1-s clips/s ({args.threads} thread) |\n|---|---|---|")
    for name, build in backbones(tiny=False):
        backbone = build().eval()
        clips = 2 if args.quick else 8
        wave = torch.randn(clips, backbone.sample_rate) * 0.1
        with torch.inference_mode():
            backbone(wave[:1])  # warm-up
            begin = time.perf_counter()
            for i in range(clips):
                backbone(wave[i : i + 1])
        rate = clips / (time.perf_counter() - begin)
        print(f"| {name} | {sum(p.numel() for p in backbone.parameters()):,} | {rate:.1f} |", flush=True)
    cache_ratio(work)


def cache_ratio(work: Path) -> None:
    """GE2E's probe embeddings of the espeak gender dataset: first run computes, second reads the cache."""
    from earmark.config import load_train_config
    from earmark.data.dataset import PreparedData
    from earmark.evaluation.runner import probe_embeddings
    from earmark.models.pretrained.classifier import build_backbone_classifier
    from earmark.training.recipe import resolve_recipe

    data = PreparedData.open(work / "gender")
    config, _ = resolve_recipe(load_train_config(flags={"model.name": "ge2e"}), data.split_rows("train"),
                               len(data.labels))  # the window a training run would choose
    model = build_backbone_classifier(config.model, config.augment, data.sample_rate, len(data.labels)).eval()
    fresh = work / "gender-fresh"
    shutil.copytree(data.root, fresh, ignore=shutil.ignore_patterns("embeddings"))  # a cold cache
    cold = PreparedData.open(fresh)
    times = []
    for _ in range(2):
        begin = time.perf_counter()
        probe_embeddings(model, cold, cold.rows, config.data, 32)
        times.append(time.perf_counter() - begin)
    print(f"\nprobe cache (GE2E, {len(cold.rows)} clips of the espeak gender set, cold): computing the embeddings "
          f"took {times[0]:.2f} s, the second run read them from the cache in {times[1]:.3f} s: "
          f"{times[0] / max(times[1], 1e-9):.0f}× faster")


def export_latency(work: Path, args: argparse.Namespace) -> None:
    """Per family: max |Δlogit| of the ONNX export against PyTorch and batch-1 latency of a 1-s window."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from earmark.config import AugmentConfig, ModelConfig
    from earmark.export.exporter import write_onnx
    from earmark.inference.backends import ModelInfo
    from earmark.models.pretrained.classifier import BackboneClassifier

    print(f"\n| family | export | max abs Δlogit | eager ms | onnxruntime ms ({args.threads} thread) | ratio |"
          "\n|---|---|---|---|---|---|")
    # --quick: the tiny hf layouts only (GE2E's LSTM takes ~40 s to export, a real-size transformer minutes)
    families = [(n, b) for n, b in backbones(tiny=args.quick) if not args.quick or n.startswith("hf")]
    for name, build in families:
        backbone = build().eval()
        model = BackboneClassifier(backbone, {"name": name}, ModelConfig(name=name), AugmentConfig(), 16000, 4).eval()
        info = ModelInfo(["a", "b", "c", "d"], 16000, 16000, 8000, "mean", name)
        path = work / f"{name.split()[-2] if ' ' in name else name}.onnx"
        example = torch.randn(2, 16000) * 0.1
        begin = time.perf_counter()
        dynamic = write_onnx(model, path, info, example)
        export_s = time.perf_counter() - begin
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(str(path), options)
        wave = (np.random.default_rng(0).standard_normal((4, 16000)) * 0.1).astype(np.float32)
        with torch.inference_mode():
            eager = model(torch.from_numpy(wave)).numpy()
        got = np.concatenate([session.run(None, {"waveform": wave[i : i + 1]})[0] for i in range(4)])
        one = wave[:1]
        eager_ms = _median_ms(lambda m=model, x=one: m(torch.from_numpy(x)))
        onnx_ms = _median_ms(lambda s=session, x=one: s.run(None, {"waveform": x}))
        print(f"| {name} | {export_s:.0f} s, {'dynamic' if dynamic else 'fixed'} length | "
              f"{np.abs(got - eager).max():.1e} | {eager_ms:.1f} | {onnx_ms:.1f} | {eager_ms / onnx_ms:.2f} |",
              flush=True)


def _median_ms(call: Any, repeats: int = 10) -> float:
    import torch

    times = []
    with torch.inference_mode():
        call()
        for _ in range(repeats):
            begin = time.perf_counter()
            call()
            times.append(time.perf_counter() - begin)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small subsets, a few epochs (so the script cannot rot)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the default model")
    parser.add_argument("--probe-epochs", type=int, default=40, help="epochs of GE2E's head (cached embeddings)")
    parser.add_argument("--probe-lr", type=float, default=None, help="learning rate of GE2E's linear head "
                        "(default: optim.lr's default, as a user gets it)")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.probe_epochs = 2, 5
    import torch

    torch.set_num_threads(args.threads)
    print(f"pretrained backbones, {args.threads} torch thread(s); GE2E weights: the resemblyzer wheel (real); "
          f"default model {args.epochs} epochs, GE2E linear head {args.probe_epochs} epochs at lr "
          f"{args.probe_lr or 'default'}")
    with tempfile.TemporaryDirectory(prefix="earmark-pretrained-") as tmp:
        work = Path(tmp)
        tasks(work, args)
        probe_cost(work, args)
        export_latency(work, args)


if __name__ == "__main__":
    main()
