"""Store codes: fingerprints speed the join, and a clash never changes a figure."""

from __future__ import annotations

from datetime import time, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storemon import compute_report, resolve_now
from storemon._core import store_codes as stores
from storemon._core.report import _coerce_polls
from strategies import hours_frame, polls_frame, tz_frame, utc

NOW = utc(2024, 3, 11, 12)


def sample_inputs():
    ids = [f"store-{i}" for i in range(12)] + ["8419537941919820732", "0042", "42"]
    polls = [
        (store, NOW - timedelta(minutes=37 * k + 5 * i), "active" if (k + i) % 4 else "inactive")
        for i, store in enumerate(ids)
        for k in range(20)
    ]
    hours = [(store, day, time(8), time(20)) for store in ids[::2] for day in range(7)]
    tz = [(store, "America/New_York") for store in ids[::3]] + [("only-zone", "Europe/London")]
    return polls_frame(polls), hours_frame(hours), tz_frame(tz)


def test_store_table_lists_every_id_once_in_order():
    polls, hours, tz = sample_inputs()
    table = stores.store_table(_coerce_polls(polls), hours, tz)
    expected = sorted(set(polls["store_id"]) | set(hours["store_id"]) | set(tz["store_id"]))
    assert table.stores["store_id"].to_list() == expected
    assert table.stores["code"].to_list() == list(range(len(expected)))
    assert table.join_on == "fingerprint"


@pytest.mark.parametrize("buckets", [1, 3])
def test_fingerprint_clash_falls_back_to_exact_ids(monkeypatch, buckets):
    polls, hours, tz = sample_inputs()
    expected = compute_report(polls, hours, tz, NOW)
    # A fingerprint with 1 or 3 possible values: every id clashes with others.
    monkeypatch.setattr(stores, "fingerprint", lambda ids: ids.hash(7) % buckets)
    table = stores.store_table(_coerce_polls(polls), hours, tz)
    assert table.join_on == "store_id"
    clashed = compute_report(polls, hours, tz, NOW)
    assert clashed.equals(expected)
    assert clashed.height == len(set(polls["store_id"]) | set(hours["store_id"]) | set(tz["store_id"]))


def test_clash_among_ids_without_polls_is_detected(monkeypatch):
    # Only hours/tz ids clash (polls have one store): the distinctness check catches it.
    polls = polls_frame([("p", NOW - timedelta(hours=1), "active")])
    hours = hours_frame([("h1", 0, time(8), time(9)), ("h2", 0, time(8), time(10))])
    tz = tz_frame([("z", "UTC")])
    expected = compute_report(polls, hours, tz, NOW)
    monkeypatch.setattr(stores, "fingerprint", lambda ids: ids.hash(7) % 1)
    assert stores.store_table(_coerce_polls(polls), hours, tz).join_on == "store_id"
    assert compute_report(polls, hours, tz, NOW).equals(expected)


def test_polls_meet_their_codes():
    polls, hours, tz = sample_inputs()
    lf = _coerce_polls(polls)
    table = stores.store_table(lf, hours, tz)
    coded = stores.polls_with_codes(lf, table).collect()
    assert coded.height == polls.height
    names = table.stores.select("code", "store_id")
    joined = coded.join(names, on="code").group_by("store_id").len().sort("store_id")
    assert joined.rows() == polls.group_by("store_id").len().sort("store_id").rows()
    assert table.earliest_poll_us == lf.select(pl.col("t").min()).collect().item()
    assert table.latest_poll_us == lf.select(pl.col("t").max()).collect().item()


def test_packed_sort_and_three_column_sort_agree():
    from storemon._core.status import _sorted

    frame = pl.DataFrame(
        {
            "code": pl.Series([3, 1, 3, 1, 0, 3, 1], dtype=pl.UInt32),
            "t": [50, 10, 50, 7, 99, 20, 10],
            "active": [True, True, False, False, True, True, False],
        }
    )

    def rows(stores: int) -> list[tuple[int, int, bool]]:
        arrays = _sorted(frame.lazy(), (7, 99), stores=stores)
        assert [array.dtype.name for array in arrays] == ["uint32", "int64", "bool"]
        assert all(array.flags.writeable for array in arrays)  # status_intervals works on them in place
        return list(zip(*(array.tolist() for array in arrays), strict=True))

    packed = rows(4)
    # Too many stores for one Int64 key: the three-column sort is used instead.
    wide = rows(2**60)
    assert packed == wide
    assert packed == [
        (0, 99, True),
        (1, 7, False),
        (1, 10, False),
        (1, 10, True),
        (3, 20, True),
        (3, 50, False),
        (3, 50, True),
    ]


def test_the_latest_poll_of_an_invalid_id_is_not_now():
    # "=x" is an invalid id (a formula): its 13:00 poll is left out, so `now` is "s"'s 12:00 poll.
    polls = polls_frame([("s", NOW - timedelta(hours=1), "active"), ("=x", NOW, "inactive")])
    hours, tz = hours_frame([]), tz_frame([("s", "UTC")])
    table = stores.store_table(_coerce_polls(polls), hours, tz)
    assert table.stores["store_id"].to_list() == ["s"]
    expected_us = int((NOW - timedelta(hours=1)).timestamp()) * 1_000_000
    assert table.latest_poll_us == table.earliest_poll_us == expected_us
    assert resolve_now(polls) == NOW - timedelta(hours=1)
    assert resolve_now(polls.head(1)) == NOW - timedelta(hours=1)


@pytest.mark.parametrize("code", [5, 2**20 + 1])
def test_packed_and_two_column_event_sorts_agree(code):
    from storemon._core.sweep import ACTIVE, UNKNOWN, segments

    # Business [10, 20), active [15, 30): [10, 15) business unknown, [15, 20) business active,
    # [20, 30) active outside business, [30, 2**40) unknown outside business. The cut at 2**40
    # ticks makes the key too wide for 2**20 + 1 stores (41 + 3 bits of instant), so that case
    # sorts by two columns.
    frame = {"code": pl.Series([code], dtype=pl.UInt32)}
    business = pl.DataFrame({**frame, "start": [10], "end": [20]})
    status = pl.DataFrame({**frame, "start": [15], "end": [30], "active": [True]})
    cuts = pl.DataFrame({**frame, "at": [2**40]})
    segs = segments(business, status, cuts=cuts)
    assert segs.rows() == [
        (code, 10, 15, True, UNKNOWN),
        (code, 15, 20, True, ACTIVE),
        (code, 20, 30, False, ACTIVE),
        (code, 30, 2**40, False, UNKNOWN),
    ]


@given(ids=st.lists(st.sampled_from(["a", "b", "", "store-1", "é", "a" * 20, "0042", "42"]), max_size=60))
def test_distinct_ids_in_slices_are_exactly_the_distinct_ids(ids):
    # The threshold is lowered so that even a handful of ids takes the
    # threaded path: slices of ⌈n / threads⌉ ids, each made distinct, then
    # their union once more.
    series = pl.Series("store_id", ids, dtype=pl.String)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stores, "_PARALLEL_DISTINCT_ROWS", 0)
        patch.setattr(pl, "thread_pool_size", lambda: 3)
        distinct = stores.distinct_ids(series)
    assert distinct.dtype == pl.String
    assert sorted(distinct.to_list()) == sorted(set(ids))
