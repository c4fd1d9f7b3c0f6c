"""Weekly business hours → business intervals in UTC ticks.

A *tick* is half a microsecond (see :mod:`storemon._core.status`, where midpoints
between polls need it); every instant here is an Int64 tick count since the
Unix epoch, and every interval is half-open ``[start, end)``.

Rules (SPEC.md, "Business hours → UTC intervals"):

* a store without business-hours rows is open all the time;
* an end at or after 23:59:00 means 24:00 (the data writes "until midnight"
  as 23:59:00 or 23:59:59);
* then ``end > start`` is a same-day interval, ``end < start`` runs overnight
  into the next day, ``end == start`` is 24 hours;
* local times become UTC by :func:`storemon._core.zones.local_to_utc_us` (fold=0);
  an interval whose UTC end is not after its UTC start is empty;
* overlaps need no merging here: the sweep in :mod:`storemon._core.sweep` counts
  open intervals, so an instant covered twice is still counted once.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from storemon._core.zones import local_to_utc_us
from storemon._instants import TICKS_PER_US

__all__ = ["business_intervals"]

_DAY_US = 86_400 * 1_000_000
_MIDNIGHT_FROM_US = (23 * 3600 + 59 * 60) * 1_000_000  # 23:59:00
_NS_PER_US = 1_000

# Local dates to expand around the UTC window: a UTC offset is within ±14 h
# and an interval ends at most 48 h after its local date's midnight.
_DATES_BEFORE = 3
_DATES_AFTER = 1


def business_intervals(
    hours: pl.DataFrame,
    store_zones: pl.DataFrame,
    stores: pl.DataFrame,
    window: tuple[int, int],
) -> pl.DataFrame:
    """Business intervals of every store, clipped to ``window``, in ticks.

    ``hours`` is the typed hours frame, ``store_zones`` maps ``store_id`` to its
    resolved ``zone``, ``stores`` maps every ``store_id`` in the report to an
    integer ``code``; ``window`` is ``(start, end)`` in ticks. Returns columns
    ``code`` (UInt32), ``start``, ``end`` (Int64 ticks), non-empty, possibly
    overlapping.
    """
    lo, hi = window
    rows = _weekly_rows(hours, stores, store_zones)
    dated = rows.join(_local_dates(lo, hi), on="dayOfWeek", how="inner")
    local = dated.with_columns(
        (pl.col("midnight") + pl.col("open_us")).alias("local_start"),
        (pl.col("midnight") + pl.col("close_us")).alias("local_end"),
    )
    utc = local_to_utc_us(local, {"local_start": "utc_start", "local_end": "utc_end"}, "zone")
    scheduled = utc.select(
        "code",
        (pl.col("utc_start") * TICKS_PER_US).clip(lo, hi).alias("start"),
        (pl.col("utc_end") * TICKS_PER_US).clip(lo, hi).alias("end"),
    )
    always_open = stores.join(hours.select("store_id").unique(), on="store_id", how="anti").select(
        "code", pl.lit(lo, pl.Int64).alias("start"), pl.lit(hi, pl.Int64).alias("end")
    )
    return pl.concat([scheduled, always_open]).filter(pl.col("end") > pl.col("start"))


def _weekly_rows(hours: pl.DataFrame, stores: pl.DataFrame, store_zones: pl.DataFrame) -> pl.DataFrame:
    """Hours rows as (code, zone, dayOfWeek, open_us, close_us), close after open."""
    open_us = pl.col("start_time_local").cast(pl.Int64) // _NS_PER_US
    end_us = pl.col("end_time_local").cast(pl.Int64) // _NS_PER_US
    end_us = pl.when(end_us >= _MIDNIGHT_FROM_US).then(_DAY_US).otherwise(end_us)
    close_us = pl.when(end_us > open_us).then(end_us).otherwise(end_us + _DAY_US)
    return (
        hours.join(stores, on="store_id", how="inner")
        .join(store_zones, on="store_id", how="inner")
        .select(
            "code",
            "zone",
            pl.col("dayOfWeek").cast(pl.Int8),
            open_us.alias("open_us"),
            close_us.alias("close_us"),
        )
    )


def _local_dates(lo: int, hi: int) -> pl.DataFrame:
    """Every local date whose business hours could touch ``[lo, hi)`` (ticks)."""
    first = _tick_date(lo) - timedelta(days=_DATES_BEFORE)
    last = _tick_date(hi) + timedelta(days=_DATES_AFTER)
    days = pl.date_range(first, last, "1d", eager=True).alias("date")
    return pl.DataFrame(days).select(
        (pl.col("date").dt.weekday() - 1).cast(pl.Int8).alias("dayOfWeek"),
        (pl.col("date").cast(pl.Datetime("us")).cast(pl.Int64)).alias("midnight"),
    )


def _tick_date(ticks: int) -> date:
    return date(1970, 1, 1) + timedelta(microseconds=ticks // TICKS_PER_US)
