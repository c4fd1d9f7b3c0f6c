"""The loaders on content in memory (bytes, file objects) and ``parse_*`` on frames of strings.

The rules are the loaders' own (tested in ``test_load.py``); these tests check
that the new ways in reach exactly the same rows, rejects and errors, with
the line numbering each one documents: a file's header is line 1, a frame's
first row is line 1.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from storemon import FileFormatError, InvalidRowError, load_hours, load_polls, load_timezones
from storemon._load import Loaded, parse_hours, parse_polls, parse_timezones

POLLS_CSV = (
    "store_id,timestamp_utc,status\n"
    "1,2024-10-07 19:37:51.849528 UTC,active\n"
    "2,not a time,inactive\n"
    ",2024-10-07T19:00:00Z,ACTIVE \n"
    ",,\n"
    "3,2024-10-07 20:00:00+02:00,maybe\n"
    "4,2024-10-07 20:00:00,Inactive\n"
)
HOURS_CSV = (
    "store_id,day,start_time_local,end_time_local\n"
    "1,0,09:00,17:00:00\n"
    "1,7,09:00,17:00\n"
    "2,3,25:00,x\n"
    "3, 6 ,22:00:00.5,02:00\n"
)
ZONES_CSV = (
    "store_id,timezone_str\n1,America/New_York\n2,Mars/Base\n1,America/Chicago\n1,America/New_York\n3, Asia/Kolkata \n"
)

LOADERS = {
    "polls": (load_polls, parse_polls),
    "hours": (load_hours, parse_hours),
    "timezones": (load_timezones, parse_timezones),
}
CSVS = {"polls": POLLS_CSV, "hours": HOURS_CSV, "timezones": ZONES_CSV}


def same_load(one: Loaded, other: Loaded, *, line_shift: int = 0, file: str | None = None) -> None:
    """``one`` and ``other`` hold the same rows and rejects (other's lines = one's + line_shift)."""
    assert_frame_equal(one.frame, other.frame)
    expected = one.rejects.with_columns(pl.col("line") + line_shift)
    if file is not None:
        expected = expected.with_columns(file=pl.lit(file))
    assert_frame_equal(expected, other.rejects)
    assert one.rows_read == other.rows_read


@pytest.mark.parametrize("table", ["polls", "hours", "timezones"])
def test_bytes_and_file_objects_load_like_the_file(tmp_path: Path, table: str) -> None:
    path = tmp_path / f"{table}.csv"
    path.write_text(CSVS[table], encoding="utf-8")
    load, _ = LOADERS[table]
    from_path = load(path)
    assert from_path.rejects.height > 0  # the data exercise the reject paths

    same_load(from_path, load(path.read_bytes(), name=str(path)))
    same_load(from_path, load(bytearray(path.read_bytes()), name=str(path)))
    with open(path, "rb") as fh:
        same_load(from_path, load(fh))  # a real file object names itself
    same_load(from_path, load(io.BytesIO(path.read_bytes()), name="body"), file="body")
    same_load(from_path, load(io.StringIO(CSVS[table]), name="text"), file="text")


def test_in_memory_content_without_a_name_is_called_bytes() -> None:
    loaded = load_polls(POLLS_CSV.encode())

    assert loaded.file == "<bytes>"
    assert set(loaded.rejects["file"]) == {"<bytes>"}


def test_name_overrides_a_path_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "polls.csv"
    path.write_text(POLLS_CSV, encoding="utf-8")

    with pytest.raises(InvalidRowError) as caught:
        load_polls(path, strict=True, name="upload.csv")

    assert (caught.value.file, caught.value.line, caught.value.column) == ("upload.csv", 3, "timestamp_utc")


def test_parquet_bytes_load_like_the_csv(tmp_path: Path) -> None:
    strings = pl.read_csv(POLLS_CSV.encode(), infer_schema=False)
    buffer = io.BytesIO()
    strings.write_parquet(buffer)

    same_load(load_polls(POLLS_CSV.encode(), name="x"), load_polls(buffer.getvalue(), name="x"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"\x00\x01\x02binary", "binary content"),
        (b"PAR1 not really parquet PAR1", "not a Parquet file"),
        (b"store_id,status\n1,active\n", "missing required column 'timestamp_utc'"),
        (b"store_id,timestamp_utc,status\n\xff\xfe,x,y\n", "not UTF-8"),
    ],
)
def test_unusable_bytes_are_file_format_errors_with_the_name(content: bytes, message: str) -> None:
    with pytest.raises(FileFormatError) as caught:
        load_polls(content, name="POST /api/polls")

    assert caught.value.file == "POST /api/polls"
    assert message in str(caught.value)


def test_something_that_is_not_content_is_a_clear_error() -> None:
    with pytest.raises(FileFormatError, match="give a path, bytes or a file object"):
        load_polls(12345, name="n")  # type: ignore[arg-type]


# --- parse_* on frames of strings -------------------------------------------------------


@pytest.mark.parametrize("table", ["polls", "hours", "timezones"])
def test_parse_applies_the_loader_rules_with_rows_counted_from_one(table: str) -> None:
    load, parse = LOADERS[table]
    from_csv = load(CSVS[table].encode(), name="body")
    frame = pl.read_csv(CSVS[table].encode(), infer_schema=False)

    same_load(from_csv, parse(frame, "body"), line_shift=-1)


def test_parse_polls_treats_nulls_as_empty_and_reads_other_types_as_text() -> None:
    frame = pl.DataFrame(
        {
            "status": ["active", None, "inactive"],
            "store_id": [8419537941919820732, 7, None],  # integers: their digits
            "timestamp_utc": ["2024-10-07 19:37:51 UTC", "2024-10-07 19:38:00 UTC", None],
            "ignored": [1.5, None, 2.0],
        }
    )

    loaded = parse_polls(frame, "items")

    assert loaded.frame["store_id"].to_list() == ["8419537941919820732"]
    assert loaded.rows_read == 3
    assert loaded.rows_rejected == 2
    assert loaded.rejects.select("line", "column", "value", "reason").rows() == [
        (2, "status", "", "unknown status"),
        (3, "store_id", "", "empty store id"),
        (3, "timestamp_utc", "", "unparsable timestamp"),
    ]


def test_parse_hours_finds_columns_as_a_header_would() -> None:
    frame = pl.DataFrame(
        {" Store_ID ": ["1"], "DAY": ["4"], "start_time_local": ["18:00"], "END_TIME_LOCAL": ["23:59:59"]}
    )

    loaded = parse_hours(frame, "items")

    assert loaded.rejects.is_empty()
    assert loaded.frame.row(0)[:2] == ("1", 4)


def test_parse_timezones_conflicts_follow_row_order() -> None:
    frame = pl.DataFrame({"store_id": ["1", "1", "1"], "timezone_str": ["Asia/Tokyo", "Asia/Tokyo", "Europe/Paris"]})

    loaded = parse_timezones(frame, "items")

    assert loaded.frame.rows() == [("1", "Asia/Tokyo")]
    assert loaded.rejects.select("line", "reason").rows() == [(3, "conflicting time zone")]


def test_parse_strict_names_the_row_index() -> None:
    frame = pl.DataFrame(
        {"store_id": ["1", "2"], "timestamp_utc": ["2024-10-07 19:00:00", "soon"], "status": ["active"] * 2}
    )

    with pytest.raises(InvalidRowError) as caught:
        parse_polls(frame, "items", strict=True)

    error = caught.value
    assert (error.file, error.line, error.column, error.value) == ("items", 2, "timestamp_utc", "soon")


def test_parse_missing_column_and_wrong_argument_are_file_format_errors() -> None:
    with pytest.raises(FileFormatError) as caught:
        parse_timezones(pl.DataFrame({"store_id": ["1"]}), "items")
    assert caught.value.file == "items" and caught.value.column == "timezone_str"

    with pytest.raises(FileFormatError, match="expected a Polars DataFrame"):
        parse_polls([{"store_id": "1"}], "items")  # type: ignore[arg-type]

    with pytest.raises(FileFormatError, match="cannot be read as text"):
        parse_timezones(pl.DataFrame({"store_id": [["1"]], "timezone_str": ["UTC"]}), "items")


VALUES = {
    "store_id": st.sampled_from(["1", "abc", " 7 ", "", "  ", "8c1e6e1a-2f4b"]),
    "timestamp_utc": st.sampled_from(
        ["2024-10-07 19:37:51.849528 UTC", "2024-10-07T19:37:51Z", "2024-10-07 19:37", "", "x", "2024-13-01 00:00:00"]
    ),
    "status": st.sampled_from(["active", " Inactive ", "ACTIVE", "", "on"]),
}


@given(st.lists(st.fixed_dictionaries(VALUES), max_size=12))
def test_parse_polls_equals_load_polls_on_the_same_strings(rows: list[dict[str, str]]) -> None:
    frame = pl.DataFrame(rows, schema=dict.fromkeys(VALUES, pl.String))
    csv = frame.write_csv().encode()

    same_load(load_polls(csv, name="n"), parse_polls(frame, "n"), line_shift=-1)
