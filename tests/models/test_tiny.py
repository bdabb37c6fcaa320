import numpy as np
import pytest
import torch

from stamp_sim.models import synthetic_token_ids, tiny_llama, tiny_llama_config
from tests.models.conftest import needs_transformers

pytestmark = needs_transformers


def test_tiny_llama_shape_and_forward():
    model = tiny_llama(seed=0)
    config = tiny_llama_config()
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (2, 64, 512)
    ids = torch.from_numpy(synthetic_token_ids(2 * 48)).view(2, 48)
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (2, 48, 512)
    assert logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_tiny_llama_is_seeded_and_leaves_global_rng_alone():
    before = torch.random.get_rng_state()
    a, b, c = tiny_llama(seed=0), tiny_llama(seed=0), tiny_llama(seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["model.layers.0.self_attn.q_proj.weight"], sc["model.layers.0.self_attn.q_proj.weight"])


def test_synthetic_tokens_are_deterministic_zipf_like():
    ids = synthetic_token_ids(100_000, vocab_size=512, seed=3)
    assert ids.dtype == np.int64 and ids.shape == (100_000,)
    assert ids.min() >= 0 and ids.max() < 512
    assert np.array_equal(ids, synthetic_token_ids(100_000, vocab_size=512, seed=3))
    assert not np.array_equal(ids, synthetic_token_ids(100_000, vocab_size=512, seed=4))
    counts = np.sort(np.bincount(ids, minlength=512))[::-1] / ids.size
    # p(rank 1) = 1 / H_512 ~ 0.147 and p(rank 2) ~ 0.073 for p ~ 1/rank.
    assert counts[0] == pytest.approx(1 / np.sum(1 / np.arange(1, 513)), abs=0.01)
    assert counts[1] == pytest.approx(counts[0] / 2, abs=0.01)


@pytest.mark.parametrize("n_tokens, vocab", [(-1, 10), (10, 0)])
def test_synthetic_tokens_reject_bad_sizes(n_tokens, vocab):
    with pytest.raises(ValueError, match="n_tokens"):
        synthetic_token_ids(n_tokens, vocab_size=vocab)
