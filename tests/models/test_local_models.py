"""--model PATH: Hugging Face folders (Llama, Qwen2 with q/k/v biases, GPT-2 Conv1D, OPT), a
GGUF written with the gguf package, config.json alone, and every bad input the issue names."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gguf")

from stamp_sim.config import RunConfig, get_preset  # noqa: E402
from stamp_sim.models import ModelKind, load_model, model_spec, workload  # noqa: E402
from stamp_sim.models.conv1d import linearize_conv1d  # noqa: E402
from stamp_sim.models.errors import DataFileError, ModelInputError  # noqa: E402
from stamp_sim.workflows.run import run_experiment  # noqa: E402

from ._local_fixtures import sample_text, save_tiny, tiny_config, write_tiny_gguf  # noqa: E402

FAMILIES = ("llama", "qwen2", "gpt2", "opt")
MORE_FAMILIES = ("mistral", "qwen3", "gemma2", "gemma3_text", "phi3")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STAMP_SIM_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text(sample_text(1200))
    return path


def _params_of_linears(model) -> int:
    """Weights of every linear layer but the output embedding, counted from the float model itself."""
    from transformers.pytorch_utils import Conv1D

    head = model.get_output_embeddings()
    return sum(m.weight.numel() for m in model.modules()
               if isinstance(m, (torch.nn.Linear, Conv1D)) and m is not head)


@pytest.mark.parametrize("family", FAMILIES + MORE_FAMILIES)
def test_folder_workload_counts_every_linear_weight(tmp_path, family):
    folder = save_tiny(tmp_path / family, family)
    from transformers import AutoModelForCausalLM

    original = AutoModelForCausalLM.from_config(tiny_config(family))  # Conv1D still in place for GPT-2
    work = workload(str(folder), 8)
    assert int((work.k * work.n).sum()) == _params_of_linears(original)
    assert (work.tokens == 8).all()
    assert model_spec(str(folder)).kind is ModelKind.CAUSAL_LM


def test_conv1d_becomes_an_equal_linear():
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(tiny_config("gpt2")).eval()
    ids = torch.randint(0, 64, (1, 12))
    with torch.no_grad():
        before = model(ids).logits
        _, replaced = linearize_conv1d(model)
        after = model(ids).logits
    assert replaced == 8  # c_attn, c_proj, c_fc, mlp.c_proj per block
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert isinstance(model.transformer.h[0].attn.c_attn, torch.nn.Linear)


def test_qwen2_qkv_biases_are_kept(tmp_path):
    folder = save_tiny(tmp_path / "qwen2", "qwen2")
    model = load_model(str(folder), fresh=True).model
    attn = model.model.layers[0].self_attn
    assert all(getattr(attn, n).bias is not None for n in ("q_proj", "k_proj", "v_proj"))
    assert attn.o_proj.bias is None


def test_groups_come_from_structure_not_names():
    """Two linears fed the same tensor form a group whatever they are called."""
    from stamp_sim.models.workload import _trace
    from stamp_sim.sensitivity import layer_groups

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha, self.beta, self.gamma = (torch.nn.Linear(4, 4) for _ in range(3))

        def forward(self, x):
            return self.gamma(self.alpha(x) + self.beta(x))

    with torch.device("meta"):
        work = _trace(Odd(), {"x": torch.zeros(1, 3, 4)}, include_lm_head=True)
    assert list(work.group) == ["alpha+beta", "alpha+beta", "gamma"]
    assert [g.layers for g in layer_groups(work)] == [("alpha", "beta"), ("gamma",)]


@pytest.mark.parametrize("family", FAMILIES + ("phi3",))
def test_run_by_path_with_own_text(tmp_path, family, text_file):
    folder = save_tiny(tmp_path / family, family)
    run = RunConfig(model=str(folder), configs=(get_preset("fp"), get_preset("w8a8")), tokens=16, windows=2,
                    calib_windows=1, out=str(tmp_path / "reports"), data=str(text_file))
    run_dir = run_experiment(run, progress=False)
    results = pd.read_csv(run_dir / "results.csv")
    assert set(results.config) == {"fp", "w8a8"}
    assert results.ppl.notna().all() and (results.ppl > 1).all()
    fp = results[results.config == "fp"].iloc[0]
    assert fp.kl == pytest.approx(0.0, abs=1e-9)
    assert run_dir.name.startswith(family + "-")
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["data"].startswith(str(text_file))


def test_gguf_by_path_loads_the_written_weights(tmp_path):
    path = tmp_path / "tiny-llama.gguf"
    tensors = write_tiny_gguf(path)
    record = load_model(str(path), fresh=True)
    layer = record.model.model.layers[1]
    assert torch.equal(record.model.model.embed_tokens.weight, torch.from_numpy(tensors["token_embd.weight"]))
    assert torch.equal(layer.mlp.down_proj.weight, torch.from_numpy(tensors["blk.1.ffn_down.weight"]))
    assert torch.equal(layer.self_attn.v_proj.weight, torch.from_numpy(tensors["blk.1.attn_v.weight"]))
    assert record.tokenizer is None  # no tokenizer in the file: synthetic ids, --data refused
    work = workload(str(path), 8)
    assert int((work.k * work.n).sum()) == sum(
        a.size for n, a in tensors.items() if n.startswith("blk.") and a.ndim == 2)


def test_gguf_without_tokenizer_refuses_data(tmp_path, text_file):
    path = tmp_path / "bare.gguf"
    write_tiny_gguf(path)
    run = RunConfig(model=str(path), configs=(get_preset("fp"),), tokens=8, windows=1, calib_windows=0,
                    out=str(tmp_path / "reports"), data=str(text_file))
    with pytest.raises(DataFileError, match="without a tokenizer"):
        run_experiment(run, progress=False)
    assert not (tmp_path / "reports").exists()  # nothing written before the data is known good


def test_cost_only_run_on_a_folder_without_weights(tmp_path):
    folder = save_tiny(tmp_path / "noweights", "llama", weights=False)
    spec = model_spec(str(folder))
    assert not spec.loadable and "holds no weights" in spec.cost_only
    run = RunConfig(model=str(folder), configs=(get_preset("w8a8"), get_preset("w4a4")), tokens=64,
                    out=str(tmp_path / "reports"))
    run_dir = run_experiment(run, progress=False)
    results = pd.read_csv(run_dir / "results.csv")
    assert results.ppl.isna().all() and results.kl.isna().all()
    assert (results.energy_mj > 0).all()
    assert "cost only" in (run_dir / "report.md").read_text()
    with pytest.raises(ModelInputError, match="cost only"):
        load_model(str(folder))


# --- bad input: one clear error each -------------------------------------------------------------

def test_missing_path(tmp_path):
    with pytest.raises(ModelInputError, match="does not exist"):
        model_spec(str(tmp_path / "nowhere"))


def test_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelInputError, match="has no config.json"):
        model_spec(str(tmp_path / "empty"))


def test_architecture_transformers_cannot_build(tmp_path):
    folder = tmp_path / "alien"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "alien-net", "hidden_size": 8}))
    with pytest.raises(ModelInputError, match=r"'alien-net' is not an architecture.*tested decoders: .*llama"):
        model_spec(str(folder))


def test_gguf_of_an_unsupported_architecture(tmp_path):
    path = tmp_path / "odd.gguf"
    write_tiny_gguf(path, arch="rwkv6")
    with pytest.raises(ModelInputError, match=r"GGUF architecture 'rwkv6'.*allowed: .*llama"):
        model_spec(str(path))


@pytest.mark.parametrize("field", ["hidden_size", "num_hidden_layers", "intermediate_size"])
def test_config_json_missing_a_cost_field_names_it(tmp_path, field):
    data = tiny_config("llama").to_dict()
    data.pop(field)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelInputError, match=f"field '{field}'"):
        model_spec(str(path))


def test_gpt2_config_json_accepts_its_own_names(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tiny_config("gpt2").to_dict()))  # n_embd, n_layer, n_head
    work = workload(str(path), 4)
    assert len(work) == 8 and (work.k * work.n).sum() == 2 * (32 * 96 + 32 * 32 + 32 * 128 + 128 * 32)


def test_unknown_name_lists_names_cards_and_paths():
    with pytest.raises(ModelInputError) as err:
        model_spec("my-model")
    message = str(err.value)
    assert "smollm2-135m" in message and "llama-3-8b" in message and ".gguf" in message
