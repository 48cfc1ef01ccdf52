"""Training throughput on a shared CPU: earmark's thread policy against torch's default, alone and beside others.

Each setting is a fresh `earmark train` process (OpenMP reads its wait policy once, when torch loads), training the
default model for two epochs on FSDD's training split. It runs alone, beside one plain CPU-bound process (a busy
loop), and beside another torch process that trains with two threads. The policies:

- `torch default`: what torch does untouched (all cores, OpenMP's spinning barrier), `EARMARK_THREADS=off`;
- `passive only`: `OMP_WAIT_POLICY=PASSIVE`, all cores;
- `1 thread`: `--set trainer.threads=1`;
- `earmark`: earmark's own default (earmark.runtime.apply_thread_policy).

Settings are interleaved over rounds, so a change in the machine's load hits every policy alike; the table gives
the median clips/s of the second epoch and the ratio against `torch default` in the same condition.

    python benchmarks/threads.py [--quick] [--rounds N]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FSDD = ROOT.parent / "shared" / "data" / "fsdd"
POLICIES = {
    "torch default": ({"EARMARK_THREADS": "off"}, []),
    "passive only": ({"EARMARK_THREADS": "off", "OMP_WAIT_POLICY": "PASSIVE"}, []),
    "1 thread": ({"EARMARK_THREADS": "off"}, ["--set", "trainer.threads=1"]),
    "earmark": ({}, []),
}
BUSY_LOOP = "while True: pass"
TORCH_NEIGHBOUR = """import torch
torch.set_num_threads(2)
net = torch.nn.Sequential(torch.nn.Conv2d(1, 32, 3), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3))
opt = torch.optim.SGD(net.parameters(), 0.01)
x = torch.randn(32, 1, 64, 101)
while True:
    opt.zero_grad(); net(x).mean().backward(); opt.step()
"""


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without thread settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "EARMARK_THREADS")}
    return {**env, **extra}


def prepare(work: Path, quick: bool) -> Path:
    """FSDD prepared with its official split; in --quick, takes 0-9 of each speaker and digit (links, not copies)."""
    source, data = FSDD, work / "fsdd"
    if quick:
        source = work / "fsdd-takes-0-9"
        (source / "recordings").mkdir(parents=True)
        for path in (FSDD / "recordings").glob("*_[0-9].wav"):
            (source / "recordings" / path.name).symlink_to(path)
    cmd = [sys.executable, "-m", "earmark", "prepare", str(source), str(data), "--preset", "fsdd"]
    subprocess.run(cmd, check=True, capture_output=True, env=_clean_env({}))
    return data


def clips_per_s(data: Path, run: Path, policy: str, quick: bool) -> tuple[float, str]:
    """The second epoch's clips/s of one `earmark train` in a fresh process, and the threads it recorded."""
    env_extra, flags = POLICIES[policy]
    cmd = [sys.executable, "-m", "earmark", "train", str(data), "--out", str(run), "--model", "tcresnet-8",
           "--epochs", "2", "--set", "data.window_s=1.0", "--set", f"trainer.batch_size={32 if quick else 64}", *flags]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env(env_extra), timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{policy}: earmark train failed: {done.stderr[-1500:]}")
    with (run / "history.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    threads = next((line.split("threads:", 1)[1].strip() for line in done.stdout.splitlines()
                    if "threads:" in line), "?")
    return float(rows[-1]["clips_per_s"]), threads


def neighbour(kind: str) -> subprocess.Popen[bytes] | None:
    """The other process sharing the CPU in this condition (None: alone)."""
    if kind == "alone":
        return None
    code = BUSY_LOOP if kind == "beside a busy loop" else TORCH_NEIGHBOUR
    env = _clean_env({"OMP_WAIT_POLICY": "ACTIVE"} if kind != "beside a busy loop" else {})
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one round on a fifth of FSDD, beside a busy loop, two policies (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--conditions", default=None, help="comma-separated: alone,busy,torch (default: all)")
    parser.add_argument("--policies", default=None, help="comma-separated policy names (default: all)")
    args = parser.parse_args()
    if not FSDD.is_dir():
        raise SystemExit(f"{FSDD}: FSDD not found (../shared/data/fsdd)")
    conditions = ["beside a busy loop"] if args.quick else ["alone", "beside a busy loop",
                                                            "beside a 2-thread torch process"]
    if args.conditions:
        short = {"alone": "alone", "busy": "beside a busy loop", "torch": "beside a 2-thread torch process"}
        conditions = [short[name] for name in args.conditions.split(",")]
    rounds = 1 if args.quick else args.rounds
    policies = ["torch default", "earmark"] if args.quick else list(POLICIES)
    if args.policies:
        policies = [name for name in args.policies.split(",") if name in POLICIES]
    print(f"cores: {os.cpu_count()}; load at start: {os.getloadavg()[0]:.2f}; model tcresnet-8, 1-s windows, "
          f"FSDD official train split{' (takes 0-9)' if args.quick else ''}, 2 epochs, clips/s of epoch 2; "
          f"{rounds} round(s), policies interleaved")
    results: dict[tuple[str, str], list[float]] = {}
    threads: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(Path(tmp), args.quick)
        for condition in conditions:
            other = neighbour(condition)
            try:
                for r in range(rounds):
                    for policy in policies:
                        run = Path(tmp) / f"run-{len(results)}-{r}-{policy.replace(' ', '_')}"
                        speed, threads[policy] = clips_per_s(data, run, policy, args.quick)
                        results.setdefault((condition, policy), []).append(speed)
            finally:
                if other is not None:
                    other.kill()
                    other.wait()
    print("\n| condition | policy | threads | clips/s (median) | runs | ratio to torch default |")
    print("|---|---|---|---:|---|---:|")
    for condition in conditions:
        reference = statistics.median(results[(condition, "torch default")])
        for policy in policies:
            speeds = results[(condition, policy)]
            print(f"| {condition} | {policy} | {threads[policy]} | {statistics.median(speeds):.0f} | "
                  f"{', '.join(f'{s:.0f}' for s in speeds)} | {statistics.median(speeds) / reference:.2f}x |")


if __name__ == "__main__":
    main()
