"""Skip the blocks in front of the one being worked on: replay their captured outputs.

Quantizing a layer of block b leaves blocks 0..b-1 bit-identical to the float model, so
their outputs are captured once (forward hooks on the float model) and later returned
verbatim by stand-in modules. A sensitivity forward then runs the embedding, blocks
b..end and the head: on average half the blocks of a full forward.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["block_list", "capture_block_outputs", "replay_blocks"]

_BLOCKS = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)$")
# Attributes the parent model reads off its blocks while looping (transformers' sliding-
# window models pick the attention mask by ``attention_type``).
_CARRIED = ("attention_type",)


def block_list(model: nn.Module) -> nn.ModuleList | None:
    """The ModuleList of transformer blocks (``model.layers`` and the like), or None."""
    found = [m for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and _BLOCKS.search(n)]
    return found[0] if len(found) == 1 else None


class _Replay(nn.Module):
    """Stands in for a block: ignores its inputs and returns the captured float output."""

    def __init__(self, original: nn.Module, output) -> None:
        super().__init__()
        self.output = output
        for attr in _CARRIED:
            if hasattr(original, attr):
                setattr(self, attr, getattr(original, attr))

    def forward(self, *args, **kwargs):
        return self.output


def capture_block_outputs(model: nn.Module, run) -> list:
    """Call ``run()`` (a float forward) and return every block's output object, in order."""
    blocks = block_list(model)
    if blocks is None:
        return []
    outputs: list = [None] * len(blocks)

    def hook(i):
        def keep(module, args, output):
            outputs[i] = output

        return keep

    handles = [b.register_forward_hook(hook(i)) for i, b in enumerate(blocks)]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return outputs


@contextlib.contextmanager
def replay_blocks(model: nn.Module, outputs: list, first: int) -> Iterator[int]:
    """Within the block, blocks [0, first) return ``outputs`` instead of computing.

    Yields how many blocks are replayed (0 when the model has no recognisable block
    list or nothing was captured). The original blocks are always put back.
    """
    blocks = block_list(model)
    count = 0 if blocks is None or not outputs else max(0, min(first, len(blocks), len(outputs)))
    originals = [blocks[i] for i in range(count)] if count else []
    try:
        for i, original in enumerate(originals):
            blocks[i] = _Replay(original, outputs[i])
        yield count
    finally:
        for i, original in enumerate(originals):
            blocks[i] = original
