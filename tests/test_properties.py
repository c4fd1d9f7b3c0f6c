"""Hypothesis properties: the invariants of SPEC.md, one test each.

Cases come from :func:`strategies.cases`: 1-4 stores with up to 30 polls and
6 hours rows each, around 2024 DST transitions of awkward zones (see
``tests/strategies.py``). Business time per window is not a report column: it
is read off a report as uptime + downtime, and taken independently from the
exact reference (:func:`reference.reference_figures`).
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reference import reference_figures, reference_report
from storemon import REPORT_SCHEMA, compute_report
from strategies import Case, cases, report_rows

#: SPEC invariant 8: within 1e-6 h; the _hour columns are in minutes.
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
@given(cases())
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
    changed = case.replace(polls=tuple(polls), hours=tuple(hours), tz=tuple(tz))
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
    case = case.replace(polls=tuple(polls), horizon=None)
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
    )
    together = fast(case)
    assert_close(fast(alone), {store: together[store] for store in sorted(keep)}, EXACT)
