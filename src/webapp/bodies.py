"""Intake request bodies, decoded into what the library validates.

Three formats, chosen by ``Content-Type``:

==========================================================  ==================
``text/csv`` (or ``application/csv``)                       the loaders' CSV,
                                                            header line first
``application/json``                                        an array of objects
``application/x-ndjson`` (``application/ndjson``,           one object per line
``application/jsonl``, ``application/x-jsonlines``)
==========================================================  ==================

A CSV body goes to :func:`storemon.load_polls` (and friends) as bytes, so it
is read exactly like a file; a reject's ``line`` counts the header as line 1.
A JSON body becomes a frame of string columns for
:func:`storemon.parse_polls` (and friends), which apply the same rules;
a reject's ``line`` is then the 1-based position of the item (for JSON lines,
the line number: a blank line counts, and is rejected as ``blank line``).

JSON fields are exactly the column names (``store_id``, ``timestamp_utc``,
``status``; ``store_id``, ``dayOfWeek``, ``start_time_local``,
``end_time_local``; ``store_id``, ``timezone_str``; ``store_id``,
``date_local``, ``start_time_local``, ``end_time_local`` — both times null or
empty: closed that date); other fields are
ignored. A value is a string, a number (taken as written, so a big store id
keeps every digit) or null / missing (empty, hence usually rejected). A
string that cannot be stored as UTF-8 text — a lone surrogate such as
``"\ud800"`` — or that holds a NUL character rejects its item (reasons
:data:`LONE_SURROGATE`, :data:`NUL_CHARACTER`), like any other bad value. What
cannot be read at all — bad JSON, an item that is not an object, a value
that is an object, array or boolean, a field no item has — raises
:class:`storemon.FileFormatError` naming the item or line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from storemon import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    REJECTS_SCHEMA,
    SPECIAL_HOURS_SCHEMA,
    TIMEZONES_SCHEMA,
    FileFormatError,
    Loaded,
    load_hours,
    load_polls,
    load_special_hours,
    load_timezones,
    parse_hours,
    parse_polls,
    parse_special_hours,
    parse_timezones,
)

__all__ = [
    "CSV",
    "JSON",
    "JSON_LINES",
    "MEDIA_TYPES",
    "TABLES",
    "LONE_SURROGATE",
    "NUL_CHARACTER",
    "body_format",
    "read_body",
]

#: Reject reasons for JSON string values the library never gets to see.
LONE_SURROGATE = "not valid Unicode (a lone surrogate)"
NUL_CHARACTER = "holds a NUL character"

CSV, JSON, JSON_LINES = "CSV", "JSON", "JSON lines"

#: Accepted media types (``Content-Type`` without parameters) and the format each means.
MEDIA_TYPES: dict[str, str] = {
    "text/csv": CSV,
    "application/csv": CSV,
    "application/json": JSON,
    "application/x-ndjson": JSON_LINES,
    "application/ndjson": JSON_LINES,
    "application/jsonl": JSON_LINES,
    "application/x-jsonlines": JSON_LINES,
}


class _Table:
    """How one table's body is validated: its columns, its loader and its frame parser."""

    def __init__(self, schema: dict[str, Any], load: Callable[..., Loaded], parse: Callable[..., Loaded]) -> None:
        self.columns: tuple[str, ...] = tuple(schema)
        self.load = load
        self.parse = parse


#: The tables the intake endpoints accept.
TABLES: dict[str, _Table] = {
    "polls": _Table(POLLS_SCHEMA, load_polls, parse_polls),
    "hours": _Table(HOURS_SCHEMA, load_hours, parse_hours),
    "timezones": _Table(TIMEZONES_SCHEMA, load_timezones, parse_timezones),
    "special_hours": _Table(SPECIAL_HOURS_SCHEMA, load_special_hours, parse_special_hours),
}


class _Number(str):
    """A JSON number, kept as written: a store id of 20 digits must not become a float."""


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")


#: An empty rejects frame, cloned for each body without unusable values (building one costs more).
_NO_REJECTS = pl.DataFrame(schema=REJECTS_SCHEMA)

_DECODER = json.JSONDecoder(parse_int=_Number, parse_float=_Number, parse_constant=_not_json)
_TOO_DEEP = "JSON nested too deeply (items are flat objects)"


def body_format(mimetype: str) -> str | None:
    """The format of a body with this media type (:data:`CSV`, :data:`JSON`, :data:`JSON_LINES`), or None."""
    return MEDIA_TYPES.get(mimetype.strip().lower())


def read_body(table: str, fmt: str, body: bytes, name: str, *, not_after: datetime | None = None) -> Loaded:
    """Validate ``body`` (in format ``fmt``) as rows of ``table``; ``name`` is used in messages and rejects.

    ``not_after`` (polls only) rejects polls dated after it as ``timestamp in
    the future``. Raises :class:`storemon.InputError` when the body cannot be
    read at all.
    """
    spec = TABLES[table]
    extra: dict[str, Any] = {} if not_after is None else {"not_after": not_after}
    if fmt == CSV:
        return spec.load(body, name=name, **extra)
    text = _text(body, name)
    items = _json_array(text, name) if fmt == JSON else _json_lines(text, name)
    _check_items(items, spec.columns, name)
    unusable = _unusable_values(items, spec.columns, name)
    dropped = set(unusable["line"].to_list())
    kept = [i for i in range(len(items)) if i + 1 not in dropped]
    loaded = spec.parse(_frame_of_strings([items[i] for i in kept], spec.columns), name, **extra)
    if unusable.is_empty():
        return loaded
    # The library numbered the kept items 1, 2, …; give each reject its item's own position.
    positions = pl.Series([i + 1 for i in kept], dtype=pl.Int64)
    renumbered = loaded.rejects.with_columns(line=positions.gather(loaded.rejects["line"] - 1))
    rejects = pl.concat([unusable, renumbered]).sort("line", maintain_order=True)
    return Loaded(frame=loaded.frame, rejects=rejects, file=loaded.file, rows_read=len(items))


def _text(body: bytes, name: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileFormatError("not UTF-8 text", file=name) from None


def _json_array(text: str, name: str) -> list[Any]:
    try:
        items = _DECODER.decode(text)
    except ValueError as exc:
        raise FileFormatError(f"not valid JSON: {exc}", file=name) from None
    except RecursionError:
        raise FileFormatError(_TOO_DEEP, file=name) from None
    if not isinstance(items, list):
        raise FileFormatError(
            f"expected a JSON array of objects, got {_kind(items)} "
            "(for one object per line, send Content-Type: application/x-ndjson)",
            file=name,
        )
    return items


def _json_lines(text: str, name: str) -> list[Any]:
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()  # the newline that ends the last line
    items: list[Any] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            items.append({})  # keeps the numbering; rejected as a blank line
            continue
        try:
            items.append(_DECODER.decode(line))
        except ValueError as exc:
            raise FileFormatError(f"line {number} is not valid JSON: {exc}", file=name) from None
        except RecursionError:
            raise FileFormatError(f"line {number}: {_TOO_DEEP}", file=name) from None
    return items


def _check_items(items: list[Any], columns: Sequence[str], name: str) -> None:
    """Raise for anything that is not a flat object of scalars, or a field that no item has."""
    if not all(type(item) is dict for item in items):
        index = next(i for i, item in enumerate(items, start=1) if type(item) is not dict)
        raise FileFormatError(f"item {index} is {_kind(items[index - 1])}, not an object", file=name)
    present = set().union(*items)
    missing = [column for column in columns if column not in present]
    if items and missing:
        raise FileFormatError(
            f"no item has the field {missing[0]!r} (each item needs {', '.join(columns)})", file=name, column=missing[0]
        )
    for column in columns:
        values = [item.get(column) for item in items]
        if not all(value is None or isinstance(value, str) for value in values):
            index = next(i for i, v in enumerate(values, start=1) if v is not None and not isinstance(v, str))
            raise FileFormatError(
                f"item {index}: field {column!r} is {_kind(values[index - 1])}; give a string, a number or null",
                file=name,
                column=column,
            )


def _unusable_values(items: list[dict[str, Any]], columns: Sequence[str], name: str) -> pl.DataFrame:
    """Rejects (REJECTS_SCHEMA) for values that are not storable text: lone surrogates, NUL characters."""
    rows: list[tuple[str, int, str, str, str]] = []
    for index, item in enumerate(items, start=1):
        for column in columns:
            value = item.get(column)
            if not isinstance(value, str):
                continue
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                rows.append((name, index, column, _shown(value), LONE_SURROGATE))
                continue
            if "\0" in value:
                rows.append((name, index, column, _shown(value), NUL_CHARACTER))
    if not rows:
        return _NO_REJECTS.clone()  # the usual case: a cheap copy, no columns built from rows
    return pl.DataFrame(rows, schema=REJECTS_SCHEMA, orient="row")


def _shown(value: str) -> str:
    """``value`` as printable, storable text: lone surrogates and NUL as backslash escapes."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\0", "\\x00")


def _frame_of_strings(items: list[dict[str, Any]], columns: Sequence[str]) -> pl.DataFrame:
    """One string column per required field (the items are checked by :func:`_check_items`)."""
    data = {column: pl.Series(column, [item.get(column) for item in items], dtype=pl.String) for column in columns}
    return pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String))


def _kind(value: object) -> str:
    """How JSON would call the type of a decoded value, with an article."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number" if isinstance(value, _Number) else "a string"
