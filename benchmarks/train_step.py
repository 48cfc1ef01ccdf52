"""Training-step throughput of a registered model on random 1-s clips, with and without malloc tuning.

Each setting runs in its own subprocess (mallopt is process-wide) in the same invocation, and the result
is printed as a ratio, since these machines are shared and absolute numbers are noisy.

    python benchmarks/train_step.py [--model cnn] [--n-mels 40] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def measure(model: str, n_mels: int, steps: int, tune: bool) -> float:
    """Clips per second of forward + backward + AdamW step at batch 64 (after two warm-up steps)."""
    import torch

    from earmark.checkpoint import build_model
    from earmark.config import load_train_config
    from earmark.runtime import tune_malloc

    if tune:
        tune_malloc()
    config = load_train_config(overrides=[f"model.name={model}", f"features.n_mels={n_mels}"])
    net = build_model(config, [str(i) for i in range(10)], 16000).train()
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3)
    waves, targets = torch.randn(64, 16000), torch.randint(0, 10, (64,))
    for step in range(steps + 2):
        if step == 2:
            start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(waves), targets).backward()
        optimizer.step()
    return 64 * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--n-mels", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="a few steps only (used by a test)")
    parser.add_argument("--child", choices=("plain", "tuned"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    steps = 2 if args.quick else 10
    if args.child:
        print(json.dumps(measure(args.model, args.n_mels, steps, args.child == "tuned")))
        return
    rates = {}
    for mode in ("plain", "tuned"):
        cmd = [sys.executable, __file__, "--model", args.model, "--n-mels", str(args.n_mels), "--child", mode]
        out = subprocess.run(cmd + (["--quick"] if args.quick else []), check=True, capture_output=True, text=True)
        rates[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.model}, {args.n_mels} mels, batch 64, 1-s clips at 16 kHz: "
          f"plain malloc {rates['plain']:.0f} clips/s, tuned {rates['tuned']:.0f} clips/s, "
          f"ratio {rates['tuned'] / rates['plain']:.2f}x")


if __name__ == "__main__":
    main()
