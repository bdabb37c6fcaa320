"""Evaluation data and accuracy of a (quantized) model against its float reference.

Causal LMs: perplexity on disjoint Wikipedia windows, KL(P_fp || P_q) of next-token
distributions and top-1 agreement. Encoders and ViTs: SQNR (dB) and cosine similarity of
the last hidden state against the float model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from stamp_sim.metrics import NextTokenAccuracy, SignalNoise, cosine_similarity
from stamp_sim.models import LoadedModel, ModelKind, synthetic_token_ids, token_windows, vit_images, wiki_token_ids
from stamp_sim.models.errors import DataFileError
from stamp_sim.models.user_text import check_length, file_token_ids

__all__ = ["EvalData", "accuracy", "float_reference", "model_outputs", "prepare_data", "run_calibration"]


@dataclass(frozen=True)
class EvalData:
    """Model inputs: one dict of keyword tensors per batch (one window / one image each)."""

    kind: ModelKind
    calibration: tuple[dict, ...]
    evaluation: tuple[dict, ...]
    tokens: int  # sequence length each linear layer sees
    grid: tuple[int, int] | None = None
    source: str = ""


def _text_batches(ids, tokens: int, windows: int, calib: int, seed: int, encoder: bool) -> tuple[tuple, tuple]:
    w = token_windows(ids, tokens, calib, windows, seed)

    def batch(row):
        t = torch.from_numpy(row).long().unsqueeze(0)
        return {"input_ids": t, "attention_mask": torch.ones_like(t)} if encoder else {"input_ids": t}

    return tuple(batch(r) for r in w.calibration), tuple(batch(r) for r in w.evaluation)


def prepare_data(loaded: LoadedModel, tokens: int, windows: int, calib_windows: int, seed: int,
                 data: str | None = None, data_field: str = "text") -> EvalData:
    """Inputs for `loaded`: wiki windows (text), synthetic ids (no tokenizer) or photos (ViT).

    data : a .txt / .jsonl / .parquet file (``models.user_text``) instead of the Wikipedia
        sample, read with `data_field` for .jsonl and .parquet; text models with a tokenizer only.
    """
    if data is not None:
        if loaded.kind is ModelKind.VIT or loaded.tokenizer is None:
            what = "an image model" if loaded.kind is ModelKind.VIT else "a model without a tokenizer"
            raise DataFileError(f"--data {data}: {loaded.name} is {what}; allowed: text models with a tokenizer")
        ids = file_token_ids(loaded.tokenizer, data, data_field)
        check_length(ids, data, tokens, windows, calib_windows)
        cal, ev = _text_batches(ids, tokens, windows, calib_windows, seed, loaded.kind is ModelKind.ENCODER)
        return EvalData(loaded.kind, cal, ev, tokens, None, f"{Path(data).resolve()} ({len(ids)} tokens)")
    if loaded.kind is ModelKind.VIT:
        images = vit_images()
        pixels = images.pixel_values
        n = pixels.shape[0]
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(n, generator=g).tolist()
        ev = order[: min(windows, n)]
        cal = [i for i in order if i not in ev][:calib_windows] or ev[:calib_windows]
        mk = lambda idx: tuple({"pixel_values": pixels[i : i + 1]} for i in idx)  # noqa: E731
        grid = tuple(images.grid)
        return EvalData(loaded.kind, mk(cal), mk(ev), 1 + grid[0] * grid[1], grid,
                        "scikit-image photos: " + ", ".join(images.names[i] for i in ev))
    if loaded.tokenizer is None:
        vocab = loaded.model.config.vocab_size
        ids = synthetic_token_ids(max(tokens * (windows + calib_windows + 1), 4096), vocab, seed=seed)
        source = "synthetic Zipf token stream"
    else:
        ids = wiki_token_ids(loaded.tokenizer)
        source = f"gensim Wikipedia sample ({len(ids)} tokens)"
    cal, ev = _text_batches(ids, tokens, windows, calib_windows, seed, loaded.kind is ModelKind.ENCODER)
    return EvalData(loaded.kind, cal, ev, tokens, None, source)


def _to(batch: dict, device: str) -> dict:
    return {k: v.to(device) for k, v in batch.items()}


@torch.no_grad()
def model_outputs(model, batch: dict, kind: ModelKind, device: str = "cpu") -> torch.Tensor:
    """Logits (causal LM) or last hidden state (encoder, ViT) for one batch, float32 on CPU."""
    out = model(**_to(batch, device))
    t = out.logits if kind is ModelKind.CAUSAL_LM else out.last_hidden_state
    return t.float().cpu()


def float_reference(model, data: EvalData, device: str = "cpu", progress=None) -> list[torch.Tensor]:
    """The float model's outputs (model_outputs) on every evaluation batch, in order."""
    out = []
    for batch in data.evaluation:
        out.append(model_outputs(model, batch, data.kind, device))
        if progress is not None:
            progress.update(1)
    return out


def run_calibration(model, data: EvalData, device: str = "cpu") -> None:
    """Forward the calibration batches (inside ``stamp_sim.nn.calibration``)."""
    for batch in data.calibration or data.evaluation[:1]:
        model_outputs(model, batch, data.kind, device)


@torch.no_grad()
def accuracy(model, data: EvalData, reference: list[torch.Tensor], device: str = "cpu", progress=None) -> dict:
    """Accuracy of `model` on data.evaluation against the float `reference` outputs.

    Causal LM: ppl (perplexity), kl (nats, mean over positions), top1 (share).
    Encoder / ViT: out_sqnr_db (dB) and cosine of the last hidden state.
    All through ``stamp_sim.metrics``.
    """
    tokens, hidden = NextTokenAccuracy(), SignalNoise()
    cos_sum, cos_n = 0.0, 0
    for batch, ref in zip(data.evaluation, reference):
        out = model_outputs(model, batch, data.kind, device)
        if data.kind is ModelKind.CAUSAL_LM:
            tokens.add(ref, out, batch["input_ids"])
        else:
            hidden.add(ref, out)
            cos_sum += cosine_similarity(ref, out) * ref.shape[0] * ref.shape[1]
            cos_n += ref.shape[0] * ref.shape[1]
        if progress is not None:
            progress.update(1)
    if data.kind is ModelKind.CAUSAL_LM:
        return tokens.result()
    return {"out_sqnr_db": hidden.sqnr_db, "cosine": cos_sum / cos_n}
