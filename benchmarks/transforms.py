"""Speed of the vectorized Haar DWT against pywt.wavedec, measured in one process.

    PYTHONPATH=. python benchmarks/transforms.py [--tokens 4096 --features 1152 --levels 3]

Prints, per input kind (numpy, torch), the best and median time of ours and of
PyWavelets and the ratio pywt / ours of the best times (> 1 means ours is faster),
for forward and forward+inverse. Calls alternate between the two so that load from
other processes hits both alike. torch runs on 1 thread by default, as PyWavelets
does; `--threads 0` keeps torch's default.
PyWavelets gets a numpy array (a torch input is handed over with .numpy(), which is
free on CPU); its forward+inverse is wavedec + concatenate + split + waverec, the same
work ours does to produce and consume one (tokens, features) array.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

# Idle OpenMP workers must sleep, not spin, on a small shared machine (as in tests/conftest.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pywt  # noqa: E402
import torch  # noqa: E402

from stamp_sim.transforms import sequence_transform  # noqa: E402


def paired_seconds(
    ours: Callable[[], object], theirs: Callable[[], object], repeats: int
) -> tuple[list[float], list[float]]:
    """Wall times of `repeats` alternating calls of each (after one warm-up call each)."""
    ours(), theirs()  # warm-up: first-call allocation and dispatch
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (theirs, t_theirs)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return t_ours, t_theirs


def pywt_forward(x: np.ndarray, levels: int) -> np.ndarray:
    coeffs = pywt.wavedec(x, "haar", mode="periodization", level=levels, axis=-2)
    return np.concatenate(coeffs, axis=-2)


def pywt_roundtrip(x: np.ndarray, levels: int) -> np.ndarray:
    y = pywt_forward(x, levels)
    n = y.shape[-2] >> levels
    bounds = [n << i for i in range(levels + 1)]
    coeffs = [y[..., :n, :]] + [y[..., lo:hi, :] for lo, hi in zip(bounds, bounds[1:])]
    return pywt.waverec(coeffs, "haar", mode="periodization", axis=-2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--features", type=int, default=1152)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads; 0 = default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    x_np = np.random.default_rng(0).standard_normal((args.tokens, args.features))
    x_np = x_np.astype(np.float32)
    dwt = sequence_transform("dwt", levels=args.levels, wavelet="haar")
    print(
        f"Haar DWT, {args.levels} levels, ({args.tokens}, {args.features}) float32, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), pywt {pywt.__version__}, "
        f"{args.repeats} alternating runs, ms as best / median"
    )
    print(f"{'input':<7}{'op':<17}{'ours ms':>15}{'pywt ms':>15}{'pywt/ours':>11}")
    for kind, x in [("numpy", x_np), ("torch", torch.from_numpy(x_np.copy()))]:
        x_for_pywt = x if isinstance(x, np.ndarray) else x.numpy()
        # Same answer first, so the timing compares equal work.
        np.testing.assert_allclose(
            np.asarray(dwt.forward(x)), pywt_forward(x_for_pywt, args.levels), atol=1e-4
        )
        rows = [
            ("forward", lambda: dwt.forward(x), lambda: pywt_forward(x_for_pywt, args.levels)),
            (
                "forward+inverse",
                lambda: dwt.inverse(dwt.forward(x)),
                lambda: pywt_roundtrip(x_for_pywt, args.levels),
            ),
        ]
        for op, ours, theirs in rows:
            t_ours, t_pywt = paired_seconds(ours, theirs, args.repeats)
            cols = [
                f"{min(t) * 1e3:6.1f} / {statistics.median(t) * 1e3:6.1f}" for t in (t_ours, t_pywt)
            ]
            ratio = min(t_pywt) / min(t_ours)
            print(f"{kind:<7}{op:<17}{cols[0]:>15}{cols[1]:>15}{ratio:>11.2f}")

if __name__ == "__main__":
    main()
