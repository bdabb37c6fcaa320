"""Hardware profiles and the precision-aware cost model (no model or quantizer code).

    profile = hw_models.load_profile("npu")            # or a path to a YAML file
    prec = hw_models.LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64,
                                    seq_transform="dwt", seq_levels=3)
    table = hw_models.price(workload, {"w4a4-stamp": prec}, [profile], ["prefill", "decode"])

Imports only numpy, pandas and yaml; never ``stamp_sim`` or ``kernels``.
"""

from hw_models import units, yaml_io
from hw_models._loader import builtin_names, load_profile
from hw_models.kv_cache import KVCacheCost, KVCacheShape, kv_cache_cost
from hw_models.decoder import DECODER_COLUMNS, DecoderShape, KVPrecision, price_decoder
from hw_models.bound import BOUNDS, bound_of, is_memory_bound
from hw_models.cost import ENERGY_TERMS, MAX_DIM, MAX_MACS, TIME_TERMS, LayerCost, price, price_layer, totals
from hw_models.mac_array import gemm_cycles, operand_accesses, utilization
from hw_models.precision import FeatureTransformKind, Granularity, LayerPrecision, Phase, SeqTransform
from hw_models.transform_ops import dwt_max_level, effective_levels, padded_rows
from hw_models.profile import (
    AccBehaviour,
    AccumulatorUnit,
    Dataflow,
    Efficiency,
    EnergyTable,
    Execution,
    HardwareProfile,
    MacArray,
    MemorySystem,
    MixedRows,
    ModeSpec,
    OperandMode,
    ProfileError,
    VectorUnit,
    WeightOnly,
)

__all__ = [
    "DECODER_COLUMNS",
    "ENERGY_TERMS",
    "MAX_DIM",
    "MAX_MACS",
    "TIME_TERMS",
    "BOUNDS",
    "AccBehaviour",
    "AccumulatorUnit",
    "Dataflow",
    "DecoderShape",
    "Efficiency",
    "EnergyTable",
    "Execution",
    "FeatureTransformKind",
    "Granularity",
    "HardwareProfile",
    "KVCacheCost",
    "KVCacheShape",
    "KVPrecision",
    "LayerCost",
    "LayerPrecision",
    "MacArray",
    "MemorySystem",
    "MixedRows",
    "ModeSpec",
    "OperandMode",
    "Phase",
    "ProfileError",
    "SeqTransform",
    "VectorUnit",
    "WeightOnly",
    "bound_of",
    "builtin_names",
    "dwt_max_level",
    "effective_levels",
    "gemm_cycles",
    "is_memory_bound",
    "kv_cache_cost",
    "load_profile",
    "operand_accesses",
    "padded_rows",
    "price",
    "price_decoder",
    "price_layer",
    "totals",
    "units",
    "yaml_io",
    "utilization",
]
