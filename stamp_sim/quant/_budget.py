"""AXE: the accumulator-aware part shared by GPTQ and GPFQ (Colbert et al., arXiv 2409.17092).

While a column-by-column quantizer (GPTQ, GPFQ) picks integer codes, this keeps, per output
channel and per K-tile of the accumulator (contiguous in-features; one tile = all of K for a
single-stage accumulator), the running L1 sums of the codes already chosen: pos = sum of the
positive codes, neg = sum of |negative codes|. Before a column's value v = w / scale (in code
units) is rounded:

1. soft threshold: v <- sign(v) * max(|v| - theta, 0), theta per (channel, tile) fixed up front
   as the Euclidean projection threshold of |w / scale| onto the L1 ball of the budget (so an
   unchanged weight would land just on the budget), computed once from the original weights;
2. round to nearest, then hard clamp to what remains: "a2q" code in [-(C - pos - neg), C - pos - neg];
   "a2q+" code in [-(C - neg), C - pos]; C = A2QConfig.budget(acc_bits). An outer register
   narrower than exact adds the same clamp per channel over all tiles at outer_bits;
3. error feedback: the column's error fed to later columns is (thresholded value - dequantized
   code), as Brevitas' A2GPTQ does; the shrinkage itself is not compensated. (Brevitas' A2GPFQ
   feeds back the full error from the original weight; here GPFQ follows the GPTQ rule too: in
   a test at a 16-bit accumulator the full error gave 10 % larger output error than A2Q's
   plain projection, the rule here 1 %.)

Other differences from Brevitas (facts from its A2GPTQ / A2GPFQ, own code here): Brevitas takes
theta from the zero-centred weights and the A2Q+ radius for both methods; here "a2q" projects
|v| onto C and "a2q+" thresholds the positive and negative parts separately, each onto C (the
budgets A2QConfig enforces). Brevitas clamps in float with a 0.5 round-to-nearest margin; here
the room is an integer and the clamp follows the rounding. Brevitas has no outer register.

The limits are integers and rounding is monotone, so clamping after rounding equals rounding
the clamped value, and every (channel, tile) ends within its budget exactly; `verify` re-checks
that on the final integers. A2QConfig's module docstring proves why these budgets rule out
overflow for every N-bit input.
"""

from __future__ import annotations

import torch

from stamp_sim.quant.a2q import A2QConfig

__all__ = ["AxeClamp", "check_budget", "l1_ball_threshold"]


def l1_ball_threshold(mag: torch.Tensor, radius: int) -> torch.Tensor:
    """theta >= 0 with sum_k max(mag_k - theta, 0) = radius, per row (0 where already inside).

    mag : (R, L) non-negative floats; radius : int >= 0. Returns (R,) in mag's dtype.
    Duchi et al. 2008, "Efficient Projections onto the L1-Ball": sort descending, the largest
    rho with u_rho > (cumsum_rho - radius) / rho, theta = (cumsum_rho - radius) / rho.
    """
    srt = torch.sort(mag, dim=-1, descending=True).values
    csum = torch.cumsum(srt, dim=-1)
    j = torch.arange(1, mag.shape[-1] + 1, device=mag.device, dtype=mag.dtype)
    active = srt * j > csum - radius
    rho = active.shape[-1] - torch.argmax(active.flip(-1).to(torch.uint8), dim=-1)  # last active + 1
    top = csum.gather(-1, (rho - 1).unsqueeze(-1)).squeeze(-1)
    theta = (top - radius) / rho.to(mag.dtype)
    return torch.where(csum[..., -1] > radius, theta.clamp(min=0), torch.zeros_like(theta))


def _min_acc_bits(config: A2QConfig) -> int:
    """Smallest register width whose budget is at least 1 (a layer that can keep one code)."""
    return next((p for p in range(2, 65) if config.budget(p) >= 1), 65)


def check_budget(config, bits: int, symmetric: bool, granularity: str, k: int) -> None:
    """ValueError unless `config` can be met: an A2QConfig, symmetric per-channel, budget >= 1.

    k : the layer's dot length (in_features). The refusal names K, the input bits and the
    smallest accumulator width with a budget of at least one code.
    """
    if not isinstance(config, A2QConfig):
        raise ValueError(f"budget={config!r} is not an A2QConfig; allowed: None or A2QConfig")
    if not symmetric:
        raise ValueError("budget needs symmetric=True (zero point 0, codes = the integers summed); got False")
    if granularity != "per-channel":
        raise ValueError(f"budget needs granularity='per-channel'; got {granularity!r}; allowed: per-channel")
    if config.w_bits != bits:
        raise ValueError(f"budget.w_bits={config.w_bits} differs from bits={bits}; allowed: equal widths")
    sign = "signed" if config.x_signed else "unsigned"
    widths = [("acc_bits", config.acc_bits)] + ([("outer_bits", config.outer_bits)] if config.outer_bits else [])
    for field, p in widths:
        if config.budget(p) < 1:
            raise ValueError(
                f"budget.{field}={p} leaves an L1 budget of {config.budget(p)} codes for K={k} in-features at "
                f"{config.x_bits}-bit {sign} inputs ({config.method}): the layer would be all zeros; "
                f"allowed: {field} >= {_min_acc_bits(config)}"
            )


class AxeClamp:
    """Running (channel, tile) L1 sums and the soft-threshold + clamp applied before rounding.

    config : A2QConfig (checked by check_budget); v0 : (out, K) original weights in code units,
    w / scale, from which the thresholds are fixed; qmax : the quantizer's largest code.
    Column j below is an original in-feature index (any processing order, act-order included).
    """

    def __init__(self, config: A2QConfig, v0: torch.Tensor, qmax: int):
        out, k = v0.shape
        self.config, self.qmax, self.k = config, int(qmax), k
        self.tile = config.tile if config.tile is not None else k
        n_tiles = -(-k // self.tile)
        self.split = config.method == "a2q+"
        self.c_in = config.budget(config.acc_bits)
        self.c_out = None if config.outer_bits is None else config.budget(config.outer_bits)
        pad = torch.zeros(out, n_tiles * self.tile - k, dtype=v0.dtype, device=v0.device)
        tiles = torch.cat([v0, pad], dim=1).reshape(out, n_tiles, self.tile)
        parts = (tiles.clamp(min=0), (-tiles).clamp(min=0)) if self.split else (tiles.abs(),)
        thetas = [l1_ball_threshold(p, self.c_in) for p in parts]  # each (out, n_tiles)
        if self.c_out is not None:  # the outer budget's threshold over the whole row, if larger
            rows = [p.reshape(out, -1) for p in parts]
            thetas = [t.maximum(l1_ball_threshold(r, self.c_out).unsqueeze(1)) for t, r in zip(thetas, rows)]
        self.theta_pos, self.theta_neg = thetas[0], thetas[-1]
        self.pos = torch.zeros(out, n_tiles, dtype=torch.int64, device=v0.device)
        self.neg = torch.zeros_like(self.pos)

    def _room(self, pos: torch.Tensor, neg: torch.Tensor, budget: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(room up, room down) >= 0 of codes left under `budget` given the running sums."""
        if self.split:
            return budget - pos, budget - neg
        left = budget - pos - neg
        return left, left

    def codes(self, v: torch.Tensor, j: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(codes, thresholded v), each (out,), for column j from values v (out,) in code units.

        Records the codes in the running sums.
        """
        b = j // self.tile
        theta = torch.where(v >= 0, self.theta_pos[:, b], self.theta_neg[:, b])
        v = torch.sign(v) * (v.abs() - theta).clamp(min=0)
        up, down = self._room(self.pos[:, b], self.neg[:, b], self.c_in)
        if self.c_out is not None:
            up_o, down_o = self._room(self.pos.sum(1), self.neg.sum(1), self.c_out)
            up, down = up.minimum(up_o), down.minimum(down_o)
        up, down = up.clamp(0, self.qmax), down.clamp(0, self.qmax)  # small ints: exact in any float
        code = torch.round(v).clamp(-down.to(v.dtype), up.to(v.dtype))
        ci = code.to(torch.int64)
        self.pos[:, b] += ci.clamp(min=0)
        self.neg[:, b] += (-ci).clamp(min=0)
        return code, v

    def verify(self, q: torch.Tensor) -> None:
        """RuntimeError unless the final codes q (out, K) meet every budget (integer arithmetic)."""
        qi = q.to(torch.int64)
        out = qi.shape[0]
        n_tiles = self.pos.shape[1]
        pad = torch.zeros(out, n_tiles * self.tile - self.k, dtype=torch.int64, device=qi.device)
        tiles = torch.cat([qi, pad], dim=1).reshape(out, n_tiles, self.tile)
        checks = [(tiles, self.c_in, "acc_bits")]
        if self.c_out is not None:
            checks.append((qi.unsqueeze(1), self.c_out, "outer_bits"))
        for t, budget, field in checks:
            pos, neg = t.clamp(min=0).sum(-1), (-t).clamp(min=0).sum(-1)
            used = torch.maximum(pos, neg) if self.split else pos + neg
            if int(used.max()) > budget:
                raise RuntimeError(
                    f"AXE left an L1 of {int(used.max())} > budget {budget} at {field}; this is a bug"
                )
