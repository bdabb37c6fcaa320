"""What bounds a layer (or a sum of layers): the one rule, used by price, totals and LayerCost.

A layer is memory bound when moving its DRAM bytes takes longer than computing it
(memory_s > compute_s, seconds); a tie is compute bound. For a group of layers the
rule applies to the summed times (`totals`), and `memory_bound_share` says how many of
its layers are memory bound on their own.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BOUNDS", "bound_of", "is_memory_bound"]

BOUNDS = ("compute", "memory")  # the labels, in the order of their codes (False, True)


def is_memory_bound(memory_s, compute_s):
    """True where memory_s > compute_s (seconds, scalars or arrays, broadcast)."""
    return np.greater(memory_s, compute_s)


def bound_of(memory_s, compute_s):
    """'memory' or 'compute': a str for scalars, an object array of them for arrays.

    >>> bound_of(2e-6, 1e-6), list(bound_of([1.0, 3.0], [2.0, 2.0]))
    ('memory', ['compute', 'memory'])
    """
    memory = np.asarray(is_memory_bound(memory_s, compute_s))
    if memory.ndim == 0:
        return BOUNDS[int(memory)]
    return np.asarray(BOUNDS, dtype=object)[memory.astype(np.intp)]
