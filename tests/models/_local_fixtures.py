"""Tiny random Hugging Face models saved to disk, a tiny GGUF and a word-level tokenizer, for path tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = ("the cat sat on a mat while dogs ran past quick brown foxes jumping over lazy hills and rivers "
         "under bright skies near old towns where people walk talk read write sing play").split()


def sample_text(n_words: int, seed: int = 0) -> str:
    """A deterministic English-like text of `n_words` words from WORDS, in sentences of 8."""
    rng = np.random.default_rng(seed)
    words = rng.choice(WORDS, size=n_words)
    return "\n".join(" ".join(words[i:i + 8]) + "." for i in range(0, n_words, 8))


def word_tokenizer():
    """A fast word-level tokenizer over WORDS plus '.', [UNK] and [PAD] (vocabulary 64 or less)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[UNK]", "[PAD]", ".", *dict.fromkeys(WORDS)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def tiny_config(family: str):
    """Configs of the decoder families the issue names at hidden 32, 2 layers, vocabulary 64."""
    import transformers as tf

    if family == "llama":
        return tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, vocab_size=64, max_position_embeddings=256)
    if family == "qwen2":
        return tf.Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, vocab_size=64, max_position_embeddings=256)
    if family == "gpt2":
        return tf.GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=64, n_positions=256,
                             bos_token_id=0, eos_token_id=0)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=64, max_position_embeddings=256)
    if family == "mistral":
        return tf.MistralConfig(**small)
    if family == "qwen3":
        return tf.Qwen3Config(**small, head_dim=8)
    if family == "gemma2":
        return tf.Gemma2Config(**small, head_dim=8)
    if family == "gemma3_text":
        return tf.Gemma3TextConfig(**small, head_dim=8)
    if family == "phi3":  # fused qkv_proj and gate_up_proj
        return tf.Phi3Config(**small, pad_token_id=0)
    if family == "opt":
        return tf.OPTConfig(hidden_size=32, ffn_dim=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=64,
                            max_position_embeddings=256, word_embed_proj_dim=32, bos_token_id=0, eos_token_id=0,
                            pad_token_id=1)
    raise ValueError(family)


def save_tiny(folder: Path, family: str, *, weights: bool = True, tokenizer: bool = True, seed: int = 0) -> Path:
    """Save a random tiny `family` model (and the word tokenizer) with save_pretrained into `folder`."""
    import torch
    from transformers import AutoModelForCausalLM

    config = tiny_config(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    if weights:
        model.save_pretrained(folder)
    else:
        config.save_pretrained(folder)
    if tokenizer:
        word_tokenizer().save_pretrained(folder)
    return folder


def write_tiny_gguf(path: Path, arch: str = "llama", seed: int = 0, hidden: int = 32, ffn: int = 64,
                    layers: int = 2, heads: int = 4, kv: int = 2, vocab: int = 64) -> dict:
    """Write a float32 Llama-layout GGUF with the `gguf` package; returns {tensor name: array}."""
    import gguf

    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(layers)
    w.add_context_length(256)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_vocab_size(vocab)

    def t(*shape):
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    hd = hidden // heads
    tensors = {"token_embd.weight": t(vocab, hidden), "output_norm.weight": np.ones(hidden, np.float32)}
    for i in range(layers):
        p = f"blk.{i}."
        tensors.update({
            p + "attn_norm.weight": np.ones(hidden, np.float32), p + "attn_q.weight": t(hidden, hidden),
            p + "attn_k.weight": t(kv * hd, hidden), p + "attn_v.weight": t(kv * hd, hidden),
            p + "attn_output.weight": t(hidden, hidden), p + "ffn_norm.weight": np.ones(hidden, np.float32),
            p + "ffn_gate.weight": t(ffn, hidden), p + "ffn_up.weight": t(ffn, hidden),
            p + "ffn_down.weight": t(hidden, ffn)})
    for name, array in tensors.items():
        w.add_tensor(name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tensors
