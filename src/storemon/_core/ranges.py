"""Figures over a range of instants: the status timeline, incidents and the daily series.

The rules (docs/rules.md, "Timeline, incidents and daily series"): the
report's rules, applied over any range ``[start, end)`` of UTC instants
(default: the last week before ``now``; ``start < end ≤ now`` is required),
for all stores or only those asked for (ids without any valid row are left
out).

* **timeline** — "the range cut into maximal segments of constant
  (``business``, ``status``), per store, sorted by store and start";
* **incidents** — "the maximal intervals of business time in the range
  during which the store is not known to be active (inactive or unknown).
  Pieces that touch are one incident; closed time or up time between two
  pieces separates them", clipped to the range, then kept when at least
  ``min_minutes`` long;
* **daily** — per store and local calendar date D of its zone (``[D 00:00,
  D+1 00:00)`` local, fold=0, so 23 or 25 h on DST days) that shares time
  with the range: business, up and down hours of that day ∩ range, and
  ``uptime_ratio`` = uptime / business (null when business is 0).

All three are sums or runs over the segments of :func:`storemon._core.report.range_segments`
— the very segments the report adds up — so the cross-checks (incident
minutes = week downtime, daily sums = week figures, timeline sums = report
figures) hold by construction. :func:`report_views` computes the report
and all three (the week's timeline and incidents, the last ``days`` days'
daily series) from one preparation and one sweep over the longer range:
each equals its separate call exactly, because extra cuts in the segments
change no sum and no maximal run. Instants are returned exactly: a tick is half
a microsecond, i.e. 500 ns, so ``Datetime("ns", "UTC")`` holds every one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from storemon._core.report import (
    SAME_AS_HORIZON,
    Frame,
    Horizon,
    Prepared,
    prepare,
    range_segments,
    report_figures,
)
from storemon._core.sweep import ACTIVE, INACTIVE, UNKNOWN, merge_runs
from storemon._core.units import TICKS_PER_HOUR, TICKS_PER_MINUTE, in_units
from storemon._core.zones import local_to_utc_us
from storemon._instants import TICKS_PER_US, to_ticks, to_us, utc_instant
from storemon.defaults import DAY, DEFAULT_HORIZON, DEFAULT_TIMEZONE, WEEK
from storemon.exceptions import ConfigError
from storemon.schema import DAILY_SCHEMA, INCIDENTS_SCHEMA, TIMELINE_SCHEMA, TIMELINE_STATUS

__all__ = ["timeline", "incidents", "daily", "report_views", "ReportViews"]

_NS_PER_TICK = 1_000 // TICKS_PER_US
_DAY_US = 86_400 * 1_000_000
_STATUS_NAMES = {ACTIVE: "active", INACTIVE: "inactive", UNKNOWN: "unknown"}


def timeline(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stores: Iterable[str] | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Frame | None = None,
) -> pl.DataFrame:
    """Maximal segments of constant (business, status) per store over ``[start, end)``.

    Inputs and keywords as for :func:`~storemon.compute_report`; ``start`` and
    ``end`` are UTC instants (naive = UTC), by default ``[now − 168 h, now)``,
    with ``start < end ≤ now``; ``stores`` limits the result to those ids.
    Returns :data:`~storemon.schema.TIMELINE_SCHEMA`, sorted by store and
    start; each store's segments cover the range exactly.
    """
    scope = _scope(polls, hours, tz, now, start, end, stores, horizon, horizon_active, horizon_inactive,
                   default_timezone, special)  # fmt: skip
    return _timeline_frame(scope.segments(), scope.codes)


def incidents(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stores: Iterable[str] | None = None,
    min_minutes: float = 0,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Frame | None = None,
) -> pl.DataFrame:
    """Maximal intervals of business time not known to be active, per store, over ``[start, end)``.

    Arguments as for :func:`timeline`; ``min_minutes`` keeps the incidents
    (clipped to the range) at least that long. Returns
    :data:`~storemon.schema.INCIDENTS_SCHEMA` sorted by store and start;
    ``minutes`` = ``inactive_minutes`` + ``unknown_minutes``.
    """
    if isinstance(min_minutes, bool) or not isinstance(min_minutes, (int, float)) or not min_minutes >= 0:
        raise ConfigError(f"min_minutes must be a number ≥ 0, not {min_minutes!r}")
    scope = _scope(polls, hours, tz, now, start, end, stores, horizon, horizon_active, horizon_inactive,
                   default_timezone, special)  # fmt: skip
    return _incidents_frame(scope.segments(), scope.codes, min_minutes)


def daily(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stores: Iterable[str] | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Frame | None = None,
) -> pl.DataFrame:
    """Business, up and down hours per store and local calendar date, over ``[start, end)``.

    Arguments as for :func:`timeline`. One row per store and local date of
    its zone that shares time with the range (business or not), sorted by
    store and date; :data:`~storemon.schema.DAILY_SCHEMA`.
    """
    scope = _scope(polls, hours, tz, now, start, end, stores, horizon, horizon_active, horizon_inactive,
                   default_timezone, special)  # fmt: skip
    lo, hi = scope.window
    days = _local_days(scope, lo, hi)
    return _daily_frame(scope.segments(cuts=_day_cuts(days, lo, hi)), days, scope.codes, lo, hi)


@dataclass(frozen=True)
class ReportViews:
    """The report and its views at one ``now``, from one preparation (see :func:`report_views`).

    ``report`` as :func:`~storemon.compute_report`; ``timeline`` and
    ``incidents`` over the week ``[now − 168 h, now)``; ``daily`` over
    ``[now − days · 24 h, now)``.
    """

    report: pl.DataFrame
    timeline: pl.DataFrame
    incidents: pl.DataFrame
    daily: pl.DataFrame


def report_views(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Frame | None = None,
    days: int = 30,
) -> ReportViews:
    """The report, the week's timeline and incidents and the ``days`` days' daily series, computed once.

    Inputs and keywords as for :func:`~storemon.compute_report`. Each frame
    equals the separate call: ``compute_report(...)``, ``timeline(...)`` and
    ``incidents(...)`` (the default week) and ``daily(..., start=now − days · 24 h)``
    (docs/rules.md, "The figures" and "Timeline, incidents and daily series").
    The inputs are prepared once and swept once into segments over the
    longer range, cut at the daily series' day boundaries; the week's
    pieces are those segments clipped to the week (the figures are sums and
    runs over segments, so extra cuts change none of them).
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"days must be a whole number ≥ 1, not {days!r}")
    prepared = prepare(
        polls,
        hours,
        tz,
        now,
        horizon=horizon,
        horizon_active=horizon_active,
        horizon_inactive=horizon_inactive,
        default_timezone=default_timezone,
        special=special,
    )
    hi = prepared.now_ticks
    week_lo, daily_lo = hi - to_ticks(WEEK), hi - days * to_ticks(DAY)
    scope = _Scope(prepared, (min(week_lo, daily_lo), hi), prepared.table.stores.select("code", "store_id"))
    local_days = _local_days(scope, daily_lo, hi)
    segs = scope.segments(cuts=_day_cuts(local_days, daily_lo, hi))
    week = _clipped(segs, week_lo, hi)
    return ReportViews(
        report=report_figures(prepared, week.filter("business")),
        timeline=_timeline_frame(week, scope.codes),
        incidents=_incidents_frame(week, scope.codes, 0),
        daily=_daily_frame(_clipped(segs, daily_lo, hi), local_days, scope.codes, daily_lo, hi),
    )


# --- the frames, from segments -------------------------------------------------


def _timeline_frame(segs: pl.DataFrame, codes: pl.DataFrame) -> pl.DataFrame:
    """The timeline of ``codes``' stores from their segments (sorted by code and start) covering the range."""
    runs = merge_runs(segs)
    status = pl.col("status").replace_strict(_STATUS_NAMES, return_dtype=pl.String).cast(TIMELINE_STATUS)
    return (
        runs.join(codes, on="code", how="inner")
        .select("store_id", _instant("start"), _instant("end"), "business", status.alias("status"))
        .sort("store_id", "start")
        .cast(TIMELINE_SCHEMA)
    )


def _incidents_frame(segs: pl.DataFrame, codes: pl.DataFrame, min_minutes: float) -> pl.DataFrame:
    """The incidents of ``codes``' stores from their segments (sorted by code and start) covering the range."""
    code, seg_start, seg_end = pl.col("code"), pl.col("start"), pl.col("end")
    down = pl.col("business") & (pl.col("status") != ACTIVE)
    # A down segment opens an incident unless the previous one of the same
    # store touches it and is down too.
    continues = (code == code.shift(1)) & (seg_start == seg_end.shift(1)) & down.shift(1)
    opens = down & ~continues.fill_null(False)
    length = seg_end - seg_start
    per_incident = (
        segs.with_columns(opens.cum_sum().alias("incident"), down.alias("down"))
        .filter("down")
        .group_by("incident")
        .agg(
            code.first(),
            seg_start.min().alias("start"),
            seg_end.max().alias("end"),
            length.filter(pl.col("status") == INACTIVE).sum().alias("inactive"),
            length.filter(pl.col("status") == UNKNOWN).sum().alias("unknown"),
        )
    )
    minutes = in_units(pl.col("end") - pl.col("start"), TICKS_PER_MINUTE).alias("minutes")
    return (
        per_incident.join(codes, on="code", how="inner")
        .select(
            "store_id",
            _instant("start"),
            _instant("end"),
            minutes,
            in_units(pl.col("inactive"), TICKS_PER_MINUTE).alias("inactive_minutes"),
            in_units(pl.col("unknown"), TICKS_PER_MINUTE).alias("unknown_minutes"),
        )
        .filter(pl.col("minutes") >= min_minutes)
        .sort("store_id", "start")
        .cast(INCIDENTS_SCHEMA)
    )


def _clipped(segs: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    """Segments (sorted by code and start) cut to ``[lo, hi)``; the order is kept."""
    start, end = pl.col("start").clip(lower_bound=lo), pl.col("end").clip(upper_bound=hi)
    return segs.with_columns(start, end).filter(pl.col("end") > pl.col("start"))


def _day_cuts(days: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    """The day boundaries of :func:`_local_days` as sweep cuts (``code``, ``at``), clipped to ``[lo, hi]``."""
    return days.select("code", pl.col("day_start").clip(lo, hi).alias("at"))


def _daily_frame(segs: pl.DataFrame, days: pl.DataFrame, codes: pl.DataFrame, lo: int, hi: int) -> pl.DataFrame:
    """The daily series over ``[lo, hi)`` from segments cut at the day boundaries (:func:`_day_cuts`)."""
    segs = segs.filter("business")
    # Each segment lies within one day (the day boundaries are cuts): the day
    # that starts last at or before the segment's start.
    starts = days.select("code", "date", pl.col("day_start").clip(lo, hi).alias("at")).sort("at")
    in_days = segs.sort("start").join_asof(
        starts, left_on="start", right_on="at", by="code", strategy="backward", check_sortedness=False
    )
    length = pl.col("end") - pl.col("start")
    per_day = in_days.group_by("code", "date").agg(
        length.sum().alias("business"), length.filter(pl.col("status") == ACTIVE).sum().alias("up")
    )
    business = pl.col("business").fill_null(0)
    up = pl.col("up").fill_null(0)
    return (
        days.join(per_day, on=["code", "date"], how="left")
        .join(codes, on="code", how="inner")
        .select(
            "store_id",
            "date",
            in_units(business, TICKS_PER_HOUR).alias("business_hours"),
            in_units(up, TICKS_PER_HOUR).alias("uptime_hours"),
            in_units(business - up, TICKS_PER_HOUR).alias("downtime_hours"),
            pl.when(business > 0).then(up / business).alias("uptime_ratio"),
        )
        .sort("store_id", "date")
        .cast(DAILY_SCHEMA)
    )


# --- shared ------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """One range computation: the prepared inputs, the range in ticks and the chosen stores."""

    prepared: Prepared
    window: tuple[int, int]
    codes: pl.DataFrame  # code, store_id of the chosen stores

    def segments(self, cuts: pl.DataFrame | None = None) -> pl.DataFrame:
        """The chosen stores' segments, covering the range, sorted by (code, start)."""
        segs = range_segments(self.prepared, self.window, cover=self.codes.select("code"), cuts=cuts)
        return segs.join(self.codes.select("code"), on="code", how="semi").sort("code", "start")


def _scope(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None,
    start: datetime | None,
    end: datetime | None,
    stores: Iterable[str] | None,
    horizon: timedelta | None,
    horizon_active: Horizon,
    horizon_inactive: Horizon,
    default_timezone: str,
    special: Frame | None,
) -> _Scope:
    prepared = prepare(
        polls,
        hours,
        tz,
        now,
        horizon=horizon,
        horizon_active=horizon_active,
        horizon_inactive=horizon_inactive,
        default_timezone=default_timezone,
        special=special,
    )
    now_ticks = prepared.now_ticks
    lo = now_ticks - to_ticks(WEEK) if start is None else to_us(utc_instant(start, "start")) * TICKS_PER_US
    hi = now_ticks if end is None else to_us(utc_instant(end, "end")) * TICKS_PER_US
    if not lo < hi <= now_ticks:
        raise ConfigError("the range must satisfy start < end ≤ now")
    codes = prepared.table.stores.select("code", "store_id")
    if stores is not None:
        if isinstance(stores, str):
            raise ConfigError("stores must be an iterable of store ids, not one string")
        wanted = pl.Series("store_id", list(stores), dtype=pl.String)
        codes = codes.filter(pl.col("store_id").is_in(wanted.implode()))
    return _Scope(prepared, (lo, hi), codes)


def _instant(column: str) -> pl.Expr:
    """Ticks → Datetime[ns, UTC] (a tick is 500 ns, so the conversion is exact)."""
    return (pl.col(column) * _NS_PER_TICK).cast(pl.Datetime("ns", "UTC")).alias(column)


def _local_days(scope: _Scope, lo: int, hi: int) -> pl.DataFrame:
    """Every (store, local date) whose day ``[D 00:00, D+1 00:00)`` shares time with ``[lo, hi)``.

    Columns ``code``, ``date``, ``day_start``, ``day_end`` (ticks). UTC
    offsets are within a day, so the local dates lie within one day of the
    range's UTC dates.
    """
    first = _tick_date(lo) - timedelta(days=1)
    last = _tick_date(hi) + timedelta(days=1)
    dates = pl.DataFrame(pl.date_range(first, last, "1d", eager=True).alias("date"))
    zones = scope.codes.join(scope.prepared.zones, on="store_id", how="inner").select("code", "zone")
    local = zones.join(dates, how="cross").with_columns(
        pl.col("date").cast(pl.Datetime("us")).cast(pl.Int64).alias("midnight"),
        (pl.col("date").cast(pl.Datetime("us")).cast(pl.Int64) + _DAY_US).alias("next_midnight"),
    )
    utc = local_to_utc_us(local, {"midnight": "utc_start", "next_midnight": "utc_end"}, "zone")
    return utc.select(
        "code",
        "date",
        (pl.col("utc_start") * TICKS_PER_US).alias("day_start"),
        (pl.col("utc_end") * TICKS_PER_US).alias("day_end"),
    ).filter((pl.col("day_start") < hi) & (pl.col("day_end") > lo))


def _tick_date(ticks: int) -> date:
    return date(1970, 1, 1) + timedelta(microseconds=ticks // TICKS_PER_US)
