"""Hypothesis properties: the invariants of docs/rules.md, one test each.

Cases come from :func:`strategies.cases`: 1-4 stores with up to 30 polls and
6 hours rows each, around 2024 DST transitions of awkward zones, often with
special hours and per-status horizons, and from
:func:`strategies.window_edge_cases` (see ``tests/strategies.py``). Business time per window is not a report column: it
is read off a report as uptime + downtime, and taken independently from the
exact reference (:func:`reference.reference_figures`).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reference import reference_daily, reference_figures, reference_incidents, reference_report, reference_timeline
from storemon import (
    DAILY_SCHEMA,
    INCIDENTS_SCHEMA,
    REPORT_SCHEMA,
    TIMELINE_SCHEMA,
    compute_report,
    daily,
    incidents,
    report_views,
    resolve_now,
)
from storemon import timeline as fast_timeline
from strategies import SAME, Case, cases, report_rows, window_edge_cases

#: Every kind of case.
ALL_CASES = st.one_of(cases(), window_edge_cases())

#: docs/rules.md invariant 8: within 1e-6 h; the _hour columns are in minutes.
TOLERANCE = (60e-6, 1e-6, 1e-6, 60e-6, 1e-6, 1e-6)
#: For figures that must not change at all (float noise only).
EXACT = (1e-9,) * 6
#: Window lengths in report units: minutes for the hour, hours otherwise.
WINDOW_LENGTHS = (60.0, 24.0, 168.0)
US_PER_UNIT = (60e6, 3600e6, 3600e6)


def fast(case: Case) -> dict[str, tuple[float, ...]]:
    """The fast report of ``case`` as ``{store: figures}``; checks its shape first."""
    report = compute_report(*case.frames(), **case.options())
    assert dict(report.schema) == REPORT_SCHEMA
    assert report["store_id"].to_list() == sorted(case.stores())
    assert report.null_count().sum_horizontal().item() == 0
    return report_rows(report)


def assert_close(got: dict, expected: dict, tolerance=TOLERANCE) -> None:
    """Same stores; every figure within its column's tolerance."""
    assert list(got) == list(expected)
    for store, figures in expected.items():
        for column, (a, b, tol) in enumerate(zip(got[store], figures, tolerance, strict=True)):
            assert a == pytest.approx(b, abs=tol), f"store {store!r}, column {column}: {got[store]} vs {figures}"


def business(figures: tuple[float, ...]) -> tuple[float, float, float]:
    """Business time per window (hour in minutes, day, week in hours) = uptime + downtime."""
    return tuple(figures[i] + figures[i + 3] for i in range(3))


def with_explicit_now(case: Case) -> Case:
    """``case`` with its default ``now`` made explicit (the latest poll)."""
    if case.now is not None:
        return case
    return case.replace(now=max(ts for _store, ts, _status in case.polls))


@settings(max_examples=80)
@given(ALL_CASES)
def test_fast_equals_reference(case):
    """Invariant 8: the fast implementation equals the exact reference."""
    expected = report_rows(reference_report(*case.frames(), **case.options()))
    assert_close(fast(case), expected)


@settings(max_examples=40)
@given(cases())
def test_uptime_plus_downtime_is_business_time(case):
    """Invariant 1, against business time measured independently by the reference."""
    exact = reference_figures(*case.frames(), **case.options())
    for store, figures in fast(case).items():
        windows = zip(("hour", "day", "week"), US_PER_UNIT, strict=True)
        expected = tuple(float(exact[store].business[name]) / unit for name, unit in windows)
        assert business(figures) == pytest.approx(expected, abs=1e-6), store


@settings(max_examples=40)
@given(cases())
def test_figures_are_non_negative_and_business_time_fits_the_window(case):
    """Invariant 2."""
    for store, figures in fast(case).items():
        assert all(value >= 0 for value in figures), (store, figures)
        for total, length in zip(business(figures), WINDOW_LENGTHS, strict=True):
            assert total <= length + 1e-9, (store, figures)


@settings(max_examples=40)
@given(cases())
def test_windows_are_nested(case):
    """Invariant 3: hour <= day <= week for uptime, downtime and business time."""
    for store, figures in fast(case).items():
        up, down, total = figures[:3], figures[3:], business(figures)
        for hour, day, week in (up, down, total):
            assert hour / 60 <= day + 1e-9, (store, figures)
            assert day <= week + 1e-9, (store, figures)


@settings(max_examples=40)
@given(cases(), st.data())
def test_polls_after_now_change_nothing(case, data):
    """Invariant 4: no look-ahead."""
    case = with_explicit_now(case)
    store_ids = sorted(case.stores())
    assume(store_ids)  # later polls of a new store would add a row
    later = data.draw(
        st.lists(
            st.tuples(
                st.sampled_from(store_ids),
                st.integers(1, 3 * 24 * 3600 * 10**6).map(lambda us: case.now + timedelta(microseconds=us)),
                st.sampled_from(["active", "inactive"]),
            ),
            min_size=1,
            max_size=10,
        )
    )
    extended = case.replace(polls=case.polls + tuple(later))
    assert_close(fast(extended), fast(case), EXACT)


@settings(max_examples=40)
@given(cases(), st.randoms(use_true_random=False))
def test_row_order_and_duplicate_rows_change_nothing(case, rng: random.Random):
    """Invariant 5. Time-zone rows keep their order within a store (first known zone wins)."""
    polls, hours = list(case.polls), list(case.hours)
    rng.shuffle(polls)
    rng.shuffle(hours)
    polls += rng.sample(polls, k=min(len(polls), 3))
    hours += rng.sample(hours, k=min(len(hours), 3))
    tz = list(case.tz)
    if tz:  # a copy anywhere after its original
        index = rng.randrange(len(tz))
        tz.insert(rng.randint(index + 1, len(tz)), tz[index])
    rng.shuffle(polls)
    rng.shuffle(hours)
    special = list(case.special) + rng.sample(list(case.special), k=min(len(case.special), 2))
    rng.shuffle(special)
    changed = case.replace(polls=tuple(polls), hours=tuple(hours), tz=tuple(tz), special=tuple(special))
    assert_close(fast(changed), fast(case), EXACT)


@settings(max_examples=40)
@given(cases())
def test_flipping_statuses_swaps_uptime_and_downtime_with_infinite_horizon(case):
    """Invariant 6, for stores with a poll at or before ``now``.

    One status per (store, instant) first: with conflicting duplicates
    "inactive wins" holds before and after a flip, so they cannot swap.
    """
    case = with_explicit_now(case)
    seen: set = set()
    polls = []
    for store, ts, status in case.polls:
        if (store, ts) not in seen:
            seen.add((store, ts))
            polls.append((store, ts, status))
    flip = {"active": "inactive", "inactive": "active"}
    case = case.replace(polls=tuple(polls), horizon=None, horizon_active=SAME, horizon_inactive=SAME)
    flipped = case.replace(polls=tuple((store, ts, flip[status]) for store, ts, status in polls))
    before, after = fast(case), fast(flipped)
    polled = {store for store, ts, _status in polls if ts <= case.now}
    for store in polled:
        swapped = after[store][3:] + after[store][:3]
        assert_close({store: swapped}, {store: before[store]}, EXACT)


@settings(max_examples=40)
@given(cases(), st.data())
def test_other_stores_change_nothing(case, data):
    """Invariant 7: a store's figures depend only on its own rows."""
    case = with_explicit_now(case)
    assume(case.stores())
    keep = set(data.draw(st.lists(st.sampled_from(sorted(case.stores())), min_size=1, unique=True)))
    alone = case.replace(
        polls=tuple(r for r in case.polls if r[0] in keep),
        hours=tuple(r for r in case.hours if r[0] in keep),
        tz=tuple(r for r in case.tz if r[0] in keep),
        special=tuple(r for r in case.special if r[0] in keep),
    )
    together = fast(case)
    assert_close(fast(alone), {store: together[store] for store in sorted(keep)}, EXACT)


# --- the timeline, incidents and daily series ------------------------------------

#: 1e-6 h in minutes.
MINUTES_TOLERANCE = 60e-6


def explicit(case: Case) -> Case:
    """``case`` with an explicit ``now`` (the latest poll, or a fixed instant without polls)."""
    if case.now is not None:
        return case
    if case.polls:
        return with_explicit_now(case)
    return case.replace(now=datetime(2024, 7, 15, tzinfo=UTC))


@st.composite
def ranged(draw: st.DrawFn) -> tuple[Case, dict]:
    """A case with an explicit ``now`` and range keywords: the default week, or a random range up to 10 days."""
    case = explicit(draw(ALL_CASES))
    if draw(st.booleans()):
        return case, {}
    seconds = st.integers(1, 10 * 24 * 3600)
    end = case.now - draw(st.one_of(st.just(0), seconds)) * timedelta(seconds=1) / 4
    start = end - draw(seconds) * timedelta(seconds=1)
    keywords = {"start": start, "end": end}
    if draw(st.integers(0, 3)) == 0:
        keywords["stores"] = draw(st.lists(st.sampled_from([*sorted(case.stores()), "nobody"]), max_size=3))
    return case, keywords


def as_rows(frame: pl.DataFrame) -> list[tuple]:
    """A frame's rows with instants as integer nanoseconds and the status as a string."""
    instants = [pl.col(name).cast(pl.Int64) for name in ("start", "end") if name in frame.columns]
    strings = [pl.col("status").cast(pl.String)] if "status" in frame.columns else []
    return frame.with_columns(*instants, *strings).rows()


def assert_rows_close(got: list[tuple], expected: list[tuple], exact: int, tolerance: float) -> None:
    """The first ``exact`` fields equal, the others within ``tolerance`` (None only where None)."""
    assert len(got) == len(expected), (got, expected)
    for a, b in zip(got, expected, strict=True):
        assert a[:exact] == b[:exact], (a, b)
        for x, y in zip(a[exact:], b[exact:], strict=True):
            assert (x is None) == (y is None), (a, b)
            if x is not None:
                assert x == pytest.approx(y, abs=tolerance), (a, b)


@settings(max_examples=50)
@given(ranged())
def test_timeline_equals_reference(case_and_range):
    """Invariant 8 for the timeline: the same segments, instants exactly equal."""
    case, keywords = case_and_range
    got = fast_timeline(*case.frames(), **case.options(), **keywords)
    assert dict(got.schema) == TIMELINE_SCHEMA
    assert as_rows(got) == reference_timeline(*case.frames(), **case.options(), **keywords)


@settings(max_examples=50)
@given(ranged(), st.sampled_from([0, 0, 1, 30.5]))
def test_incidents_equal_reference(case_and_range, min_minutes):
    """Invariant 8 for incidents: instants exactly equal, minutes within 1e-6 h."""
    case, keywords = case_and_range
    got = incidents(*case.frames(), **case.options(), **keywords, min_minutes=min_minutes)
    assert dict(got.schema) == INCIDENTS_SCHEMA
    expected = reference_incidents(*case.frames(), **case.options(), **keywords, min_minutes=min_minutes)
    assert_rows_close(as_rows(got), expected, 3, MINUTES_TOLERANCE)


@settings(max_examples=50)
@given(ranged())
def test_daily_equals_reference(case_and_range):
    """Invariant 8 for the daily series: the same (store, date) rows, hours within 1e-6 h."""
    case, keywords = case_and_range
    got = daily(*case.frames(), **case.options(), **keywords)
    assert dict(got.schema) == DAILY_SCHEMA
    assert_rows_close(got.rows(), reference_daily(*case.frames(), **case.options(), **keywords), 2, 1e-6)


@settings(max_examples=40)
@given(ALL_CASES)
def test_cross_checks_between_report_timeline_incidents_and_daily(case):
    """docs/rules.md cross-checks over the last week: every view adds up to the report's figures."""
    case = explicit(case)
    report = fast(case)
    line = fast_timeline(*case.frames(), **case.options())
    down = incidents(*case.frames(), **case.options())
    days = daily(*case.frames(), **case.options())
    hours = (pl.col("end") - pl.col("start")).dt.total_nanoseconds() / 3.6e12
    for store, figures in report.items():
        up_week, down_week = figures[2], figures[5]
        mine = line.filter(pl.col("store_id") == store, "business")
        assert mine.filter(pl.col("status") == "active").select(hours.sum()).item() == pytest.approx(up_week, abs=1e-6)
        assert mine.filter(pl.col("status") != "active").select(hours.sum()).item() == pytest.approx(
            down_week, abs=1e-6
        )
        minutes = down.filter(pl.col("store_id") == store)["minutes"].sum()
        assert minutes == pytest.approx(down_week * 60, abs=MINUTES_TOLERANCE)
        own_days = days.filter(pl.col("store_id") == store)
        assert own_days["business_hours"].sum() == pytest.approx(up_week + down_week, abs=1e-6)
        assert own_days["uptime_hours"].sum() == pytest.approx(up_week, abs=1e-6)


def _local_dates(case: Case) -> list:
    """Every local date whose rows could touch the week before ``now``."""
    first = (case.now - timedelta(hours=168)).date() - timedelta(days=4)
    return [first + timedelta(days=k) for k in range((case.now.date() - first).days + 3)]


@settings(max_examples=40)
@given(ALL_CASES)
def test_special_hours_repeating_the_weekly_rows_change_nothing(case):
    """Invariant 9 (first half): special rows saying what the weekly rows say change no figure."""
    case = explicit(case).replace(special=())
    special = []
    for store in sorted(case.stores()):
        own = [(day, start, end) for sid, day, start, end in case.hours if sid == store]
        for date_local in _local_dates(case):
            if not own:
                special.append((store, date_local, time(0), time(0)))  # the 24-hour day
                continue
            rows = [(start, end) for day, start, end in own if day == date_local.weekday()]
            special += [(store, date_local, start, end) for start, end in rows] or [(store, date_local, None, None)]
    assert_close(fast(case.replace(special=tuple(special))), fast(case), TOLERANCE)


@settings(max_examples=30)
@given(ALL_CASES)
def test_closed_on_every_date_means_no_business_time(case):
    """Invariant 9 (second half): a closed special row on every date of the week makes every business time 0."""
    case = explicit(case)
    closed = tuple((store, day, None, None) for store in sorted(case.stores()) for day in _local_dates(case))
    # The case's own special rows go: an open row next to a closed one would keep its date open.
    for store, figures in fast(case.replace(special=closed)).items():
        assert figures == (0.0,) * 6, store


@settings(max_examples=30)
@given(ALL_CASES, st.sampled_from([timedelta(hours=2), timedelta(days=3), None]))
def test_equal_per_status_horizons_are_the_single_horizon(case, horizon):
    """Invariant 10: horizon_active == horizon_inactive == h gives the figures of horizon = h."""
    single = case.replace(horizon=horizon, horizon_active=SAME, horizon_inactive=SAME)
    split = case.replace(horizon=timedelta(minutes=1), horizon_active=horizon, horizon_inactive=horizon)
    assert_close(fast(split), fast(single), EXACT)


@settings(max_examples=60)
@given(ALL_CASES, st.sampled_from([30, 30, 1, 7, 10]), st.booleans())
def test_report_views_equal_the_separate_calls(case, days, implicit_now):
    """``report_views``: one preparation and one sweep give exactly the frames of the four separate calls."""
    case = explicit(case)
    if implicit_now and case.polls and case.now is not None:
        case = case.replace(now=None)
    options = case.options()
    views = report_views(*case.frames(), **options, days=days)
    now = resolve_now(case.frames()[0], case.now)
    expected = {
        "report": compute_report(*case.frames(), **options),
        "timeline": fast_timeline(*case.frames(), **options),
        "incidents": incidents(*case.frames(), **options),
        "daily": daily(*case.frames(), **options, start=now - timedelta(days=days)),
    }
    for name, frame in expected.items():
        got = getattr(views, name)
        assert got.schema == frame.schema, name
        assert got.equals(frame), (name, got, frame)
