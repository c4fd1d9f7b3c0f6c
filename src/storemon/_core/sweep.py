"""Measure of business ∩ window ∩ active per store, by one sorted sweep.

Every interval becomes two events (+1 at its start, −1 at its end) on one of
two counters: open business intervals and active intervals. After sorting the
events by (store, instant), running sums give both counters on each segment
between consecutive events; a segment counts as business time when the first
counter is positive and as uptime when both are. Overlapping business rows
therefore count once, with no merging step.

The three windows all end at ``now`` and are nested, so each segment's share
of a window is ``max(0, end − max(start, now − length))``.
"""

from __future__ import annotations

import polars as pl

__all__ = ["measure_windows"]


def measure_windows(
    business: pl.DataFrame,
    active: pl.DataFrame,
    now: int,
    windows: dict[str, int],
) -> pl.DataFrame:
    """Business and up time per store and window, in ticks.

    ``business`` and ``active`` have ``code``, ``start``, ``end`` (ticks, within
    ``[now − longest window, now)``); ``windows`` maps a name to its length in
    ticks. Returns ``code`` and, per window name ``w``, ``business_w`` and
    ``up_w`` (Int64 ticks), one row per store that has any business time.
    """
    events = pl.concat(
        [
            _events(business, open_business=1, open_active=0),
            _events(active, open_business=0, open_active=1),
        ]
    ).sort("code", "at")
    code, at = pl.col("code"), pl.col("at")
    segments = events.select(
        code,
        at.alias("start"),
        pl.when(code == code.shift(-1)).then(at.shift(-1)).otherwise(at).alias("end"),
        (pl.col("d_business").cum_sum() > 0).alias("business"),
        (pl.col("d_active").cum_sum() > 0).alias("active"),
    ).filter(pl.col("business") & (pl.col("end") > pl.col("start")))

    shares = []
    for name, length in windows.items():
        share = (pl.col("end") - pl.max_horizontal(pl.col("start"), pl.lit(now - length))).clip(lower_bound=0)
        shares.append(share.sum().alias(f"business_{name}"))
        shares.append(share.filter(pl.col("active")).sum().alias(f"up_{name}"))
    return segments.group_by("code").agg(shares)


def _events(intervals: pl.DataFrame, *, open_business: int, open_active: int) -> pl.DataFrame:
    """Two events per interval: (+open at start, −open at end) for each counter."""

    def side(col: str, sign: int) -> pl.DataFrame:
        return intervals.select(
            "code",
            pl.col(col).alias("at"),
            pl.lit(sign * open_business, pl.Int32).alias("d_business"),
            pl.lit(sign * open_active, pl.Int32).alias("d_active"),
        )

    return pl.concat([side("start", 1), side("end", -1)])
