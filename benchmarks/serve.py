"""`earmark serve` (issue 17's figures): latency from upload to answer, and requests/s under concurrent clients.

The server is `earmark serve MODEL --threads 1` in its own process on 127.0.0.1 (a free port), serving the default
model for word-like clips (`tcresnet-8` on 1-s windows, weights untrained: the compute is the same). The
reference, measured in the same run, is this process calling `Predictor.predict` on the same file with one
thread: what `earmark predict` costs without start-up. Figures:
1. Latency for a 1-s 16 kHz WAV and a 10-minute 16 kHz WAV (1 minute with --quick): the server's own time
   (decode, model, spectrogram; `server_s` in its answer), the time a Python client sees (POST to answer), and,
   when Debian's chromium and playwright are there, the time the page itself measures (file chosen → answer
   parsed). Median of `--repeats` (the 10-minute file: of 3).
2. Requests/s for 1-s clips with 1, 4 and 8 concurrent Python clients (threads), against the reference's calls/s.
   The server runs one prediction per model at a time, on one thread: concurrency overlaps the HTTP work only.

    python benchmarks/serve.py [--quick] [--repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
LABELS = [f"class{i}" for i in range(10)]


def make_checkpoint(folder: Path) -> Path:
    """An untrained `tcresnet-8` checkpoint on 1-s windows (what `auto` picks for word-like clips)."""
    import torch

    from earmark.checkpoint import build_model, save_checkpoint
    from earmark.config import load_train_config

    torch.manual_seed(0)
    config = load_train_config(overrides=["model.name=tcresnet-8", "data.window_s=1.0", "data.eval_hop_s=0.5"])
    path = folder / "default.ckpt"
    save_checkpoint(path, build_model(config, LABELS, RATE), config, LABELS, RATE)
    return path


def write_wav(path: Path, seconds: float) -> Path:
    """Tones and noise as 16-bit 16 kHz mono WAV, written block by block."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", samplerate=RATE, channels=1, subtype="PCM_16") as out:
        for start in range(0, int(seconds * RATE), RATE * 10):
            n = min(RATE * 10, int(seconds * RATE) - start)
            t = (start + np.arange(n)) / RATE
            out.write((0.3 * np.sin(2 * np.pi * (300 + 50 * (start // RATE % 20)) * t)
                       + 0.05 * rng.standard_normal(n)).astype(np.float32))
    return path


class Server:
    """`earmark serve` in a child process; `url` once it listens."""

    def __init__(self, model: Path) -> None:
        env = {**os.environ, "EARMARK_THREADS": "1", "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "earmark", "serve", str(model), "--port", "0", "--threads", "1"]
        self.child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert self.child.stdout is not None
        line = ""
        while "open http" not in line:
            line = self.child.stdout.readline()
            if not line:
                raise RuntimeError("earmark serve did not start")
        self.url = line.split("open ", 1)[1].split()[0]

    def close(self) -> None:
        self.child.terminate()
        self.child.wait(timeout=30)


def post(url: str, path: Path) -> tuple[float, dict[str, Any]]:
    """(seconds from sending to the parsed answer, the answer) of one upload."""
    data = path.read_bytes()
    begin = time.perf_counter()
    request = urllib.request.Request(f"{url}api/models/0/predict?name={path.name}", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=600) as response:
        answer = json.loads(response.read())
    return time.perf_counter() - begin, answer


def median_time(fn: Callable[[], float], repeats: int) -> float:
    fn()  # the first call warms caches up: start-up, not latency
    return statistics.median(fn() for _ in range(repeats))


def latency(url: str, files: dict[str, tuple[Path, int]]) -> list[list[str]]:
    """Rows: file, reference, server, client, with ratios to the reference."""
    from earmark.inference import Predictor

    predictor = Predictor.from_path(Path(os.environ["EARMARK_BENCH_MODEL"]), threads=1)
    rows = []
    for name, (path, repeats) in files.items():
        def reference(path: Path = path) -> float:
            begin = time.perf_counter()
            predictor.predict(path)
            return time.perf_counter() - begin

        ref = median_time(reference, repeats)
        server_times: list[float] = []

        def client(path: Path = path, server_times: list[float] = server_times) -> float:
            seconds, answer = post(url, path)
            server_times.append(float(answer["server_s"]))
            return seconds

        seen = median_time(client, repeats)
        server = statistics.median(server_times[1:])
        rows.append([name, f"{ref * 1000:.1f}", f"{server * 1000:.1f} ({server / ref:.2f}x)",
                     f"{seen * 1000:.1f} ({seen / ref:.2f}x)"])
    return rows


def picture_ms(path: Path, repeats: int) -> float:
    """Median ms of the answer's spectrogram for `path` (already decoded), as the server makes it."""
    from earmark.audio.stream import stream_mono
    from earmark.serve.spectrogram import SpectrogramSketch

    blocks = list(stream_mono(path, RATE))

    def draw() -> float:
        begin = time.perf_counter()
        sketch = SpectrogramSketch(RATE)
        for block in blocks:
            sketch.push(block)
        sketch.png()
        return time.perf_counter() - begin

    return 1000 * median_time(draw, repeats)


def browser_latency(url: str, files: dict[str, tuple[Path, int]]) -> dict[str, float] | None:
    """Median seconds the page measures from choosing the file to the parsed answer, or None without a browser."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    result = {}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(url, wait_until="load")
            page.wait_for_selector("#model option", state="attached")
            for name, (path, repeats) in files.items():
                times = []
                for _ in range(1 + min(repeats, 10)):
                    page.evaluate("window.earmarkLastAnswer = null")
                    page.set_input_files("#file", str(path))
                    page.wait_for_function("() => window.earmarkLastAnswer !== null", timeout=120_000)
                    times.append(float(page.evaluate("window.earmarkLastAnswer.client_s")))
                result[name] = statistics.median(times[1:])
        finally:
            browser.close()
    return result


def throughput(url: str, clip: Path, requests: int) -> list[list[str]]:
    """Rows: concurrent clients, requests/s, ratio to the in-process reference's calls/s."""
    from earmark.inference import Predictor

    predictor = Predictor.from_path(Path(os.environ["EARMARK_BENCH_MODEL"]), threads=1)
    predictor.predict(clip)
    begin = time.perf_counter()
    for _ in range(requests):
        predictor.predict(clip)
    reference = requests / (time.perf_counter() - begin)
    rows = [["in-process Predictor (reference)", "1", f"{reference:.1f}", "1.00x"]]
    for clients in (1, 4, 8):
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda _: post(url, clip), range(clients)))  # connections and threads warmed
            begin = time.perf_counter()
            list(pool.map(lambda _: post(url, clip), range(requests)))
            rate = requests / (time.perf_counter() - begin)
        rows.append(["earmark serve over HTTP", str(clients), f"{rate:.1f}", f"{rate / reference:.2f}x"])
    return rows


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from earmark.runtime import apply_thread_policy

    apply_thread_policy()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: a 1-minute long file, few repeats")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    long_s = 60.0 if args.quick else 600.0
    with tempfile.TemporaryDirectory(prefix="earmark-bench-serve-") as folder:
        root = Path(folder)
        model = make_checkpoint(root)
        os.environ["EARMARK_BENCH_MODEL"] = str(model)
        files = {"1-s clip": (write_wav(root / "clip.wav", 1.0), repeats),
                 f"{long_s / 60:.0f}-minute file": (write_wav(root / "long.wav", long_s), 3)}
        server = Server(model)
        try:
            print(f"server: earmark serve (1 torch thread) at {server.url}; reference: Predictor.predict in this "
                  "process, 1 thread; tcresnet-8 on 1-s windows, hop 0.5 s; 16 kHz mono 16-bit WAV")
            print(f"latency, median ms (ratio to the reference); the 1-s clip over {repeats} calls, the long file 3:")
            table(["file", "reference (in-process)", "server side", "client (Python, urllib)"],
                  latency(server.url, files))
            print(f"of the server side's time above the reference on the 1-s clip, the answer's spectrogram (computed "
                  f"and drawn as a PNG) takes {picture_ms(files['1-s clip'][0], repeats):.1f} ms; what the client sees "
                  "beyond the server side is HTTP, the upload and JSON")
            seen = browser_latency(server.url, files)
            if seen is None:
                print("as seen by the browser: not measured (needs Debian's chromium and playwright)")
            else:
                print("as seen by the browser (the page's own timer, file chosen → answer parsed): "
                      + ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in seen.items()))
            requests = 20 if args.quick else 200
            print(f"requests/s for the 1-s clip, {requests} requests per row:")
            table(["who", "concurrent clients", "requests/s", "ratio to the reference"],
                  throughput(server.url, files["1-s clip"][0], requests))
        finally:
            server.close()


if __name__ == "__main__":
    main()
