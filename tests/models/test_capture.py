import pytest
import torch

from stamp_sim.models import capture_linear_inputs, synthetic_token_ids, tiny_llama
from tests.models.conftest import needs_transformers

pytestmark = needs_transformers

Q0 = "model.layers.0.self_attn.q_proj"
DOWN1 = "model.layers.1.mlp.down_proj"


@pytest.fixture(scope="module")
def model():
    return tiny_llama(seed=0)


@pytest.fixture(scope="module")
def ids():
    return torch.from_numpy(synthetic_token_ids(3 * 40, seed=1)).view(3, 40)


def test_captures_what_the_layer_receives(model, ids):
    got = capture_linear_inputs(model, ids, [DOWN1, Q0])
    assert list(got) == [DOWN1, Q0]
    assert got[Q0].shape == (3, 40, 64)
    assert got[DOWN1].shape == (3, 40, 128)
    # Layer 0's q_proj sees the RMS-normalised token embeddings.
    with torch.no_grad():
        expected = model.model.layers[0].input_layernorm(model.model.embed_tokens(ids))
    torch.testing.assert_close(got[Q0], expected)


def test_mapping_inputs_and_hooks_removed(model, ids):
    got = capture_linear_inputs(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, [Q0])
    assert got[Q0].shape == (3, 40, 64)
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_hooks_removed_when_forward_fails(model):
    with pytest.raises(Exception):
        capture_linear_inputs(model, torch.zeros(2, 3), [Q0])  # float ids: embedding fails
    assert all(not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("name", ["model.layers.9.mlp.up_proj", "model.layers.0.input_layernorm"])
def test_rejects_names_that_are_not_linear_layers(model, ids, name):
    with pytest.raises(ValueError, match="not linear layers") as err:
        capture_linear_inputs(model, ids, [name])
    assert Q0 in str(err.value)
