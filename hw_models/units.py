"""Unit conversions of the cost model's numbers, written once.

The cost model works in bytes, pJ, seconds and element ops (``price``'s columns);
profiles state megahertz, GB/s, G ops/s and TOPS (units in the key names). Reports
show mJ, ms, us and MB. Every conversion goes through these constants, so a factor is
never typed twice (1 MB = 1e6 bytes and 1 GB = 1e9 bytes, decimal, like GB/s; KiB =
1024 bytes).

Conversions multiply or divide by exactly the constant, so ``pj_to_mj(x) == x / 1e9``
bit for bit.
"""

from __future__ import annotations

__all__ = [
    "BYTES_PER_GB",
    "BYTES_PER_KIB",
    "BYTES_PER_MB",
    "HZ_PER_MHZ",
    "MS_PER_S",
    "OPS_PER_GOPS",
    "OPS_PER_TOPS",
    "PJ_PER_MJ",
    "US_PER_S",
    "bytes_to_mb",
    "pj_to_mj",
    "s_to_ms",
    "s_to_us",
]

PJ_PER_MJ = 1e9  # picojoules in a millijoule
MS_PER_S = 1e3  # milliseconds in a second
US_PER_S = 1e6  # microseconds in a second
BYTES_PER_MB = 1e6  # decimal megabyte
BYTES_PER_GB = 1e9  # decimal gigabyte (profiles' dram_gbps: 1e9 bytes/s)
BYTES_PER_KIB = 1024.0  # kibibyte (profiles' sram_kib)
HZ_PER_MHZ = 1e6  # profiles' clock_mhz
OPS_PER_GOPS = 1e9  # profiles' vector.gops: 1e9 element-ops/s
OPS_PER_TOPS = 1e12  # profiles' peak_tops: 1e12 ops/s (1 MAC = 2 ops)


def pj_to_mj(pj):
    """pJ -> mJ (scalars, arrays or Series)."""
    return pj / PJ_PER_MJ


def s_to_ms(s):
    """Seconds -> milliseconds."""
    return s * MS_PER_S


def s_to_us(s):
    """Seconds -> microseconds."""
    return s * US_PER_S


def bytes_to_mb(n_bytes):
    """Bytes -> decimal megabytes (1e6 bytes)."""
    return n_bytes / BYTES_PER_MB
