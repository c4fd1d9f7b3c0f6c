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
        _events(business, (1, 0, 0)),
        _events(active, (0, 1, 0)),
        _events(inactive, (0, 0, 1)),
    ]
    if cover is not None:
        codes, (lo, hi) = cover
        pieces.append(_boundaries(codes.select("code", pl.lit(lo, pl.Int64).alias("at"))))
        pieces.append(_boundaries(codes.select("code", pl.lit(hi, pl.Int64).alias("at"))))
    if cuts is not None:
        pieces.append(_boundaries(cuts.select("code", "at")))
    events = pl.concat(pieces).sort("code", "at")
    code, at = pl.col("code"), pl.col("at")
    state = (
        pl.when(pl.col("d_active").cum_sum() > 0)
        .then(ACTIVE)
        .when(pl.col("d_inactive").cum_sum() > 0)
        .then(INACTIVE)
        .otherwise(UNKNOWN)
    )
    return events.select(
        code,
        at.alias("start"),
        pl.when(code == code.shift(-1)).then(at.shift(-1)).otherwise(at).alias("end"),
        (pl.col("d_business").cum_sum() > 0).alias("business"),
        state.cast(pl.Int8).alias("status"),
    ).filter(pl.col("end") > pl.col("start"))


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


def _events(intervals: pl.DataFrame, opens: tuple[int, int, int]) -> pl.DataFrame:
    """Two events per interval: (+1 at start, −1 at end) on the counters ``opens`` marks."""

    def side(col: str, sign: int) -> pl.DataFrame:
        business, active, inactive = (sign * one for one in opens)
        return intervals.select(
            "code",
            pl.col(col).alias("at"),
            pl.lit(business, pl.Int32).alias("d_business"),
            pl.lit(active, pl.Int32).alias("d_active"),
            pl.lit(inactive, pl.Int32).alias("d_inactive"),
        )

    return pl.concat([side("start", 1), side("end", -1)])


def _boundaries(points: pl.DataFrame) -> pl.DataFrame:
    """Events that change no counter: they only cut a segment in two."""
    zero = pl.lit(0, pl.Int32)
    return points.select(
        pl.col("code").cast(pl.UInt32),
        pl.col("at").cast(pl.Int64),
        zero.alias("d_business"),
        zero.alias("d_active"),
        zero.alias("d_inactive"),
    )
