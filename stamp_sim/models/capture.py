"""Capture the inputs of chosen linear layers with forward hooks.

Used to measure per-layer activation SQNR and token-energy concentration:
what a linear layer receives is exactly what its activation quantizer sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["capture_linear_inputs"]


def capture_linear_inputs(model, inputs, layer_names: Sequence[str]) -> dict:
    """Run ``model`` once and return the input activations of the named linear layers.

    Parameters
    ----------
    model : torch.nn.Module
    inputs : torch.Tensor or Mapping[str, torch.Tensor]
        A tensor is passed as the first positional argument (``input_ids``
        (B, T) int64 or ``pixel_values`` (B, 3, H, W) float32); a mapping is
        passed as keyword arguments (``input_ids``, ``attention_mask``, ...).
    layer_names : sequence of str
        Module names as in ``model.named_modules()``; each must be a
        ``torch.nn.Linear`` (or subclass).

    Returns
    -------
    dict[str, torch.Tensor]
        name -> detached float tensor of shape (B, T, in_features), in the
        order of ``layer_names``. Hooks are removed even if the forward fails.
    """
    import torch

    names = list(dict.fromkeys(layer_names))
    modules = dict(model.named_modules())
    linear = sorted(n for n, m in modules.items() if isinstance(m, torch.nn.Linear))
    unknown = [n for n in names if not isinstance(modules.get(n), torch.nn.Linear)]
    if unknown:
        raise ValueError(f"layer_names {unknown} are not linear layers of the model; linear layers are: {', '.join(linear)}")
    captured: dict = {}

    def hook(name):
        def record(module, args):
            if name in captured:
                raise RuntimeError(f"linear layer {name!r} ran more than once in one forward pass")
            captured[name] = args[0].detach().clone()

        return record

    handles = [modules[n].register_forward_pre_hook(hook(n)) for n in names]
    try:
        with torch.no_grad():
            if isinstance(inputs, Mapping):
                model(**inputs)
            else:
                model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    missing = [n for n in names if n not in captured]
    if missing:
        raise RuntimeError(f"linear layers {missing} did not run in the forward pass")
    return {n: captured[n] for n in names}
