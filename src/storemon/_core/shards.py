"""Which shard a store belongs to: a stable hash of its id, cut into contiguous bucket ranges.

A report can be computed as ``n`` shard jobs (possibly on several machines)
whose outputs are concatenated: each shard takes the stores with
``shard_of(store_id, n) == i``. A store's figures depend only on its own
rows (docs/rules.md, invariant 7), so a shard's output is exactly the
unsharded output restricted to its stores.

The hash must give the same shard in every process, on every machine and
with every Polars version, so :meth:`polars.Expr.hash` (documented as
unstable) is not used. Instead, with ``M = 2³² − 1``, ``⊕`` XOR and all
arithmetic on unsigned integers modulo 2³²:

* ``fmix(h)`` is MurmurHash3's 32-bit finaliser:
  ``h ⊕= h >> 16; h ·= 0x85EBCA6B; h ⊕= h >> 13; h ·= 0xC2B2AE35; h ⊕= h >> 16``;
* the id's UTF-8 bytes are cut into chunks of 4 bytes (the last one may be
  shorter), each read as a big-endian integer ``c_k`` (k = 0, 1, …);
* ``hash = fmix(Σ_k fmix(c_k + (k + 1) · 0x9E3779B9) ⊕ n_bytes)``;
* ``bucket = hash mod BUCKETS`` and ``shard = bucket · n // BUCKETS``.

Chunk values, their positions and the byte length together determine the
id, so ids differ in their input to the hash whenever they differ. It is
computed vectorised: the bytes as hex (``str.encode("hex")``), the chunks as
8-hex-digit pieces (``str.extract_all``) parsed with
``str.to_integer(base=16)``, each term in ``list.eval``, summed per id — no
Python per row. Every product is below 2⁶⁴ (both factors below 2³²), so
UInt64 arithmetic is exact.

A shard is a contiguous range of buckets (:func:`shard_buckets`): data
stored sorted by bucket, in row groups with statistics, lets a shard read
prune every row group outside its range.
"""

from __future__ import annotations

import polars as pl

from storemon.exceptions import ConfigError

__all__ = ["BUCKETS", "shard_of", "bucket_of", "shard_buckets", "check_shard"]

#: The number of hash buckets; a shard is a contiguous range of them, so at most this many shards.
BUCKETS = 4096

_MASK = 0xFFFF_FFFF
_GOLDEN = 0x9E37_79B9


def _fmix(h: pl.Expr) -> pl.Expr:
    """MurmurHash3's 32-bit finaliser on UInt64 values below 2³²."""
    h = h.xor(h // 65536)
    h = (h * 0x85EB_CA6B) & _MASK
    h = h.xor(h // 8192)
    h = (h * 0xC2B2_AE35) & _MASK
    return h.xor(h // 65536)


def bucket_of(store_id: pl.Expr) -> pl.Expr:
    """The hash bucket (UInt16 in ``[0, BUCKETS)``) of each store id (module docstring)."""
    hexed = store_id.str.encode("hex")
    chunks = hexed.str.extract_all(r"[0-9a-f]{1,8}")
    values = chunks.list.eval(pl.element().str.to_integer(base=16).cast(pl.UInt64))
    positions = pl.int_ranges(1, chunks.list.len() + 1, dtype=pl.UInt64)
    # List arithmetic, then an element-wise list.eval: both run on the flat values
    # (an int_range inside list.eval would be evaluated list by list, 20× slower).
    keyed = (values + positions * _GOLDEN) % (_MASK + 1)
    total = keyed.list.eval(_fmix(pl.element())).list.sum().cast(pl.UInt64) & _MASK
    n_bytes = (hexed.str.len_bytes() // 2).cast(pl.UInt64)
    # fmix names its argument several times; inside list.eval that argument is the
    # element, a leaf, so the chain above is not expanded into copies of itself.
    final = pl.concat_list(total.xor(n_bytes)).list.eval(_fmix(pl.element())).list.first()
    return (final % BUCKETS).cast(pl.UInt16)


def check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """``shard`` as ``(index, count)`` with ``1 ≤ count ≤ BUCKETS`` and ``0 ≤ index < count``; ConfigError if not."""
    try:
        index, count = shard
    except (TypeError, ValueError):
        raise ConfigError(f"shard must be (index, count), not {shard!r}") from None
    for value in (index, count):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"shard must be (index, count) of whole numbers, not {shard!r}")
    _check_count(count)
    if not 0 <= index < count:
        raise ConfigError(f"shard index must be in [0, {count}), not {index}")
    return index, count


def _check_count(shards: int) -> None:
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= BUCKETS:
        raise ConfigError(f"the number of shards must be a whole number in [1, {BUCKETS}], not {shards!r}")


def shard_buckets(index: int, count: int) -> tuple[int, int]:
    """The buckets ``[low, high)`` of shard ``index`` of ``count``: ``bucket · count // BUCKETS == index``."""
    check_shard((index, count))
    # bucket · count // B == index  ⇔  index · B ≤ bucket · count < (index + 1) · B
    return -(-index * BUCKETS // count), -(-(index + 1) * BUCKETS // count)


def shard_of(store_id: pl.Expr, shards: int) -> pl.Expr:
    """Which of ``shards`` shards (UInt32 in ``[0, shards)``) each store id belongs to.

    ``bucket_of(store_id) · shards // BUCKETS``: stable across processes,
    machines and Polars versions (module docstring); each shard is a
    contiguous range of buckets. ``shards`` must be in ``[1, BUCKETS]``
    (:class:`~storemon.ConfigError` otherwise).
    """
    _check_count(shards)
    return (bucket_of(store_id).cast(pl.UInt32) * shards // BUCKETS).cast(pl.UInt32)
