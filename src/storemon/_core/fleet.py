"""The fleet at a glance: one JSON-able summary of a report, its timeline and its daily series.

:func:`fleet_summary` adds up what the other functions computed (it reads
nothing and computes no status itself), so every figure is the library's:

* ``stores`` — the report's rows;
* ``uptime_pct`` — per window (``hour``, ``day``, ``week``) Σ uptime / Σ
  business time × 100 over every store, ``None`` when no store had business
  time in that window;
* ``down_now`` — the ids (sorted) of the stores whose timeline segment
  holding ``now − 1 µs`` (the last instant of every window) is business time
  and not ``active``;
* ``top_downtime`` — the ``top`` stores with the most ``downtime_last_week``
  (ties by id), each with its week's downtime and uptime in hours;
* ``daily`` — per local date, the business and up hours summed over the
  stores, and their ratio (``None`` when the fleet had no business time).

Sums run one value after another in store order (a running sum's last
value), not Polars' chunk-wise ``sum``: float addition is not associative, so
a chunk-wise sum depends on how the frame is chunked, and a sharded report's
frames are concatenations of its shards'. The same figures in the same order
give the same bits.

``timeline`` and ``daily`` may be lazy (a scan of files bigger than memory):
only the segments holding ``now − 1 µs`` and the four columns the daily sums
need are collected.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import polars as pl

from storemon._instants import utc_instant
from storemon.exceptions import ConfigError

__all__ = ["fleet_summary"]

_WINDOWS = ("hour", "day", "week")


def fleet_summary(
    report: pl.DataFrame,
    timeline: pl.DataFrame | pl.LazyFrame,
    daily: pl.DataFrame | pl.LazyFrame,
    *,
    now: datetime,
    top: int = 20,
) -> dict[str, Any]:
    """Summarise the fleet (see the module docstring); plain ``dict``/``list``/``str``/``float``/``None`` only.

    ``report`` is :func:`~storemon.compute_report`'s result, ``timeline`` a
    :func:`~storemon.timeline` reaching ``now``, ``daily`` a
    :func:`~storemon.daily` series (either eager or lazy); ``now`` the
    report's instant (naive = UTC).
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ConfigError(f"top must be a whole number ≥ 0, not {top!r}")
    moment = utc_instant(now, "now") - timedelta(microseconds=1)
    in_order = report.sort("store_id")
    sums = in_order.select(
        *(_sum(pl.col(f"uptime_last_{window}")).alias(f"up_{window}") for window in _WINDOWS),
        *(
            _sum(pl.col(f"uptime_last_{window}") + pl.col(f"downtime_last_{window}")).alias(f"business_{window}")
            for window in _WINDOWS
        ),
    ).row(0, named=True)
    uptime_pct = {window: _ratio(sums[f"up_{window}"], sums[f"business_{window}"], 100.0) for window in _WINDOWS}
    at = pl.lit(moment, dtype=pl.Datetime("ns", "UTC"))
    down_now = (
        timeline.lazy()
        .filter((pl.col("start") <= at) & (pl.col("end") > at) & pl.col("business") & (pl.col("status") != "active"))
        .select("store_id")
        .collect()
        .get_column("store_id")
        .unique()
        .sort()
        .to_list()
    )
    worst = report.sort(["downtime_last_week", "store_id"], descending=[True, False]).head(top)
    top_downtime = worst.select("store_id", "downtime_last_week", "uptime_last_week").to_dicts()
    business, up = pl.col("business_hours"), pl.col("uptime_hours")
    # Collected before the ordered sums: a lazy query need not keep row order.
    days = (
        daily.lazy()
        .select("date", "store_id", business, up)
        .collect()
        .sort("date", "store_id")
        .group_by("date", maintain_order=True)
        .agg(_sum(business), _sum(up))
        .sort("date")
        .select(
            pl.col("date").dt.to_string("%Y-%m-%d"),
            business,
            up,
            pl.when(business != 0).then(up / business).alias("uptime_ratio"),
        )
        .to_dicts()
    )
    return {
        "stores": report.height,
        "uptime_pct": uptime_pct,
        "down_now": down_now,
        "top_downtime": top_downtime,
        "daily": days,
    }


def _sum(values: pl.Expr) -> pl.Expr:
    """The sum of ``values`` added one after another in row order (module docstring); 0 when there are none."""
    return values.cum_sum().last().fill_null(0.0)


def _ratio(part: float | None, whole: float | None, scale: float) -> float | None:
    if not whole:
        return None
    return float(part or 0.0) / float(whole) * scale
