"""Typed input columns are validated as typed values, with exactly the string path's results.

A Parquet file (or a caller's frame) whose ``timestamp_utc`` is a Datetime,
``status`` an Enum or Categorical, ``dayOfWeek`` an integer, times Time and
``date_local`` a Date is not turned into text first (``storemon._load``,
"typed columns"). The contract: the result — frame and rejects, each
reject's ``value`` included — equals that of loading the same values written
as text the way the loader writes them (``_as_strings``: Datetime in UTC
with six fraction digits, Time with the digits it needs, Date and integers
as their decimal text, a null as empty). The properties check that on
random typed frames; the hand-computed cases pin each typed rule.

There is no place where the two differ. The one value that used to have no
text — a Datetime or Date beyond the years chrono can write (±262,142), which
made the string path crash — is now written as its raw count by
``_as_strings`` for both paths (``<n us since 1970-01-01>``), so it is an
``"unparsable timestamp"`` (``"bad date"``) either way.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from storemon import (
    HOURS_SCHEMA,
    SPECIAL_HOURS_SCHEMA,
    Loaded,
    load_hours,
    load_polls,
    load_special_hours,
    parse_hours,
    parse_polls,
    parse_special_hours,
)
from storemon._load import _as_strings

# --------------------------------------------------------------------------
# Helpers


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def as_text_csv(frame: pl.DataFrame) -> bytes:
    """``frame`` written as a CSV file of text, each value as the loader writes it."""
    text = frame.select(_as_strings(frame[name]).fill_null("").alias(name) for name in frame.columns)
    return text.write_csv().encode()


def as_text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame([_as_strings(frame[name]) for name in frame.columns])


def same(one: Loaded, other: Loaded) -> None:
    assert_frame_equal(one.frame, other.frame)
    assert_frame_equal(one.rejects, other.rejects)
    assert one.rows_read == other.rows_read


def rejects(loaded: Loaded) -> list[tuple[Any, ...]]:
    return list(loaded.rejects.select("line", "column", "value", "reason").iter_rows())


US = 1_000_000  # microseconds per second


def us_of(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# --------------------------------------------------------------------------
# Hand-computed cases, one per typed rule


def test_nanoseconds_are_cut_towards_the_past() -> None:
    # 1_700_000_000_123_456_789 ns = 1_700_000_000 s (2023-11-14 22:13:20 UTC) + 123_456_789 ns;
    # the text has six digits, .123456, so 1_700_000_000_123_456 µs. -1 ns is
    # 1969-12-31 23:59:59.999999999; its text .999999 is -1 µs (floor, not 0),
    # before 1970-01-01: out of range rather than the epoch itself.
    frame = pl.DataFrame(
        {
            "store_id": ["a", "b"],
            "timestamp_utc": pl.Series([1_700_000_000_123_456_789, -1]).cast(pl.Datetime("ns")),
            "status": ["active", "active"],
        }
    )
    loaded = load_polls(parquet(frame), name="p")
    assert loaded.frame["timestamp_utc"].to_physical().to_list() == [1_700_000_000_123_456]
    assert loaded.frame["timestamp_utc"].to_list() == [datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)]
    assert rejects(loaded) == [(3, "timestamp_utc", "1969-12-31 23:59:59.999999 UTC", "timestamp out of range")]


def test_milliseconds_years_beyond_9999_are_unparsable_and_beyond_chrono_written_raw() -> None:
    # 10000-01-01 is 253_402_300_800 s after the epoch: as ms 253_402_300_800_000,
    # written "+10000-01-01 …", which has no four-digit year: unparsable. One
    # ms earlier is 9999-12-31 23:59:59.999: parses, but ≥ 2200: out of range.
    # 2**62 ms (≈ 146 million years) is beyond chrono's years: written raw.
    frame = pl.DataFrame(
        {
            "store_id": ["a", "b", "c"],
            "timestamp_utc": pl.Series([253_402_300_800_000, 253_402_300_799_999, 2**62]).cast(pl.Datetime("ms")),
            "status": ["active"] * 3,
        }
    )
    loaded = load_polls(parquet(frame), name="p")
    assert loaded.frame.is_empty()
    assert rejects(loaded) == [
        (2, "timestamp_utc", "+10000-01-01 00:00:00.000000 UTC", "unparsable timestamp"),
        (3, "timestamp_utc", "9999-12-31 23:59:59.999000 UTC", "timestamp out of range"),
        (4, "timestamp_utc", f"<{2**62} ms since 1970-01-01>", "unparsable timestamp"),
    ]
    same(loaded, load_polls(as_text_csv(frame), name="p"))


def test_aware_timestamps_in_any_zone_are_utc_and_naive_ones_are_utc() -> None:
    # 2024-01-01 05:30 in Kolkata (UTC+05:30) = 2024-01-01 00:00 UTC; a naive
    # 2024-01-01 00:00 is UTC as it stands. not_after = 2024-01-01 00:00 UTC:
    # equal is allowed; 00:00:00.000001 (the third row) is in the future.
    kolkata = pl.Series([datetime(2024, 1, 1, 5, 30)]).dt.replace_time_zone("Asia/Kolkata").dt.cast_time_unit("ms")
    naive = pl.Series([datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 0, 0, 1)])
    for values in (kolkata, naive):
        frame = pl.DataFrame(
            {"store_id": ["a"] * len(values), "timestamp_utc": values, "status": ["inactive"] * len(values)}
        )
        loaded = load_polls(parquet(frame), name="p", not_after=datetime(2024, 1, 1, tzinfo=UTC))
        assert loaded.frame["timestamp_utc"].to_list() == [datetime(2024, 1, 1, tzinfo=UTC)]
    assert rejects(loaded) == [(3, "timestamp_utc", "2024-01-01 00:00:00.000001 UTC", "timestamp in the future")]


def test_timestamp_range_bounds_on_typed_values() -> None:
    # [1970-01-01, 2200-01-01): 0 µs is valid, -1 µs and 2200-01-01 itself
    # (7_258_118_400 s after the epoch) are not; a null is empty: unparsable.
    values = pl.Series([0, -1, 7_258_118_400 * US, 7_258_118_400 * US - 1, None]).cast(pl.Datetime("us", "UTC"))
    frame = pl.DataFrame({"store_id": list("abcde"), "timestamp_utc": values, "status": ["active"] * 5})
    loaded = load_polls(parquet(frame), name="p")
    assert loaded.frame["timestamp_utc"].to_physical().to_list() == [0, 7_258_118_400 * US - 1]
    assert rejects(loaded) == [
        (3, "timestamp_utc", "1969-12-31 23:59:59.999999 UTC", "timestamp out of range"),
        (4, "timestamp_utc", "2200-01-01 00:00:00.000000 UTC", "timestamp out of range"),
        (6, "timestamp_utc", "", "unparsable timestamp"),
    ]


def test_utc_microsecond_timestamps_pass_as_they_are() -> None:
    # The real files' type, Datetime[us, UTC] without nulls: 1_728_329_871_849_528 µs
    # is 2024-10-07 19:37:51.849528 UTC, kept exactly; 0 is the first valid instant.
    values = pl.Series([1_728_329_871_849_528, 0]).cast(pl.Datetime("us", "UTC"))
    frame = pl.DataFrame({"store_id": ["a", "b"], "timestamp_utc": values, "status": ["active", "inactive"]})
    loaded = load_polls(parquet(frame), name="p")
    assert loaded.frame["timestamp_utc"].to_list() == [
        datetime(2024, 10, 7, 19, 37, 51, 849528, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
    ]
    assert loaded.rejects.is_empty()
    same(loaded, load_polls(as_text_csv(frame), name="p"))


@pytest.mark.parametrize("dtype", [pl.Enum(["x", " Active ", "inactive", " "]), pl.Categorical(), pl.String])
def test_statuses_of_any_dtype_are_parsed_per_category(dtype: pl.DataType) -> None:
    # " Active " normalises to active; "x" is unknown; a null is empty
    # (unknown, value ""); a row of only " " and nulls is one blank line.
    frame = pl.DataFrame(
        {
            "store_id": ["a", "b", "c", "d", " "],
            "timestamp_utc": [datetime(2024, 1, 1)] * 4 + [None],
            "status": pl.Series([" Active ", "inactive", "x", None, " "], dtype=dtype),
        }
    )
    loaded = load_polls(parquet(frame), name="p")
    assert loaded.frame["status"].to_list() == ["active", "inactive"]
    assert rejects(loaded) == [
        (4, "status", "x", "unknown status"),
        (5, "status", "", "unknown status"),
        (6, "store_id", " ", "blank line"),
    ]
    same(loaded, load_polls(as_text_csv(frame), name="p"))


def test_integer_days_and_time_columns() -> None:
    # dayOfWeek 0..6 in any integer type; 7, -1 and 300 (uint16) are outside;
    # a Time keeps every digit (09:00:00.000000001); a null time is "bad time".
    for dtype in (pl.Int8, pl.Int64, pl.UInt16):
        days = [0, 6, 7, 300 if dtype == pl.UInt16 else -1, None]
        frame = pl.DataFrame(
            {
                "store_id": list("abcde"),
                "dayOfWeek": pl.Series(days, dtype=dtype),
                "start_time_local": [time(9), time(9), time(9), time(9), None],
                "end_time_local": pl.Series([32_400_000_000_001, None, 0, 0, 0]).cast(pl.Time),
            }
        )
        loaded = load_hours(parquet(frame), name="h")
        assert loaded.frame.schema == pl.Schema(HOURS_SCHEMA)
        # 32_400_000_000_001 ns = 9 h (32_400 s) + 1 ns
        assert loaded.frame.rows() == [("a", 0, time(9), time(9))]
        assert loaded.frame["end_time_local"].to_physical().to_list() == [32_400_000_000_001]
        assert rejects(loaded) == [
            (3, "end_time_local", "", "bad time"),
            (4, "dayOfWeek", "7", "day of week outside 0-6"),
            (5, "dayOfWeek", str(days[3]), "day of week outside 0-6"),
            (6, "dayOfWeek", "", "day of week outside 0-6"),
            (6, "start_time_local", "", "bad time"),
        ]
        same(loaded, load_hours(as_text_csv(frame), name="h"))


def test_dates_range_and_years_without_four_digits() -> None:
    # 2200-01-01 is outside [1970-01-01, 2200-01-01): out of range; day
    # 2_932_897 after the epoch is 10000-01-01, written "+10000-01-01": bad
    # date; day 2**31 - 1 is beyond chrono's years: written raw, bad date.
    frame = pl.DataFrame(
        {
            "store_id": list("abcd"),
            "date_local": pl.Series([(date(2024, 7, 10) - date(1970, 1, 1)).days, 84_006, 2_932_897, 2**31 - 1])
            .cast(pl.Int32)
            .cast(pl.Date),  # 84_006 days = 230 × 365 + 56 leap days (1972…2196 but not 2100): 2200-01-01
            "start_time_local": [time(10), None, None, None],
            "end_time_local": [time(14), None, None, None],
        }
    )
    loaded = load_special_hours(parquet(frame), name="s")
    assert loaded.frame.schema == pl.Schema(SPECIAL_HOURS_SCHEMA)
    assert loaded.frame.rows() == [("a", date(2024, 7, 10), time(10), time(14))]
    assert rejects(loaded) == [
        (3, "date_local", "2200-01-01", "date out of range"),
        (4, "date_local", "+10000-01-01", "bad date"),
        (5, "date_local", f"<{2**31 - 1} days since 1970-01-01>", "bad date"),
    ]
    same(loaded, load_special_hours(as_text_csv(frame), name="s"))


def test_invalid_store_ids_are_found_among_distinct_ids_on_every_row() -> None:
    # Three ids, each on two rows: "=x" (formula), "a\x01" (control), 257 × "z"
    # (too long); every row of each is rejected, and the valid "ok" rows stay.
    ids = ["ok", "=x", "a\x01", "z" * 257] * 2
    frame = pl.DataFrame({"store_id": ids, "timestamp_utc": [datetime(2024, 1, 1)] * 8, "status": ["active"] * 8})
    for source in (parquet(frame), as_text_csv(frame)):
        loaded = load_polls(source, name="p")
        assert loaded.frame["store_id"].to_list() == ["ok", "ok"]
        assert rejects(loaded) == [(line, "store_id", ids[line - 2], "invalid store id") for line in (3, 4, 5, 7, 8, 9)]


# --------------------------------------------------------------------------
# Properties: typed input = the same values as text

STORE_IDS = st.sampled_from(["1", "a", " ", "", "=x", "+1", "b\x01", "y" * 257, "ü"]) | st.none()
TIME_UNITS: st.SearchStrategy[Literal["ns", "us", "ms"]] = st.sampled_from(["ns", "us", "ms"])
ZONES = st.sampled_from([None, "UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"])
# Epoch microseconds around the range's bounds, inside it, and far outside
# (year 0 and 10000 among them; ms and us reach beyond chrono's years).
INSTANT_US = st.one_of(
    st.integers(-3 * US, 3 * US),
    st.integers(us_of(datetime(2024, 1, 1, tzinfo=UTC)), us_of(datetime(2024, 1, 3, tzinfo=UTC))),
    st.integers(7_258_118_400 * US - 3 * US, 7_258_118_400 * US + 3 * US),
    st.integers(-62_167_219_200 * US - 2 * US, -62_167_219_200 * US + 2 * US),
    st.integers(253_402_300_800 * US - 2 * US, 253_402_300_800 * US + 2 * US),
    st.integers(-(2**62), 2**62),
)
STATUSES = st.sampled_from(["active", "inactive", " ACTIVE", "x", "", " "]) | st.none()
# "enum-exact" stands for the STATUS enum itself (its values limited to its two categories).
STATUS_DTYPES: st.SearchStrategy[pl.DataType | str] = st.sampled_from(
    [pl.String(), pl.Categorical(), pl.Enum(["active", "inactive", " ACTIVE", "x", "", " "]), "enum-exact"]
)


@st.composite
def typed_polls(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(0, 12))
    unit = draw(TIME_UNITS)
    zone = draw(ZONES)
    # A value in the unit: ns from µs plus sub-µs digits (within ns's ±292 years), ms by floor.
    ticks = []
    for _ in range(rows):
        value = draw(INSTANT_US | st.none())
        if value is not None and unit == "ns":
            value = max(-(9 * 10**15), min(9 * 10**15, value)) * 1_000 + draw(st.integers(0, 999))
        elif value is not None and unit == "ms":
            value //= 1_000
        ticks.append(value)
    timestamps = pl.Series(ticks, dtype=pl.Int64).cast(pl.Datetime(unit))
    if zone is not None:
        timestamps = timestamps.dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
    status_dtype = draw(STATUS_DTYPES)
    statuses = [draw(STATUSES) for _ in range(rows)]
    if isinstance(status_dtype, str):
        status = pl.Series(
            [s if s in ("active", "inactive") else None for s in statuses], dtype=pl.Enum(["inactive", "active"])
        )
    else:
        status = pl.Series(statuses, dtype=status_dtype)
    return pl.DataFrame(
        {"store_id": [draw(STORE_IDS) for _ in range(rows)], "timestamp_utc": timestamps, "status": status}
    )


@settings(max_examples=80)
@given(typed_polls(), st.booleans())
def test_typed_polls_equal_the_same_values_as_text(frame: pl.DataFrame, future: bool) -> None:
    not_after = datetime(2024, 1, 2, tzinfo=UTC) if future else None
    typed = load_polls(parquet(frame), name="n", not_after=not_after)
    same(typed, load_polls(as_text_csv(frame), name="n", not_after=not_after))
    same(parse_polls(frame, "n", not_after=not_after), parse_polls(as_text_frame(frame), "n", not_after=not_after))


@st.composite
def typed_hours(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(0, 10))
    dtype = draw(st.sampled_from([pl.Int8, pl.Int16, pl.Int64, pl.UInt8, pl.UInt64]))
    low = 0 if dtype in (pl.UInt8, pl.UInt64) else -3
    high = 255 if dtype == pl.UInt8 else 127
    times = st.integers(0, 86_400 * 10**9 - 1) | st.none()
    return pl.DataFrame(
        {
            "store_id": [draw(STORE_IDS) for _ in range(rows)],
            "dayOfWeek": pl.Series([draw(st.integers(low, high) | st.none()) for _ in range(rows)], dtype=dtype),
            "start_time_local": pl.Series([draw(times) for _ in range(rows)], dtype=pl.Int64).cast(pl.Time),
            "end_time_local": pl.Series([draw(times) for _ in range(rows)], dtype=pl.Int64).cast(pl.Time),
        }
    )


@settings(max_examples=60)
@given(typed_hours())
def test_typed_hours_equal_the_same_values_as_text(frame: pl.DataFrame) -> None:
    same(load_hours(parquet(frame), name="n"), load_hours(as_text_csv(frame), name="n"))
    same(parse_hours(frame, "n"), parse_hours(as_text_frame(frame), "n"))


@st.composite
def typed_special(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(0, 10))
    days = st.one_of(
        st.integers(-3, 3),
        st.integers(84_000, 84_010),  # around 2200-01-01 (day 84_006)
        st.integers(-719_530, -719_526),  # around 0000-01-01
        st.integers(2_932_895, 2_932_899),  # around 10000-01-01
        st.integers(-(2**31), 2**31 - 1),
        st.none(),
    )
    times = st.integers(0, 86_400 * 10**9 - 1) | st.none()
    return pl.DataFrame(
        {
            "store_id": [draw(STORE_IDS) for _ in range(rows)],
            "date_local": pl.Series([draw(days) for _ in range(rows)], dtype=pl.Int32).cast(pl.Date),
            "start_time_local": pl.Series([draw(times) for _ in range(rows)], dtype=pl.Int64).cast(pl.Time),
            "end_time_local": pl.Series([draw(times) for _ in range(rows)], dtype=pl.Int64).cast(pl.Time),
        }
    )


@settings(max_examples=60)
@given(typed_special())
def test_typed_special_hours_equal_the_same_values_as_text(frame: pl.DataFrame) -> None:
    same(load_special_hours(parquet(frame), name="n"), load_special_hours(as_text_csv(frame), name="n"))
    same(parse_special_hours(frame, "n"), parse_special_hours(as_text_frame(frame), "n"))
