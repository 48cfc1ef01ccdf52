"""Log-mel and MFCC throughput of earmark's torch front-end against librosa on the same batch, same run.

64 clips × 5 s at 16 kHz, n_fft 1024, hop 320, 64 mels (MFCC: 20 coefficients), 2 torch threads. librosa
is given the whole batch as one 2-D array (its fastest use). Agreement: max |Δ| in dB over bins within
80 dB of the maximum.

    python benchmarks/features.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from earmark.config import FeatureConfig
from earmark.features import FrontEnd
from earmark.runtime import tune_malloc

RATE, N_FFT, HOP, MELS, MFCC = 16000, 1024, 320, 64, 20


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of `repeats` calls (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import librosa

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 clips, one repeat (used by a test)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    tune_malloc()  # as the `earmark` command does at start
    clips, repeats = (8, 1) if args.quick else (64, 5)
    rng = np.random.default_rng(0)
    waves = (0.1 * rng.standard_normal((clips, 5 * RATE))).astype(np.float32)
    batch = torch.from_numpy(waves)
    common = {"n_fft": N_FFT, "hop_length": HOP, "n_mels": MELS, "f_min": 0.0, "top_db": 80.0}
    logmel = FrontEnd(FeatureConfig(kind="logmel", **common), RATE).eval()  # type: ignore[arg-type]
    mfcc = FrontEnd(FeatureConfig(kind="mfcc", n_mfcc=MFCC, **common), RATE).eval()  # type: ignore[arg-type]

    def ref_logmel() -> np.ndarray:
        mel = librosa.feature.melspectrogram(y=waves, sr=RATE, n_fft=N_FFT, hop_length=HOP, n_mels=MELS, fmin=0.0,
                                             pad_mode="constant")
        return np.stack([librosa.power_to_db(m, ref=1.0, top_db=80.0) for m in mel])

    def ref_mfcc() -> np.ndarray:
        return np.stack([librosa.feature.mfcc(S=m, n_mfcc=MFCC) for m in ref_logmel()])

    with torch.no_grad():
        for name, ours, ref in (("log-mel", logmel, ref_logmel), ("MFCC", mfcc, ref_mfcc)):
            t_ours = best_of(lambda module=ours: module(batch), repeats)
            t_ref = best_of(ref, repeats)
            expected, got = ref(), ours(batch)[:, 0].numpy()
            within = expected > expected.max(axis=(1, 2), keepdims=True) - 80 if name == "log-mel" else slice(None)
            delta = float(np.abs(got - expected)[within].max())
            print(f"{name}: {clips} clips x 5 s, librosa {clips * 5 / t_ref:.0f} s of audio/s, earmark "
                  f"{clips * 5 / t_ours:.0f} s/s, ratio {t_ref / t_ours:.1f}x; max |delta| {delta:.4f} dB")


if __name__ == "__main__":
    main()
