"""Op counts of the sequence (STaMP) and feature transforms, vectorized over numpy arrays.

Counts are element operations on the vector unit (an add, a scale), except the KLT,
which is a dense matrix product and is counted in MACs on the MAC array. The padding
rule (``padded_rows``, ``effective_levels``) is public: the toolkit's executed transforms
call it, so the rows priced here are the rows that run.
Codes follow ``SEQ_CODES`` / ``FEATURE_CODES`` (the order of the enums).
"""

from __future__ import annotations

import numpy as np

from .precision import FeatureTransformKind, SeqTransform

__all__ = [
    "FEATURE_CODES",
    "SEQ_CODES",
    "dwt_max_level",
    "effective_levels",
    "feature_transform_ops",
    "klt_macs",
    "padded_rows",
    "prefix_applies",
    "seq_transform_ops_per_feature",
]

SEQ_CODES = {t: i for i, t in enumerate(SeqTransform)}
FEATURE_CODES = {t: i for i, t in enumerate(FeatureTransformKind)}
_ID, _DWT, _DWT2D, _DCT, _WHT, _KLT = (SEQ_CODES[t] for t in SeqTransform)


def _next_pow2(x: np.ndarray) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.int64), 1)
    # log2 of an exact power of two is exact in float64, so ceil does not overshoot.
    return (2 ** np.ceil(np.log2(x))).astype(np.int64)


def dwt_max_level(tokens, filter_length=2) -> np.ndarray:
    """PyWavelets' ``dwt_max_level(n, f)``, vectorized, int64: the deepest useful DWT.

    0 if f < 2 or n < f - 1, else floor(log2(n / (f - 1))) (= floor(log2(n // (f - 1))),
    computed in integers: exact for n < 2^53).
    """
    n = np.asarray(tokens, dtype=np.int64)
    f = np.asarray(filter_length, dtype=np.int64)
    valid = (f >= 2) & (n >= f - 1)
    quotient = n // np.maximum(f - 1, 1)
    # frexp: q = m * 2^e with 0.5 <= m < 1, so floor(log2 q) = e - 1 (q >= 1 where valid).
    exponent = np.frexp(np.maximum(quotient, 1).astype(np.float64))[1].astype(np.int64)
    return np.where(valid, exponent - 1, 0)


def effective_levels(tokens, levels, filter_length=2) -> np.ndarray:
    """The DWT levels that actually run on `tokens` tokens, int64: at most `levels`, and
    at most dwt_max_level(tokens, filter_length); 0 means no transform runs.

    filter_length : the wavelet's decomposition filter length (PyWavelets' dec_len):
        2 for Haar (db1), 4 for db2, 2N for dbN / symN.
    """
    return np.minimum(np.asarray(levels, dtype=np.int64), dwt_max_level(tokens, filter_length))


def _padded_rows(tokens, seq_code, levels, filter_length=2) -> np.ndarray:
    """padded_rows without a prefix (its docstring states the rule)."""
    s = np.asarray(tokens, dtype=np.int64)
    code = np.asarray(seq_code)
    block = np.left_shift(np.int64(1), effective_levels(s, levels, filter_length))
    dwt = -(-s // block) * block
    step = np.left_shift(np.int64(1), np.asarray(levels, dtype=np.int64))
    g = np.floor(np.sqrt(np.maximum(s - 1, 0))).astype(np.int64)  # exact for perfect squares < 2^52
    cls_grid = (s >= 2) & (g * g == s - 1) & (np.floor(np.sqrt(s)) ** 2 != s)
    prefix = np.where(cls_grid, 1, 0)
    side = np.where(cls_grid, g, np.ceil(np.sqrt(s)).astype(np.int64))
    side = -(-side // step) * step
    grid_rows = prefix + side * side
    rows = np.select([code == _DWT, code == _DWT2D, code == _WHT], [dwt, grid_rows, _next_pow2(s)], default=s)
    return np.where(s <= 1, s, rows)


def prefix_applies(tokens, seq_code, prefix) -> np.ndarray:
    """Where `prefix` leading rows (an attention sink) stay untransformed, bool: prefix > 0 and
    more than prefix + 1 tokens, on every transform but dwt2d (its grid rule, CLS row
    included, says which rows it transforms)."""
    s = np.asarray(tokens, dtype=np.int64)
    p = np.asarray(prefix, dtype=np.int64)
    return (p > 0) & (s > p + 1) & (np.asarray(seq_code) != _DWT2D)


def padded_rows(tokens, seq_code, levels, filter_length=2, prefix=0) -> np.ndarray:
    """Rows the transformed activation has (and the MAC array prices), int64.

    This is the one padding rule: the toolkit's executed transforms follow it too.
    tokens <= 1 : tokens; one token is never transformed (decode).
    identity, dct, klt : tokens (no padding).
    dwt (J levels) : tokens zero-padded to a multiple of 2^J', J' = effective_levels(tokens,
        J, filter_length); tokens unchanged when J' = 0.
    dwt2d (J levels, not capped) : a square grid, each side padded to a multiple of 2^J.
        tokens = g^2 is a g x g grid; tokens = g^2 + 1 is a ViT's CLS row (left
        untransformed) ahead of a g x g patch grid; otherwise the side is
        ceil(sqrt(tokens)) (the caller's true h x w grid is not known here).
    wht : tokens padded to the next power of two.
    prefix : leading rows kept out of the transform (an attention sink): prefix plus the
        padded rows of the other tokens (prefix_applies says where); no transform at all
        when only prefix + 1 tokens or fewer.
    """
    s = np.asarray(tokens, dtype=np.int64)
    p = np.asarray(prefix, dtype=np.int64)
    plain = _padded_rows(s, seq_code, levels, filter_length)
    inner = p + _padded_rows(np.maximum(s - p, 0), seq_code, levels, filter_length)
    untransformed = (p > 0) & (s <= p + 1) & (np.asarray(seq_code) != _DWT2D)
    return np.where(prefix_applies(s, seq_code, p), inner, np.where(untransformed, s, plain))


def seq_transform_ops_per_feature(rows, seq_code, levels, filter_length=2, tokens=None) -> np.ndarray:
    """Vector-unit ops of one forward (or inverse) transform along `rows` tokens, per feature.

    rows : padded rows (padded_rows). tokens : the tokens before padding (default: rows);
    the dwt's levels are effective_levels(tokens, levels, filter_length), as in padded_rows.
    One row (rows <= 1) is never transformed: 0.
    dwt : each level j halves the band: n_j = rows / 2^j rows each get an add and a
        scale, 2 n_j ops; total 2 rows (2 - 2^(1-J)) (Haar's count for every filter).
    dwt2d : each level runs the 1D step along both grid axes on the LL band of
        rows / 4^j tokens: 4 rows / 4^j ops; total (16/3) rows (1 - 4^-J).
    dct : DCT-II through an FFT, rows log2(rows) butterflies of a multiply and an add:
        2 rows ceil(log2 rows).
    wht : rows log2(rows) adds (the 1/sqrt(rows) scale folds into the quantization scale).
    identity, klt : 0 (the KLT runs on the MAC array, see klt_macs).
    """
    r = np.asarray(rows, dtype=np.float64)
    code = np.asarray(seq_code)
    J = np.asarray(levels, dtype=np.float64)
    J_dwt = effective_levels(rows if tokens is None else tokens, levels, filter_length).astype(np.float64)
    log2r = np.log2(np.maximum(r, 1.0))
    ops = np.select(
        [code == _DWT, code == _DWT2D, code == _DCT, code == _WHT],
        [
            2.0 * r * (2.0 - 2.0 ** (1.0 - J_dwt)),
            16.0 / 3.0 * r * (1.0 - 4.0 ** (-J)),
            2.0 * r * np.ceil(log2r),
            r * log2r,
        ],
        default=0.0,
    )
    return np.where(r <= 1.0, 0.0, ops)


def klt_macs(rows, k, n, seq_code) -> np.ndarray:
    """MACs of the KLT: L (rows x rows) times the rows x K input, and L^T times the rows x N
    output; 0 for one row (never transformed)."""
    r = np.asarray(rows, dtype=np.float64)
    return np.where((np.asarray(seq_code) == _KLT) & (r > 1.0), r * r * (np.asarray(k, np.float64) + n), 0.0)


def feature_transform_ops(tokens, k, feature_code) -> np.ndarray:
    """Vector-unit ops of the feature transform on a tokens x K input.

    hadamard : online fast Walsh-Hadamard rotation of each token, K padded to a power of
        two: tokens * Kp * log2(Kp) adds (the inverse is folded into the weights).
    smoothquant : 0; its smoothing scales (one per in-feature of K, not a quantization
        granularity) are folded into the weights offline.
    hadamard-folded : 0; the rotation is folded into the weights (and the producer of the
        input) offline, as QuaRot / SpinQuant do for the residual stream.
    none : 0.
    """
    kp = _next_pow2(k).astype(np.float64)
    ops = np.asarray(tokens, np.float64) * kp * np.log2(kp)
    return np.where(np.asarray(feature_code) == FEATURE_CODES[FeatureTransformKind.HADAMARD], ops, 0.0)
