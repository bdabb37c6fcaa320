"""The results schema: every column stamp-sim writes, declared once.

Each ``Column`` says what a column is called, its unit, where its value comes from
and how the report shows it. ``results.csv``, ``layers.csv``, the report's tables and
words (``stamp_sim.report.columns``), the ``run`` command's summary and the ``cost``
command's table are all derived from these declarations. Cost columns name the
``hw_models`` terms they sum and the unit those terms are in, so adding an energy
term to the cost model is one line here (and a test fails until it is added).

Column names and meanings are a contract (ARCHITECTURE.md): extend, never rename.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from stamp_sim.hw_models import units

__all__ = [
    "COST_COLUMNS",
    "EXACT_ACC_BITS",
    "FLOAT_BITS",
    "LAYERS_COLUMNS",
    "PRICE_COLUMNS",
    "RESULTS_COLUMNS",
    "RUN_SUMMARY",
    "TEXT_COLUMNS",
    "Column",
    "Fmt",
    "Source",
    "column",
    "convert",
    "described_columns",
]

#: Width in bits reported for a float (unquantized) operand.
FLOAT_BITS = 16
#: What an exact accumulator (None or mode "exact") is reported and priced as: the 32-bit
#: register integer NPUs and tensor cores accumulate into.
EXACT_ACC_BITS = 32


class Source(str, enum.Enum):
    """Where a column's value comes from."""

    RUN = "run"  # the run's options (model, tokens, windows)
    CONFIG = "config"  # the PrecisionConfig (widths, transforms, accumulator)
    ACCURACY = "accuracy"  # stamp_sim.metrics on the evaluation windows, against the float model
    LAYER_STATS = "layer stats"  # StampLinear's running statistics during evaluation
    INTEGER = "integer check"  # the layers run again through kernels.int_matmul, exact accumulator
    PREFILL = "hw_models prefill"  # hw_models.totals, prefill phase, summed over layers
    DECODE = "hw_models decode"  # hw_models.totals, decode phase (one token), summed over layers
    PRICE = "hw_models price"  # hw_models.price, one layer
    KV_CACHE = "hw_models kv cache"  # hw_models.kv_cache_cost: the K / V cache, priced apart from the layers
    KV_STATS = "kv stats"  # the K / V quantizers' running statistics during evaluation
    FORWARD = "whole forward"  # stamp_sim.forward_cost: a decoder's whole forward (lm_head, attention, KV cache ...)


class Fmt(str, enum.Enum):
    """How the report prints a column (stamp_sim.report.columns holds the formatters)."""

    TEXT = "text"
    BITS = "bits"  # whole widths as integers, averages with two decimals
    SIG3 = "sig3"
    SIG4 = "sig4"
    FIXED1 = "fixed1"
    FIXED4 = "fixed4"
    PERCENT = "percent"
    RATE = "rate"


#: (from, to) -> conversion: the cost model's units to the reported ones (hw_models.units).
_CONVERSIONS = {
    ("pJ", "mJ"): units.pj_to_mj,
    ("s", "ms"): units.s_to_ms,
    ("s", "us"): units.s_to_us,
    ("bytes", "MB"): units.bytes_to_mb,
}


def convert(value, unit_from: str, unit_to: str):
    """`value` (scalar or array) converted from `unit_from` to `unit_to` (e.g. "pJ" -> "mJ")."""
    if unit_from == unit_to:
        return value
    try:
        return _CONVERSIONS[(unit_from, unit_to)](value)
    except KeyError:
        known = ", ".join(f"{a}->{b}" for a, b in sorted(_CONVERSIONS))
        raise ValueError(f"no conversion from {unit_from!r} to {unit_to!r}; allowed: {known}") from None


@dataclass(frozen=True)
class Column:
    """One column of a table stamp-sim writes.

    name : the CSV column. unit : its unit ("" for none). source : where it comes from.
    description : one sentence for a reader of the CSV.
    label, header : how the report names it in prose and in a table header ("" = not a
        metric the report formats). higher_is_better : direction (None: neither).
    terms, term_unit : for cost columns, the hw_models columns summed and their unit.
    """

    name: str
    unit: str
    source: Source
    description: str
    label: str = ""
    header: str = ""
    higher_is_better: bool | None = None
    fmt: Fmt = Fmt.SIG4
    terms: tuple[str, ...] = ()
    term_unit: str = ""

    def from_totals(self, totals_row) -> float:
        """This cost column's value from one row of ``hw_models.totals`` (any mapping)."""
        return float(convert(sum(float(totals_row[t]) for t in self.terms), self.term_unit, self.unit))


def _c(name, unit, source, description, label="", header="", higher=None, fmt=Fmt.SIG4, terms=(), term_unit=""):
    return Column(name, unit, source, description, label, header or (name if label else ""), higher, fmt,
                  tuple(terms), term_unit)


_S = Source
_ENERGY = "pJ"

#: results.csv: one row per (config, hardware profile), in this order.
RESULTS_COLUMNS: tuple[Column, ...] = (
    _c("model", "", _S.RUN, "model evaluated", "model", fmt=Fmt.TEXT),
    _c("config", "", _S.CONFIG, "precision config name", "config", fmt=Fmt.TEXT),
    _c("w_bits", "bits", _S.CONFIG, f"weight width ({FLOAT_BITS} = float); MAC-weighted mean for a mixed config",
       "weight bits", "w bits", fmt=Fmt.BITS),
    _c("a_bits", "bits", _S.CONFIG, f"low activation width ({FLOAT_BITS} = float)", "activation bits", "a bits",
       fmt=Fmt.BITS),
    _c("acc_bits", "bits", _S.CONFIG, f"inner accumulator width ({EXACT_ACC_BITS} for an exact accumulator)",
       "accumulator bits", "acc bits", fmt=Fmt.BITS),
    _c("acc", "", _S.CONFIG, "accumulator in words (width, mode, tile, outer register)", "accumulator",
       "accumulator", fmt=Fmt.TEXT),
    _c("acc_mode", "", _S.CONFIG, "accumulator mode: wrap, saturate or exact", fmt=Fmt.TEXT),
    _c("acc_tile", "", _S.CONFIG, "K-tile of a multi-stage accumulator (blank: one stage)"),
    _c("weight_method", "", _S.CONFIG, "weight quantizer: rtn, gptq or gpfq (with weight_l1: AXE)", fmt=Fmt.TEXT),
    _c("weight_l1", "", _S.CONFIG, "accumulator-aware L1 bound on the integer weights: none, a2q, a2q+",
       fmt=Fmt.TEXT),
    _c("seq_transform", "", _S.CONFIG, "token-axis (STaMP) transform", fmt=Fmt.TEXT),
    _c("feature_transform", "", _S.CONFIG, "feature-axis transform", fmt=Fmt.TEXT),
    _c("avg_a_bits", "bits", _S.LAYER_STATS, "average activation width over every row the layers quantized",
       "average activation bits", "avg a bits", fmt=Fmt.BITS),
    _c("lm_head_bits", "bits", _S.CONFIG, f"output projection's weight width ({FLOAT_BITS} = float; priced in the "
       "whole-forward columns)", "lm_head bits", "lm_head bits", fmt=Fmt.BITS),
    _c("kv_bits", "bits", _S.CONFIG, f"low K / V cache width ({FLOAT_BITS} = float)", "KV cache bits", "kv bits",
       fmt=Fmt.BITS),
    _c("avg_kv_bits", "bits", _S.KV_STATS, f"average K / V cache width over every cached row ({FLOAT_BITS} = float)",
       "average KV cache bits", "avg kv bits", fmt=Fmt.BITS),
    _c("kv_sqnr_db", "dB", _S.KV_STATS, "mean over attention blocks of the K / V cache SQNR (blank: float cache)",
       "mean KV cache SQNR", "KV SQNR (dB)", True, Fmt.FIXED1),
    _c("ppl", "", _S.ACCURACY, "perplexity on the evaluation windows (causal LMs)", "perplexity", "ppl", False),
    _c("kl", "nats", _S.ACCURACY, "KL(P_float || P_quantized) of next-token distributions, mean per position",
       "KL divergence from the float model", "KL (nats)", False, Fmt.SIG3),
    _c("top1", "", _S.ACCURACY, "share of positions whose argmax agrees with the float model",
       "top-1 agreement with the float model", "top-1", True, Fmt.PERCENT),
    _c("sqnr_db", "dB", _S.LAYER_STATS, "mean over layers of the activation SQNR",
       "mean activation SQNR", "SQNR (dB)", True, Fmt.FIXED1),
    _c("out_sqnr_db", "dB", _S.ACCURACY, "SQNR of the last hidden state against the float model (encoders, ViT)",
       "output SQNR", "out SQNR (dB)", True, Fmt.FIXED1),
    _c("cosine", "", _S.ACCURACY, "mean cosine similarity of the last hidden state to the float model",
       "cosine similarity to the float output", "cosine", True, Fmt.FIXED4),
    _c("overflow_rate", "", _S.ACCURACY, "share of integer GEMM outputs, over every evaluation window, whose "
       "accumulation overflowed at least once (layers that provably cannot overflow count with none)",
       "accumulator overflow rate", "overflow rate", False, Fmt.RATE),
    _c("int_path_layers", "", _S.ACCURACY, "layers evaluated through the integer kernels (their accumulator can "
       "overflow); the others ran the fake-quant path, equal up to float rounding"),
    _c("int_max_rel_err", "", _S.INTEGER, "largest |integer (exact) - fake-quant| over max |fake-quant| of a layer"),
    _c("int_layers", "", _S.INTEGER, "layers in that agreement check"),
    _c("tokens", "", _S.RUN, "tokens per sequence each linear layer sees (prefill)"),
    _c("windows", "", _S.RUN, "evaluation windows (or images)"),
    _c("hw", "", _S.RUN, "hardware profile", "hardware profile", fmt=Fmt.TEXT),
    _c("energy_mj", "mJ", _S.PREFILL, "prefill energy: hw_models' energy_pj, the sum of every energy term",
       "energy", "energy (mJ)", False, Fmt.SIG3, ("energy_pj",), _ENERGY),
    _c("latency_ms", "ms", _S.PREFILL, "prefill latency, MAC and vector time added (the upper end)",
       "latency", "latency (ms)", False, Fmt.SIG3, ("latency_s",), "s"),
    _c("latency_overlap_ms", "ms", _S.PREFILL, "prefill latency, vector unit pipelined with the MACs (the lower end)",
       "overlapped latency", "overlapped (ms)", False, Fmt.SIG3, ("latency_overlap_s",), "s"),
    _c("weight_mb", "MB", _S.PREFILL, "weight bytes stored (scales and zero points included)",
       "weight memory", "weights (MB)", False, Fmt.SIG3, ("weight_bytes",), "bytes"),
    _c("act_mb", "MB", _S.PREFILL, "input activation bytes at their quantized widths",
       "activation memory", "acts (MB)", False, Fmt.SIG3, ("act_bytes",), "bytes"),
    _c("e_mac_mj", "mJ", _S.PREFILL, "multiplier energy", "MAC energy", "MAC (mJ)", False, Fmt.SIG3,
       ("mac_pj",), _ENERGY),
    _c("e_acc_mj", "mJ", _S.PREFILL, "accumulator energy", "accumulator energy", "accumulate (mJ)", False, Fmt.SIG3,
       ("accumulate_pj",), _ENERGY),
    _c("e_sram_mj", "mJ", _S.PREFILL, "on-chip SRAM traffic energy", "SRAM energy", "SRAM (mJ)", False, Fmt.SIG3,
       ("sram_pj",), _ENERGY),
    _c("e_dram_mj", "mJ", _S.PREFILL, "DRAM traffic energy", "DRAM energy", "DRAM (mJ)", False, Fmt.SIG3,
       ("dram_pj",), _ENERGY),
    _c("e_transform_mj", "mJ", _S.PREFILL, "sequence and feature transform energy", "transform energy",
       "transform (mJ)", False, Fmt.SIG3, ("seq_transform_pj", "feature_transform_pj"), _ENERGY),
    _c("e_requant_mj", "mJ", _S.PREFILL, "(re)quantization and dequantization energy", "requantization energy",
       "requant (mJ)", False, Fmt.SIG3, ("requant_pj",), _ENERGY),
    _c("memory_bound_share", "", _S.PREFILL, "share of layers whose DRAM time exceeds their compute time"),
    _c("bound", "", _S.PREFILL, "memory if the model's summed DRAM time exceeds its summed compute time, "
       "else compute", fmt=Fmt.TEXT),
    _c("decode_energy_mj", "mJ", _S.DECODE, "energy of one decode step (one token, no sequence transform)",
       "decode energy per token", "decode (mJ/token)", False, Fmt.SIG3, ("energy_pj",), _ENERGY),
    _c("decode_latency_ms", "ms", _S.DECODE, "latency of one decode step", "decode latency per token",
       "decode (ms/token)", False, Fmt.SIG3, ("latency_s",), "s"),
    _c("kv_cache_mb", "MB", _S.KV_CACHE, "K and V of every block at `tokens` tokens, scales included "
       "(blank: no cache); not in weight_mb or act_mb", "KV cache memory", "KV cache (MB)", False, Fmt.SIG3),
    _c("kv_prefill_mj", "mJ", _S.KV_CACHE, "prefill energy of the K / V cache: its DRAM write and its sequence "
       "transform; not in energy_mj (the linear layers)", "KV cache energy", "KV cache (mJ)", False, Fmt.SIG3),
    _c("decode_kv_read_ms", "ms", _S.KV_CACHE, "DRAM time of one decode step reading the whole cache at `tokens` "
       "tokens of context; not in decode_latency_ms"),
    _c("ttft_ms", "ms", _S.FORWARD, "time to first token: the whole forward's prefill of `tokens` tokens (linear "
       "layers, lm_head on the last position, attention, KV cache write, norms; blank: not a decoder)",
       "time to first token", "TTFT (ms)", False, Fmt.SIG3),
    _c("model_prefill_mj", "mJ", _S.FORWARD, "energy of that whole-forward prefill", "whole-model prefill energy",
       "model prefill (mJ)", False, Fmt.SIG3),
    _c("model_decode_ms", "ms", _S.FORWARD, "one whole-forward decode step at a context of `tokens` tokens (the KV "
       "cache read at its width)", "whole-model decode latency per token", "model decode (ms/token)", False, Fmt.SIG3),
    _c("model_tokens_per_s", "tokens/s", _S.FORWARD, "1 / model_decode_ms: tokens generated per second at batch 1",
       "decode speed", "tokens/s", True, Fmt.SIG3),
    _c("model_decode_mj", "mJ", _S.FORWARD, "energy of that decode step (per generated token)",
       "whole-model decode energy per token", "model decode (mJ/token)", False, Fmt.SIG3),
    _c("peak_memory_mb", "MB", _S.FORWARD, "weights (embedding and lm_head included) + KV cache at `tokens` + 1 "
       "tokens + the largest layer's live activations", "peak memory", "peak memory (MB)", False, Fmt.SIG3),
    _c("baseline", "", _S.CONFIG, "the config this one is compared with at a matched budget (blank: none)",
       fmt=Fmt.TEXT),
    _c("baseline_change", "", _S.CONFIG, "what differs from the baseline, field by field", fmt=Fmt.TEXT),
)

#: layers.csv: one row per (config, linear layer), in execution order.
LAYERS_COLUMNS: tuple[Column, ...] = (
    _c("model", "", _S.RUN, "model evaluated", fmt=Fmt.TEXT),
    _c("config", "", _S.CONFIG, "precision config name", fmt=Fmt.TEXT),
    _c("layer", "", _S.LAYER_STATS, "module name", fmt=Fmt.TEXT),
    _c("layer_index", "", _S.LAYER_STATS, "position in execution order"),
    _c("in_features", "", _S.LAYER_STATS, "K"),
    _c("out_features", "", _S.LAYER_STATS, "N"),
    _c("calls", "", _S.LAYER_STATS, "forward calls recorded"),
    _c("act_sqnr_db", "dB", _S.LAYER_STATS, "SQNR of the layer's input after quantization, mapped back",
       "activation SQNR", "act SQNR (dB)", True, Fmt.FIXED1),
    _c("energy_concentration", "", _S.LAYER_STATS, "share of the transformed input's energy in the high-bit rows",
       "energy in the first rows", "energy in first rows", None, Fmt.PERCENT),
    _c("avg_a_bits", "bits", _S.LAYER_STATS, "average activation width of the layer's rows",
       "average activation bits", "avg a bits", fmt=Fmt.BITS),
    _c("int_path", "", _S.ACCURACY, "True: evaluated through the integer kernels (its accumulator can overflow); "
       "False: the fake-quant path (it provably cannot)", fmt=Fmt.TEXT),
    _c("overflows", "", _S.ACCURACY, "accumulator additions that left their register's range, every window"),
    _c("overflowed_outputs", "", _S.ACCURACY, "outputs whose accumulation overflowed at least once"),
    _c("overflow_rate", "", _S.ACCURACY, "share of the layer's outputs that overflowed at least once"),
    _c("outputs", "", _S.ACCURACY, "integer GEMM outputs over every evaluation window (padded rows x N)"),
)

#: The ``cost`` command's per-layer table: hw_models.price columns and their headers.
PRICE_COLUMNS: tuple[Column, ...] = (
    _c("layer", "", _S.PRICE, "module name", "layer", "layer", fmt=Fmt.TEXT),
    _c("tokens", "", _S.PRICE, "tokens (rows before the sequence transform)", "tokens", "tokens"),
    _c("k", "", _S.PRICE, "in-features", "K", "K"),
    _c("n", "", _S.PRICE, "out-features", "N", "N"),
    _c("rows", "", _S.PRICE, "rows after the sequence transform's padding", "rows", "rows"),
    _c("mode_low", "", _S.PRICE, "MAC mode of the low-precision rows", "mode", "mode", fmt=Fmt.TEXT),
    _c("mode_high", "", _S.PRICE, "MAC mode of the high-precision rows", "mode of high rows", "mode_hi_rows",
       fmt=Fmt.TEXT),
    _c("macs", "", _S.PRICE, "multiply-accumulates", "MACs", "MACs"),
    _c("dram_bytes", "bytes", _S.PRICE, "DRAM traffic", "DRAM bytes", "dram_B"),
    _c("mac_pj", "pJ", _S.PRICE, "multiplier energy", "MAC energy", "mac_pJ"),
    _c("accumulate_pj", "pJ", _S.PRICE, "accumulator energy", "accumulator energy", "acc_pJ"),
    _c("sram_pj", "pJ", _S.PRICE, "SRAM energy", "SRAM energy", "sram_pJ"),
    _c("dram_pj", "pJ", _S.PRICE, "DRAM energy", "DRAM energy", "dram_pJ"),
    _c("seq_transform_pj", "pJ", _S.PRICE, "sequence transform energy", "sequence transform energy", "seq_tf_pJ"),
    _c("feature_transform_pj", "pJ", _S.PRICE, "feature transform energy", "feature transform energy",
       "feat_tf_pJ"),
    _c("requant_pj", "pJ", _S.PRICE, "(re)quantization energy", "requantization energy", "requant_pJ"),
    _c("vector_pj", "pJ", _S.PRICE, "vector-unit energy of a decoder's other ops (softmax, norms, rotary, KV "
       "quantization; blank on linear layers)", "vector-unit energy", "vector_pJ"),
    _c("energy_pj", "pJ", _S.PRICE, "every energy term", "energy", "total_pJ"),
    _c("latency_us", "us", _S.PRICE, "latency (MAC and vector time added)", "latency", "latency_us",
       terms=("latency_s",), term_unit="s"),
    _c("bound", "", _S.PRICE, "memory or compute bound", "bound", "bound", fmt=Fmt.TEXT),
)

#: Cost columns of results.csv (those computed from hw_models.totals).
COST_COLUMNS: tuple[Column, ...] = tuple(c for c in RESULTS_COLUMNS if c.terms)

#: The columns ``stamp-sim run`` prints and the report's summary table shows, in order.
RUN_SUMMARY: tuple[str, ...] = (
    "config", "hw", "avg_a_bits", "acc_bits", "ppl", "kl", "top1", "sqnr_db", "out_sqnr_db",
    "energy_mj", "latency_ms", "weight_mb", "act_mb", "overflow_rate",
)

_BY_NAME = {c.name: c for c in (*PRICE_COLUMNS, *LAYERS_COLUMNS, *RESULTS_COLUMNS)}


def column(name: str) -> Column:
    """The declaration of column `name` (results.csv first, then layers.csv, then the cost table)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"column {name!r} is not declared in stamp_sim.schema") from None


def described_columns() -> tuple[Column, ...]:
    """The results.csv and layers.csv columns with a report label (what the report names and
    formats), each name once, results.csv's declaration first."""
    out: dict[str, Column] = {}
    for c in (*RESULTS_COLUMNS, *LAYERS_COLUMNS):
        if c.label:
            out.setdefault(c.name, c)
    return tuple(out.values())


#: Columns that hold text (config names, labels): read back as str exactly, never parsed as
#: numbers or NA (a config named "007", "NA" or "1e3" survives a round trip).
TEXT_COLUMNS: frozenset[str] = frozenset(
    c.name for c in (*PRICE_COLUMNS, *LAYERS_COLUMNS, *RESULTS_COLUMNS) if c.fmt is Fmt.TEXT)
