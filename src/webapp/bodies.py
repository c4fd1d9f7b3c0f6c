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
``end_time_local``; ``store_id``, ``timezone_str``); other fields are
ignored. A value is a string, a number (taken as written, so a big store id
keeps every digit) or null / missing (empty, hence usually rejected). What
cannot be read at all — bad JSON, an item that is not an object, a value
that is an object, array or boolean, a field no item has — raises
:class:`storemon.FileFormatError` naming the item or line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from storemon import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    TIMEZONES_SCHEMA,
    FileFormatError,
    Loaded,
    load_hours,
    load_polls,
    load_timezones,
    parse_hours,
    parse_polls,
    parse_timezones,
)

__all__ = ["CSV", "JSON", "JSON_LINES", "MEDIA_TYPES", "TABLES", "body_format", "read_body"]

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
}


class _Number(str):
    """A JSON number, kept as written: a store id of 20 digits must not become a float."""


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")


_DECODER = json.JSONDecoder(parse_int=_Number, parse_float=_Number, parse_constant=_not_json)
_TOO_DEEP = "JSON nested too deeply (items are flat objects)"


def body_format(mimetype: str) -> str | None:
    """The format of a body with this media type (:data:`CSV`, :data:`JSON`, :data:`JSON_LINES`), or None."""
    return MEDIA_TYPES.get(mimetype.strip().lower())


def read_body(table: str, fmt: str, body: bytes, name: str) -> Loaded:
    """Validate ``body`` (in format ``fmt``) as rows of ``table``; ``name`` is used in messages and rejects.

    Raises :class:`storemon.InputError` when the body cannot be read at all.
    """
    spec = TABLES[table]
    if fmt == CSV:
        return spec.load(body, name=name)
    text = _text(body, name)
    items = _json_array(text, name) if fmt == JSON else _json_lines(text, name)
    return spec.parse(_frame_of_strings(items, spec.columns, name), name)


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


def _frame_of_strings(items: list[Any], columns: Sequence[str], name: str) -> pl.DataFrame:
    """One string column per required field; raises for anything that is not a flat object of scalars."""
    if not all(type(item) is dict for item in items):
        index = next(i for i, item in enumerate(items, start=1) if type(item) is not dict)
        raise FileFormatError(f"item {index} is {_kind(items[index - 1])}, not an object", file=name)
    present = set().union(*items)
    missing = [column for column in columns if column not in present]
    if items and missing:
        raise FileFormatError(
            f"no item has the field {missing[0]!r} (each item needs {', '.join(columns)})", file=name, column=missing[0]
        )
    data = {}
    for column in columns:
        values = [item.get(column) for item in items]
        if not all(value is None or isinstance(value, str) for value in values):
            index = next(i for i, v in enumerate(values, start=1) if v is not None and not isinstance(v, str))
            raise FileFormatError(
                f"item {index}: field {column!r} is {_kind(values[index - 1])}; give a string, a number or null",
                file=name,
                column=column,
            )
        data[column] = pl.Series(column, values, dtype=pl.String)
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
