"""Per-group sensitivity: quantize one group alone, everything else float, and compare.

One forward per (group, candidate) over a single batch that stacks the calibration
windows (scored: KL, logit MSE, layer-output SQNR, delta cross-entropy) and the held-out
evaluation windows (the true perplexity increase the scores are judged against). The
float reference logits and block outputs are computed once (``reference``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from stamp_sim.config import MixedConfig, PrecisionConfig
from stamp_sim.nn import calibration, quantize_model, restore_model
from stamp_sim.sensitivity._groups import LayerGroup
from stamp_sim.sensitivity._replay import capture_block_outputs, replay_blocks

__all__ = ["SCORE_COLUMNS", "Reference", "evaluate_config", "reference", "score_group", "score_groups"]

SCORE_COLUMNS = ("kl", "mse", "sqnr_db", "delta_ce", "ppl", "ppl_increase")


@dataclass
class Reference:
    """The float model's outputs on the stacked batch, computed once.

    ids : (calib + eval windows, tokens) int64 token ids; rows [0, n_calib) are calibration.
    logits : float32 (windows, tokens, vocab) float logits.
    logp_calib, p_calib : float64 log-softmax and softmax of the calibration rows (for KL).
    ce_calib : float next-token cross-entropy on the calibration rows, nats per token.
    ppl_eval : float perplexity on the evaluation rows.
    blocks : captured block outputs (see _replay), for skipping unaffected blocks.
    """

    ids: torch.Tensor
    n_calib: int
    logits: torch.Tensor
    logp_calib: torch.Tensor
    p_calib: torch.Tensor
    ce_calib: float
    ppl_eval: float
    blocks: list

    @property
    def n_eval(self) -> int:
        return self.ids.shape[0] - self.n_calib


def _forward(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits.float()


def _nll(logits: torch.Tensor, ids: torch.Tensor) -> float:
    """Mean next-token negative log-likelihood in nats (positions 0..T-2 predict 1..T-1)."""
    lg = logits[:, :-1].reshape(-1, logits.shape[-1]).double()
    return float(F.cross_entropy(lg, ids[:, 1:].reshape(-1)))


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
    logp = F.log_softmax(logits[:n].double(), dim=-1)
    return Reference(ids, n, logits, logp, logp.exp(), _nll(logits[:n], ids[:n]),
                     math.exp(_nll(logits[n:], ids[n:])), blocks)


class _OutputSqnr:
    """Forward hooks summing signal and noise of quantized layers' outputs (calibration rows).

    noise = (linear(x) - y_q)^2 with x the layer's own input: the group's members read
    inputs that no other quantized layer touched, so linear(x) is the float output.
    """

    def __init__(self, layers: dict, rows: int) -> None:
        self.signal = self.noise = 0.0
        self.rows = rows
        self.handles = [m.register_forward_hook(self._hook) for m in layers.values()]

    def _hook(self, module, args, output) -> None:
        if module.calibrating:
            return
        x = args[0][: self.rows]
        ref = module.linear(x).double()
        self.signal += float(ref.pow(2).sum())
        self.noise += float((ref - output[: self.rows].double()).pow(2).sum())

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        return 10.0 * math.log10(self.signal / self.noise) if self.signal > 0 else -math.inf

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
    lq = F.log_softmax(logits[:n].double(), dim=-1)
    kl = float((ref.p_calib * (ref.logp_calib - lq)).sum(-1).mean())
    mse = float((logits[:n].double() - ref.logits[:n].double()).pow(2).mean())
    ppl = math.exp(_nll(logits[n:], ref.ids[n:]))
    return {
        "kl": kl, "mse": mse, "sqnr_db": probe.sqnr_db, "delta_ce": _nll(logits[:n], ref.ids[:n]) - ref.ce_calib,
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


def evaluate_config(model: nn.Module, ref: Reference, config: PrecisionConfig | MixedConfig) -> dict:
    """Every linear layer (lm_head excepted) at `config`, on the evaluation windows.

    Returns ppl (perplexity), kl (nats, mean over positions, vs float) and top1 (share of
    positions where the argmax agrees with the float model).
    """
    n = ref.n_calib
    try:
        layers = quantize_model(model, config)
        if any(m.needs_calibration for m in layers.values()):
            with calibration(model):
                _forward(model, ref.ids[:n])
        logits = _forward(model, ref.ids[n:])
    finally:
        restore_model(model)
    lp = F.log_softmax(ref.logits[n:].double(), dim=-1)
    lq = F.log_softmax(logits.double(), dim=-1)
    return {
        "ppl": math.exp(_nll(logits, ref.ids[n:])),
        "kl": float((lp.exp() * (lp - lq)).sum(-1).mean()),
        "top1": float((logits.argmax(-1) == ref.logits[n:].argmax(-1)).double().mean()),
    }
