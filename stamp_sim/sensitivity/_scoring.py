"""Per-group sensitivity: quantize one group alone, everything else float, and compare.

One forward per (group, candidate) over a single batch that stacks the calibration
windows (scored: KL, logit MSE, layer-output SQNR, delta cross-entropy) and the held-out
evaluation windows (the true perplexity increase the scores are judged against). The
float reference logits and block outputs are computed once (``reference``). Every
number is computed by ``stamp_sim.metrics``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from stamp_sim import metrics
from stamp_sim.config import PrecisionConfig
from stamp_sim.nn import calibrate_weights, calibration, quantize_model, restore_model
from stamp_sim.sensitivity._groups import LayerGroup
from stamp_sim.nn.replay import capture_block_outputs, replay_blocks

__all__ = ["Reference", "reference", "score_group", "score_groups"]


@dataclass
class Reference:
    """The float model's outputs on the stacked batch, computed once.

    ids : (calib + eval windows, tokens) int64 token ids; rows [0, n_calib) are calibration.
    logits : float32 (windows, tokens, vocab) float logits.
    logp_calib : float64 log-probabilities of the calibration rows (metrics.log_probs, for KL).
    ce_calib : float next-token cross-entropy on the calibration rows, nats per token.
    ppl_eval : float perplexity on the evaluation rows.
    blocks : captured block outputs (see stamp_sim.nn.replay), for skipping unaffected blocks.
    """

    ids: torch.Tensor
    n_calib: int
    logits: torch.Tensor
    logp_calib: torch.Tensor
    ce_calib: float
    ppl_eval: float
    blocks: list

    @property
    def n_eval(self) -> int:
        return self.ids.shape[0] - self.n_calib


def _forward(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits.float()


def reference(model: nn.Module, calib_ids: torch.Tensor, eval_ids: torch.Tensor) -> Reference:
    """Float outputs for calibration windows (n_c, T) and evaluation windows (n_e, T)."""
    if calib_ids.shape[0] < 1 or eval_ids.shape[0] < 1:
        raise ValueError(f"need at least one calibration and one evaluation window, got "
                         f"{calib_ids.shape[0]} and {eval_ids.shape[0]}")
    if calib_ids.shape[1] != eval_ids.shape[1]:
        raise ValueError(f"calibration windows have {calib_ids.shape[1]} tokens, evaluation windows "
                         f"{eval_ids.shape[1]}; allowed: the same length")
    restore_model(model)
    ids = torch.cat([calib_ids, eval_ids]).long()
    n = calib_ids.shape[0]
    box = {}
    blocks = capture_block_outputs(model, lambda: box.setdefault("logits", _forward(model, ids)))
    logits = box["logits"] if "logits" in box else _forward(model, ids)
    return Reference(ids, n, logits, metrics.log_probs(logits[:n]), metrics.next_token_nll(logits[:n], ids[:n]),
                     math.exp(metrics.next_token_nll(logits[n:], ids[n:])), blocks)


class _OutputSqnr:
    """Forward hooks summing signal and noise of quantized layers' outputs (calibration rows).

    noise = (linear(x) - y_q)^2 with x the layer's own input: the group's members read
    inputs that no other quantized layer touched, so linear(x) is the float output.
    """

    def __init__(self, layers: dict, rows: int) -> None:
        self.sums = metrics.SignalNoise()
        self.rows = rows
        self.handles = [m.register_forward_hook(self._hook) for m in layers.values()]

    def _hook(self, module, args, output) -> None:
        if module.calibrating:
            return
        x = args[0][: self.rows]
        self.sums.add(module.linear(x), output[: self.rows])

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def score_group(model: nn.Module, ref: Reference, group: LayerGroup, config: PrecisionConfig) -> dict:
    """Quantize `group` alone at `config` and compare with the float reference.

    Returns kl (nats, mean over calibration positions of KL(P_fp || P_q)), mse (mean squared
    logit difference, calibration), sqnr_db (dB, the group's layer outputs, calibration),
    delta_ce (nats per token, calibration), ppl and ppl_increase (evaluation windows,
    perplexity points) and seconds (wall time of this score).
    """
    start = time.perf_counter()
    n = ref.n_calib
    try:
        layers = quantize_model(model, config, include=list(group.layers))
        calibrate_weights(model, layers, [{"input_ids": ref.ids[:n]}], lambda b: _forward(model, b["input_ids"]))
        probe = _OutputSqnr(layers, n)
        try:
            with replay_blocks(model, ref.blocks, max(group.block, 0)):
                if any(m.needs_calibration for m in layers.values()):
                    with calibration(model):
                        _forward(model, ref.ids[:n])
                logits = _forward(model, ref.ids)
        finally:
            probe.remove()
    finally:
        restore_model(model)
    ppl = math.exp(metrics.next_token_nll(logits[n:], ref.ids[n:]))
    return {
        "kl": metrics.kl_divergence(ref.logits[:n], logits[:n], log_p=ref.logp_calib),
        "mse": metrics.mean_squared_error(ref.logits[:n], logits[:n]),
        "sqnr_db": probe.sums.sqnr_db,
        "delta_ce": metrics.next_token_nll(logits[:n], ref.ids[:n]) - ref.ce_calib,
        "ppl": ppl, "ppl_increase": ppl - ref.ppl_eval, "seconds": time.perf_counter() - start,
    }


def score_groups(model: nn.Module, ref: Reference, groups: list[LayerGroup], candidates: list[PrecisionConfig],
                 progress=None) -> pd.DataFrame:
    """One row per (group, candidate): group, kind, block, layers, config, then score_group's fields."""
    rows = []
    for group in groups:
        for cfg in candidates:
            if progress is not None:
                progress.set_postfix_str(f"{group.name} {cfg.name}", refresh=False)
            row = score_group(model, ref, group, cfg)
            rows.append({"group": group.name, "kind": group.kind, "block": group.block,
                         "layers": " ".join(group.layers), "config": cfg.name, **row})
            if progress is not None:
                progress.update(1)
    return pd.DataFrame(rows)
