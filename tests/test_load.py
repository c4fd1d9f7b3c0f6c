"""Tests of the loaders: formats, parsing rules, rejects, strict mode, file errors, load_dir."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from storemon import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    REJECTS_SCHEMA,
    SPECIAL_HOURS_SCHEMA,
    TIMEZONES_SCHEMA,
    ConfigError,
    FileFormatError,
    InvalidRowError,
    load_dir,
    load_hours,
    load_inputs,
    load_polls,
    load_special_hours,
    load_timezones,
    parse_polls,
    parse_special_hours,
)

POLLS_HEADER = "store_id,timestamp_utc,status"
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local"
ZONES_HEADER = "store_id,timezone_str"


def write(path: Path, *lines: str) -> Path:
    """Write ``lines`` as a file (newline-terminated) and return its path."""
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def rejects_as_tuples(rejects: pl.DataFrame) -> list[tuple]:
    """(line, column, value, reason) of each reject, in frame order."""
    return list(rejects.select("line", "column", "value", "reason").iter_rows())


# --------------------------------------------------------------------------
# Polls


def test_polls_columns_found_by_name_in_either_order(tmp_path: Path) -> None:
    rows = [("1", "2024-10-07 19:37:51.849528 UTC", "active"), ("2", "2023-01-22 12:09:39 UTC", "inactive")]
    new = write(tmp_path / "2024.csv", POLLS_HEADER, *(f"{s},{t},{v}" for s, t, v in rows))
    old = write(tmp_path / "2023.csv", "store_id,status,timestamp_utc", *(f"{s},{v},{t}" for s, t, v in rows))
    extra = write(tmp_path / "extra.csv", "status,note,timestamp_utc,store_id", *(f"{v},x,{t},{s}" for s, t, v in rows))

    expected = pl.DataFrame(
        {
            "store_id": ["1", "2"],
            "timestamp_utc": [utc(2024, 10, 7, 19, 37, 51, 849528), utc(2023, 1, 22, 12, 9, 39)],
            "status": ["active", "inactive"],
        },
        schema=POLLS_SCHEMA,
    )
    for path in (new, old, extra):
        loaded = load_polls(path)
        assert loaded.frame.schema == pl.Schema(POLLS_SCHEMA)
        assert loaded.frame.equals(expected), path
        assert loaded.rows_read == 2
        assert loaded.rejects.is_empty()
        assert loaded.file == str(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-10-07 19:37:51.849528 UTC", utc(2024, 10, 7, 19, 37, 51, 849528)),
        ("2024-10-07 19:37:11.866 UTC", utc(2024, 10, 7, 19, 37, 11, 866000)),
        ("2024-10-07 19:37:11.5 UTC", utc(2024, 10, 7, 19, 37, 11, 500000)),
        ("2024-10-07 19:37:11 UTC", utc(2024, 10, 7, 19, 37, 11)),
        ("2024-10-07 19:37:51.000042", utc(2024, 10, 7, 19, 37, 51, 42)),
        ("2024-10-07 19:37:51", utc(2024, 10, 7, 19, 37, 51)),
        ("2024-10-07T19:37:51.849528", utc(2024, 10, 7, 19, 37, 51, 849528)),
        ("2024-10-07T19:37:51Z", utc(2024, 10, 7, 19, 37, 51)),
        ("2024-10-07T19:37:51.25Z", utc(2024, 10, 7, 19, 37, 51, 250000)),
        ("2024-10-07T19:37:51+02:00", utc(2024, 10, 7, 17, 37, 51)),
        ("2024-10-07T19:37:51.000001+0200", utc(2024, 10, 7, 17, 37, 51, 1)),
        ("2024-10-07T19:37:51-05:30", utc(2024, 10, 8, 1, 7, 51)),
        ("2024-10-07 19:37:51+00:00", utc(2024, 10, 7, 19, 37, 51)),
        ("2024-10-07T19:37Z", utc(2024, 10, 7, 19, 37)),
        ("  2024-10-07 19:37:51.849528 UTC  ", utc(2024, 10, 7, 19, 37, 51, 849528)),
    ],
)
def test_timestamp_forms_parse_to_exact_microseconds(tmp_path: Path, text: str, expected: datetime) -> None:
    loaded = load_polls(write(tmp_path / "p.csv", POLLS_HEADER, f'1,"{text}",active'))
    assert loaded.rejects.is_empty(), loaded.rejects
    assert loaded.frame["timestamp_utc"].to_list() == [expected]


def test_fast_and_fallback_timestamps_mixed_keep_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        POLLS_HEADER,
        "a,2024-01-01T00:00:00Z,active",
        "b,2024-01-01 00:00:01.5 UTC,active",
        "c,2024-01-01T02:00:02+02:00,active",
        "d,2024-01-01 00:00:03 UTC,active",
    )
    frame = load_polls(path).frame
    assert frame["store_id"].to_list() == ["a", "b", "c", "d"]
    assert frame["timestamp_utc"].to_list() == [
        utc(2024, 1, 1, 0, 0, 0),
        utc(2024, 1, 1, 0, 0, 1, 500000),
        utc(2024, 1, 1, 0, 0, 2),
        utc(2024, 1, 1, 0, 0, 3),
    ]


def test_status_is_case_insensitive_and_ignores_blanks(tmp_path: Path) -> None:
    t = "2024-01-01 00:00:00 UTC"
    lines = [f"1,{t},ACTIVE", f"2,{t}, Inactive ", f"3,{t},active", f"4,{t},inActive"]
    path = write(tmp_path / "p.csv", POLLS_HEADER, *lines)
    loaded = load_polls(path)
    assert loaded.rejects.is_empty()
    assert loaded.frame["status"].cast(pl.String).to_list() == ["active", "inactive", "active", "inactive"]


def test_invalid_polls_are_rejected_with_line_column_value_reason(tmp_path: Path) -> None:
    t = "2024-01-01 00:00:00 UTC"
    path = write(
        tmp_path / "p.csv",
        POLLS_HEADER,
        f"1,{t},active",  # line 2: valid
        "2,2024-13-01 00:00:00 UTC,active",  # line 3: month 13
        f"3,{t},open",  # line 4
        f",{t},active",  # line 5: empty store id
        f"   ,{t},inactive",  # line 6: an id of three blanks is an id (exact strings)
        "4,yesterday,maybe",  # line 7: two bad columns, one row
        "",  # line 8: blank line
        f"5,{t},",  # line 9: empty status
        "6,,active",  # line 10: empty timestamp
        "7,2024-02-30 10:00:00 UTC,active",  # line 11: no such date
        f"8,{t},active",  # line 12: valid
    )
    loaded = load_polls(path)
    assert loaded.frame["store_id"].to_list() == ["1", "   ", "8"]
    assert loaded.rows_read == 11
    assert loaded.rows_rejected == 8
    assert loaded.rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert set(loaded.rejects["file"]) == {str(path)}
    assert rejects_as_tuples(loaded.rejects) == [
        (3, "timestamp_utc", "2024-13-01 00:00:00 UTC", "unparsable timestamp"),
        (4, "status", "open", "unknown status"),
        (5, "store_id", "", "empty store id"),
        (7, "timestamp_utc", "yesterday", "unparsable timestamp"),
        (7, "status", "maybe", "unknown status"),
        (8, "store_id", "", "blank line"),
        (9, "status", "", "unknown status"),
        (10, "timestamp_utc", "", "unparsable timestamp"),
        (11, "timestamp_utc", "2024-02-30 10:00:00 UTC", "unparsable timestamp"),
    ]


def test_reject_counts_count_each_row_once_under_its_first_reason(tmp_path: Path) -> None:
    t = "2024-01-01 00:00:00 UTC"
    lines = ["1,never,active", "2,never,nope", f"3,{t},nope", f",{t},active", ",,", f"4,{t},active"]
    polls = write(tmp_path / "p.csv", POLLS_HEADER, *lines)
    hours = write(tmp_path / "h.csv", HOURS_HEADER, "1,9,24:00,25:00", "1,0,09:00,17:00", "1,0,08:00,7pm")
    zones = write(tmp_path / "z.csv", ZONES_HEADER, "1,Mars/Olympus", "2,UTC", "2,Etc/GMT+1")
    inputs = load_inputs(polls, hours, zones)

    assert inputs.rejects.height == (1 + 2 + 1 + 1 + 1) + (3 + 1) + (1 + 1)  # one reject per bad column
    assert inputs.rows_rejected == 5 + 2 + 2
    counts = inputs.reject_counts()
    assert counts.schema == pl.Schema({"file": pl.String, "reason": pl.String, "rows": pl.Int64})
    assert counts.rows() == [
        (str(polls), "unparsable timestamp", 2),
        (str(polls), "blank line", 1),
        (str(polls), "empty store id", 1),
        (str(polls), "unknown status", 1),
        (str(hours), "bad time", 1),
        (str(hours), "day of week outside 0-6", 1),
        (str(zones), "conflicting time zone", 1),
        (str(zones), "unknown time zone", 1),
    ]
    assert counts["rows"].sum() == inputs.rows_rejected
    assert inputs.rows_read == {str(polls): 6, str(hours): 3, str(zones): 3}
    summary = inputs.summary()
    assert "read 12 rows from 3 files" in summary
    assert "9 rows rejected" in summary
    assert "p.csv: 2 unparsable timestamp, 1 blank line, 1 empty store id, 1 unknown status" in summary


def test_summary_without_rejects(tmp_path: Path) -> None:
    polls = write(tmp_path / "p.csv", POLLS_HEADER, "1,2024-01-01 00:00:00 UTC,active")
    hours = write(tmp_path / "h.csv", HOURS_HEADER)
    zones = write(tmp_path / "z.csv", ZONES_HEADER)
    inputs = load_inputs(polls, hours, zones)
    assert inputs.rejects.is_empty() and inputs.rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert inputs.reject_counts().is_empty()
    assert inputs.summary() == (
        "read 1 rows from 3 files: 1 polls, 0 business-hours rows, 0 time zones; no rows rejected"
    )


# --------------------------------------------------------------------------
# Store ids


STORE_IDS = [
    "0001",
    "8419537941919820732",
    "123456789012345678901234567890",  # beyond any integer type
    str(uuid.UUID(int=0x2A)),
    "a1b2c3d4-E5F6-7890-abcd-ef0123456789",
    "store 7",
    " 42",
    "42 ",
    "42",
    "0-",
    "1e3",
]


def test_store_ids_are_kept_exactly(tmp_path: Path) -> None:
    frame = pl.DataFrame({"store_id": STORE_IDS, "timestamp_utc": "2024-01-01 00:00:00 UTC", "status": "active"})
    path = tmp_path / "p.csv"
    frame.write_csv(path)
    loaded = load_polls(path)
    assert loaded.rejects.is_empty()
    assert loaded.frame["store_id"].to_list() == STORE_IDS

    zones = tmp_path / "z.csv"
    pl.DataFrame({"store_id": STORE_IDS, "timezone_str": "UTC"}).write_csv(zones)
    assert load_timezones(zones).frame["store_id"].to_list() == STORE_IDS


@given(
    ids=st.lists(
        st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=12).filter(
            lambda s: s.strip() and s[0] not in "=+-@"  # a formula's first character makes an id invalid
        ),
        min_size=1,
        max_size=20,
    )
)
def test_any_non_blank_store_id_round_trips(tmp_path_factory: pytest.TempPathFactory, ids: list[str]) -> None:
    path = tmp_path_factory.mktemp("ids") / "p.csv"
    pl.DataFrame({"store_id": ids, "timestamp_utc": "2024-01-01 00:00:00 UTC", "status": "active"}).write_csv(path)
    loaded = load_polls(path)
    assert loaded.frame["store_id"].to_list() == ids
    assert loaded.rows_read == len(ids)


# --------------------------------------------------------------------------
# Business hours


def test_hours_accepts_day_alias_and_time_forms(tmp_path: Path) -> None:
    for header in (HOURS_HEADER, "store_id,day,start_time_local,end_time_local"):
        path = write(
            tmp_path / "h.csv",
            header,
            "1,0,00:00,23:59",
            "1, 6 ,09:30:15,23:59:59.999999",
            "2,3,07:00:00.5,00:00:00",
        )
        loaded = load_hours(path)
        assert loaded.rejects.is_empty()
        assert loaded.frame.schema == pl.Schema(HOURS_SCHEMA)
        assert loaded.frame.rows() == [
            ("1", 0, time(0, 0), time(23, 59)),
            ("1", 6, time(9, 30, 15), time(23, 59, 59, 999999)),
            ("2", 3, time(7, 0, 0, 500000), time(0, 0)),
        ]


def test_hours_columns_in_any_order(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "end_time_local,day,store_id,start_time_local", "17:00,2,9,08:00")
    assert load_hours(path).frame.rows() == [("9", 2, time(8), time(17))]


def test_invalid_hours_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "h.csv",
        HOURS_HEADER,
        "1,7,09:00,17:00",  # 2
        "1,-1,09:00,17:00",  # 3
        "1,x,09:00,17:00",  # 4
        "1,1.0,09:00,17:00",  # 5
        "1,1,24:00,17:00",  # 6
        "1,1,09:00,9:00",  # 7: hour must have two digits
        "1,1,09:60,17:00:60",  # 8: two bad times
        "1,1,noon,",  # 9
        ",1,09:00,17:00",  # 10
        "1,2,09:00,17:00",  # 11: valid
    )
    loaded = load_hours(path)
    assert loaded.frame.rows() == [("1", 2, time(9), time(17))]
    assert rejects_as_tuples(loaded.rejects) == [
        (2, "dayOfWeek", "7", "day of week outside 0-6"),
        (3, "dayOfWeek", "-1", "day of week outside 0-6"),
        (4, "dayOfWeek", "x", "day of week outside 0-6"),
        (5, "dayOfWeek", "1.0", "day of week outside 0-6"),
        (6, "start_time_local", "24:00", "bad time"),
        (7, "end_time_local", "9:00", "bad time"),
        (8, "start_time_local", "09:60", "bad time"),
        (8, "end_time_local", "17:00:60", "bad time"),
        (9, "start_time_local", "noon", "bad time"),
        (9, "end_time_local", "", "bad time"),
        (10, "store_id", "", "empty store id"),
    ]
    assert loaded.rows_rejected == 9


# --------------------------------------------------------------------------
# Time zones


def test_timezones_first_valid_row_wins_and_conflicts_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "z.csv",
        ZONES_HEADER,
        "a,Not/AZone",  # 2: invalid, does not count as the first
        "a,America/New_York",  # 3: a's zone
        "b, Europe/Berlin ",  # 4: blanks around the name are ignored
        "a,America/New_York",  # 5: repeat, dropped silently
        "a,Asia/Tokyo",  # 6: conflict
        "c,UTC",  # 7
        "b,Europe/Berlin",  # 8: repeat
        "a,america/new_york",  # 9: zone names are case-sensitive in IANA
        "b,Asia/Kolkata",  # 10: conflict
        ",UTC",  # 11
    )
    loaded = load_timezones(path)
    assert loaded.frame.schema == pl.Schema(TIMEZONES_SCHEMA)
    assert loaded.frame.rows() == [("a", "America/New_York"), ("b", "Europe/Berlin"), ("c", "UTC")]
    assert rejects_as_tuples(loaded.rejects) == [
        (2, "timezone_str", "Not/AZone", "unknown time zone"),
        (6, "timezone_str", "Asia/Tokyo", "conflicting time zone"),
        (9, "timezone_str", "america/new_york", "unknown time zone"),
        (10, "timezone_str", "Asia/Kolkata", "conflicting time zone"),
        (11, "store_id", "", "empty store id"),
    ]
    assert loaded.rows_read == 10


def test_strict_mode_raises_on_conflicting_zone(tmp_path: Path) -> None:
    path = write(tmp_path / "z.csv", ZONES_HEADER, "a,UTC", "a,UTC", "a,Europe/Paris")
    with pytest.raises(InvalidRowError) as info:
        load_timezones(path, strict=True)
    err = info.value
    assert (err.file, err.line, err.column, err.value) == (str(path), 4, "timezone_str", "Europe/Paris")
    assert "conflicting time zone" in str(err)


# --------------------------------------------------------------------------
# Strict mode


def test_strict_mode_raises_for_the_first_invalid_row(tmp_path: Path) -> None:
    t = "2024-01-01 00:00:00 UTC"
    path = write(tmp_path / "p.csv", POLLS_HEADER, f"1,{t},active", f"2,{t},bogus", "3,later,bogus", f",{t},active")
    with pytest.raises(InvalidRowError) as info:
        load_polls(path, strict=True)
    err = info.value
    assert (err.file, err.line, err.column, err.value) == (str(path), 3, "status", "bogus")
    assert str(err) == f"{path}, line 3, column 'status', value 'bogus': unknown status"


def test_strict_mode_reports_the_first_bad_column_of_the_row(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", HOURS_HEADER, "1,0,09:00,17:00", "1,8,25:00,17:00")
    with pytest.raises(InvalidRowError) as info:
        load_hours(path, strict=True)
    assert (info.value.line, info.value.column, info.value.value) == (3, "dayOfWeek", "8")


def test_strict_mode_accepts_a_clean_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", POLLS_HEADER, "1,2024-01-01T00:00:00Z,Active")
    loaded = load_polls(path, strict=True)
    assert loaded.frame.height == 1 and loaded.rejects.is_empty()


def test_strict_load_inputs_stops_at_the_bad_file(tmp_path: Path) -> None:
    polls = write(tmp_path / "p.csv", POLLS_HEADER, "1,2024-01-01T00:00:00Z,active")
    hours = write(tmp_path / "h.csv", HOURS_HEADER, "1,0,09:00,17:00")
    zones = write(tmp_path / "z.csv", ZONES_HEADER, "1,Nowhere")
    assert load_inputs(polls, hours, zones).rows_rejected == 1
    with pytest.raises(InvalidRowError) as info:
        load_inputs(polls, hours, zones, strict=True)
    assert (info.value.file, info.value.line, info.value.value) == (str(zones), 2, "Nowhere")


# --------------------------------------------------------------------------
# Whole-file errors


def test_header_only_file_is_empty_not_an_error(tmp_path: Path) -> None:
    loaded = load_polls(write(tmp_path / "p.csv", POLLS_HEADER))
    assert loaded.rows_read == 0
    assert loaded.frame.is_empty() and loaded.frame.schema == pl.Schema(POLLS_SCHEMA)


def test_missing_required_column_names_file_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "store_id,timestamp_utc,state", "1,2024-01-01 00:00:00 UTC,active")
    with pytest.raises(FileFormatError) as info:
        load_polls(path)
    assert info.value.file == str(path)
    assert info.value.column == "status"
    assert "missing required column 'status'" in str(info.value)
    assert "'state'" in str(info.value)  # shows what the header does have


def test_missing_day_column_mentions_the_alias(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "store_id,start_time_local,end_time_local")
    with pytest.raises(FileFormatError, match=r"'dayOfWeek' \(or 'day'\)"):
        load_hours(path)


def test_both_day_and_day_of_week_is_ambiguous(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "store_id,day,dayOfWeek,start_time_local,end_time_local", "1,0,0,09:00,17:00")
    with pytest.raises(FileFormatError, match="both give 'dayOfWeek'"):
        load_hours(path)


def test_header_names_ignore_case_blanks_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbfStore_ID , Timestamp_UTC,STATUS\n1,2024-01-01 00:00:00 UTC,active\n")
    assert load_polls(path).frame["store_id"].to_list() == ["1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\n\n", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary content"),
        (b"store_id,timestamp_utc,status\n\xff\xfe\xfa,x,y\n", "not UTF-8"),
        (b"store_id,timestamp_utc,status\n1,2,3,4\n", "more fields than the header"),
        (b"just some prose, not a table\n", "missing required columns"),
    ],
)
def test_unusable_files_raise_file_format_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=message) as info:
        load_polls(path)
    assert info.value.file == str(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="no such file") as info:
        load_timezones(tmp_path / "absent.csv")
    assert info.value.file == str(tmp_path / "absent.csv")
    with pytest.raises(FileFormatError, match="not a regular file"):
        load_timezones(tmp_path)


def test_parquet_extension_with_other_content_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "p.parquet", POLLS_HEADER, "1,2024-01-01 00:00:00 UTC,active")
    with pytest.raises(FileFormatError, match="not a Parquet file"):
        load_polls(path)


# --------------------------------------------------------------------------
# Parquet


def test_parquet_with_string_columns_matches_csv(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "status": ["active", "bad", "INACTIVE"],
            "store_id": ["007", "8", "9"],
            "timestamp_utc": ["2024-10-07 19:37:51.849528 UTC", "2024-10-07 19:37:52 UTC", "2024-10-07T19:37:53Z"],
        }
    )
    frame.write_parquet(tmp_path / "p.parquet")
    frame.write_csv(tmp_path / "p.csv")
    from_parquet = load_polls(tmp_path / "p.parquet")
    from_csv = load_polls(tmp_path / "p.csv")
    assert from_parquet.frame.equals(from_csv.frame)
    assert from_parquet.frame["store_id"].to_list() == ["007", "9"]
    assert rejects_as_tuples(from_parquet.rejects) == [(3, "status", "bad", "unknown status")]


def test_parquet_with_typed_columns_and_nulls(tmp_path: Path) -> None:
    plus2 = timezone(timedelta(hours=2))
    pl.DataFrame(
        {
            "store_id": ["1", "2", None, "4"],
            "timestamp_utc": [
                datetime(2024, 1, 1, 12, 0, 0, 5, tzinfo=plus2),
                None,
                datetime(2024, 1, 1, 12, tzinfo=plus2),
                None,
            ],
            "status": ["active", "active", "active", "inactive"],
        }
    ).write_parquet(tmp_path / "aware.parquet")
    loaded = load_polls(tmp_path / "aware.parquet")
    assert loaded.frame.rows() == [("1", utc(2024, 1, 1, 10, 0, 0, 5), "active")]
    assert rejects_as_tuples(loaded.rejects) == [
        (3, "timestamp_utc", "", "unparsable timestamp"),
        (4, "store_id", "", "empty store id"),
        (5, "timestamp_utc", "", "unparsable timestamp"),
    ]

    pl.DataFrame(
        {"store_id": ["1"], "timestamp_utc": [datetime(2024, 1, 1, 12, 0, 0, 7)], "status": ["inactive"]}
    ).write_parquet(tmp_path / "naive.parquet")
    assert load_polls(tmp_path / "naive.parquet").frame["timestamp_utc"].to_list() == [utc(2024, 1, 1, 12, 0, 0, 7)]

    pl.DataFrame(
        {"store_id": [5], "day": [3], "start_time_local": [time(9, 0, 0, 123)], "end_time_local": ["17:00"]}
    ).write_parquet(tmp_path / "h.parquet")
    assert load_hours(tmp_path / "h.parquet").frame.rows() == [("5", 3, time(9, 0, 0, 123), time(17))]


def test_parquet_is_recognised_by_content_whatever_the_name(tmp_path: Path) -> None:
    pl.DataFrame({"store_id": ["1"], "timezone_str": ["Asia/Tokyo"]}).write_parquet(tmp_path / "zones.csv")
    assert load_timezones(tmp_path / "zones.csv").frame.rows() == [("1", "Asia/Tokyo")]


def test_parquet_missing_column(tmp_path: Path) -> None:
    pl.DataFrame({"store_id": ["1"]}).write_parquet(tmp_path / "z.parquet")
    with pytest.raises(FileFormatError, match="missing required column 'timezone_str'"):
        load_timezones(tmp_path / "z.parquet")


# --------------------------------------------------------------------------
# load_dir


def _write_set(directory: Path, polls: str, hours: str, zones: str, hours_header: str = HOURS_HEADER) -> None:
    directory.mkdir(exist_ok=True)
    write(directory / polls, POLLS_HEADER, "1,2024-01-01 00:00:00 UTC,active", "2,bad,active")
    write(directory / hours, hours_header, "1,0,09:00,17:00")
    write(directory / zones, ZONES_HEADER, "1,Asia/Tokyo")


def test_load_dir_2024_names(tmp_path: Path) -> None:
    _write_set(tmp_path, "store_status.csv", "menu_hours.csv", "timezones.csv")
    write(tmp_path / "notes.csv", "anything")  # unrelated files are ignored
    inputs = load_dir(tmp_path)
    assert inputs.polls["store_id"].to_list() == ["1"]
    assert inputs.hours.rows() == [("1", 0, time(9), time(17))]
    assert inputs.timezones.rows() == [("1", "Asia/Tokyo")]
    assert rejects_as_tuples(inputs.rejects) == [(3, "timestamp_utc", "bad", "unparsable timestamp")]
    assert inputs.rejects["file"].to_list() == [str(tmp_path / "store_status.csv")]


def test_load_dir_2023_names(tmp_path: Path) -> None:
    _write_set(
        tmp_path,
        "store status.csv",
        "Menu hours.csv",
        "bq-results-20230125-202210-1674678181880.csv",
        hours_header="store_id,day,start_time_local,end_time_local",
    )
    inputs = load_dir(tmp_path)
    assert inputs.polls.height == 1 and inputs.hours.height == 1 and inputs.timezones.height == 1
    assert str(tmp_path / "bq-results-20230125-202210-1674678181880.csv") in inputs.rows_read


def test_load_dir_parquet_names(tmp_path: Path) -> None:
    pl.DataFrame({"store_id": ["1"], "timestamp_utc": ["2024-01-01 00:00:00 UTC"], "status": ["active"]}).write_parquet(
        tmp_path / "store_status.parquet"
    )
    pl.DataFrame(
        {"store_id": ["1"], "dayOfWeek": [0], "start_time_local": ["09:00"], "end_time_local": ["17:00"]}
    ).write_parquet(tmp_path / "menu_hours.parquet")
    pl.DataFrame({"store_id": ["1"], "timezone_str": ["UTC"]}).write_parquet(tmp_path / "timezones.parquet")
    inputs = load_dir(tmp_path)
    assert inputs.polls.rows() == [("1", utc(2024, 1, 1), "active")]
    assert inputs.hours.height == 1 and inputs.timezones.height == 1


def test_load_dir_missing_file_says_which_names_were_looked_for(tmp_path: Path) -> None:
    _write_set(tmp_path, "store_status.csv", "menu_hours.csv", "timezones.csv")
    (tmp_path / "menu_hours.csv").unlink()
    with pytest.raises(FileFormatError) as info:
        load_dir(tmp_path)
    message = str(info.value)
    assert info.value.file == str(tmp_path)
    assert "no hours file" in message
    assert "'menu_hours.csv'" in message and "'Menu hours.csv'" in message and "'menu_hours.parquet'" in message


def test_load_dir_two_candidates_for_one_role_is_an_error(tmp_path: Path) -> None:
    _write_set(tmp_path, "store_status.csv", "menu_hours.csv", "timezones.csv")
    write(tmp_path / "bq-results-2023.csv", ZONES_HEADER, "1,UTC")
    with pytest.raises(FileFormatError, match="several timezones files") as info:
        load_dir(tmp_path)
    assert "'bq-results-2023.csv'" in str(info.value) and "'timezones.csv'" in str(info.value)


def test_load_dir_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="not a directory"):
        load_dir(tmp_path / "nowhere")


def test_load_dir_strict(tmp_path: Path) -> None:
    _write_set(tmp_path, "store_status.csv", "menu_hours.csv", "timezones.csv")
    with pytest.raises(InvalidRowError) as info:
        load_dir(tmp_path, strict=True)
    assert (info.value.line, info.value.column, info.value.value) == (3, "timestamp_utc", "bad")


# --------------------------------------------------------------------------
# Validity rules shared by every file: timestamps' range and forms, store ids


def test_timestamps_out_of_range_or_in_a_form_outside_the_grammar_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        POLLS_HEADER,
        "a,1970-01-01 00:00:00 UTC,active",  # line 2: the first valid instant
        "a,1969-12-31 23:59:59.999999 UTC,active",  # line 3
        "a,2199-12-31T23:59:59.999999Z,active",  # line 4: the last valid instant
        "a,2200-01-01 00:00:00 UTC,active",  # line 5
        "a,2024-10-07 19:37:51.1234567 UTC,active",  # line 6: seven fraction digits
        "a,2024-10-07,active",  # line 7: a bare date
        "a,2024-10-07 9:37:51 UTC,active",  # line 8: a one-digit hour
        "a,2024-10-07 19:37:51 utc,active",  # line 9: lower-case zone
    )
    loaded = load_polls(path)
    assert loaded.frame["timestamp_utc"].to_list() == [utc(1970, 1, 1), utc(2199, 12, 31, 23, 59, 59, 999999)]
    assert rejects_as_tuples(loaded.rejects) == [
        (3, "timestamp_utc", "1969-12-31 23:59:59.999999 UTC", "timestamp out of range"),
        (5, "timestamp_utc", "2200-01-01 00:00:00 UTC", "timestamp out of range"),
        (6, "timestamp_utc", "2024-10-07 19:37:51.1234567 UTC", "unparsable timestamp"),
        (7, "timestamp_utc", "2024-10-07", "unparsable timestamp"),
        (8, "timestamp_utc", "2024-10-07 9:37:51 UTC", "unparsable timestamp"),
        (9, "timestamp_utc", "2024-10-07 19:37:51 utc", "unparsable timestamp"),
    ]
    assert set(loaded.rejects["file"]) == {str(path)}


def test_polls_after_not_after_are_in_the_future(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        POLLS_HEADER,
        "a,2024-10-07 12:15:00 UTC,active",  # line 2: exactly not_after, kept
        "a,2024-10-07 12:15:00.000001 UTC,active",  # line 3: one microsecond later
    )
    not_after = utc(2024, 10, 7, 12, 15)
    loaded = load_polls(path, not_after=not_after)
    assert loaded.frame.height == 1
    assert rejects_as_tuples(loaded.rejects) == [
        (3, "timestamp_utc", "2024-10-07 12:15:00.000001 UTC", "timestamp in the future")
    ]
    frame = pl.DataFrame({"store_id": ["a"], "timestamp_utc": ["2024-10-07T12:15:01Z"], "status": ["active"]})
    parsed = parse_polls(frame, "POST /api/polls", not_after=not_after)
    assert rejects_as_tuples(parsed.rejects) == [
        (1, "timestamp_utc", "2024-10-07T12:15:01Z", "timestamp in the future")
    ]
    assert load_polls(path).rejects.is_empty()  # without not_after there is no such rule
    with pytest.raises(ConfigError):
        load_polls(path, not_after=datetime(2300, 1, 1))


BAD_IDS = ["=1+1", "+49", "-0", "@sum", "x" * 257, "tab\there", "del\x7fx", "nel\x85x"]


def test_invalid_store_ids_are_rejected_in_every_file(tmp_path: Path) -> None:
    ok = "x" * 256  # 256 code points is still valid
    ids = [ok, *BAD_IDS]
    t = "2024-01-01 00:00:00 UTC"
    frames = {
        "polls": (load_polls, pl.DataFrame({"store_id": ids, "timestamp_utc": t, "status": "active"})),
        "hours": (
            load_hours,
            pl.DataFrame({"store_id": ids, "dayOfWeek": "0", "start_time_local": "09:00", "end_time_local": "17:00"}),
        ),
        "timezones": (load_timezones, pl.DataFrame({"store_id": ids, "timezone_str": "UTC"})),
        "special": (
            load_special_hours,
            pl.DataFrame({"store_id": ids, "date_local": "2024-07-10", "start_time_local": "", "end_time_local": ""}),
        ),
    }
    for name, (loader, frame) in frames.items():
        path = tmp_path / f"{name}.csv"
        frame.write_csv(path)
        loaded = loader(path)
        assert loaded.frame["store_id"].to_list() == [ok], name
        expected = [(line, "store_id", value, "invalid store id") for line, value in enumerate(BAD_IDS, start=3)]
        assert rejects_as_tuples(loaded.rejects) == expected, name
        with pytest.raises(InvalidRowError) as info:
            loader(path, strict=True)
        assert (info.value.file, info.value.line, info.value.column, info.value.value) == (
            str(path), 3, "store_id", "=1+1"
        )  # fmt: skip


# --------------------------------------------------------------------------
# Special hours

SPECIAL_HEADER = "store_id,date_local,start_time_local,end_time_local"


def test_special_hours_rows_and_rejects(tmp_path: Path) -> None:
    path = write(
        tmp_path / "special_hours.csv",
        SPECIAL_HEADER,
        "a,2024-07-10,10:00,14:00",  # line 2: shortened day
        "a,2024-12-25,,",  # line 3: closed
        "b, 2024-12-25 ,  ,  ",  # line 4: closed (blanks), date with blanks
        "c,2024-07-10,,14:00",  # line 5: only one time empty
        "c,2024-07-10,10:00,",  # line 6: only one time empty
        "c,2024-02-30,10:00,14:00",  # line 7: no such date
        "c,2024-7-10,10:00,14:00",  # line 8: not YYYY-MM-DD
        "c,1969-12-31,,",  # line 9: before 1970
        "c,2200-01-01,,",  # line 10: from 2200 on
        "c,2024-07-10,25:00,14:00",  # line 11: bad time
        "=c,2024-07-10,10:00,14:00",  # line 12: a formula
        "d,2024-07-10,22:00,02:00",  # line 13: overnight
    )
    loaded = load_special_hours(path)
    assert loaded.frame.schema == pl.Schema(SPECIAL_HOURS_SCHEMA)
    assert loaded.frame.rows() == [
        ("a", date(2024, 7, 10), time(10), time(14)),
        ("a", date(2024, 12, 25), None, None),
        ("b", date(2024, 12, 25), None, None),
        ("d", date(2024, 7, 10), time(22), time(2)),
    ]
    assert rejects_as_tuples(loaded.rejects) == [
        (5, "start_time_local", "", "one of the two times empty"),
        (6, "end_time_local", "", "one of the two times empty"),
        (7, "date_local", "2024-02-30", "bad date"),
        (8, "date_local", "2024-7-10", "bad date"),
        (9, "date_local", "1969-12-31", "date out of range"),
        (10, "date_local", "2200-01-01", "date out of range"),
        (11, "start_time_local", "25:00", "bad time"),
        (12, "store_id", "=c", "invalid store id"),
    ]
    assert loaded.rows_read == 12 and loaded.rows_rejected == 8
    with pytest.raises(InvalidRowError) as info:
        load_special_hours(path, strict=True)
    assert (info.value.file, info.value.line, info.value.column, info.value.value) == (
        str(path), 5, "start_time_local", ""
    )  # fmt: skip


def test_special_hours_from_parquet_and_from_a_frame(tmp_path: Path) -> None:
    typed = pl.DataFrame(
        [("a", date(2024, 7, 10), time(10), time(14)), ("a", date(2024, 12, 25), None, None)],
        schema=SPECIAL_HOURS_SCHEMA,
        orient="row",
    )
    path = tmp_path / "special_hours.parquet"
    typed.write_parquet(path)
    assert load_special_hours(path).frame.equals(typed)
    strings = pl.DataFrame({"store_id": ["a"], "date_local": ["2024-07-10"], "start_time_local": ["10:00"],
                            "end_time_local": [None]})  # fmt: skip
    parsed = parse_special_hours(strings, "request")
    assert rejects_as_tuples(parsed.rejects) == [(1, "end_time_local", "", "one of the two times empty")]


def test_load_dir_reads_special_hours_when_present(tmp_path: Path) -> None:
    write(tmp_path / "store_status.csv", POLLS_HEADER, "a,2024-07-10 12:00:00 UTC,active")
    write(tmp_path / "menu_hours.csv", HOURS_HEADER, "a,2,09:00,17:00")
    write(tmp_path / "timezones.csv", ZONES_HEADER, "a,UTC")
    without = load_dir(tmp_path)
    assert without.special.is_empty() and without.special.schema == pl.Schema(SPECIAL_HOURS_SCHEMA)
    special = write(tmp_path / "special_hours.csv", SPECIAL_HEADER, "a,2024-07-10,,", "a,2024-07-11,10:00")
    loaded = load_dir(tmp_path)
    assert loaded.special.rows() == [("a", date(2024, 7, 10), None, None)]
    assert loaded.rows_read[str(special)] == 2
    assert rejects_as_tuples(loaded.rejects) == [(3, "end_time_local", "", "one of the two times empty")]
    assert "1 special-hours rows" in loaded.summary()
