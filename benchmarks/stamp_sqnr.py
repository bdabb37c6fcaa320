"""Activation SQNR of STaMP variants on an AR(1)-correlated activation at equal average bits.

    python benchmarks/stamp_sqnr.py [--tokens 2048] [--features 1152] [--rho 0.95]

Every row keeps 64 rows at 8 bits and the rest at 4 (identity + first-k, DWT, DCT, WHT,
KLT; magnitude = the 64 highest-energy untransformed tokens; energy = the Theorem 1
optimal allocation over {4, 8} on the DWT output), so the average width is the same
(4.125 bits for 2048 tokens) except plain w4a4 (4 bits), the floor. The KLT is fitted on
4 independent AR(1) draws (calibration) and evaluated on the test draw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# This folder holds kernels.py (the kernel benchmark), which would shadow the kernels package
# that stamp_sim imports; run from anywhere, import the project's packages.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import pandas as pd
import torch

from stamp_sim.metrics import energy_concentration, sqnr_db, theorem1_bound
from stamp_sim.quant import allocate_bits, quantize
from stamp_sim.transforms import sequence_transform


def ar1(tokens: int, features: int, rho: float, seed: int, batch: int = 1) -> torch.Tensor:
    """(batch, tokens, features) AR(1) along tokens with unit marginal variance."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(batch, tokens, features, generator=g, dtype=torch.float64)
    x = torch.empty_like(noise)
    x[:, 0] = noise[:, 0]
    scale = (1 - rho**2) ** 0.5
    for t in range(1, tokens):
        x[:, t] = rho * x[:, t - 1] + scale * noise[:, t]
    return x


def measure(x: torch.Tensor, transform, method: str, k: int) -> dict:
    tokens = x.shape[-2]
    z = transform.forward(x)
    bits = allocate_bits(z, method, k=k).bits if k else torch.full(z.shape[:-1], 4)
    zq = quantize(z, bits, "per-token").dequantize()
    xq = transform.inverse(zq, tokens=tokens)
    err = float((xq - x).pow(2).sum())
    return {
        "sqnr_db": sqnr_db(x, xq),
        "avg_bits": float(bits.double().mean()),
        "energy_top64": energy_concentration(z, k or 64, rows="first" if method == "first-k" else "top"),
        "error": err,
        "theorem1_bound": theorem1_bound(z, bits, symmetric=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--features", type=int, default=1152)
    parser.add_argument("--rho", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x = ar1(args.tokens, args.features, args.rho, args.seed)
    calib = ar1(args.tokens, args.features, args.rho, args.seed + 1, batch=4)
    klt = sequence_transform("klt").fit(calib)
    ident = sequence_transform("identity")
    cases = [
        ("w4a4 per-token", ident, "first-k", 0),
        ("first-64", ident, "first-k", 64),
        ("magnitude-64", ident, "magnitude", 64),
        ("stamp dwt (haar, 3 levels)", sequence_transform("dwt", levels=3), "first-k", 64),
        ("stamp dwt (haar, 5 levels)", sequence_transform("dwt", levels=5), "first-k", 64),
        ("stamp dwt + energy allocation", sequence_transform("dwt", levels=3), "energy", 64),
        ("stamp dct", sequence_transform("dct"), "first-k", 64),
        ("stamp wht", sequence_transform("wht"), "first-k", 64),
        ("stamp klt", klt, "first-k", 64),
    ]
    rows = [{"case": name, **measure(x, t, m, k)} for name, t, m, k in cases]
    table = pd.DataFrame(rows).set_index("case")
    pd.set_option("display.width", 160)
    print(f"AR(1) rho={args.rho}, {args.tokens} tokens x {args.features} features, symmetric per-token RTN")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
