"""Shared test data for GPTQ / GPFQ / AXE: correlated calibration inputs and their Hessians."""

import torch


def correlated_inputs(n: int, k: int, seed: int, mix: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    """X (n x K): Gaussian rows through a random mixing matrix, features of unequal scale."""
    g = torch.Generator().manual_seed(seed)
    a = torch.eye(k, dtype=dtype) + mix * torch.randn(k, k, generator=g, dtype=dtype) / k**0.5
    scales = 0.2 + 2.0 * torch.rand(k, generator=g, dtype=dtype)
    return (torch.randn(n, k, generator=g, dtype=dtype) @ a) * scales


def layer(out: int, k: int, seed: int, n: int | None = None, dtype=torch.float64):
    """(w (out, K), X (n, K), H = X^T X) with w of unit scale."""
    x = correlated_inputs(n or 4 * k, k, seed, dtype=dtype)
    w = torch.randn(out, k, generator=torch.Generator().manual_seed(seed + 1), dtype=dtype)
    return w, x, x.T @ x


def output_error(x: torch.Tensor, w: torch.Tensor, deq: torch.Tensor) -> float:
    """||X W^T - X Q^T||_F, the layer-output error GPTQ minimizes."""
    return float(torch.linalg.norm(x @ (w - deq.to(w.dtype)).T))
