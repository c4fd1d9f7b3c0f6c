"""Weekly business hours and special hours → business intervals in UTC ticks.

A *tick* is half a microsecond (see :mod:`storemon._core.status`, where midpoints
between polls need it); every instant here is an Int64 tick count since the
Unix epoch, and every interval is half-open ``[start, end)``.

Rules (docs/rules.md, "Business hours → UTC intervals"):

* a store without business-hours rows is open all the time;
* an end at or after 23:59:00 means 24:00 (the data writes "until midnight"
  as 23:59:00 or 23:59:59);
* then ``end > start`` is a same-day interval, ``end < start`` runs overnight
  into the next day, ``end == start`` is 24 hours;
* local times become UTC by :func:`storemon._core.zones.local_to_utc_us` (fold=0);
  an interval whose UTC end is not after its UTC start is empty;
* overlaps need no merging here: the sweep in :mod:`storemon._core.sweep` counts
  open intervals, so an instant covered twice is still counted once.

Special hours (docs/rules.md, "Special hours"): for a store and a date D with
at least one valid special row, those rows take the place of what D would
have had: the weekly rows for D's weekday, or, for a store without weekly
rows, the whole day from D 00:00 to D+1 00:00. Rows are *anchored* at a date, so replacing
means dropping the weekly rows anchored at D and adding the special ones
anchored at D (same 23:59 / overnight / 24-hour rules); an overnight row of
D − 1 still runs into D. A closed row (both times null) only marks its date
as replaced. A store without weekly rows but with special rows is given the
24-hour day as a weekly row on every weekday (00:00–00:00, the ``end ==
start`` rule), so that its special dates replace exactly that day.
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
    special: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Business intervals of every store, clipped to ``window``, in ticks.

    ``hours`` is the typed hours frame, ``special`` the valid special-hours
    rows (``store_id``, ``date_local``, times null on a closed date), ``store_zones`` maps ``store_id`` to its
    resolved ``zone``, ``stores`` maps every ``store_id`` in the report to an
    integer ``code``; ``window`` is ``(start, end)`` in ticks. Returns columns
    ``code`` (UInt32), ``start``, ``end`` (Int64 ticks), non-empty, possibly
    overlapping.
    """
    lo, hi = window
    dates = _local_dates(lo, hi)
    weekly = _weekly_rows(hours, stores, store_zones)
    if special is not None and special.height:
        special = special.filter(pl.col("date_local").is_between(dates["date"].min(), dates["date"].max()))
    if special is not None and special.height:
        # Stores with special rows but no weekly ones: the 24-hour day on every weekday.
        special_only = special.select("store_id").unique().join(hours.select("store_id"), on="store_id", how="anti")
        whole_days = special_only.join(pl.DataFrame({"dayOfWeek": pl.Series(range(7), dtype=pl.Int8)}), how="cross")
        weekly = pl.concat([weekly, _as_rows(whole_days, stores, store_zones, "00:00", "00:00")])
        replaced = special.join(stores, on="store_id", how="inner").select("code", pl.col("date_local").alias("date"))
        dated = weekly.join(dates, on="dayOfWeek", how="inner").join(replaced.unique(), on=["code", "date"], how="anti")
        special_rows = _rows(
            special.filter(pl.col("start_time_local").is_not_null() & pl.col("end_time_local").is_not_null()),
            stores,
            store_zones,
        ).join(dates.select("date", "midnight"), left_on="date_local", right_on="date", how="inner")
        dated = pl.concat([dated.select(_DATED), special_rows.select(_DATED)])
    else:
        special_only = stores.clear().select("store_id")
        dated = weekly.join(dates, on="dayOfWeek", how="inner")
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
    with_rows = pl.concat([hours.select("store_id"), special_only])
    always_open = stores.join(with_rows.unique(), on="store_id", how="anti").select(
        "code", pl.lit(lo, pl.Int64).alias("start"), pl.lit(hi, pl.Int64).alias("end")
    )
    return pl.concat([scheduled, always_open]).filter(pl.col("end") > pl.col("start"))


_DATED = ("code", "zone", "midnight", "open_us", "close_us")


def _as_rows(
    frame: pl.DataFrame, stores: pl.DataFrame, store_zones: pl.DataFrame, start: str, end: str
) -> pl.DataFrame:
    """``frame``'s rows with the same literal start and end time, as weekly rows."""
    with_times = frame.with_columns(
        pl.lit(start).str.to_time("%H:%M").alias("start_time_local"),
        pl.lit(end).str.to_time("%H:%M").alias("end_time_local"),
    )
    return _weekly_rows(with_times, stores, store_zones)


def _weekly_rows(hours: pl.DataFrame, stores: pl.DataFrame, store_zones: pl.DataFrame) -> pl.DataFrame:
    """Hours rows as (code, zone, dayOfWeek, open_us, close_us), close after open."""
    return _rows(hours, stores, store_zones).select(
        "code", "zone", pl.col("dayOfWeek").cast(pl.Int8), "open_us", "close_us"
    )


def _rows(rows: pl.DataFrame, stores: pl.DataFrame, store_zones: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (weekly or special) with ``code``, ``zone``, ``open_us`` and ``close_us`` (after open).

    The rules of the module docstring: an end at or after 23:59 is 24:00, an
    end before the start is on the next day, an end equal to it 24 h later.
    """
    open_us = pl.col("start_time_local").cast(pl.Int64) // _NS_PER_US
    end_us = pl.col("end_time_local").cast(pl.Int64) // _NS_PER_US
    end_us = pl.when(end_us >= _MIDNIGHT_FROM_US).then(_DAY_US).otherwise(end_us)
    close_us = pl.when(end_us > open_us).then(end_us).otherwise(end_us + _DAY_US)
    return (
        rows.join(stores.select("store_id", "code"), on="store_id", how="inner")
        .join(store_zones, on="store_id", how="inner")
        .with_columns(open_us.alias("open_us"), close_us.alias("close_us"))
    )


def _local_dates(lo: int, hi: int) -> pl.DataFrame:
    """Every local date whose business hours could touch ``[lo, hi)`` (ticks)."""
    first = _tick_date(lo) - timedelta(days=_DATES_BEFORE)
    last = _tick_date(hi) + timedelta(days=_DATES_AFTER)
    days = pl.date_range(first, last, "1d", eager=True).alias("date")
    return pl.DataFrame(days).select(
        "date",
        (pl.col("date").dt.weekday() - 1).cast(pl.Int8).alias("dayOfWeek"),
        (pl.col("date").cast(pl.Datetime("us")).cast(pl.Int64)).alias("midnight"),
    )


def _tick_date(ticks: int) -> date:
    return date(1970, 1, 1) + timedelta(microseconds=ticks // TICKS_PER_US)
