"""hw_models.kv_cache_cost against hand counts."""

import pytest

from stamp_sim import hw_models
from stamp_sim.hw_models import KVCacheShape, kv_cache_cost


@pytest.fixture(scope="module")
def npu():
    return hw_models.load_profile("npu")


def test_float_cache_is_fp16_without_scales(npu):
    c = kv_cache_cost(npu, KVCacheShape(layers=2, kv_heads=3, head_dim=8), tokens=10, bits=None)
    assert c.bytes == 2 * 2 * 3 * 10 * 8 * 2  # K and V, blocks, heads, tokens, dims, 2 bytes
    assert c.write_pj == pytest.approx(c.bytes * npu.energy.dram_pj_per_byte)
    assert c.read_s == pytest.approx(c.bytes / (npu.memory.dram_gbps * 1e9))
    assert c.transform_pj == 0.0


def test_int4_cache_with_high_rows_and_scales(npu):
    shape = KVCacheShape(layers=1, kv_heads=1, head_dim=16)
    c = kv_cache_cost(npu, shape, tokens=100, bits=4, high_tokens=10, high_bits=8)
    # 2 (K, V) x [ (90 x 4 + 10 x 8) bits x 16 dims / 8 + 100 rows x 2-byte scale ]
    assert c.bytes == 2 * ((90 * 4 + 10 * 8) * 16 / 8 + 100 * 2)
    z = kv_cache_cost(npu, shape, tokens=100, bits=4, high_tokens=10, high_bits=8, zero_points=True)
    assert z.bytes == c.bytes + 2 * 100


def test_stamp_cache_pads_and_pays_its_transform(npu):
    shape = KVCacheShape(layers=1, kv_heads=1, head_dim=4)
    c = kv_cache_cost(npu, shape, tokens=12, bits=4, seq_transform="dwt", seq_levels=3)
    assert c.bytes == 2 * (16 * 4 * 4 / 8 + 16 * 2)  # 12 tokens pad to 16 rows (3 Haar levels)
    # dwt: 2 rows (2 - 2^(1-J)) ops per feature and pass, J = effective levels of 12 tokens = 3
    ops = 2 * 16 * (2 - 2 ** -2)
    assert c.transform_pj == pytest.approx(2 * ops * 2 * 4 * npu.energy.vector_op_pj)


@pytest.mark.parametrize("bad", [dict(layers=0, kv_heads=1, head_dim=1), dict(layers=1, kv_heads=True, head_dim=1)])
def test_bad_shapes_are_refused(bad):
    with pytest.raises(ValueError, match="KVCacheShape"):
        KVCacheShape(**bad)
