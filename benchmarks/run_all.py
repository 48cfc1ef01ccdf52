"""Every benchmark in benchmarks/, one after another, written to one page: `benchmarks/results.md`.

Each script runs in its own process (`make bench` calls this file) and prints its figures with the reference
each is measured against, in the same run; this page adds the machine, the date, the commit, and each script's
command and wall time. The GPU section is `gpu.py`, which says "no GPU" and measures nothing without CUDA. A
failed script is recorded with the end of its error output and the others still run; the exit status is then 1.

With `--only`, the scripts named run and replace their own sections of an existing page; every other section
is kept as it was, under a line naming the run it came from (date and commit), so one page can hold sections
measured on different days without any of them passing for the others' run.

    python benchmarks/run_all.py [--out benchmarks/results.md] [--only features,peers] [--quick]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, what it measures, script and arguments): the order is the page's order.
SCRIPTS = [
    ("features", "front-end features: earmark's torch log-mel and MFCC against librosa", ["features.py"]),
    ("prepare", "`prepare` speed against a librosa.load loop, and its memory at 1× and 10× input", ["prepare.py"]),
    ("train_step", "training-step throughput with and without malloc tuning", ["train_step.py"]),
    ("throughput", "training throughput against the classic notebook pipeline; time to accuracy",
     ["throughput.py", "--epochs", "1", "--budgets", "3"]),
    ("inference", "long-file throughput, peak memory, and export latency (onnxruntime against PyTorch)",
     ["inference.py"]),
    ("models", "registered models on FSDD at an equal CPU-time budget (a representative subset)",
     ["models.py", "--models", "majority,logreg,vgg-m,tcresnet-8", "--budget", "10"]),
    ("peers", "earmark against pyAudioAnalysis, librosa + scikit-learn and the classic notebook pipeline",
     ["peers.py"]),
    ("threads", "training throughput on a shared CPU: earmark's thread policy against torch's default",
     ["threads.py"]),
    ("metrics", "the bootstrap interval's cost against scikit-learn's metrics", ["metrics.py"]),
    ("pretrained", "pretrained backbones: the GE2E probe against the default model and logreg on four tasks; probe "
     "cost per backbone; export parity and latency per family", ["pretrained.py"]),
    ("backbones", "the PANNs and EfficientAT ports at real size (random weights): embedding clips/s, and 1-s latency "
     "of the ONNX export against eager PyTorch", ["backbones.py"]),
    ("gpu", "training on a GPU in bf16: clips/s and the share of step time waiting for data (CPU reference)",
     ["gpu.py"]),
    ("recipes", "defaults from the data: new default, old default, --auto, logreg and the MFCC+SVM peer on FSDD, "
     "ESC-10 and the espeak corpus (hours on 2 cores)", ["recipes.py"]),
    ("serve", "`earmark serve`: upload-to-answer latency (server, client, browser) and requests/s against an "
     "in-process Predictor", ["serve.py"]),
    ("robustness", "the default model under noise, codecs, sample rates, gain, shift and reverb on FSDD and ESC-10; "
     "ECE before and after temperature scaling; `robustness` against `evaluate` wall time", ["robustness.py"]),
    ("images", "images through the pipeline: cnn and mlp on the UCI digits against scikit-learn's SVC and logistic "
     "regression; ONNX parity", ["images.py"]),
]


def machine() -> list[str]:
    """What the figures were measured on."""
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    mem = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "0")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True)
    return [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- machine: {cpu}, {os.cpu_count()} CPU cores, {int(mem) / 2**20:.0f} GiB memory, "
            f"{platform.system()} {platform.release()}",
            f"- load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (the machine may be shared: "
            "read times as ratios against the reference measured in the same run)",
            f"- threads: torch's default ({torch.get_num_threads()} here) unless a script says otherwise; OpenMP wait "
            f"policy {os.environ.get('OMP_WAIT_POLICY', 'unset')} for every script (earmark's default, "
            "earmark.runtime.apply_thread_policy)",
            f"- Python {platform.python_version()}, torch {torch.__version__}, "
            f"commit {commit.stdout.strip() or 'unknown'}{' (with local changes)' if dirty.stdout.strip() else ''}"]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def run_script(args: list[str], quick: bool) -> tuple[int, str, float]:
    """(exit status, output, wall seconds) of one benchmark script in a fresh process; its lines are echoed live."""
    command = [sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:], *(["--quick"] if quick else [])]
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None and child.stderr is not None
        for line in child.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        errors = child.stderr.read()
    output = "".join(lines) if child.returncode == 0 else "".join(lines) + "\n" + errors[-3000:]
    return child.returncode, output, time.perf_counter() - start


def as_markdown(output: str) -> list[str]:
    """Table rows stay tables; every other printed line becomes a list item."""
    lines: list[str] = []
    for line in output.splitlines():
        if not line.strip():
            continue
        is_table = line.startswith("|")
        if lines and is_table != lines[-1].startswith("|"):  # a blank line between a table and the rest
            lines.append("")
        lines.append(line if is_table else f"- {line.strip()}")
    return lines


def write_page(out: Path, head: list[str], summary: list[str], sections: list[str]) -> None:
    total = sum(float(row.split(" | ")[2]) for row in summary)
    out.write_text("\n".join([*head, "| benchmark | what | wall s | status |", "|---|---|---:|---|", *summary,
                               f"| total | | {total:.0f} | |", "", *sections]))


KEPT = "- kept from an earlier run: "  # the first line of a section this run did not measure


def earlier_sections(out: Path) -> dict[str, tuple[str | None, list[str]]]:
    """Each section of an existing page as (summary row, section lines), each marked with the run it came from;
    a section written by hand (no summary row) is kept as it is, without a row: it names its own protocol."""
    if not out.is_file():
        return {}
    text = out.read_text()
    when = next((line.removeprefix("- date: ") for line in text.splitlines() if line.startswith("- date: ")), "?")
    commit = next((line.rsplit("commit ", 1)[1] for line in text.splitlines()
                   if line.startswith("- Python ") and "commit " in line), "?")
    rows = {line.split("](#", 1)[0].removeprefix("| ["): line for line in text.splitlines()
            if line.startswith("| [")}
    found: dict[str, tuple[str | None, list[str]]] = {}
    for block in text.split("\n## ")[1:]:
        name, *body = block.rstrip("\n").split("\n")
        if name in rows:
            mark = [] if any(line.startswith(KEPT) for line in body) else ["", f"{KEPT}{when}, commit {commit}"]
            found[name] = (rows[name], [f"## {name}", *mark, *body, ""])
        elif name in {script for script, _, _ in SCRIPTS}:
            found[name] = (None, [f"## {name}", *body, ""])
    return found


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from earmark.runtime import apply_thread_policy

    apply_thread_policy()  # before torch loads, here and in every script (they inherit the environment)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.md")
    parser.add_argument("--only", default=None, help="comma-separated script names (default: all)")
    parser.add_argument("--quick", action="store_true", help="every script in its --quick mode (a smoke run)")
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else [name for name, _, _ in SCRIPTS]
    unknown = sorted(set(chosen) - {name for name, _, _ in SCRIPTS})
    if unknown:
        parser.error(f"unknown benchmark {unknown}; valid: {', '.join(name for name, _, _ in SCRIPTS)}")
    page = ["# earmark benchmarks", "", "Written by `make bench` (`python benchmarks/run_all.py`)"
            + (" in --quick mode: smoke-test sizes, not results." if args.quick else "."), "", *machine(), ""]
    if args.only and not args.quick:
        page[-1:] = [f"- this run: {', '.join(chosen)}; a section marked \"kept from an earlier run\" was measured "
                     "then, on the machine and commit that run's page named", ""]
    failed = False
    kept = earlier_sections(args.out) if args.only and not args.quick else {}
    done: dict[str, tuple[str | None, list[str]]] = {}
    for name, what, script in SCRIPTS:
        if name not in chosen:
            continue
        print(f"== {name}: python benchmarks/{' '.join(script)}", flush=True)
        status, output, seconds = run_script(script, args.quick)
        failed |= status != 0
        done[name] = (f"| [{name}](#{name}) | {what} | {seconds:.0f} | {'ok' if status == 0 else 'FAILED'} |",
                      [f"## {name}", "", f"{what}. `python benchmarks/{' '.join(script)}"
                       f"{' --quick' if args.quick else ''}`, {seconds:.0f} s; protocol and references: the script's "
                       "docstring.", "", *as_markdown(output), ""])
        order = [done.get(n) or kept.get(n) for n, _, _ in SCRIPTS]
        write_page(args.out, page, [row for row, _ in filter(None, order) if row is not None],
                   [line for _, lines in filter(None, order) for line in lines])  # after every script
    print(f"wrote {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
