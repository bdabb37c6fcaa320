"""Hardware profiles and the precision-aware cost model (no model or quantizer code).

    profile = hw_models.load_profile("npu")            # or a path to a YAML file
    prec = hw_models.LayerPrecision(w_bits=4, a_bits=4, a_high_bits=8, high_rows=64,
                                    seq_transform="dwt", seq_levels=3)
    table = hw_models.price(workload, {"w4a4-stamp": prec}, [profile], ["prefill", "decode"])

Installs as ``stamp_sim.hw_models``. Imports only numpy, pandas and yaml; never the rest of
``stamp_sim`` or ``stamp_sim.kernels``.
"""

if __name__ != "stamp_sim.hw_models":
    # Reached only when a checkout's root is on sys.path (`python -m ...` run from it): Python
    # then finds this folder as a top-level `hw_models`, a name another distribution may own
    # (transformers imports PyPI's `kernels`). Step aside for that module, or fail as if this
    # folder were not there; the project's own code imports stamp_sim.hw_models.
    import importlib.util as _util
    import sys as _sys
    from importlib.machinery import PathFinder as _PathFinder
    from pathlib import Path as _Path

    _checkout = _Path(__file__).resolve().parent.parent
    _spec = _PathFinder.find_spec(__name__, [p for p in _sys.path if _Path(p or ".").resolve() != _checkout])
    if _spec is None:
        raise ModuleNotFoundError(f"No module named {__name__!r} ({_checkout} installs it as stamp_sim.hw_models)",
                                  name=__name__)
    _sys.modules[__name__] = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_sys.modules[__name__])
else:
    from . import units, yaml_io
    from ._loader import builtin_names, load_profile
    from .kv_cache import KVCacheCost, KVCacheShape, kv_cache_cost
    from .decoder import DECODER_COLUMNS, BlockShape, DecoderShape, KVPrecision, price_decoder
    from .bound import BOUNDS, bound_of, is_memory_bound
    from .cost import ENERGY_TERMS, MAX_DIM, MAX_MACS, TIME_TERMS, LayerCost, price, price_layer, totals
    from .mac_array import gemm_cycles, operand_accesses, utilization
    from .precision import FeatureTransformKind, Granularity, LayerPrecision, Phase, SeqTransform
    from .transform_ops import dwt_max_level, effective_levels, padded_rows
    from .profile import (
        AccBehaviour,
        AccumulatorUnit,
        Dataflow,
        Efficiency,
        EnergyTable,
        Execution,
        Fill,
        HardwareProfile,
        MacArray,
        MemorySystem,
        MixedRows,
        ModeSpec,
        OperandMode,
        ProfileError,
        VectorUnit,
        WeightOnly,
        WeightScales,
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
        "BlockShape",
        "Dataflow",
        "DecoderShape",
        "Efficiency",
        "EnergyTable",
        "Execution",
        "FeatureTransformKind",
        "Fill",
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
        "WeightScales",
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
