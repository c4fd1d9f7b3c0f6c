"""Store codes: fingerprints speed the join, and a clash never changes a figure."""

from __future__ import annotations

from datetime import time, timedelta

import polars as pl
import pytest

from storemon import compute_report
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
    packed = _sorted(frame.lazy(), (7, 99), stores=4)
    # Too many stores for one Int64 key: the three-column sort is used instead.
    wide = _sorted(frame.lazy(), (7, 99), stores=2**60)
    assert packed.equals(wide)
    assert packed.rows() == [
        (0, 99, True),
        (1, 7, False),
        (1, 10, False),
        (1, 10, True),
        (3, 20, True),
        (3, 50, False),
        (3, 50, True),
    ]
