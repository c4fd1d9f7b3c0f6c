"""A slow, obviously-correct reference for :func:`storemon.compute_report`, the timeline, incidents and daily series.

Plain Python (``datetime``, ``zoneinfo``, ``fractions``): Polars is touched only
at the boundary, to read the input frames and to build the output frame. Each
function below is one paragraph of docs/rules.md and can be checked against it line
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
    "reference_timeline",
    "reference_incidents",
    "reference_daily",
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
    hours_rows: Sequence[tuple[int, time, time]],
    zone_name: str,
    first_us: int,
    last_us: int,
    special_rows: Sequence[tuple[date, time | None, time | None]] = (),
) -> list[Interval]:
    """Business time of one store, exact at least over ``[first_us, last_us)``.

    No weekly and no special rows: open 24/7. Otherwise, for every local date
    generously around the span (a row's interval lies within two local days
    of its date, and UTC offsets are < 1 day): the special rows of that date
    if it has any (a closed row, times None, adds nothing), else the weekly
    rows with its weekday, else — for a store without weekly rows — the
    24-hour day ``[D 00:00, D+1 00:00)``.
    """
    if not hours_rows and not special_rows:
        return [(-math.inf, math.inf)]
    zone = ZoneInfo(zone_name)
    special_by_date: dict[date, list[tuple[time | None, time | None]]] = {}
    for day, start, end in special_rows:
        special_by_date.setdefault(day, []).append((start, end))
    first_day = datetime.fromtimestamp(first_us // 10**6, UTC).date() - timedelta(days=4)
    last_day = datetime.fromtimestamp(last_us // 10**6, UTC).date() + timedelta(days=4)
    intervals = []
    day = first_day
    while day <= last_day:
        if day in special_by_date:
            for start, end in special_by_date[day]:
                if start is not None and end is not None:
                    intervals.append(row_interval(day, start, end, zone))
        elif hours_rows:
            for weekday, start, end in hours_rows:
                if weekday == day.weekday():  # both: 0 = Monday
                    intervals.append(row_interval(day, start, end, zone))
        else:
            intervals.append(local_day(day, zone))
        day += timedelta(days=1)
    return union(intervals)


def local_day(day: date, zone: ZoneInfo) -> Interval:
    """The local calendar day ``[D 00:00, D+1 00:00)`` in UTC microseconds (fold=0)."""
    return (local_to_us(day, time(0), zone), local_to_us(day + timedelta(days=1), time(0), zone))


# --- status timeline ---------------------------------------------------------


def status_intervals(
    polls: Sequence[tuple[int, str]], now_us: int, horizon_active: Instant, horizon_inactive: Instant
) -> tuple[list[Interval], list[Interval]]:
    """Time covered by ``active`` polls and by ``inactive`` polls (docs/rules.md, "Status timeline").

    Polls after ``now`` are dropped; polls at one instant are one poll, inactive
    if any is; poll i holds over [max(tᵢ − hᵢ, mᵢ₋₁), min(tᵢ + hᵢ, mᵢ)) with hᵢ
    the horizon of its status.
    """
    status_at: dict[int, str] = {}
    for ts, status in polls:
        if ts <= now_us:
            status_at[ts] = "inactive" if "inactive" in (status, status_at.get(ts)) else status
    times = sorted(status_at)
    midpoints = [-math.inf] + [Fraction(a + b, 2) for a, b in zip(times, times[1:], strict=False)] + [math.inf]
    held: dict[str, list[Interval]] = {"active": [], "inactive": []}
    for i, ts in enumerate(times):
        status = status_at[ts]
        h = horizon_active if status == "active" else horizon_inactive
        held[status].append((max(ts - h, midpoints[i]), min(ts + h, midpoints[i + 1])))
    return union(held["active"]), union(held["inactive"])


def active_intervals(polls: Sequence[tuple[int, str]], now_us: int, horizon_us: Instant) -> list[Interval]:
    """Time covered by ``active`` polls, one horizon for both statuses."""
    return status_intervals(polls, now_us, horizon_us, horizon_us)[0]


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


SAME = "same as horizon"


@dataclass(frozen=True)
class StoreInputs:
    """One store's business and status intervals, exact over the span asked for."""

    business: list[Interval]
    active: list[Interval]
    inactive: list[Interval]
    zone: str


def _horizon_us(horizon: timedelta | None) -> Instant:
    return math.inf if horizon is None else horizon // MICROSECOND


def per_store(
    polls: Any,
    hours: Any,
    tz: Any,
    now: datetime | None,
    first_us: int | None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Any = (),
    horizon_active: Any = SAME,
    horizon_inactive: Any = SAME,
) -> tuple[int, dict[str, StoreInputs]]:
    """``now`` (µs) and every store's intervals, exact over ``[first_us, now)`` (default: the week).

    Inputs are frames in the :mod:`storemon.schema` shapes, or iterables of
    tuples in the same column order. Special rows with exactly one time are
    invalid and left out.
    """
    poll_rows = [
        (store, to_us(ts), str(status)) for store, ts, status in _rows(polls, ("store_id", "timestamp_utc", "status"))
    ]
    hours_rows = _rows(hours, ("store_id", "dayOfWeek", "start_time_local", "end_time_local"))
    tz_rows = _rows(tz, ("store_id", "timezone_str"))
    special_rows = [
        row
        for row in _rows(special, ("store_id", "date_local", "start_time_local", "end_time_local"))
        if (row[2] is None) == (row[3] is None)
    ]

    if now is not None:
        now_us = to_us(now)
    elif poll_rows:
        now_us = max(ts for _store, ts, _status in poll_rows)
    else:
        raise ConfigError("no polls to take a default 'now' from; pass now explicitly")
    h_active = _horizon_us(horizon if horizon_active == SAME else horizon_active)
    h_inactive = _horizon_us(horizon if horizon_inactive == SAME else horizon_inactive)
    start_us = now_us - WINDOWS[-1][1] if first_us is None else first_us

    stores = (
        {row[0] for row in poll_rows}
        | {row[0] for row in hours_rows}
        | {row[0] for row in tz_rows if is_known_zone(row[1])}
        | {row[0] for row in special_rows}
    )
    result = {}
    for store in sorted(stores):
        zone = store_zone(tz_rows, store, default_timezone)
        own_hours = [(int(d), s, e) for sid, d, s, e in hours_rows if sid == store]
        own_special = [(d, s, e) for sid, d, s, e in special_rows if sid == store]
        own_polls = [(ts, status) for sid, ts, status in poll_rows if sid == store]
        business = business_intervals(own_hours, zone, start_us, now_us, own_special)
        active, inactive = status_intervals(own_polls, now_us, h_active, h_inactive)
        result[store] = StoreInputs(business, active, inactive, zone)
    return now_us, result


def reference_figures(
    polls: Any,
    hours: Any,
    tz: Any,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Any = (),
    horizon_active: Any = SAME,
    horizon_inactive: Any = SAME,
) -> dict[str, Figures]:
    """Exact figures per store id (every id in any row of any input)."""
    now_us, stores = per_store(
        polls, hours, tz, now, None, horizon, default_timezone, special, horizon_active, horizon_inactive
    )
    return {store: store_figures(one.business, one.active, now_us) for store, one in stores.items()}


def reference_report(
    polls: Any,
    hours: Any,
    tz: Any,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Any = (),
    horizon_active: Any = SAME,
    horizon_inactive: Any = SAME,
) -> pl.DataFrame:
    """The report as :func:`storemon.compute_report` returns it: one row per store, sorted."""
    figures = reference_figures(
        polls, hours, tz, now, horizon, default_timezone, special, horizon_active, horizon_inactive
    )
    rows = [(store, *figs.row()) for store, figs in sorted(figures.items())]
    assert REPORT_COLUMNS == tuple(REPORT_SCHEMA)[1:]
    return pl.DataFrame(rows, schema=REPORT_SCHEMA, orient="row")


# --- over a range: timeline, incidents, daily ------------------------------------


def _covers(intervals: Sequence[Interval], instant: Instant) -> bool:
    return any(start <= instant < end for start, end in intervals)


def store_timeline(one: StoreInputs, lo: int, hi: int) -> list[tuple[Instant, Instant, bool, str]]:
    """``[lo, hi)`` cut at every interval end, each piece classified, equal neighbours joined.

    Every boundary of B, A and I inside the range is a cut, so each piece
    lies wholly inside or outside each interval: its start classifies it.
    """
    cuts = {lo, hi}
    for start, end in (*one.business, *one.active, *one.inactive):
        cuts |= {x for x in (start, end) if lo < x < hi}
    points = sorted(cuts)
    pieces: list[tuple[Instant, Instant, bool, str]] = []
    for a, b in zip(points, points[1:], strict=False):
        business = _covers(one.business, a)
        status = "active" if _covers(one.active, a) else "inactive" if _covers(one.inactive, a) else "unknown"
        if pieces and pieces[-1][2:] == (business, status):
            pieces[-1] = (pieces[-1][0], b, business, status)
        else:
            pieces.append((a, b, business, status))
    return pieces


def _range(now_us: int, start: datetime | None, end: datetime | None) -> tuple[int, int]:
    lo = now_us - WINDOWS[-1][1] if start is None else to_us(start)
    hi = now_us if end is None else to_us(end)
    if not lo < hi <= now_us:
        raise ConfigError("the range must satisfy start < end <= now")
    return lo, hi


def _ns(instant: Instant) -> int:
    """µs (possibly a half) → integer nanoseconds, exactly."""
    ns = Fraction(instant) * 1000
    assert ns.denominator == 1, instant
    return int(ns)


def _range_inputs(polls, hours, tz, now, start, end, stores, options) -> tuple[int, int, dict[str, StoreInputs]]:
    first = None if start is None else to_us(start)
    now_us, per = per_store(polls, hours, tz, now, first, **options)
    lo, hi = _range(now_us, start, end)
    if stores is not None:
        per = {store: one for store, one in per.items() if store in set(stores)}
    return lo, hi, per


def reference_timeline(polls, hours, tz, now=None, *, start=None, end=None, stores=None, **options) -> list[tuple]:
    """Timeline rows ``(store_id, start_ns, end_ns, business, status)``, sorted."""
    lo, hi, per = _range_inputs(polls, hours, tz, now, start, end, stores, options)
    return [
        (store, _ns(a), _ns(b), business, status)
        for store, one in sorted(per.items())
        for a, b, business, status in store_timeline(one, lo, hi)
    ]


def reference_incidents(
    polls, hours, tz, now=None, *, start=None, end=None, stores=None, min_minutes=0, **options
) -> list[tuple]:
    """Incident rows ``(store_id, start_ns, end_ns, minutes, inactive_minutes, unknown_minutes)``."""
    lo, hi, per = _range_inputs(polls, hours, tz, now, start, end, stores, options)
    rows = []
    for store, one in sorted(per.items()):
        current: list[Any] | None = None
        for a, b, business, status in store_timeline(one, lo, hi):
            if business and status != "active":
                if current is None or current[1] != a:
                    current = [a, b, 0, 0]
                    rows.append((store, current))
                current[1] = b
                current[2 if status == "inactive" else 3] += b - a
            else:
                current = None
    result = []
    for store, (a, b, inactive, unknown) in rows:
        minutes = Fraction(b - a) / US_PER_MINUTE
        if minutes >= min_minutes:
            result.append(
                (store, _ns(a), _ns(b), float(minutes), float(Fraction(inactive) / US_PER_MINUTE),
                 float(Fraction(unknown) / US_PER_MINUTE))
            )  # fmt: skip
    return result


def reference_daily(polls, hours, tz, now=None, *, start=None, end=None, stores=None, **options) -> list[tuple]:
    """Daily rows ``(store_id, date, business_hours, uptime_hours, downtime_hours, uptime_ratio)``."""
    lo, hi, per = _range_inputs(polls, hours, tz, now, start, end, stores, options)
    rows = []
    first_day = datetime.fromtimestamp(lo // 10**6, UTC).date() - timedelta(days=2)
    last_day = datetime.fromtimestamp(hi // 10**6, UTC).date() + timedelta(days=2)
    for store, one in sorted(per.items()):
        zone = ZoneInfo(one.zone)
        day = first_day
        while day <= last_day:
            part = intersection([local_day(day, zone)], [(lo, hi)])
            if part:
                open_part = intersection(one.business, part)
                business = measure(open_part)
                up = measure(intersection(open_part, one.active))
                ratio = float(Fraction(up) / Fraction(business)) if business else None
                rows.append(
                    (store, day, float(Fraction(business) / US_PER_HOUR), float(Fraction(up) / US_PER_HOUR),
                     float(Fraction(business - up) / US_PER_HOUR), ratio)
                )  # fmt: skip
            day += timedelta(days=1)
    return rows
