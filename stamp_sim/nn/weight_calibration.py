"""Weights from calibration data: GPTQ, GPFQ and AXE, layer by layer in model order.

As the reference GPTQ does (its "true sequential" order), the layers are visited in
execution order, a group of layers that read the same input (q/k/v, gate/up) at a time.
Each group's Hessian H = sum (X R)^T (X R) comes from its inputs on the calibration
windows *with every earlier layer's weights already quantized* and activations in float
(``weights_only``: the reference's setting, in which QuaRot adds activation quantizers only
after GPTQ), R the layer's feature transform (the weight quantized is R^T W); each
window's first token (the attention sink) counts ``gptq_sink_weight`` times (see
``layer_hessian``).
Blocks already finished are not recomputed: their outputs on each window are captured
once and replayed (``stamp_sim.nn.replay``), and a forward stops as soon as the group's
input is seen, so the whole model costs about two forward passes per block.

Quantized weights are cached under ``cache_dir()/weights`` by a key of the model's
weights, the weight side of the config and the calibration inputs, so reruns, resumes and
configs that differ only in their activations (a STaMP config and its baseline) reuse them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence

import torch

from stamp_sim.models.cache import cache_dir
from stamp_sim.models.workload import block_index, input_group
from stamp_sim.nn.kv_cache import kv_quantizers
from stamp_sim.nn.linear import StampLinear
from stamp_sim.nn.replay import block_list, replay_blocks
from stamp_sim.quant import QuantizedTensor
from stamp_sim.nn.integer import accumulator_budget
from stamp_sim.quant.a2q import A2QConfig

__all__ = ["WEIGHT_FIELDS", "calibrate_weights", "layer_hessian", "weights_key", "weights_only", "weights_path"]


class _Seen(Exception):
    """Raised by a capture hook: the rest of the forward is not needed."""


def _groups(layers: dict) -> list[list[str]]:
    """Layer names grouped by shared input, in the model's (execution) order."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name in layers:
        groups.setdefault(input_group(name), []).append(name)
    return list(groups.values())


def calibration_steps(layers: dict) -> int:
    """How many times calibrate_weights updates its progress bar on `layers` (its layer groups
    that need weight calibration); 0 when every layer rounds to nearest."""
    return len(_groups({n: m for n, m in layers.items() if m.needs_weight_calibration}))


class _Stopper:
    """Runs `forward` on each batch up to a hook that raises _Seen, replaying finished blocks."""

    def __init__(self, model, batches: Sequence[dict], forward: Callable[[dict], object]) -> None:
        self.model, self.batches, self.forward = model, list(batches), forward
        self.blocks = block_list(model)
        self.previous: list = [None] * len(self.batches)  # output of the last finished block, per batch
        self.finished = 0  # blocks whose outputs are in `previous`

    def run(self) -> None:
        for i, batch in enumerate(self.batches):
            replayed = [self.previous[i]] * self.finished
            try:
                with torch.no_grad(), replay_blocks(self.model, replayed, self.finished):
                    self.forward(batch)
            except _Seen:
                pass

    def finish_block(self, index: int) -> None:
        """Capture block `index`'s outputs (its layers are final) for the next blocks to start from."""
        if self.blocks is None or index != self.finished:
            return
        outputs: list = []

        def keep(module, args, output):
            outputs.append(output)
            raise _Seen

        handle = self.blocks[index].register_forward_hook(keep)
        try:
            self.run()
        finally:
            handle.remove()
        self.previous, self.finished = outputs, index + 1


def layer_hessian(layer, x: torch.Tensor) -> torch.Tensor:
    """The Hessian term of one input x (batch, tokens, in): sum of (x R)^T (x R) over rows,
    each window's first token counted ``gptq_sink_weight`` times (float64, in x in).

    Why the first token counts more: it is the attention sink, whose value every later
    token reads, so an error there reaches every position; GPTQ weighting it like any one
    token made v_proj's GPTQ weights worse than round to nearest on SmolLM2-135M (perplexity
    104 against 57; with weight 64, 53; every layer: 102 -> 48).
    """
    k = layer.linear.in_features
    xr = layer.feature.transform_activations(x.detach().double().cpu()).reshape(-1, x.shape[-2], k)
    rows = xr.reshape(-1, k)
    hessian = rows.T @ rows
    extra = float(layer.config.gptq_sink_weight) - 1.0
    if extra and xr.shape[1] > 1:
        first = xr[:, 0, :]
        hessian += extra * (first.T @ first)
    return hessian


def _hessian(stopper: _Stopper, layer) -> torch.Tensor:
    """layer_hessian summed over the calibration windows, as the layer sees them now."""
    k = layer.linear.in_features
    hessian = torch.zeros(k, k, dtype=torch.float64)

    def capture(module, args):
        x = args[0] if args[0].dim() == 3 else args[0].unsqueeze(0)
        hessian.add_(layer_hessian(module, x))
        raise _Seen

    handle = layer.register_forward_pre_hook(capture)
    try:
        stopper.run()
    finally:
        handle.remove()
    return hessian


def _budget(cfg) -> A2QConfig | None:
    """AXE's accumulator budget (weight_l1 with gptq / gpfq), None without one."""
    return None if cfg.weight_l1 == "none" else accumulator_budget(cfg)


def quantize_from_hessian(layer, hessian: torch.Tensor) -> QuantizedTensor:
    """The layer's transformed weight quantized by its config's weight_method against `hessian`."""
    return _solve(layer.config, layer.transformed_weight(), hessian, layer.layer_name)


def quantize_group_from_hessian(group: list, hessian: torch.Tensor) -> list[QuantizedTensor]:
    """quantize_from_hessian of each layer of `group` (layers that read the same input, so
    share `hessian`), solved as one weight when their configs' weight sides agree.

    Why one weight: GPTQ / GPFQ treat output channels independently (per-channel and per-group
    scales are per row; act-order depends on the Hessian alone), so stacking q, k and v's rows
    gives each row the same codes as its own solve, with one factorization of H instead of three
    and a third of the Python column loop. AXE's budgets are kept per layer.
    """
    first = group[0].config
    fused = len(group) > 1 and _budget(first) is None and all(
        {k: getattr(m.config, k) for k in WEIGHT_FIELDS} == {k: getattr(first, k) for k in WEIGHT_FIELDS}
        for m in group)
    if not fused:
        return [quantize_from_hessian(m, hessian) for m in group]
    weights = [m.transformed_weight() for m in group]
    qt = _solve(first, torch.cat(weights), hessian, "+".join(m.layer_name for m in group))
    return _split_rows(qt, [w.shape[0] for w in weights])


def _split_rows(qt: QuantizedTensor, rows: list[int]) -> list[QuantizedTensor]:
    """Cut a QuantizedTensor of stacked weights back into one per weight (`rows` out-channels each)."""
    k = qt.shape[1]
    parts = zip(torch.split(qt.q, rows), torch.split(qt.scale, rows), torch.split(qt.zero_point, rows))
    return [QuantizedTensor(q.contiguous(), s.contiguous(), z.contiguous(), qt.bits, torch.Size((n, k)), qt.symmetric)
            for (q, s, z), n in zip(parts, rows)]


def _solve(cfg, w: torch.Tensor, hessian: torch.Tensor, name: str) -> QuantizedTensor:
    from stamp_sim.quant import gpfq_quantize, gptq_quantize

    # float32 as the reference GPTQ runs its column loop (the Hessian's factorization stays float64)
    w = w.float()
    common = dict(bits=cfg.w_bits, granularity=cfg.w_granularity, group_size=cfg.w_group_size,
                  symmetric=cfg.w_symmetric, clip_ratio=cfg.w_clip, damp=cfg.gptq_damp, budget=_budget(cfg))
    try:
        if cfg.weight_method == "gptq":
            return gptq_quantize(w, hessian, act_order=cfg.gptq_act_order, **common)
        return gpfq_quantize(w, hessian, **common)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _budget_fields(cfg) -> tuple | None:
    """The accumulator fields the weights depend on: none without an L1 budget (GPTQ alone
    gives the same weights for every register), the budgets' widths and tile with one."""
    budget = _budget(cfg)
    return None if budget is None else (budget.acc_bits, budget.tile, budget.outer_bits, budget.x_bits)


#: The config fields a layer's calibrated weights depend on (with the transformed weight R^T W,
#: which carries the feature transform, and AXE's accumulator budget). Activation bits, the
#: sequence transform and the K / V cache are not among them: calibration forwards run the
#: activations in float (``weights_only``), so a STaMP config and its baseline share weights.
WEIGHT_FIELDS = ("w_bits", "w_granularity", "w_group_size", "w_symmetric", "w_clip", "weight_l1", "weight_method",
                 "gptq_damp", "gptq_act_order", "gptq_sink_weight", "feature_transform")


def weights_key(model, layers: dict, batches: Sequence[dict]) -> str:
    """Hex key of what the calibrated weights depend on: every layer's weight-side config
    (WEIGHT_FIELDS, the AXE budget) and transformed float weight R^T W, and the calibration
    inputs."""
    h = hashlib.sha256()
    for name, layer in layers.items():
        fields = layer.config.to_dict()
        cfg = {k: fields[k] for k in WEIGHT_FIELDS}
        cfg["accumulator"] = _budget_fields(layer.config)  # what the weights depend on, no more
        h.update(name.encode())
        h.update(json.dumps(cfg, sort_keys=True, default=str).encode())
        h.update(layer.transformed_weight().detach().cpu().float().numpy().tobytes())
    for batch in batches:
        for key in sorted(batch):
            h.update(key.encode())
            h.update(batch[key].detach().cpu().numpy().tobytes())
    return h.hexdigest()[:32]


def _load(path, layers: dict) -> bool:
    try:
        saved = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError):
        return False  # a missing or unreadable cache entry is recomputed
    if set(saved) != set(layers):
        return False
    for name, fields in saved.items():
        layers[name].set_quantized_weight(QuantizedTensor(
            fields["q"].to(fields["scale"].dtype), fields["scale"], fields["zero_point"], fields["bits"],
            torch.Size(fields["shape"]), bool(fields["symmetric"])))
    return True


def _codes(q: torch.Tensor) -> torch.Tensor:
    """Integer-valued codes in the narrowest integer type that holds them (8x smaller than float64)."""
    lo, hi = (int(q.min()), int(q.max())) if q.numel() else (0, 0)
    dtype = torch.int8 if -128 <= lo and hi <= 127 else (torch.int16 if -(1 << 15) <= lo and hi < (1 << 15)
                                                         else torch.int32)
    return q.to(dtype)


def _save(path, weights: dict[str, QuantizedTensor]) -> None:
    # Codes as integers, scales and zero points in their own dtype: a reload dequantizes to
    # exactly the weights computed (about 110 MB for SmolLM2-135M instead of 850 MB).
    payload = {n: {"q": _codes(qt.q), "scale": qt.scale, "zero_point": qt.zero_point, "bits": qt.bits,
                   "shape": list(qt.shape), "symmetric": qt.symmetric} for n, qt in weights.items()}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{id(buffer)}")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)  # atomic: a reader sees no entry or the whole one


@contextlib.contextmanager
def weights_only(model) -> Iterator[None]:
    """Within this block every StampLinear of `model` runs its quantized weight on float
    activations (no activation quantizer, no sequence transform, no statistics) and the K / V
    cache stays float: the reference GPTQ's calibration (QuaRot quantizes activations only
    after GPTQ), and what lets configs that differ only in activations share weights."""
    layers = [m for m in model.modules() if isinstance(m, StampLinear)]
    kv = kv_quantizers(model)
    saved = [(m.weights_only, m.record_stats) for m in layers]
    for m in layers:
        m.weights_only, m.record_stats = True, False
    for q in kv:
        q.active = False
    try:
        yield
    finally:
        for m, (only, record) in zip(layers, saved):
            m.weights_only, m.record_stats = only, record
        for q in kv:
            q.active = True


def weights_path(key: str):
    """Where the calibrated weights of cache key `key` are stored (a .pt file, maybe absent)."""
    return cache_dir() / "weights" / f"{key}.pt"


@torch.no_grad()
def calibrate_weights(model, layers: dict, batches: Sequence[dict], forward: Callable[[dict], object],
                      progress=None, use_cache: bool = True, timings: dict | None = None,
                      key: str | None = None) -> str:
    """Quantize the weights of every layer of `layers` ({name: StampLinear}) that needs
    calibration (weight_method gptq / gpfq), in model order; returns the cache key.

    batches : calibration inputs (keyword dicts); forward(batch) runs the model on one.
    progress : a tqdm bar updated once per layer group.
    timings : filled, when given, with where the time went (seconds): "forwards" (the
        calibration forwards and Hessians), "solve" (GPTQ / GPFQ), "cache" (key, load, save),
        and "cache_hit" (bool).
    key : weights_key(model, layers, batches) when the caller has it already.
    """
    todo = {n: m for n, m in layers.items() if m.needs_weight_calibration}
    if not todo:
        return ""
    spent = {"forwards": 0.0, "solve": 0.0, "cache": 0.0, "cache_hit": False}
    start = time.perf_counter()
    key = key or weights_key(model, layers, batches)
    path = weights_path(key)
    spent["cache_hit"] = use_cache and _load(path, todo)
    spent["cache"] += time.perf_counter() - start
    if not spent["cache_hit"]:
        with weights_only(model):
            _calibrate(model, todo, batches, forward, progress, spent)
        if use_cache:
            start = time.perf_counter()
            _save(path, {n: m.calibrated_weight for n, m in todo.items()})
            spent["cache"] += time.perf_counter() - start
    if timings is not None:
        timings.update(spent)
    return key


def _calibrate(model, todo: dict, batches, forward, progress, spent: dict) -> None:
    stopper = _Stopper(model, batches, forward)
    for group in _groups(todo):
        start = time.perf_counter()
        block = block_index(group[0])
        for earlier in range(stopper.finished, max(block, 0)):
            stopper.finish_block(earlier)
        hessian = _hessian(stopper, todo[group[0]])
        middle = time.perf_counter()
        for name, qt in zip(group, quantize_group_from_hessian([todo[n] for n in group], hessian)):
            todo[name].set_quantized_weight(qt)
        spent["forwards"] += middle - start
        spent["solve"] += time.perf_counter() - middle
        if progress is not None:
            progress.update(1)
