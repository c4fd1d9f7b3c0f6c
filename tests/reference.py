"""A slow, obviously-correct reference for :func:`storemon.compute_report`.

Plain Python (``datetime``, ``zoneinfo``, ``fractions``): Polars is touched only
at the boundary, to read the input frames and to build the output frame. Each
function below is one paragraph of SPEC.md and can be checked against it line
by line. Speed is irrelevant; exactness is the point:

- an instant is an ``int`` number of microseconds since the Unix epoch (UTC);
- a status-change midpoint ``(tᵢ + tᵢ₊₁) / 2`` is a :class:`~fractions.Fraction`;
- ``±math.inf`` stands for the unbounded ends m₀ = −∞, mₙ = +∞ and for an
  infinite horizon; every figure is measured inside a bounded window, so no
  infinity ever reaches a result.

An interval is a half-open pair ``(start, end)``; a list of them is a set of
instants (their union).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE
from storemon.exceptions import ConfigError
from storemon.schema import REPORT_COLUMNS, REPORT_SCHEMA, is_known_zone

__all__ = [
    "Figures",
    "reference_report",
    "reference_figures",
    "union",
    "intersection",
    "measure",
    "to_us",
]

Instant = int | Fraction | float
Interval = tuple[Instant, Instant]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
US_PER_MINUTE = 60 * 10**6
US_PER_HOUR = 60 * US_PER_MINUTE

#: "An end_time_local at or after 23:59:00 means midnight ending the day."
MIDNIGHT_FROM = time(23, 59)

#: The three windows, each ending at ``now``: (name, length, unit of its figures).
WINDOWS: tuple[tuple[str, int, int], ...] = (
    ("hour", 1 * US_PER_HOUR, US_PER_MINUTE),
    ("day", 24 * US_PER_HOUR, US_PER_HOUR),
    ("week", 168 * US_PER_HOUR, US_PER_HOUR),
)


# --- interval arithmetic ---------------------------------------------------


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """The same set of instants as sorted, disjoint, non-empty intervals."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def intersection(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    """Instants in both ``a`` and ``b`` (quadratic; fine for a reference)."""
    b = list(b)
    return union((max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b)


def measure(intervals: Iterable[Interval]) -> Instant:
    """Total length of a set of instants, counting overlaps once."""
    return sum((end - start for start, end in union(intervals)), 0)


# --- conversions at the boundary --------------------------------------------


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive ``datetime`` is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(UTC) - EPOCH) // MICROSECOND


def _rows(frame: Any, columns: Sequence[str]) -> list[tuple]:
    """Rows of a Polars frame (or an iterable of tuples) in frame order."""
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect(engine="in-memory")
    if isinstance(frame, pl.DataFrame):
        return frame.select(columns).rows()
    return [tuple(row) for row in frame]


# --- stores, zones -----------------------------------------------------------


def store_zone(tz_rows: Sequence[tuple[str, str]], store: str, default_timezone: str) -> str:
    """The first known zone among the store's rows in frame order, else the default."""
    for row_store, zone in tz_rows:
        if row_store == store and is_known_zone(zone):
            return zone
    return default_timezone


# --- business hours ------------------------------------------------------------


def local_to_us(day: date, clock: time, zone: ZoneInfo) -> int:
    """A local wall-clock time as a UTC instant, PEP 495 ``fold=0``."""
    return to_us(datetime.combine(day, clock, tzinfo=zone).astimezone(UTC))


def row_interval(day: date, start: time, end: time, zone: ZoneInfo) -> Interval:
    """The UTC interval one hours row opens on local date ``day`` (maybe empty)."""
    next_day = day + timedelta(days=1)
    opens = local_to_us(day, start, zone)
    if end >= MIDNIGHT_FROM:  # the 24:00 rule: D + 24:00 = (D + 1 day) + 00:00
        closes = local_to_us(next_day, time(0), zone)
    elif end > start:
        closes = local_to_us(day, end, zone)
    elif end < start:  # overnight
        closes = local_to_us(next_day, end, zone)
    else:  # end == start: 24 hours
        closes = local_to_us(next_day, start, zone)
    return (opens, closes)  # empty when closes <= opens (a start in a spring-forward gap)


def business_intervals(
    hours_rows: Sequence[tuple[int, time, time]], zone_name: str, first_us: int, last_us: int
) -> list[Interval]:
    """Business time of one store, exact at least over ``[first_us, last_us)``.

    No rows: open 24/7. Otherwise the union of every row on every local date
    with its weekday, for dates generously around the span (a row's interval
    lies within two local days of its date, and UTC offsets are < 1 day).
    """
    if not hours_rows:
        return [(-math.inf, math.inf)]
    zone = ZoneInfo(zone_name)
    first_day = datetime.fromtimestamp(first_us // 10**6, UTC).date() - timedelta(days=4)
    last_day = datetime.fromtimestamp(last_us // 10**6, UTC).date() + timedelta(days=4)
    intervals = []
    day = first_day
    while day <= last_day:
        for weekday, start, end in hours_rows:
            if weekday == day.weekday():  # both: 0 = Monday
                intervals.append(row_interval(day, start, end, zone))
        day += timedelta(days=1)
    return union(intervals)


# --- status timeline ---------------------------------------------------------


def active_intervals(polls: Sequence[tuple[int, str]], now_us: int, horizon_us: Instant) -> list[Interval]:
    """Time covered by ``active`` polls (SPEC "Status timeline").

    Polls after ``now`` are dropped; polls at one instant are one poll, inactive
    if any is; poll i holds over [max(tᵢ − h, mᵢ₋₁), min(tᵢ + h, mᵢ)).
    """
    status_at: dict[int, str] = {}
    for ts, status in polls:
        if ts <= now_us:
            status_at[ts] = "inactive" if "inactive" in (status, status_at.get(ts)) else status
    times = sorted(status_at)
    midpoints = [-math.inf] + [Fraction(a + b, 2) for a, b in zip(times, times[1:], strict=False)] + [math.inf]
    active = []
    for i, ts in enumerate(times):
        if status_at[ts] == "active":
            active.append((max(ts - horizon_us, midpoints[i]), min(ts + horizon_us, midpoints[i + 1])))
    return union(active)


# --- figures -----------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One store's exact figures, in microseconds, per window name."""

    business: dict[str, Instant]
    uptime: dict[str, Instant]
    downtime: dict[str, Instant]

    def row(self) -> tuple[float, ...]:
        """The six report figures, in REPORT_COLUMNS order and units."""
        values = []
        for kind in (self.uptime, self.downtime):
            for name, _length, unit in WINDOWS:
                values.append(float(Fraction(kind[name]) / unit))
        return tuple(values)


def store_figures(business: list[Interval], active: list[Interval], now_us: int) -> Figures:
    """uptime = |B ∩ W ∩ A|, downtime = |B ∩ W| − uptime, for every window W."""
    totals: dict[str, Instant] = {}
    uptime: dict[str, Instant] = {}
    downtime: dict[str, Instant] = {}
    for name, length, _unit in WINDOWS:
        window = [(now_us - length, now_us)]
        open_in_window = intersection(business, window)
        totals[name] = measure(open_in_window)
        uptime[name] = measure(intersection(open_in_window, active))
        downtime[name] = totals[name] - uptime[name]
    return Figures(totals, uptime, downtime)


def reference_figures(
    polls: Any,
    hours: Any,
    tz: Any,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> dict[str, Figures]:
    """Exact figures per store id (every id in any row of any input).

    Inputs are frames in the :mod:`storemon.schema` shapes, or iterables of
    tuples in the same column order.
    """
    poll_rows = [
        (store, to_us(ts), str(status)) for store, ts, status in _rows(polls, ("store_id", "timestamp_utc", "status"))
    ]
    hours_rows = _rows(hours, ("store_id", "dayOfWeek", "start_time_local", "end_time_local"))
    tz_rows = _rows(tz, ("store_id", "timezone_str"))

    if now is not None:
        now_us = to_us(now)
    elif poll_rows:
        now_us = max(ts for _store, ts, _status in poll_rows)
    else:
        raise ConfigError("no polls to take a default 'now' from; pass now explicitly")
    horizon_us: Instant = math.inf if horizon is None else horizon // MICROSECOND
    week_start = now_us - WINDOWS[-1][1]

    stores = (
        {row[0] for row in poll_rows}
        | {row[0] for row in hours_rows}
        | {row[0] for row in tz_rows if is_known_zone(row[1])}
    )
    result = {}
    for store in sorted(stores):
        zone = store_zone(tz_rows, store, default_timezone)
        own_hours = [(int(d), s, e) for sid, d, s, e in hours_rows if sid == store]
        own_polls = [(ts, status) for sid, ts, status in poll_rows if sid == store]
        business = business_intervals(own_hours, zone, week_start, now_us)
        active = active_intervals(own_polls, now_us, horizon_us)
        result[store] = store_figures(business, active, now_us)
    return result


def reference_report(
    polls: Any,
    hours: Any,
    tz: Any,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """The report as :func:`storemon.compute_report` returns it: one row per store, sorted."""
    figures = reference_figures(polls, hours, tz, now, horizon, default_timezone)
    rows = [(store, *figs.row()) for store, figs in sorted(figures.items())]
    assert REPORT_COLUMNS == tuple(REPORT_SCHEMA)[1:]
    return pl.DataFrame(rows, schema=REPORT_SCHEMA, orient="row")
