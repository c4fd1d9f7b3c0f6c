"""Typed test frames from Python tuples, and Hypothesis strategies for whole cases.

A :class:`Case` is the input of one report as plain Python rows (so tests can
reorder, duplicate, flip or extend them) and builds the typed Polars frames of
:mod:`storemon.schema` on demand. :func:`cases` draws small random cases that
lean on the hard parts: DST transitions of 2024 in zones with 1-hour,
30-minute and 45-minute offsets and midnight changes, overnight / 24-hour /
23:59-ending / tiny / overlapping hours, duplicate instants, polls after
``now``, unknown zone names; special hours on the change's local dates (closed,
shortened, overnight, next to the previous day's overnight rows, for stores
with and without weekly rows); per-status horizons. :func:`window_edge_cases`
puts ``now`` just after a UTC midnight so that the week starts early on a
local date of a negative-offset zone, where rows anchored two local days
before it still reach into it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import strategies as st

from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE
from storemon.schema import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    REPORT_COLUMNS,
    SPECIAL_HOURS_SCHEMA,
    TIMEZONES_SCHEMA,
    is_known_zone,
)

PollRow = tuple[str, datetime, str]
HoursRow = tuple[str, int, time, time]
TzRow = tuple[str, str]
SpecialRow = tuple[str, date, time | None, time | None]

#: "Same as ``horizon``": the per-status horizons are then not passed at all.
SAME = "same as horizon"

# --- typed frames ------------------------------------------------------------


def polls_frame(rows: Iterable[PollRow]) -> pl.DataFrame:
    """Polls frame from ``(store_id, timestamp (aware or naive = UTC), status)``."""
    return pl.DataFrame(list(rows), schema=POLLS_SCHEMA, orient="row")


def hours_frame(rows: Iterable[HoursRow]) -> pl.DataFrame:
    """Business-hours frame from ``(store_id, dayOfWeek, start, end)``."""
    return pl.DataFrame(list(rows), schema=HOURS_SCHEMA, orient="row")


def tz_frame(rows: Iterable[TzRow]) -> pl.DataFrame:
    """Time-zone frame from ``(store_id, timezone_str)``."""
    return pl.DataFrame(list(rows), schema=TIMEZONES_SCHEMA, orient="row")


def special_frame(rows: Iterable[SpecialRow]) -> pl.DataFrame:
    """Special-hours frame from ``(store_id, date_local, start or None, end or None)``."""
    return pl.DataFrame(list(rows), schema=SPECIAL_HOURS_SCHEMA, orient="row")


def report_rows(report: pl.DataFrame) -> dict[str, tuple[float, ...]]:
    """A report as ``{store_id: six figures in REPORT_COLUMNS order}``."""
    assert report.columns == ["store_id", *REPORT_COLUMNS], report.columns
    return {row[0]: tuple(row[1:]) for row in report.rows()}


def utc(*args: int) -> datetime:
    """``datetime(*args)`` in UTC."""
    return datetime(*args, tzinfo=UTC)


# --- a whole case ------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """The inputs of one report as plain rows; ``now=None`` means the default."""

    polls: tuple[PollRow, ...]
    hours: tuple[HoursRow, ...]
    tz: tuple[TzRow, ...]
    now: datetime | None
    horizon: timedelta | None = DEFAULT_HORIZON
    default_timezone: str = DEFAULT_TIMEZONE
    special: tuple[SpecialRow, ...] = ()
    horizon_active: timedelta | None | str = SAME
    horizon_inactive: timedelta | None | str = SAME

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """The typed (polls, hours, timezones) frames."""
        return polls_frame(self.polls), hours_frame(self.hours), tz_frame(self.tz)

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``compute_report`` / ``reference_report`` (and the range functions)."""
        options: dict[str, Any] = {"now": self.now, "horizon": self.horizon, "default_timezone": self.default_timezone}
        if self.special:
            options["special"] = special_frame(self.special)
        if self.horizon_active != SAME:
            options["horizon_active"] = self.horizon_active
        if self.horizon_inactive != SAME:
            options["horizon_inactive"] = self.horizon_inactive
        return options

    def stores(self) -> set[str]:
        """Every store id in any valid row (a zone row naming an unknown zone is invalid)."""
        return (
            {r[0] for r in self.polls}
            | {r[0] for r in self.hours}
            | {r[0] for r in self.tz if is_known_zone(r[1])}
            | {r[0] for r in self.special if (r[2] is None) == (r[3] is None)}
        )

    def replace(self, **changes: Any) -> Case:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)


# --- DST material --------------------------------------------------------------

#: Zones whose 2024 transitions cover the awkward kinds: 1 h at 02:00 (New York,
#: Chicago), at 01:00 UTC (London), 30 min (Lord Howe), at local midnight
#: (Beirut, Santiago), 45-minute offsets (Chatham), none (UTC, Kolkata).
DST_ZONES: tuple[str, ...] = (
    "America/New_York",
    "America/Chicago",
    "Europe/London",
    "Australia/Lord_Howe",
    "Asia/Beirut",
    "America/Santiago",
    "Pacific/Chatham",
    "UTC",
    "Asia/Kolkata",
)

#: Zone strings that are not zones: rows carrying them are invalid.
UNKNOWN_ZONES: tuple[str, ...] = ("Mars/Olympus_Mons", "america/new_york", "")


def _transitions(zone_name: str, year: int = 2024) -> list[datetime]:
    """UTC instants where the zone's UTC offset changes in ``year``.

    Exact for changes on a quarter hour, which covers every zone used here.
    """
    zone = ZoneInfo(zone_name)
    step = timedelta(minutes=15)
    moment = datetime(year, 1, 1, tzinfo=UTC)
    found = []
    previous = moment.astimezone(zone).utcoffset()
    while moment.year == year:
        moment += step
        offset = moment.astimezone(zone).utcoffset()
        if offset != previous:
            found.append(moment)
            previous = offset
    return found


#: Every 2024 transition of :data:`DST_ZONES` as (zone, UTC instant).
TRANSITIONS: tuple[tuple[str, datetime], ...] = tuple(
    (zone, moment) for zone in DST_ZONES for moment in _transitions(zone)
)


STORE_IDS: tuple[str, ...] = ("a", "b", "10", "9", "store-Ä")

#: Clock times that sit on or next to DST changes and the 24:00 rule.
INTERESTING_TIMES: tuple[time, ...] = (
    time(0),
    time(0, 30),
    time(1),
    time(1, 30),
    time(1, 59, 59),
    time(2),
    time(2, 15),
    time(2, 30),
    time(2, 45),
    time(3),
    time(3, 45),
    time(4),
    time(9),
    time(12),
    time(18),
    time(22),
    time(23),
    time(23, 30),
    time(23, 58, 59),
    time(23, 59),
    time(23, 59, 30),
    time(23, 59, 59),
    time(23, 59, 59, 999999),
)

HORIZONS: tuple[timedelta | None, ...] = (
    DEFAULT_HORIZON,
    None,
    timedelta(hours=1),
    timedelta(minutes=7, microseconds=3),
    timedelta(days=2),
)

US = timedelta(microseconds=1)


def clock_times(near: Sequence[time] = ()) -> st.SearchStrategy[time]:
    """Mostly awkward clock times: fixed ones, ones ``near`` (a transition), any."""
    options = [
        st.sampled_from(INTERESTING_TIMES),
        st.times().map(lambda t: t.replace(microsecond=0)),
        st.times(),
    ]
    if near:
        # Quarter hours up to 2 h either side (the gap or fold itself and
        # its edges), or any second within 40 minutes.
        options += [
            st.tuples(st.sampled_from(near), st.integers(-8, 8)).map(lambda p: _add(p[0], p[1] * 900)),
            st.tuples(st.sampled_from(near), st.integers(-2400, 2400)).map(lambda p: _add(p[0], p[1])),
        ]
    return st.one_of(options)


def _add(clock: time, seconds: int) -> time:
    """``clock + seconds`` on a 24-hour dial."""
    moment = datetime.combine(datetime(2000, 1, 1), clock) + timedelta(seconds=seconds)
    return moment.time()


def hours_spans(near: Sequence[time] = ()) -> st.SearchStrategy[tuple[time, time]]:
    """A (start, end) pair: arbitrary, tiny, equal, or 1-3 h long."""
    clocks = clock_times(near)
    return st.one_of(
        st.tuples(clocks, clocks),
        st.tuples(clocks, st.integers(1, 120)).map(lambda p: (p[0], _add(p[0], p[1]))),
        st.tuples(clocks, st.integers(1, 12)).map(lambda p: (p[0], _add(p[0], p[1] * 900))),
        clocks.map(lambda t: (t, t)),
    )


@st.composite
def cases(draw: st.DrawFn, max_stores: int = 4, max_polls: int = 30, max_hours: int = 6) -> Case:
    """A random small case around a 2024 DST transition (see module docstring).

    One transition (zone, instant) is drawn; most stores are in that zone, their
    hours often fall on the local weekday(s) of the change and near its wall
    time, and ``now`` is a little after it (so even the hour window can
    contain it) or up to a week after it.
    """
    zone_name, anchor = draw(st.sampled_from(TRANSITIONS))
    zone = ZoneInfo(zone_name)
    before, after = (anchor - US).astimezone(zone), anchor.astimezone(zone)
    near = (before.time().replace(microsecond=0), after.time())
    weekdays = sorted({before.weekday(), after.weekday(), (before.weekday() - 1) % 7})

    second = 10**6
    now = anchor + draw(
        st.one_of(
            st.integers(0, 26 * 3600 * second),
            st.integers(-24 * 3600 * second, 7 * 24 * 3600 * second),
        ).map(lambda us: us * US)
    )
    stores = draw(st.lists(st.sampled_from(STORE_IDS), min_size=1, max_size=max_stores, unique=True))
    zones = st.one_of(st.just(zone_name), st.sampled_from(DST_ZONES), st.sampled_from(UNKNOWN_ZONES))
    days = st.one_of(st.sampled_from(weekdays), st.integers(0, 6))

    # Poll instants: near now, over the span, near the change; to the minute
    # half the time so that instants collide.
    offsets = st.one_of(
        st.integers(-3600 * second, 3 * 3600 * second).map(lambda us: now - us * US),
        st.integers(-24 * 3600 * second, 9 * 24 * 3600 * second).map(lambda us: now - us * US),
        st.integers(-3 * 3600 * second, 3 * 3600 * second).map(lambda us: anchor + us * US),
    )
    instants = st.one_of(offsets, offsets.map(lambda t: t.replace(second=0, microsecond=0)))
    statuses = st.sampled_from(["active", "inactive"])

    polls: list[PollRow] = []
    hours: list[HoursRow] = []
    tz: list[TzRow] = []
    for store in stores:
        for ts, status in draw(st.lists(st.tuples(instants, statuses), max_size=max_polls)):
            polls.append((store, ts, status))
        for day, (start, end) in draw(st.lists(st.tuples(days, hours_spans(near)), max_size=max_hours)):
            hours.append((store, day, start, end))
        for tz_name in draw(st.lists(zones, max_size=2)):
            tz.append((store, tz_name))
    special: list[SpecialRow] = []
    if draw(st.integers(0, 2)):
        # Special dates: the local dates around the change (the previous day's
        # overnight rows run into them), for stores with or without weekly rows.
        local_dates = sorted({before.date(), after.date()})
        special_dates = st.sampled_from(
            [d + timedelta(days=k) for d in local_dates for k in (-2, -1, 0, 1)]
            + [(now - timedelta(days=k)).date() for k in range(8)]
        )
        special_times = st.one_of(st.just((None, None)), hours_spans(near))
        special_stores = st.sampled_from([*stores, "special-only"])
        for store, day, (start, end) in draw(
            st.lists(st.tuples(special_stores, special_dates, special_times), max_size=6)
        ):
            special.append((store, day, start, end))
        if draw(st.integers(0, 4)) == 0 and special:  # an invalid row: exactly one time
            store, day, _, _ = special[0]
            special.append((store, day, time(9), None))
    # Interleave the stores' rows (each store keeps its own order of zones).
    polls = draw(st.permutations(polls))
    hours = draw(st.permutations(hours))
    tz = draw(interleavings(tz))
    horizon = draw(st.sampled_from(HORIZONS))
    per_status = st.one_of(st.just(SAME), st.sampled_from(HORIZONS))
    return Case(
        polls=tuple(polls),
        hours=tuple(hours),
        tz=tuple(tz),
        now=now if not polls or draw(st.integers(0, 3)) else None,
        horizon=horizon,
        default_timezone=draw(st.one_of(st.just(zone_name), st.sampled_from(DST_ZONES))),
        special=tuple(draw(st.permutations(special))),
        horizon_active=draw(per_status),
        horizon_inactive=draw(per_status),
    )


#: Zones west of UTC, where a UTC instant early in the day is still on the previous local date (or two).
NEGATIVE_ZONES: tuple[str, ...] = ("America/Los_Angeles", "Pacific/Pago_Pago", "America/Adak", "America/St_Johns")


@st.composite
def window_edge_cases(draw: st.DrawFn) -> Case:
    """``now`` within 6 h after a UTC midnight in 2024, stores in negative-offset zones.

    The week then starts early in a UTC day, late on the local date before
    (or two before, near the date line); 24-hour, overnight and late rows of
    every weekday are drawn, plus special rows on those dates.
    """
    day = draw(st.dates(date(2024, 1, 8), date(2024, 12, 20)))
    now = datetime.combine(day, time(0), tzinfo=UTC) + draw(st.integers(0, 6 * 3600)) * timedelta(seconds=1)
    stores = draw(st.lists(st.sampled_from(STORE_IDS), min_size=1, max_size=3, unique=True))
    late = st.sampled_from([time(20), time(22), time(23), time(23, 30), time(23, 59, 59), time(12)])
    spans = st.one_of(late.map(lambda t: (t, t)), st.tuples(late, st.sampled_from([time(1), time(3), time(6)])))
    week_start = now - timedelta(hours=168)
    edge_dates = [(week_start - timedelta(days=k)).date() for k in range(-1, 3)]
    polls: list[PollRow] = []
    hours: list[HoursRow] = []
    tz: list[TzRow] = []
    special: list[SpecialRow] = []
    statuses = st.sampled_from(["active", "inactive"])
    instants = st.integers(-2 * 24 * 3600, 8 * 24 * 3600).map(lambda s: now - s * timedelta(seconds=1))
    for store in stores:
        tz.append((store, draw(st.sampled_from(NEGATIVE_ZONES))))
        for weekday, (start, end) in draw(st.lists(st.tuples(st.integers(0, 6), spans), max_size=4)):
            hours.append((store, weekday, start, end))
        for ts, status in draw(st.lists(st.tuples(instants, statuses), max_size=8)):
            polls.append((store, ts, status))
        for special_day, times in draw(
            st.lists(st.tuples(st.sampled_from(edge_dates), st.one_of(st.just((None, None)), spans)), max_size=2)
        ):
            special.append((store, special_day, *times))
    return Case(
        polls=tuple(polls),
        hours=tuple(hours),
        tz=tuple(tz),
        now=now,
        horizon=draw(st.sampled_from(HORIZONS)),
        special=tuple(special),
    )


def interleavings(rows: Sequence[TzRow]) -> st.SearchStrategy[list[TzRow]]:
    """``rows`` reordered, keeping the relative order of each store's rows.

    The first known zone in frame order wins (docs/rules.md), so only the order across
    stores is free.
    """
    owners = [row[0] for row in rows]

    def rebuild(order: list[str]) -> list[TzRow]:
        queues: dict[str, list[TzRow]] = {}
        for row in rows:
            queues.setdefault(row[0], []).append(row)
        return [queues[store].pop(0) for store in order]

    return st.permutations(owners).map(rebuild)
