"""Business intervals and status intervals → segments, by one sorted sweep.

Every interval becomes two events (+1 at its start, −1 at its end) on one of
three counters: open business intervals, known-active intervals and
known-inactive intervals. After sorting the events by (store, instant),
running sums give the three counters on each *segment* between consecutive
events of a store. A segment is business time when the first counter is
positive (so overlapping business rows count once, with no merging step);
its status is ``active`` or ``inactive`` when that counter is positive
(status intervals of a store are disjoint, so at most one is) and
``unknown`` otherwise (docs/rules.md, "Status over time": time farther than the horizon
from every poll has no known status).

Every figure storemon returns is a sum over these segments: the report's
(:func:`measure_windows`), and the timeline, incidents and daily series of
:mod:`storemon._core.ranges`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = ["ACTIVE", "INACTIVE", "UNKNOWN", "segments", "measure_windows", "merge_runs"]

#: Status codes of a segment (Int8).
UNKNOWN, INACTIVE, ACTIVE = 0, 1, 2


def segments(
    business: pl.DataFrame,
    status: pl.DataFrame,
    *,
    cover: tuple[pl.DataFrame, tuple[int, int]] | None = None,
    cuts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The segments of every store: ``code``, ``start``, ``end``, ``business``, ``status``.

    ``business`` has ``code``, ``start``, ``end`` (ticks, possibly
    overlapping); ``status`` has ``code``, ``start``, ``end``, ``active``
    (disjoint per store, from :func:`storemon._core.status.status_intervals`).
    Without ``cover`` only the time between a store's first and last event
    is cut into segments; ``cover=(codes, (lo, hi))`` adds ``lo`` and ``hi``
    as events of every store in ``codes`` (column ``code``), so their
    segments cover exactly ``[lo, hi)`` (all intervals must lie within it).
    ``cuts`` (``code``, ``at``) adds more boundaries (day boundaries, say).
    Returns non-empty segments sorted by (code, start); ``business`` is
    Boolean, ``status`` Int8 (:data:`ACTIVE`, :data:`INACTIVE`, :data:`UNKNOWN`);
    neighbours may share both (see :func:`merge_runs`).
    """
    active = status.filter("active")
    inactive = status.filter(~pl.col("active"))
    pieces = [
        _events(business, _BUSINESS_OPENS),
        _events(active, _ACTIVE_OPENS),
        _events(inactive, _INACTIVE_OPENS),
    ]
    if cover is not None:
        codes, (lo, hi) = cover
        pieces.append(_boundaries(codes.select("code", pl.lit(lo, pl.Int64).alias("at"))))
        pieces.append(_boundaries(codes.select("code", pl.lit(hi, pl.Int64).alias("at"))))
    if cuts is not None:
        pieces.append(_boundaries(cuts.select("code", "at")))
    code, at, kind = _sorted_events(pl.concat(pieces))
    # Events at one (store, instant) may come in any order: only the last of
    # them starts a non-empty segment, and its running sums include them all.
    # The sums run over all stores at once: each store's events sum to zero.
    business_open = _open_count(kind, _BUSINESS_OPENS) > 0
    active_open = _open_count(kind, _ACTIVE_OPENS) > 0
    inactive_open = _open_count(kind, _INACTIVE_OPENS) > 0
    del kind
    state = np.where(active_open, ACTIVE, np.where(inactive_open, INACTIVE, UNKNOWN)).astype(np.int8)
    del active_open, inactive_open
    end = at.copy()
    np.copyto(end[:-1], at[1:], where=code[1:] == code[:-1])
    kept = end > at
    return pl.DataFrame(
        [
            pl.Series("code", code[kept], dtype=pl.UInt32),
            pl.Series("start", at[kept], dtype=pl.Int64),
            pl.Series("end", end[kept], dtype=pl.Int64),
            pl.Series("business", business_open[kept], dtype=pl.Boolean),
            pl.Series("status", state[kept], dtype=pl.Int8),
        ]
    )


# Event kinds (Int8): 0 cuts a segment only; an interval of each counter
# opens with the kind below and closes with the next one.
_BUSINESS_OPENS, _ACTIVE_OPENS, _INACTIVE_OPENS = 1, 3, 5
_KIND_BITS = 3


def _sorted_events(events: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``code``, ``at`` and ``kind`` of ``events``, sorted by (code, at).

    As for the polls (:func:`storemon._core.status._sorted`), when the three
    fit in one Int64 they are packed into whole-bit fields of a key, which
    NumPy sorts alone: far cheaper than sorting a frame by two columns.
    """
    bounds = events.select(pl.col("at").min().alias("lo"), pl.col("at").max().alias("hi"), pl.col("code").max())
    at_lo, at_hi, top = bounds.row(0)
    if at_lo is None:
        return (np.empty(0, np.uint32), np.empty(0, np.int64), np.empty(0, np.int8))
    at_bits = (at_hi - at_lo).bit_length()
    shift = at_bits + _KIND_BITS
    if top >= 2 ** (63 - shift):
        ordered = events.sort("code", "at")
        return (
            ordered.get_column("code").to_numpy(),
            ordered.get_column("at").to_numpy(),
            ordered.get_column("kind").to_numpy(),
        )
    key = pl.col("code").cast(pl.Int64) * (1 << shift) + (pl.col("at") - at_lo) * (1 << _KIND_BITS) + pl.col("kind")
    packed = events.select(key.alias("key")).get_column("key").to_numpy(writable=True)
    packed.sort()
    code = (packed >> shift).astype(np.uint32)
    kind = (packed & ((1 << _KIND_BITS) - 1)).astype(np.int8)
    packed >>= _KIND_BITS
    packed &= (1 << at_bits) - 1
    packed += at_lo
    return code, packed, kind


def _open_count(kind: np.ndarray, opens: int) -> np.ndarray:
    """The running count of open intervals of the counter whose intervals open with ``opens``."""
    delta = (kind == opens).astype(np.int64)
    delta -= kind == opens + 1
    return np.cumsum(delta, out=delta)


def measure_windows(business_segments: pl.DataFrame, now: int, windows: dict[str, int]) -> pl.DataFrame:
    """Business and up time per store and window, in ticks.

    ``business_segments`` are segments with ``business`` true, within
    ``[now − longest window, now)``; ``windows`` maps a name to its length in
    ticks. The windows all end at ``now`` and are nested, so each segment's
    share of a window is ``max(0, end − max(start, now − length))``. Returns
    ``code`` and, per window name ``w``, ``business_w`` and ``up_w`` (Int64
    ticks), one row per store that has any business time.
    """
    shares = []
    for name, length in windows.items():
        share = (pl.col("end") - pl.max_horizontal(pl.col("start"), pl.lit(now - length))).clip(lower_bound=0)
        shares.append(share.sum().alias(f"business_{name}"))
        shares.append(share.filter(pl.col("status") == ACTIVE).sum().alias(f"up_{name}"))
    return business_segments.group_by("code").agg(shares)


def merge_runs(segs: pl.DataFrame, keys: tuple[str, ...] = ("business", "status")) -> pl.DataFrame:
    """Join consecutive segments of a store that touch and agree on ``keys``.

    ``segs`` sorted by (code, start); the result keeps that order, with
    ``code``, ``start``, ``end`` and ``keys``.
    """
    code, start, end = pl.col("code"), pl.col("start"), pl.col("end")
    continues = (code == code.shift(1)) & (start == end.shift(1))
    continued = (code == code.shift(-1)) & (end == start.shift(-1))
    for key in keys:
        continues = continues & (pl.col(key) == pl.col(key).shift(1))
        continued = continued & (pl.col(key) == pl.col(key).shift(-1))
    # A run's first segment gives its start and keys, its last one its end;
    # filtering keeps row order, so the two lists pair up.
    starts = segs.filter(~continues.fill_null(False)).select("code", "start", *keys)
    ends = segs.filter(~continued.fill_null(False)).select("end")
    return pl.concat([starts, ends], how="horizontal").select("code", "start", "end", *keys)


def _events(intervals: pl.DataFrame, opens: int) -> pl.DataFrame:
    """Two events per interval: kind ``opens`` at its start, ``opens + 1`` at its end."""
    return pl.concat(
        [
            intervals.select("code", pl.col("start").alias("at"), pl.lit(opens, pl.Int8).alias("kind")),
            intervals.select("code", pl.col("end").alias("at"), pl.lit(opens + 1, pl.Int8).alias("kind")),
        ]
    )


def _boundaries(points: pl.DataFrame) -> pl.DataFrame:
    """Events that change no counter: they only cut a segment in two."""
    return points.select(pl.col("code").cast(pl.UInt32), pl.col("at").cast(pl.Int64), pl.lit(0, pl.Int8).alias("kind"))
