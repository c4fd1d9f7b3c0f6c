"""Loading and validating the input files: polls, business hours, time zones and (optional) special hours.

Each loader reads one CSV or Parquet file, finds its columns by header name
and parses its values vectorized into the typed frames of
:mod:`storemon.schema`: text as text, and a typed column (see "Typed
columns" below) as typed values. Rows that break a rule of ``docs/rules.md`` ("Invalid
rows") are left out of the frame and returned in ``rejects`` instead; with
``strict=True`` the first of them raises :class:`InvalidRowError`. A file that
cannot be used at all raises :class:`FileFormatError`.

Choices worth knowing:

- ``line`` is 1-based with the header as line 1, so the first data row is
  line 2. It counts CSV *records*: it equals the physical line unless a quoted
  field spans several lines. For Parquet it is the row number + 2.
- The loaders take a path, the bytes of a file, or a binary file-like object
  (an HTTP body, say); ``name=`` is what messages and rejects call it.
- :func:`parse_polls`, :func:`parse_hours` and :func:`parse_timezones`
  apply exactly the same rules to a frame that did not come from a file
  (e.g. decoded JSON), typed columns included. There ``line`` is the 1-based row
  index: the first row is line 1 (for a JSON array, the item's position).
- Typed columns (Parquet, or a caller's frame): a ``timestamp_utc`` Datetime
  (any unit; aware in any zone, naive = UTC), a ``status`` Enum or
  Categorical, an integer ``dayOfWeek``, Time ``start_time_local`` /
  ``end_time_local`` and a Date ``date_local`` are validated as typed
  values — range checks on integers, a status parsed once per category —
  with exactly the result of their text as :func:`_as_strings` writes it
  (Datetime in UTC with six fraction digits, so sub-microsecond digits are
  cut towards the past; a year outside 0000–9999 has no four-digit text, so
  it is unparsable; a null is empty). Only a rejected row's value is
  written as text, for its reject. Every other column (ids, zones, a
  Datetime where a date is wanted, …) is read as text, as from CSV.
- Checks on values that repeat (store ids, time-zone names, statuses of a
  typed column) run once per distinct value and are mapped back to the
  rows: a poll file holds a few thousand ids among millions of rows.
- A polls file is read and validated in batches of ``_POLL_BATCH_ROWS``
  rows (every rule is about one row, so the result does not depend on the
  batches), and the frame's store ids all point into one list of the
  distinct ids: memory for the text of one batch, not of the whole file.
- A row with several bad columns yields one reject row per bad column (so the
  user sees every problem), but it is one rejected row: it is counted once,
  under the reason of its first bad column in schema order (see
  :meth:`Inputs.reject_counts`).
- A line whose required fields are all empty (a blank line) is one reject
  with reason ``"blank line"`` rather than one per column.
- Surrounding blanks are ignored in every value except ``store_id``, which is
  kept exactly as written. In every file an empty store id is rejected as
  ``"empty store id"`` (one of blanks is an exact id like any other); one longer than 256 code
  points, holding a control character (U+0000–U+001F, U+007F–U+009F) or
  beginning with ``=``, ``+``, ``-`` or ``@`` (a spreadsheet would run it as a
  formula) as ``"invalid store id"`` (docs/rules.md, "The inputs").
- A timestamp that parses but lies outside ``[1970-01-01, 2200-01-01)`` UTC
  is ``"timestamp out of range"``; with ``not_after=`` a poll dated after
  that instant is ``"timestamp in the future"`` (live intake's 15-minute
  rule is the caller's ``not_after``).
- Special hours: ``date_local`` is ``YYYY-MM-DD`` within the same years;
  both times empty means closed on that date; exactly one empty is
  ``"one of the two times empty"`` (reported on the empty column).
- A time-zone row repeating a store's zone is dropped without a reject; a
  valid row naming a *different* zone than the store's first valid row is
  rejected as ``"conflicting time zone"``.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import polars as pl

from storemon._core.store_codes import valid_store_id
from storemon._instants import (
    MAX_INSTANT,
    MAX_US,
    MIN_INSTANT,
    MIN_US,
    parse_timestamps_slowly,
    timestamp_expr,
    to_us,
    utc_instant,
)
from storemon.exceptions import FileFormatError, InvalidRowError
from storemon.schema import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    REJECTS_SCHEMA,
    SPECIAL_HOURS_SCHEMA,
    STATUS,
    TIMEZONES_SCHEMA,
    is_known_zone,
)

__all__ = [
    "Loaded",
    "Inputs",
    "load_polls",
    "load_hours",
    "load_timezones",
    "load_special_hours",
    "load_inputs",
    "load_dir",
    "parse_polls",
    "parse_hours",
    "parse_timezones",
    "parse_special_hours",
    "Source",
    "FILE_NAMES",
    "OPTIONAL_FILE_NAMES",
]

# Reject reasons: short fixed strings, part of the interface (tests, reports).
BLANK_LINE = "blank line"
EMPTY_STORE_ID = "empty store id"
INVALID_STORE_ID = "invalid store id"
BAD_TIMESTAMP = "unparsable timestamp"
TIMESTAMP_OUT_OF_RANGE = "timestamp out of range"
TIMESTAMP_IN_FUTURE = "timestamp in the future"
BAD_DATE = "bad date"
DATE_OUT_OF_RANGE = "date out of range"
ONE_TIME_EMPTY = "one of the two times empty"
BAD_STATUS = "unknown status"
BAD_DAY = "day of week outside 0-6"
BAD_TIME = "bad time"
BAD_ZONE = "unknown time zone"
CONFLICTING_ZONE = "conflicting time zone"

#: What a loader reads: a path, a file's bytes, or a file-like object opened for reading.
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO | TextIO

#: ``line`` of the first data row: after the header of a file, first of a frame.
_FILE_FIRST_LINE = 2
_FRAME_FIRST_LINE = 1

_POLLS_ALIASES: Mapping[str, str] = {}
_HOURS_ALIASES: Mapping[str, str] = {"day": "dayOfWeek"}
_TIMEZONES_ALIASES: Mapping[str, str] = {}
_SPECIAL_ALIASES: Mapping[str, str] = {}

#: File names :func:`load_dir` looks for, per role: the 2024 names (CSV or
#: Parquet) and the 2023 names. Patterns use :mod:`fnmatch` syntax and are
#: matched case-insensitively.
FILE_NAMES: Mapping[str, tuple[str, ...]] = {
    "polls": ("store_status.csv", "store_status.parquet", "store status.csv"),
    "hours": ("menu_hours.csv", "menu_hours.parquet", "Menu hours.csv"),
    "timezones": ("timezones.csv", "timezones.parquet", "bq-results-*.csv"),
}

#: Files :func:`load_dir` reads when present, per role.
OPTIONAL_FILE_NAMES: Mapping[str, tuple[str, ...]] = {
    "special": ("special_hours.csv", "special_hours.parquet"),
}


@dataclass(frozen=True, eq=False)
class Loaded:
    """One loaded file: the valid rows as a typed frame, and the rejected ones.

    ``frame`` follows the file's schema in :mod:`storemon.schema`, rows in file
    order; ``rejects`` follows ``REJECTS_SCHEMA`` sorted by line; ``rows_read``
    counts the file's data rows (header excluded), valid or not.
    """

    frame: pl.DataFrame
    rejects: pl.DataFrame
    file: str
    rows_read: int

    @property
    def rows_rejected(self) -> int:
        """Number of rejected rows (a row with several bad columns counts once)."""
        return self.rejects["line"].n_unique()


@dataclass(frozen=True, eq=False)
class Inputs:
    """The typed frames of a report plus every rejected row.

    ``rows_read`` maps each file read to its number of data rows; it is
    filled by :func:`load_inputs` and :func:`load_dir` and may be left empty
    by callers that build ``Inputs`` themselves. ``special`` holds the
    special hours (``SPECIAL_HOURS_SCHEMA``), empty when there were none.
    """

    polls: pl.DataFrame
    hours: pl.DataFrame
    timezones: pl.DataFrame
    rejects: pl.DataFrame
    rows_read: Mapping[str, int] = field(default_factory=dict)
    special: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SPECIAL_HOURS_SCHEMA))

    def reject_counts(self) -> pl.DataFrame:
        """Rejected rows per file and reason: columns ``file``, ``reason``, ``rows``.

        Each rejected row counts once, under the reason of its first bad column
        (``rejects`` lists every bad column). Files in load order, then reasons
        by descending count.
        """
        firsts = self.rejects.unique(["file", "line"], keep="first", maintain_order=True)
        file_order = {name: i for i, name in enumerate(firsts["file"].unique(maintain_order=True))}
        counts = firsts.group_by("file", "reason", maintain_order=True).agg(pl.len().cast(pl.Int64).alias("rows"))
        return counts.sort(
            pl.col("file").replace_strict(file_order, return_dtype=pl.Int64),
            pl.col("rows"),
            pl.col("reason"),
            descending=[False, True, False],
            maintain_order=True,
        )

    @property
    def rows_rejected(self) -> int:
        """Number of rejected rows over all files (each row counted once)."""
        return int(self.rejects.select(pl.struct("file", "line").n_unique()).item())

    def summary(self) -> str:
        """One line for a person: rows read, rows rejected and the reasons."""
        read = sum(self.rows_read.values())
        text = f"read {read} rows from {len(self.rows_read)} files" if self.rows_read else "loaded inputs"
        text += (
            f": {self.polls.height} polls, {self.hours.height} business-hours rows, {self.timezones.height} time zones"
        )
        if self.special.height:
            text += f", {self.special.height} special-hours rows"
        if self.rejects.is_empty():
            return text + "; no rows rejected"
        per_file = []
        for (file,), group in self.reject_counts().group_by("file", maintain_order=True):
            reasons = ", ".join(f"{rows} {reason}" for reason, rows in group.select("reason", "rows").rows())
            per_file.append(f"{Path(file).name}: {reasons}")
        return f"{text}; {self.rows_rejected} rows rejected ({'; '.join(per_file)})"


# --------------------------------------------------------------------------
# Public loaders


def load_polls(
    source: Source, *, strict: bool = False, name: str | None = None, not_after: datetime | None = None
) -> Loaded:
    """Load status polls (CSV or Parquet) into ``POLLS_SCHEMA``.

    Columns ``store_id``, ``timestamp_utc``, ``status`` in any order; see the
    module docstring and ``docs/rules.md`` for the accepted values. ``source`` is a
    path, bytes or a file-like object; ``name`` replaces its name in messages.
    ``not_after`` (an instant; naive = UTC) rejects polls dated after it as
    ``"timestamp in the future"``.
    """
    batches, file = _read_batches(source, tuple(POLLS_SCHEMA), _POLLS_ALIASES, name, _POLL_BATCH_ROWS)
    return _polls_in_batches(batches, file, strict, not_after)


def parse_polls(frame: pl.DataFrame, name: str, *, strict: bool = False, not_after: datetime | None = None) -> Loaded:
    """Validate polls given as a frame, with the rules of :func:`load_polls`.

    Columns are found by name as in a file's header; string columns are
    parsed as text, typed ones as in a Parquet file (module docstring,
    "Typed columns"); null values count as empty. ``name`` is what messages
    and rejects call the frame; a reject's ``line`` is the 1-based row index.
    """
    raw = _raw_of_frame(frame, tuple(POLLS_SCHEMA), _POLLS_ALIASES, name)
    parsed, rejects, valid = _polls(raw, name, strict, _FRAME_FIRST_LINE, not_after)
    return Loaded(_typed(_valid_rows(parsed, valid), POLLS_SCHEMA), rejects, name, raw.height)


#: Rows of a polls file read and validated at a time by :func:`load_polls`.
#: A poll file is by far the largest input (56 M rows at the S30 benchmark
#: size): read whole, its text alone took about 100 bytes a row, more than
#: the typed frame and a report over it together. In batches only a batch of
#: text exists at a time, and validation is row by row, so the result is the
#: same for any batch size (tests load with tiny ones).
_POLL_BATCH_ROWS = 1 << 20


def _polls_in_batches(batches: _Batches, file: str, strict: bool, not_after: datetime | None) -> Loaded:
    """:func:`_polls` of each batch of a file, joined: the frame and rejects of the whole file.

    Each batch's store ids are replaced by the same ids gathered from the
    file's one list of distinct ids (:class:`_IdCodes`), so the String column
    has all its values point into that list (16 bytes a row, each id's text
    stored once), where text read row by row stores every id anew — a poll
    file repeats a few thousand ids over millions of rows. The gather is the
    one that checks the batch's codes, so it costs nothing more (until
    December 2026 the batches kept the codes and were gathered once more at
    the end: 14 % of loading S10's polls from Parquet).
    """
    dictionary = _IdCodes()
    frames, rejects, rows = [], [], 0
    for raw in batches:
        ids, distinct = dictionary.listed(raw["store_id"])
        parsed, batch_rejects, valid = _polls(raw, file, strict, _FILE_FIRST_LINE + rows, not_after, distinct)
        rows += raw.height
        frames.append(_typed(_valid_rows(parsed.with_columns(ids), valid), POLLS_SCHEMA).rechunk())
        rejects.append(batch_rejects)
        del raw, parsed, ids
    # Each batch's ids are a chunk of their own, and the chunks stay apart:
    # a later ``unique`` over a String column runs in parallel over chunks
    # (several times faster than over one chunk). The other columns get the
    # same chunks (a batch of a Parquet file arrives in one chunk per row
    # group): a frame whose columns are chunked differently is copied whole,
    # all columns aligned, by the next select or filter on it (+374 MiB at
    # S10 when an ingest wrote its parts), where one batch's copy is ≈ 9 MiB.
    frame = pl.concat(frames, how="vertical", rechunk=False)
    return Loaded(frame, pl.concat(rejects, how="vertical"), file, rows)


class _IdCodes:
    """A dense code for every distinct store id of a file, built batch by batch.

    Codes are positions in the list of distinct ids seen so far. A batch is
    coded through a 64-bit hash of each id (hashing and an integer lookup cost
    a fraction of a ``unique`` over the strings; a Categorical cast costs as
    much at S1 and 1.5 times as much at S10), and the result is then checked
    exactly: every row's id must equal the id of its code. Should two ids
    ever share a hash, that check fails and this file's ids are coded by
    their strings from then on (slower, same codes for the ids already
    listed). Gathering from the list shares its text: the list grows by
    concatenation, which copies the views but not the bytes they point to.
    """

    _SEED = 0x1D_C0DE

    def __init__(self) -> None:
        self._ids = pl.Series("store_id", [], dtype=pl.String)  # the distinct ids, in code order
        self._table = pl.DataFrame(schema={"key": pl.UInt64, "code": pl.UInt32})
        self._by_hash = True

    def listed(self, ids: pl.Series) -> tuple[pl.Series, pl.Series]:
        """``ids`` (String, no nulls) gathered from the list by their codes, and the distinct ids among them."""
        if self._by_hash:
            hashes = _id_hash(ids, self._SEED)
            firsts = hashes.arg_unique()
            codes = self._codes(hashes, hashes.gather(firsts), ids.gather(firsts))
            gathered = self._ids.gather(codes)
            if (gathered == ids).all():
                return gathered, ids.gather(firsts)
            # Two ids share a hash: code this batch again by the strings. The
            # ids listed so far are distinct strings (their hashes are
            # distinct), so they keep their codes.
            self._by_hash = False
            everyone = pl.int_range(self._ids.len(), dtype=pl.UInt32, eager=True)
            self._table = pl.DataFrame({"key": self._ids, "code": everyone})
        distinct = ids.unique()
        codes = self._codes(ids, distinct, distinct)  # lists the new ids: gather after it
        return self._ids.gather(codes), distinct

    def _codes(self, keys: pl.Series, distinct_keys: pl.Series, distinct_ids: pl.Series) -> pl.Series:
        """Codes of ``keys`` (hashes or ids), giving new codes to the distinct keys not seen before."""
        new = ~distinct_keys.is_in(self._table["key"].implode())
        if new.any():
            added, count = distinct_keys.filter(new), self._ids.len()
            codes = pl.int_range(count, count + added.len(), dtype=pl.UInt32, eager=True)
            self._table = pl.concat([self._table, pl.DataFrame({"key": added, "code": codes})])
            self._ids = pl.concat([self._ids, distinct_ids.filter(new).rename("store_id")], rechunk=True)
        # Every key is in the table by now; replace_strict raises if one were not.
        return keys.replace_strict(self._table["key"], self._table["code"], return_dtype=pl.UInt32)


def _id_hash(ids: pl.Series, seed: int) -> pl.Series:
    """A 64-bit hash of each id (a function of its own, so that tests can make ids collide)."""
    return ids.hash(seed)


def _polls(
    raw: pl.DataFrame,
    file: str,
    strict: bool,
    first_line: int,
    not_after: datetime | None,
    distinct_ids: pl.Series | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.Series]:
    """Validate one raw table of polls: the parsed columns, the rejects and the mask of valid rows.

    Row 0 is line ``first_line``; ``distinct_ids``, when the caller knows
    them, are the distinct ids of ``raw``.
    """
    latest = None if not_after is None else utc_instant(not_after, "not_after")
    parsed = _parse(
        raw,
        {
            "store_id": _Parser(pl.col("store_id")),
            "timestamp_utc": _timestamp_parser("timestamp_utc"),
            "status": _status_parser("status"),
        },
    )
    ts = pl.col("timestamp_utc")
    out_of_range = ~ts.is_between(_instant(MIN_US), _instant(MAX_US), closed="left")
    ids = _StoreIds(raw["store_id"], distinct_ids)
    checks: list[_Check] = [
        *ids.checks(),
        ("timestamp_utc", BAD_TIMESTAMP, ts.is_null()),
        ("timestamp_utc", TIMESTAMP_OUT_OF_RANGE, ts.is_not_null() & out_of_range),
    ]
    if latest is not None:
        future = ts > _instant(to_us(latest))
        checks.append(("timestamp_utc", TIMESTAMP_IN_FUTURE, ts.is_not_null() & ~out_of_range & future))
    checks.append(("status", BAD_STATUS, pl.col("status").is_null()))
    rejects, valid = _validate(raw, file, parsed, checks, first_line, ids.blank)
    _raise_first_if(strict, rejects)
    return parsed, rejects, valid


def _instant(us: int) -> pl.Expr:
    """The instant ``us`` epoch microseconds as a Datetime[us, UTC] literal.

    Built from the integer: a literal of an aware ``datetime`` costs Polars
    calls of its own (converting its zone) every time it is made.
    """
    return pl.lit(us, dtype=pl.Int64).cast(pl.Datetime("us", "UTC"))


def load_hours(source: Source, *, strict: bool = False, name: str | None = None) -> Loaded:
    """Load weekly business hours (CSV or Parquet) into ``HOURS_SCHEMA``.

    Columns ``store_id``, ``dayOfWeek`` (or ``day``), ``start_time_local``,
    ``end_time_local`` in any order. ``source`` and ``name`` as for
    :func:`load_polls`.
    """
    raw, file = _read_table(source, tuple(HOURS_SCHEMA), _HOURS_ALIASES, name)
    return _hours(raw, file, strict, _FILE_FIRST_LINE)


def parse_hours(frame: pl.DataFrame, name: str, *, strict: bool = False) -> Loaded:
    """Validate business hours given as a frame (see :func:`parse_polls`)."""
    raw = _raw_of_frame(frame, tuple(HOURS_SCHEMA), _HOURS_ALIASES, name)
    return _hours(raw, name, strict, _FRAME_FIRST_LINE)


def _hours(raw: pl.DataFrame, file: str, strict: bool, first_line: int) -> Loaded:
    parsed = _parse(
        raw,
        {
            "store_id": _Parser(pl.col("store_id")),
            "dayOfWeek": _day_parser("dayOfWeek"),
            "start_time_local": _time_parser("start_time_local"),
            "end_time_local": _time_parser("end_time_local"),
        },
    )
    ids = _StoreIds(raw["store_id"])
    rejects, valid = _validate(
        raw,
        file,
        parsed,
        [
            *ids.checks(),
            ("dayOfWeek", BAD_DAY, pl.col("dayOfWeek").is_null()),
            ("start_time_local", BAD_TIME, pl.col("start_time_local").is_null()),
            ("end_time_local", BAD_TIME, pl.col("end_time_local").is_null()),
        ],
        first_line,
        ids.blank,
    )
    _raise_first_if(strict, rejects)
    return Loaded(_typed(_valid_rows(parsed, valid), HOURS_SCHEMA), rejects, file, raw.height)


def load_timezones(source: Source, *, strict: bool = False, name: str | None = None) -> Loaded:
    """Load store time zones (CSV or Parquet) into ``TIMEZONES_SCHEMA``.

    Columns ``store_id``, ``timezone_str``. One row per store in the result:
    the store's first valid row wins, later valid rows naming another zone
    are rejected as conflicting and exact repeats are dropped. ``source``
    and ``name`` as for :func:`load_polls`.
    """
    raw, file = _read_table(source, tuple(TIMEZONES_SCHEMA), _TIMEZONES_ALIASES, name)
    return _timezones(raw, file, strict, _FILE_FIRST_LINE)


def parse_timezones(frame: pl.DataFrame, name: str, *, strict: bool = False) -> Loaded:
    """Validate time zones given as a frame (see :func:`parse_polls`)."""
    raw = _raw_of_frame(frame, tuple(TIMEZONES_SCHEMA), _TIMEZONES_ALIASES, name)
    return _timezones(raw, name, strict, _FRAME_FIRST_LINE)


def _timezones(raw: pl.DataFrame, file: str, strict: bool, first_line: int) -> Loaded:
    store_id = raw["store_id"]
    zone = raw["timezone_str"].str.strip_chars()
    known = pl.Series([name for name in zone.unique().to_list() if is_known_zone(name)], dtype=pl.String)
    zone_ok = zone.is_in(known.implode())
    ids = _StoreIds(store_id)
    checks: list[_Check] = [
        *ids.checks(),
        ("timezone_str", BAD_ZONE, ~zone_ok),
    ]
    _, valid = _validate(raw, file, raw, checks, first_line, ids.blank)  # conflicts are judged among valid rows only
    conflict, repeat = _zone_conflicts(store_id, zone, valid)
    checks.append(("timezone_str", CONFLICTING_ZONE, conflict))
    rejects, valid = _validate(raw, file, raw, checks, first_line, ids.blank)
    _raise_first_if(strict, rejects)
    frame = pl.DataFrame({"store_id": store_id, "timezone_str": zone})
    return Loaded(_typed(frame.filter(valid & ~repeat), TIMEZONES_SCHEMA), rejects, file, raw.height)


def load_special_hours(source: Source, *, strict: bool = False, name: str | None = None) -> Loaded:
    """Load special hours (date overrides; CSV or Parquet) into ``SPECIAL_HOURS_SCHEMA``.

    Columns ``store_id``, ``date_local`` (``YYYY-MM-DD``),
    ``start_time_local``, ``end_time_local`` in any order; both times empty
    means closed on that date (null times in the frame). ``source`` and
    ``name`` as for :func:`load_polls`.
    """
    raw, file = _read_table(source, tuple(SPECIAL_HOURS_SCHEMA), _SPECIAL_ALIASES, name)
    return _special(raw, file, strict, _FILE_FIRST_LINE)


def parse_special_hours(frame: pl.DataFrame, name: str, *, strict: bool = False) -> Loaded:
    """Validate special hours given as a frame (see :func:`parse_polls`)."""
    raw = _raw_of_frame(frame, tuple(SPECIAL_HOURS_SCHEMA), _SPECIAL_ALIASES, name)
    return _special(raw, name, strict, _FRAME_FIRST_LINE)


def _special(raw: pl.DataFrame, file: str, strict: bool, first_line: int) -> Loaded:
    parsed = _parse(
        raw,
        {
            "store_id": _Parser(pl.col("store_id")),
            "date_local": _date_parser("date_local"),
            "start_time_local": _time_parser("start_time_local"),
            "end_time_local": _time_parser("end_time_local"),
        },
    )
    day = pl.col("date_local")
    start_blank, end_blank = pl.lit(_is_blank(raw["start_time_local"])), pl.lit(_is_blank(raw["end_time_local"]))
    ids = _StoreIds(raw["store_id"])
    rejects, valid = _validate(
        raw,
        file,
        parsed,
        [
            *ids.checks(),
            ("date_local", BAD_DATE, day.is_null()),
            ("date_local", DATE_OUT_OF_RANGE, day.is_not_null() & ~day.is_between(_MIN_DATE, _MAX_DATE, closed="left")),
            ("start_time_local", BAD_TIME, ~start_blank & pl.col("start_time_local").is_null()),
            ("start_time_local", ONE_TIME_EMPTY, start_blank & ~end_blank),
            ("end_time_local", BAD_TIME, ~end_blank & pl.col("end_time_local").is_null()),
            ("end_time_local", ONE_TIME_EMPTY, end_blank & ~start_blank),
        ],
        first_line,
        ids.blank,
    )
    _raise_first_if(strict, rejects)
    return Loaded(_typed(_valid_rows(parsed, valid), SPECIAL_HOURS_SCHEMA), rejects, file, raw.height)


def load_inputs(
    polls: str | Path,
    hours: str | Path,
    timezones: str | Path,
    *,
    strict: bool = False,
    special: str | Path | None = None,
) -> Inputs:
    """Load the three files given explicitly (each CSV or Parquet), and special hours when given."""
    loaded_polls = load_polls(polls, strict=strict)
    loaded_hours = load_hours(hours, strict=strict)
    loaded_zones = load_timezones(timezones, strict=strict)
    loaded = [loaded_polls, loaded_hours, loaded_zones]
    special_frame = pl.DataFrame(schema=SPECIAL_HOURS_SCHEMA)
    if special is not None:
        loaded_special = load_special_hours(special, strict=strict)
        loaded.append(loaded_special)
        special_frame = loaded_special.frame
    return Inputs(
        polls=loaded_polls.frame,
        hours=loaded_hours.frame,
        timezones=loaded_zones.frame,
        rejects=pl.concat([one.rejects for one in loaded], how="vertical"),
        rows_read={one.file: one.rows_read for one in loaded},
        special=special_frame,
    )


def load_dir(path: str | Path, *, strict: bool = False) -> Inputs:
    """Find the input files in a directory by their 2024 or 2023 names and load them.

    The names looked for are in :data:`FILE_NAMES` (each role required) and
    :data:`OPTIONAL_FILE_NAMES` (special hours, read when present). A
    required role with no matching file, or any role with more than one,
    raises :class:`FileFormatError`.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileFormatError("not a directory (expected one holding the three input files)", file=str(directory))
    entries = sorted(entry for entry in directory.iterdir() if entry.is_file())
    found = {role: _find_one(directory, entries, role, patterns) for role, patterns in FILE_NAMES.items()}
    special = _find_optional(directory, entries, "special", OPTIONAL_FILE_NAMES["special"])
    return load_inputs(found["polls"], found["hours"], found["timezones"], strict=strict, special=special)


def _find_one(directory: Path, entries: Sequence[Path], role: str, patterns: Sequence[str]) -> Path:
    """The one file in ``entries`` whose name matches one of ``patterns``."""
    found = _find_optional(directory, entries, role, patterns)
    if found is None:
        wanted = ", ".join(repr(p) for p in patterns)
        raise FileFormatError(f"no {role} file: looked for {wanted}", file=str(directory))
    return found


def _find_optional(directory: Path, entries: Sequence[Path], role: str, patterns: Sequence[str]) -> Path | None:
    """The one file in ``entries`` whose name matches one of ``patterns``, or None when there is none."""
    matches = [entry for entry in entries if any(fnmatch.fnmatchcase(entry.name.lower(), p.lower()) for p in patterns)]
    wanted = ", ".join(repr(p) for p in patterns)
    if not matches:
        return None
    if len(matches) > 1:
        names = ", ".join(repr(m.name) for m in matches)
        raise FileFormatError(f"several {role} files ({names}): keep exactly one of {wanted}", file=str(directory))
    return matches[0]


# --------------------------------------------------------------------------
# Reading a file into the raw table: string columns, and typed ones where safe


_PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 8192


#: What a reader yields: the raw table (see :func:`_raw`) of consecutive rows, in file order.
_Batches = Iterator[pl.DataFrame]


def _read_table(
    source: Source, columns: Sequence[str], aliases: Mapping[str, str], name: str | None
) -> tuple[pl.DataFrame, str]:
    """Read the file's ``columns`` as the raw table (see :func:`_raw`), renamed and in that order; and its name.

    Header names are matched ignoring surrounding blanks and case; ``aliases``
    maps an alternative header name to its column.
    """
    batches, file = _read_batches(source, columns, aliases, name, None)
    return next(batches), file


def _read_batches(
    source: Source, columns: Sequence[str], aliases: Mapping[str, str], name: str | None, rows: int | None
) -> tuple[_Batches, str]:
    """Like :func:`_read_table`, as raw tables of about ``rows`` rows each (``None``: one, the whole file).

    The header is checked (and a file that is none is refused) before this
    returns; an error in a later row surfaces as :class:`FileFormatError`
    when the batch holding it is read. A file without data rows yields one
    empty table.
    """
    if isinstance(source, (str, os.PathLike)):
        return _read_path(Path(source), name or str(Path(source)), columns, aliases, rows)
    return _read_bytes(source, name, columns, aliases, rows)


def _read_path(
    path: Path, file: str, columns: Sequence[str], aliases: Mapping[str, str], rows: int | None
) -> tuple[_Batches, str]:
    """Read a file on disk, CSV or Parquet (by its magic bytes or its suffix)."""
    if not path.exists():
        raise FileFormatError("no such file", file=file)
    if not path.is_file():
        raise FileFormatError("not a regular file", file=file)
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
        fh.seek(max(0, path.stat().st_size - len(_PARQUET_MAGIC)))
        tail = fh.read()
    if not head:
        raise FileFormatError("empty file (no header)", file=file)
    looks_parquet = head.startswith(_PARQUET_MAGIC) and tail == _PARQUET_MAGIC
    if looks_parquet or path.suffix.lower() == ".parquet":
        return _read_parquet(path, file, columns, aliases, rows), file
    if b"\x00" in head:
        raise FileFormatError("not a CSV or Parquet file (binary content)", file=file)
    return _read_csv(path, file, columns, aliases, rows), file


def _read_bytes(
    source: bytes | bytearray | memoryview | BinaryIO | TextIO,
    name: str | None,
    columns: Sequence[str],
    aliases: Mapping[str, str],
    rows: int | None,
) -> tuple[_Batches, str]:
    """Like :func:`_read_path` for a file's content in memory or a file-like object."""
    file = name or str(getattr(source, "name", "") or "<bytes>")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif callable(getattr(source, "read", None)):
        try:
            content = source.read()
        except (OSError, ValueError) as exc:
            raise FileFormatError(f"cannot be read: {exc}", file=file) from None
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    else:
        raise FileFormatError(f"cannot read a {type(source).__name__}: give a path, bytes or a file object", file=file)
    if not data:
        raise FileFormatError("empty file (no header)", file=file)
    if len(data) >= 2 * len(_PARQUET_MAGIC) and data.startswith(_PARQUET_MAGIC) and data.endswith(_PARQUET_MAGIC):
        return _read_parquet(data, file, columns, aliases, rows), file
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise FileFormatError("not a CSV or Parquet file (binary content)", file=file)
    return _read_csv(data, file, columns, aliases, rows), file


def _read_csv(
    path: Path | bytes, file: str, columns: Sequence[str], aliases: Mapping[str, str], rows: int | None
) -> _Batches:
    """Read a CSV file's required columns, every value a string ('' when missing)."""
    options: dict[str, Any] = {
        "infer_schema": False,
        "empty_string_is_null": False,
        "glob": False,
        "raise_if_empty": True,
    }
    try:
        header = pl.read_csv(path, n_rows=0, **options).columns
    except pl.exceptions.NoDataError:
        raise FileFormatError("empty file (no header)", file=file) from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _csv_failure(exc, file) from None
    chosen = _match_columns(header, columns, aliases, file)
    wanted = [chosen[name] for name in columns]

    def raw(frame: pl.DataFrame) -> pl.DataFrame:
        frame = frame.rename({chosen[name]: name for name in columns}).select(columns)
        return frame.with_columns(pl.all().fill_null(""))

    if rows is None:
        try:
            frame = pl.read_csv(path, columns=wanted, **options)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _csv_failure(exc, file) from None
        return iter([raw(frame)])
    # read_csv is this same scan collected at once (Polars implements it so),
    # so the batches hold exactly its rows, in order.
    query = pl.scan_csv(path, **options).select(wanted)
    return _batches_of(query, rows, raw, lambda exc: _csv_failure(exc, file))


def _csv_failure(exc: BaseException, file: str) -> FileFormatError:
    """The error for a CSV file Polars could not read."""
    if isinstance(exc, pl.exceptions.NoDataError):
        return FileFormatError("empty file (no header)", file=file)
    reason = _first_line(exc)
    if "utf-8" in reason.lower():
        return FileFormatError("not a CSV file (not UTF-8 text)", file=file)
    if "more fields" in reason:
        return FileFormatError("cannot be read as CSV: a row has more fields than the header", file=file)
    return FileFormatError(f"cannot be read as CSV: {reason}", file=file)


def _read_parquet(
    path: Path | bytes, file: str, columns: Sequence[str], aliases: Mapping[str, str], rows: int | None
) -> _Batches:
    """Read a Parquet file's required columns as the loaders' raw table (see :func:`_raw`)."""
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # Polars raises several types for a damaged or foreign file
        raise FileFormatError(f"not a Parquet file: {_first_line(exc)}", file=file) from None
    chosen = _match_columns(list(schema), columns, aliases, file)
    wanted = [chosen[name] for name in columns]

    def raw(frame: pl.DataFrame) -> pl.DataFrame:
        return _raw(frame.rename({chosen[name]: name for name in columns}).select(columns), file)

    def failure(exc: BaseException) -> FileFormatError:
        return FileFormatError(f"cannot be read as Parquet: {_first_line(exc)}", file=file)

    if rows is None:
        try:
            frame = pl.read_parquet(path, columns=wanted)
        except Exception as exc:
            raise failure(exc) from None
        return iter([raw(frame)])
    return _batches_of(pl.scan_parquet(path).select(wanted), rows, raw, failure)


def _batches_of(
    query: pl.LazyFrame,
    rows: int,
    raw: Callable[[pl.DataFrame], pl.DataFrame],
    failure: Callable[[BaseException], FileFormatError],
) -> _Batches:
    """``query``'s rows in order, ``rows`` at a time, each batch made a raw table by ``raw``.

    The streaming engine reads the file while the caller validates the
    batch before, so only a batch or two of the file's values (text, for
    CSV) exist at any time instead of the whole file's. An empty file
    yields one empty table.
    """
    try:
        empty = True
        for batch in query.collect_batches(chunk_size=rows, maintain_order=True):
            empty = False
            yield raw(batch)
        if empty:
            yield raw(query.collect())
    except FileFormatError:
        raise
    except Exception as exc:  # Polars raises several types for a damaged or foreign file
        raise failure(exc) from None


def _raw_of_frame(frame: pl.DataFrame, columns: Sequence[str], aliases: Mapping[str, str], name: str) -> pl.DataFrame:
    """A caller's frame as the loaders' raw table (see :func:`_raw`): ``columns`` found by name."""
    if not isinstance(frame, pl.DataFrame):
        raise FileFormatError(f"expected a Polars DataFrame, not {type(frame).__name__}", file=name)
    chosen = _match_columns(frame.columns, columns, aliases, name)
    return _raw(frame, name, {column: chosen[column] for column in columns})


def _raw(frame: pl.DataFrame, file: str, sources: Mapping[str, str] | None = None) -> pl.DataFrame:
    """The loaders' raw table: each column as strings ('' for null), or kept typed where that is safe.

    A column listed in :data:`_TYPED` whose dtype its entry accepts stays as
    it is (nulls included): its parser validates the typed values directly,
    with the result the strings :func:`_as_strings` writes for them would
    give. Every other column becomes text, as from a CSV file. ``sources``
    maps each column of the result to the column of ``frame`` holding it
    (default: ``frame``'s columns, as they are).
    """
    if sources is None:
        sources = {name: name for name in frame.columns}
    schema = frame.schema
    columns = []
    for name, source in sources.items():
        dtype = schema[source]
        accepts = _TYPED.get(name)
        if (accepts is not None and accepts(dtype)) or dtype == pl.String:
            # One select for all of them: on a one-row body each Polars call is a fixed cost.
            column = pl.col(source) if dtype != pl.String else pl.col(source).fill_null("")
            columns.append(column.alias(name))
            continue
        try:
            text = _as_strings(frame[source]).fill_null("")
        except Exception:
            raise FileFormatError(
                f"column {name!r} has type {dtype}, which cannot be read as text", file=file
            ) from None
        columns.append(pl.lit(text).alias(name))
    return frame.select(columns)


def _is_integer(dtype: pl.DataType) -> bool:
    return dtype.is_integer()


#: Columns that may stay typed in the raw table, and which dtypes qualify
#: (see :func:`_raw`); each has a typed parser in :func:`_parse`.
_TYPED: Mapping[str, Callable[[pl.DataType], bool]] = {
    "timestamp_utc": lambda dtype: isinstance(dtype, pl.Datetime),
    "status": lambda dtype: isinstance(dtype, (pl.Enum, pl.Categorical)),
    "dayOfWeek": _is_integer,
    "start_time_local": lambda dtype: dtype == pl.Time,
    "end_time_local": lambda dtype: dtype == pl.Time,
    "date_local": lambda dtype: dtype == pl.Date,
}

#: What chrono (which Polars formats with) can write: years -262143 to
#: 262142. Epoch microseconds of -262143-01-01 and of 262143-01-01, and
#: the same in days; outside, formatting a value would panic.
_WRITABLE_US = (-8_334_601_228_800_000_000, 8_210_266_876_800_000_000)
_WRITABLE_DAYS = (-96_465_658, 95_026_237)
_PER_US = {"ms": 1_000, "us": 1}  # divisor of the bounds above, per unit


def _as_strings(column: pl.Series) -> pl.Series:
    """A typed column as the strings the parsers accept (null stays null).

    A Datetime is written in UTC (a naive one read as UTC) with six fraction
    digits, so sub-microsecond digits are cut off (towards the past); a Time
    with as many digits as it needs. A Datetime or Date beyond the years
    chrono can write (±262,142) is written as its raw count,
    e.g. ``<9223372036854775807 us since 1970-01-01>``, rather than crash.
    """
    dtype = column.dtype
    if dtype == pl.String:
        return column
    if isinstance(dtype, pl.Datetime):
        utc = column.dt.convert_time_zone("UTC") if dtype.time_zone else column
        fmt = "%Y-%m-%d %H:%M:%S%.6f UTC"
        if dtype.time_unit == "ns":  # ns reach only 1677–2262
            return utc.dt.to_string(fmt)
        per = _PER_US[dtype.time_unit]
        low, high = _WRITABLE_US[0] // per, _WRITABLE_US[1] // per
        return _written(utc, lambda text: text.dt.to_string(fmt), low, high, dtype.time_unit)
    if dtype == pl.Date:
        return _written(column, lambda text: text.cast(pl.String), *_WRITABLE_DAYS, "days")
    if dtype == pl.Time:
        return column.dt.to_string("%H:%M:%S%.f")
    return column.cast(pl.String)


def _written(column: pl.Series, write: Callable[[pl.Expr], pl.Expr], low: int, high: int, unit: str) -> pl.Series:
    """``column`` written by ``write`` where its physical value lies in ``[low, high)``, else as the raw count."""
    physical = column.to_physical()
    writable = physical.is_between(low, high, closed="left")
    if writable.all():
        return pl.select(write(pl.lit(column))).to_series().rename(column.name)
    text = pl.select(write(pl.when(pl.lit(writable)).then(pl.lit(column)))).to_series()
    raw = pl.select(pl.format("<{} " + unit + " since 1970-01-01>", pl.lit(physical))).to_series()
    return text.zip_with(writable | physical.is_null(), raw).rename(column.name)


def _match_columns(
    header: Sequence[str], columns: Sequence[str], aliases: Mapping[str, str], file: str
) -> dict[str, str]:
    """Map each required column to the header name that holds it; raise if missing or ambiguous."""
    wanted = {name.casefold(): name for name in columns}
    wanted.update({alias.casefold(): target for alias, target in aliases.items()})
    chosen: dict[str, str] = {}
    for name in header:
        target = wanted.get(name.strip().lstrip("\ufeff").strip().casefold())
        if target is None:
            continue
        if target in chosen:
            raise FileFormatError(
                f"columns {chosen[target]!r} and {name!r} both give {target!r}; keep one", file=file, column=target
            )
        chosen[target] = name
    missing = [name for name in columns if name not in chosen]
    if missing:
        also = {target: alias for alias, target in aliases.items()}
        described = ", ".join(repr(m) + (f" (or {also[m]!r})" if m in also else "") for m in missing)
        found = ", ".join(repr(h) for h in header) or "none"
        noun = "column" if len(missing) == 1 else "columns"
        raise FileFormatError(f"missing required {noun} {described}; header has {found}", file=file, column=missing[0])
    return chosen


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Polars adds long hints below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------
# Parsing the raw columns; every parser returns null where a value is invalid


@dataclass(frozen=True)
class _Parser:
    """How one column is parsed.

    ``expr`` handles the common case of a string column (run on every row,
    in one parallel ``select``); ``fallback``, if any, the string values it
    left null (run on just those rows); ``typed``, if any, a column kept
    typed by :func:`_raw` — it must give exactly what ``expr`` and
    ``fallback`` would give for :func:`_as_strings` of that column.
    """

    expr: pl.Expr
    fallback: Callable[[pl.Series], pl.Series] | None = None
    typed: Callable[[pl.Series], pl.Series] | None = None


def _parse(raw: pl.DataFrame, parsers: Mapping[str, _Parser]) -> pl.DataFrame:
    """Parse ``raw``'s columns; a null in the result marks an invalid value.

    The fast expressions of all string columns run in one ``select``
    (parallel over columns and chunks); each fallback then sees only the
    non-empty values the fast path could not parse, so clean files pay for
    the fast path alone. A typed column goes to its typed parser.
    """
    schema = raw.schema
    strings = {name: parser for name, parser in parsers.items() if schema[name] == pl.String}
    parsed = raw.select(parser.expr.alias(name) for name, parser in strings.items())
    for name, parser in strings.items():
        if parser.fallback is None or parsed[name].null_count() == 0:
            continue
        retry = raw.select(pl.arg_where(pl.lit(parsed[name]).is_null() & (pl.col(name) != ""))).to_series()
        if retry.len():
            column = parsed[name].scatter(retry, parser.fallback(raw[name].gather(retry)))
            parsed.replace_column(parsed.get_column_index(name), column.alias(name))  # our own frame
    typed = []
    for name, parser in parsers.items():
        if name in strings:
            continue
        assert parser.typed is not None, f"{name} kept typed without a typed parser"  # _raw keeps only those of _TYPED
        typed.append(parser.typed(raw[name]).alias(name))
    if not typed:
        return parsed  # already in the parsers' order
    return parsed.with_columns(typed).select(list(parsers))


# Epoch microseconds of 0000-01-01 and 10000-01-01 UTC: a timestamp written
# outside these years has no four-digit year, so its text is unparsable.
_YEAR_0_US = -62_167_219_200_000_000
_YEAR_10000_US = 253_402_300_800_000_000
# The same for dates, in days since 1970-01-01.
_YEAR_0_DAY = -719_528
_YEAR_10000_DAY = 2_932_897


def _timestamp_parser(name: str) -> _Parser:
    """``timestamp_utc`` to Datetime[us, UTC]: the real files' format first, then ISO 8601 forms."""
    return _Parser(timestamp_expr(name), parse_timestamps_slowly, _typed_timestamps)


def _typed_timestamps(column: pl.Series) -> pl.Series:
    """A Datetime column (any unit; aware in any zone, or naive = UTC) to Datetime[us, UTC].

    What the text :func:`_as_strings` writes would parse to: the instant cut
    to whole microseconds towards the past (``%.6f`` writes the first six
    fraction digits; e.g. -1 ns, 1969-12-31 23:59:59.999999999, becomes
    -1 µs, not 0), and null — unparsable — where the year is outside
    0000–9999 (written as ``+10000-…`` or ``-0001-…``). The range checks
    come after, on the result, exactly as for text.
    """
    dtype = column.dtype
    assert isinstance(dtype, pl.Datetime)
    if dtype.time_unit == "us" and dtype.time_zone == "UTC" and column.null_count() == 0:
        writable = column.to_physical().is_between(_YEAR_0_US, _YEAR_10000_US, closed="left")
        if writable.all():
            return column  # the real files' type: nothing to convert
    ticks = column.to_physical()
    if dtype.time_unit == "ns":
        us = ticks // 1_000  # floor division: towards the past, as the text's truncated digits
        writable = ticks.is_not_null()  # ns reach only 1677–2262
    elif dtype.time_unit == "ms":
        writable = ticks.is_between(_YEAR_0_US // 1_000, _YEAR_10000_US // 1_000, closed="left")
        us = ticks.clip(_YEAR_0_US // 1_000, _YEAR_10000_US // 1_000) * 1_000  # clipped first: no overflow
    else:
        us = ticks
        writable = ticks.is_between(_YEAR_0_US, _YEAR_10000_US, closed="left")
    kept = pl.select(pl.when(pl.lit(writable)).then(pl.lit(us))).to_series()
    return kept.cast(pl.Datetime("us", "UTC"))


def _status_parser(name: str) -> _Parser:
    """``status`` to the STATUS enum: active/inactive, any case, surrounding blanks ignored."""
    return _Parser(pl.col(name).cast(STATUS, strict=False), _parse_status_slowly, _typed_statuses)


def _parse_status_slowly(raw: pl.Series) -> pl.Series:
    """Status values that are not exactly ``active``/``inactive``: normalise, then retry."""
    return raw.str.strip_chars().str.to_lowercase().cast(STATUS, strict=False)


def _typed_statuses(column: pl.Series) -> pl.Series:
    """An Enum or Categorical status to STATUS: each distinct category is parsed once as text.

    A poll file holds two or three distinct statuses among millions of
    rows, so the text rules run on the categories and the rows are mapped
    by their integer codes.
    """
    if column.dtype == STATUS:
        return column
    distinct = column.unique().drop_nulls()
    parsed = _parse_status_slowly(distinct.cast(pl.String))  # exact values survive the normalising unchanged
    return column.to_physical().replace_strict(distinct.to_physical(), parsed, default=None, return_dtype=STATUS)


def _day_parser(name: str) -> _Parser:
    """``dayOfWeek`` to Int8: an integer 0..6, surrounding blanks allowed."""
    number = pl.col(name).str.strip_chars().cast(pl.Int64, strict=False)
    return _Parser(pl.when(number.is_between(0, 6)).then(number).cast(pl.Int8), typed=_typed_days)


def _typed_days(column: pl.Series) -> pl.Series:
    """An integer ``dayOfWeek`` of any width to Int8, null outside 0..6 (as its decimal text would be)."""
    return pl.select(pl.when(pl.lit(column).is_between(0, 6)).then(pl.lit(column)).cast(pl.Int8)).to_series()


_TIME = r"^\s*([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,9}))?)?\s*$"


def _time_parser(name: str) -> _Parser:
    """``HH:MM``, ``HH:MM:SS`` or ``HH:MM:SS.fffffffff`` (00:00 to 23:59:59.999…) to Time.

    A Time column is taken as it is: its text (every digit it needs) parses
    back to the same value, and a null is empty.
    """
    text = pl.col(name)
    nanoseconds = (
        text.str.extract(_TIME, 1).cast(pl.Int64) * 3_600_000_000_000
        + text.str.extract(_TIME, 2).cast(pl.Int64) * 60_000_000_000
        + text.str.extract(_TIME, 3).fill_null("0").cast(pl.Int64) * 1_000_000_000
        + text.str.extract(_TIME, 4).fill_null("0").str.pad_end(9, "0").cast(pl.Int64)
    )
    return _Parser(nanoseconds.cast(pl.Time), typed=lambda column: column)


_DATE = r"^\s*\d{4}-\d{2}-\d{2}\s*$"
_MIN_DATE: date = MIN_INSTANT.date()
_MAX_DATE: date = MAX_INSTANT.date()


def _date_parser(name: str) -> _Parser:
    """``YYYY-MM-DD`` (surrounding blanks allowed) to Date; an impossible date is null."""
    text = pl.col(name)
    parsed = text.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    return _Parser(pl.when(text.str.contains(_DATE)).then(parsed), typed=_typed_dates)


def _typed_dates(column: pl.Series) -> pl.Series:
    """A Date column as it is, null where its year is outside 0000–9999 (its text has no four-digit year)."""
    writable = column.to_physical().is_between(_YEAR_0_DAY, _YEAR_10000_DAY, closed="left")
    return pl.select(pl.when(pl.lit(writable)).then(pl.lit(column))).to_series()


class _StoreIds:
    """The store-id checks of every file, judged once per distinct id (docs/rules.md, "The inputs").

    An empty id is ``"empty store id"``; one longer than 256 code points,
    holding a control character or starting with ``= + - @`` is
    ``"invalid store id"``. A poll file repeats a few thousand ids over
    millions of rows, so the rules (and the blank test of
    :func:`_blank_lines`) run on the distinct ids and the few bad ones are
    mapped back with ``is_in``.
    """

    def __init__(self, store_id: pl.Series, distinct: pl.Series | None = None) -> None:
        assert store_id.dtype == pl.String  # _raw never keeps ids typed
        self.store_id = store_id
        if distinct is None:
            distinct = store_id.unique()
        ids = pl.col("store_id")
        # Every rule in one select (fixed costs per Polars call dominate small batches).
        flags = distinct.to_frame("store_id").select(
            empty=ids == "",
            invalid=~valid_store_id(ids) & (ids != ""),
            blank=_is_blank_text(ids),
        )
        self.empty = self._rows_among(distinct, flags["empty"])
        self.invalid = self._rows_among(distinct, flags["invalid"])
        #: Rows whose id is empty or only blanks (the candidates for a blank line); None: no row.
        self.blank = self._rows_among(distinct, flags["blank"])

    def _rows_among(self, distinct: pl.Series, flag: pl.Series) -> pl.Series | None:
        """The rows whose id is one of the flagged distinct ids; None when none is (no mask to build)."""
        if not flag.any():
            return None
        return self.store_id.is_in(distinct.filter(flag).implode())

    def checks(self) -> list[_Check]:
        return [("store_id", EMPTY_STORE_ID, self.empty), ("store_id", INVALID_STORE_ID, self.invalid)]


def _is_blank_text(text: pl.Expr) -> pl.Expr:
    """Whether each string is empty or only blanks."""
    return ~text.str.contains(r"\S")


def _is_blank(raw: pl.Series) -> pl.Series:
    """Whether each value is empty or only blanks (a null typed value is empty)."""
    if raw.dtype == pl.String:
        return pl.select(_is_blank_text(pl.lit(raw))).to_series().rename(raw.name)
    if raw.dtype.is_temporal() or raw.dtype.is_integer():
        return raw.is_null()  # their text is never blank
    return ~_as_strings(raw).fill_null("").str.contains(r"\S")


def _text(raw: pl.Series) -> pl.Series:
    """A raw column's values as the text a reject reports ('' for null)."""
    return raw if raw.dtype == pl.String else _as_strings(raw).fill_null("")


def _valid_rows(parsed: pl.DataFrame, valid: pl.Series) -> pl.DataFrame:
    """The valid rows of ``parsed`` (no copy when all are)."""
    return parsed if valid.all() else parsed.filter(valid)


# --------------------------------------------------------------------------
# Validation: turning failed checks into rejects


#: No rejects: cloned (a cheap copy) rather than built from the schema for every batch.
_NO_REJECTS = pl.DataFrame(schema=REJECTS_SCHEMA)

#: One rule: ``(column, reason, invalid)``, where ``invalid`` marks the rows that break it, as an
#: expression over the parsed frame, a mask of its height, or None when no row can break it.
_Check = tuple[str, str, pl.Expr | pl.Series | None]


def _validate(
    raw: pl.DataFrame,
    file: str,
    parsed: pl.DataFrame,
    checks: Sequence[_Check],
    first_line: int,
    first_blank: pl.Series | None,
) -> tuple[pl.DataFrame, pl.Series]:
    """Rejects (REJECTS_SCHEMA, by line then column order) and the mask of valid rows.

    ``checks`` are in schema column order, their expressions evaluated over
    ``parsed`` (as many rows as ``raw``); row 0 of ``raw`` is line
    ``first_line``; ``first_blank`` marks the rows whose first column is
    blank (None: no row). Blank lines are reported once, as
    :data:`BLANK_LINE`.

    Every mask, and the valid rows, come out of one ``select``: a batch of
    one poll pays the fixed cost of a Polars call once rather than per rule.
    """
    blank = _blank_lines(raw, first_blank)
    not_blank = None if blank is None else ~pl.lit(blank)
    masks = []
    for order, (_, _, invalid) in enumerate(checks):
        if invalid is None:
            continue
        mask = (pl.lit(invalid) if isinstance(invalid, pl.Series) else invalid).fill_null(True)
        masks.append((mask if not_blank is None else mask & not_blank).alias(f"check {order}"))
    broken = masks if blank is None else [*masks, pl.lit(blank)]
    valid = ~pl.any_horizontal(broken) if broken else pl.repeat(True, pl.len())
    flags = parsed.select(*masks, valid.alias("valid"))
    pieces = []
    if blank is not None and blank.any():
        pieces.append(_rejects_where(raw, file, blank, raw.columns[0], BLANK_LINE, -1, first_line))
    for order, (column, reason, invalid) in enumerate(checks):
        if invalid is None:
            continue
        broken_rows = flags[f"check {order}"]
        if broken_rows.any():
            pieces.append(_rejects_where(raw, file, broken_rows, column, reason, order, first_line))
    if not pieces:
        return _NO_REJECTS.clone(), flags["valid"]
    rejects = pl.concat(pieces).sort("line", "order", maintain_order=True).drop("order")
    return rejects, flags["valid"]


def _blank_lines(raw: pl.DataFrame, first_blank: pl.Series | None) -> pl.Series | None:
    """Mask of rows whose every column is blank (checked only where the first one is); None: no row."""
    if first_blank is None:
        return None
    candidates = first_blank.arg_true()
    if not candidates.len():
        return None
    subset = raw[candidates]
    all_blank = pl.select(pl.all_horizontal(_is_blank(subset[name]) for name in raw.columns)).to_series()
    return pl.repeat(False, raw.height, eager=True).scatter(candidates, all_blank)


def _rejects_where(
    raw: pl.DataFrame, file: str, mask: pl.Series, column: str, reason: str, order: int, first_line: int
) -> pl.DataFrame:
    """One reject per row of ``raw`` where ``mask`` is true, for ``column`` (its value as text)."""
    lines = mask.arg_true().cast(pl.Int64) + first_line
    return pl.DataFrame(
        {
            "file": pl.repeat(file, lines.len(), dtype=pl.String, eager=True),
            "line": lines,
            "column": pl.repeat(column, lines.len(), dtype=pl.String, eager=True),
            "value": _text(raw[column].filter(mask)),
            "reason": pl.repeat(reason, lines.len(), dtype=pl.String, eager=True),
            "order": pl.repeat(order, lines.len(), dtype=pl.Int64, eager=True),
        }
    )


def _raise_first_if(strict: bool, rejects: pl.DataFrame) -> None:
    """In strict mode, raise :class:`InvalidRowError` for the first reject."""
    if strict and not rejects.is_empty():
        first = rejects.row(0, named=True)
        raise InvalidRowError(
            first["reason"], file=first["file"], line=first["line"], column=first["column"], value=first["value"]
        )


def _zone_conflicts(store_id: pl.Series, zone: pl.Series, valid: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Masks of valid rows that name another zone than the store's first valid row, and exact repeats."""
    rows = pl.DataFrame({"store_id": store_id, "zone": zone, "index": pl.int_range(store_id.len(), eager=True)})
    marked = rows.filter(valid).with_columns(
        conflict=pl.col("zone") != pl.col("zone").first().over("store_id"),
        first=pl.col("store_id").is_first_distinct(),
    )
    conflict = pl.repeat(False, store_id.len(), eager=True).scatter(marked["index"], marked["conflict"])
    repeat = pl.repeat(False, store_id.len(), eager=True).scatter(
        marked["index"], ~marked["conflict"] & ~marked["first"]
    )
    return conflict, repeat


def _typed(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with exactly the columns and dtypes of ``schema``."""
    if list(frame.schema.items()) == list(schema.items()):
        return frame  # the parsers' usual result: a select would only copy it
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())
