"""Status polls → the time each store is known *active* and known *inactive*, in ticks.

Rule (docs/rules.md, "Status timeline"): polls at or before ``now``; polls with the
same store and instant are one poll, inactive if any of them is; poll *i*
holds its status over ``[max(tᵢ − hᵢ, mᵢ₋₁), min(tᵢ + hᵢ, mᵢ))`` with ``mᵢ``
the midpoint to the next poll and ``hᵢ`` the horizon of poll *i*'s status
(``horizon_active`` or ``horizon_inactive``). Time covered by no poll has no
known status: it is simply absent from the result (the gaps are "unknown").
Midpoints fall on half microseconds, so instants here are *ticks* of half a
microsecond: ``2·t`` and ``tᵢ + tᵢ₊₁`` are exact.

Only polls in ``[window start − max(horizons), now]`` can reach the window;
the caller filters to that range first (dropping an earlier poll can only
move a boundary that lies before the window).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from storemon._instants import TICKS_PER_US

__all__ = ["status_intervals"]


def status_intervals(
    polls: pl.LazyFrame,
    window: tuple[int, int],
    horizons: tuple[int, int],
    *,
    t_bounds: tuple[int, int],
    stores: int,
) -> pl.DataFrame:
    """Maximal runs of known status per store, clipped to ``window``.

    ``polls`` has ``code`` (UInt32, below ``stores``), ``t`` (Int64
    microseconds, within ``t_bounds`` inclusive) and ``active`` (Boolean), any
    order, duplicates allowed; ``horizons`` is ``(active, inactive)`` in
    ticks. Returns ``code``, ``start``, ``end`` (Int64 ticks) and ``active``
    (Boolean): disjoint, non-empty intervals sorted by store and time, two
    touching intervals of a store always of different status.
    """
    lo, hi = window
    code, t, active = _sorted(polls, t_bounds, stores)
    # One pass of array operations over the sorted polls, in NumPy: each
    # step reads its inputs once and, unlike a Polars select of shifted
    # expressions, allocates no column it does not need (the timeline step
    # is most of a report's time, and memory bandwidth is what it costs).
    # Sorting puts inactive (False) first, so the first row of an instant
    # carries "inactive if any of them is".
    n = _compact(_opens(code, t), code, t, active)
    code, t, active = code[:n], t[:n], active[:n]
    # Poll i holds [max(tᵢ − hᵢ, mᵢ₋₁), min(tᵢ + hᵢ, mᵢ)): the midpoint mᵢ (in
    # ticks tᵢ + tᵢ₊₁, as TICKS_PER_US is 2) only between polls of one store.
    # Block by block, so that no full-length temporary (a midpoint or a
    # horizon per poll) exists next to the start and end arrays: ``end``
    # takes the place of ``t``, each block once its midpoints are taken.
    start = t * TICKS_PER_US
    blocks = range(0, n, _BLOCK)
    for a in blocks:
        start[a : a + _BLOCK] -= _horizon(active[a : a + _BLOCK], horizons)
    for a in blocks:
        b = min(a + _BLOCK, n)
        m = min(b, n - 1)  # pairs (i, i + 1) for i in [a, m); t[m] is not yet rewritten
        midpoint = t[a + 1 : m + 1] + t[a:m]
        same_next = code[a + 1 : m + 1] == code[a:m]
        np.maximum(start[a + 1 : m + 1], midpoint, out=start[a + 1 : m + 1], where=same_next)
        end = t[a:b]
        end *= TICKS_PER_US
        end += _horizon(active[a:b], horizons)
        np.minimum(end[: m - a], midpoint, out=end[: m - a], where=same_next)
    end = t
    del t
    np.clip(start, lo, hi, out=start)
    np.clip(end, lo, hi, out=end)
    n = _compact(end > start, code, start, end, active)
    return _merge_touching(code[:n], start[:n], end[:n], active[:n])


def _horizon(active: np.ndarray, horizons: tuple[int, int]) -> np.ndarray | int:
    """Each poll's horizon in ticks, by its status (one number when both are the same)."""
    horizon_active, horizon_inactive = horizons
    if horizon_active == horizon_inactive:
        return horizon_active
    return np.where(active, horizon_active, horizon_inactive)


#: Elements per block of the array passes that work block by block: large
#: enough that the Python loop costs nothing, small enough that a block's
#: temporaries stay in cache.
_BLOCK = 1 << 17


def _compact(keep: np.ndarray, *arrays: np.ndarray) -> int:
    """Move the elements where ``keep`` is true to the front of each array, in order; their count.

    In place, block by block: a filter (``array[keep]``) would allocate a
    copy of every array while the originals still exist. Forward is safe:
    the elements kept from a block land at or before the block's start.
    """
    if keep.all():
        return len(keep)
    kept = 0
    for a in range(0, len(keep), _BLOCK):
        mask = keep[a : a + _BLOCK]
        count = int(np.count_nonzero(mask))
        for array in arrays:
            array[kept : kept + count] = array[a : a + _BLOCK][mask]
        kept += count
    return kept


def _opens(code: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Whether each row of sorted (``code``, ``t``) is the first of its (code, t)."""
    first = np.ones(len(code), dtype=np.bool_)
    np.not_equal(code[1:], code[:-1], out=first[1:])
    first[1:] |= t[1:] != t[:-1]
    return first


def _sorted(polls: pl.LazyFrame, t_bounds: tuple[int, int], stores: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``polls`` collected and sorted by (code, t, active), as writable arrays ``code``, ``t``, ``active``.

    When the three fit in one Int64 (as they do for any realistic window and
    store count) the query yields only that packed key — ``code``, then
    ``t − t_lo``, then ``active`` in its lowest bit, each in a field of
    whole bits — which is sorted alone and decoded by shifts and masks:
    several times faster than sorting a frame by three columns, and the only
    per-poll column the query materialises. NumPy sorts it: its sort of
    one Int64 array is several times faster than Polars' (and single
    threaded, which on a busy machine is no loss). The key then becomes
    ``t`` in place, after ``code`` and ``active`` are taken from it block by
    block (no full-length temporary).
    """
    t_lo, t_hi = t_bounds
    t_bits = (2 * (t_hi - t_lo) + 1).bit_length() if t_hi >= t_lo else 0
    if t_hi < t_lo or max(stores, 1) << t_bits >= 2**63:
        frame = polls.collect().sort("code", "t", "active")
        return tuple(frame.get_column(name).to_numpy(writable=True) for name in ("code", "t", "active"))  # type: ignore[return-value]
    key = pl.col("code").cast(pl.Int64) * (1 << t_bits) + (pl.col("t") - t_lo) * 2 + pl.col("active").cast(pl.Int64)
    packed = polls.select(key.alias("key")).collect().get_column("key").to_numpy(writable=True)
    packed.sort()
    code = np.empty(len(packed), dtype=np.uint32)
    active = np.empty(len(packed), dtype=np.bool_)
    for a in range(0, len(packed), _BLOCK):
        block = packed[a : a + _BLOCK]
        code[a : a + _BLOCK] = block >> t_bits
        active[a : a + _BLOCK] = block & 1
        block &= (1 << t_bits) - 1
        block >>= 1
        block += t_lo
    return code, packed, active


def _merge_touching(code: np.ndarray, start: np.ndarray, end: np.ndarray, active: np.ndarray) -> pl.DataFrame:
    """Join consecutive intervals of a store that touch (end == next start) and share a status.

    The intervals are sorted by (code, start) and disjoint; the measure of
    each status is unchanged, only the row count shrinks (a run of active
    polls becomes one interval). Returns them as a frame of ``code``,
    ``start``, ``end``, ``active``.
    """
    # continues[i]: interval i + 1 continues interval i.
    continues = (code[1:] == code[:-1]) & (start[1:] == end[:-1]) & (active[1:] == active[:-1])
    opens = np.ones(len(code), dtype=np.bool_)
    closes = np.ones(len(code), dtype=np.bool_)
    np.logical_not(continues, out=opens[1:])
    np.logical_not(continues, out=closes[:-1])
    del continues
    # A run's first interval gives its start and status, its last one its
    # end; both lists are in order, so they pair up.
    return pl.DataFrame(
        [
            pl.Series("code", code[opens], dtype=pl.UInt32),
            pl.Series("start", start[opens], dtype=pl.Int64),
            pl.Series("end", end[closes], dtype=pl.Int64),
            pl.Series("active", active[opens], dtype=pl.Boolean),
        ]
    )
