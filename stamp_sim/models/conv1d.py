"""GPT-2's ``Conv1D`` layers as the ``torch.nn.Linear`` layers they are.

transformers' ``Conv1D`` computes ``x @ W + b`` with ``W`` of shape (in, out): a linear
layer whose weight is stored transposed. Swapping each one for an ``nn.Linear`` holding
``W.T`` lets quantization, the integer path and the workload trace treat it like any
other linear layer, with the same outputs.
"""

from __future__ import annotations

__all__ = ["linearize_conv1d"]


def linearize_conv1d(model):
    """Replace every transformers ``Conv1D`` in ``model`` by an equal ``nn.Linear``, in place.

    Returns
    -------
    (model, int)
        The same module and how many layers were replaced. Works on the meta device too
        (the skeletons the workload traces).
    """
    import torch

    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # transformers absent: no Conv1D can be in the model
        return model, 0
    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, Conv1D)]
    for name, conv in targets:
        in_features, out_features = conv.weight.shape
        linear = torch.nn.Linear(in_features, out_features, bias=conv.bias is not None,
                                 device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            if conv.weight.device.type != "meta":
                linear.weight.copy_(conv.weight.T)
                if conv.bias is not None:
                    linear.bias.copy_(conv.bias)
        linear.requires_grad_(conv.weight.requires_grad)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, linear)
    return model, len(targets)
