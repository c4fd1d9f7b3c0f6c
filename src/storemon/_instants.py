"""Instants: parsing, checking and formatting the moments storemon works with.

One place for "the instant a report is for" and for every timestamp an input
file holds, so the CLI, the service and the library accept the same forms
(docs/rules.md, "The inputs"):

* ``YYYY-MM-DD``, a space or ``T``, ``HH:MM``, optional ``:SS``, optional
  ``.`` and 1–6 fraction digits, then nothing, `` UTC``, ``Z`` or an offset
  ``±HH``, ``±HHMM``, ``±HH:MM``; a value without a zone is UTC;
* valid instants lie in ``[1970-01-01T00:00:00Z, 2200-01-01T00:00:00Z)``.

Nothing else is accepted: a value must match :data:`TIMESTAMP_FORM` (the
grammar above, surrounding blanks allowed) before any format is tried, so
seven or more fraction digits, a bare date, one-digit fields or lower-case
``t``/``z``/``utc`` are unparsable rather than silently read.

Inside the computation instants are integers: epoch microseconds (``us``)
and *ticks* of half a microsecond, so that a midpoint between two polls is
exact (docs/rules.md, "Status timeline").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import polars as pl

from storemon.exceptions import ConfigError

__all__ = [
    "EPOCH",
    "MIN_INSTANT",
    "MAX_INSTANT",
    "MIN_US",
    "MAX_US",
    "TICKS_PER_US",
    "TIMESTAMP_FORM",
    "parse_instant",
    "parse_timestamps",
    "utc_instant",
    "format_instant",
    "to_us",
    "from_us",
    "to_ticks",
    "in_range",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: The first valid instant.
MIN_INSTANT = EPOCH
#: The first instant after the valid ones.
MAX_INSTANT = datetime(2200, 1, 1, tzinfo=UTC)
#: Ticks per microsecond (a tick is half a microsecond).
TICKS_PER_US = 2

_US = timedelta(microseconds=1)
#: Epoch microseconds of :data:`MIN_INSTANT` and :data:`MAX_INSTANT`.
MIN_US = 0
MAX_US = (MAX_INSTANT - EPOCH) // _US
_MIN_US, _MAX_US = MIN_US, MAX_US

#: Every accepted timestamp matches this (docs/rules.md, "The inputs").
TIMESTAMP_FORM = r"^\s*\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?: UTC|Z|[+-]\d{2}(?::?\d{2})?)?\s*$"

# The real files' format, tried first on every value.
_FAST_TIMESTAMP = "%Y-%m-%d %H:%M:%S%.f UTC"
# Tried in order on the values the fast format left null; a format without
# ``%z`` reads the time as UTC.
_OTHER_TIMESTAMPS = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%z",
)
# Last resort, after normalising blanks, ``t``/``z``/``UTC`` and offsets.
_NORMALISED_TIMESTAMPS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")


# --- integers ------------------------------------------------------------------


def to_us(moment: datetime, what: str = "now") -> int:
    """Epoch microseconds of ``moment`` (naive means UTC); ConfigError if it is no datetime."""
    if not isinstance(moment, datetime):
        raise ConfigError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _US


def from_us(us: int) -> datetime:
    """The aware UTC datetime of ``us`` epoch microseconds."""
    return EPOCH + timedelta(microseconds=us)


def to_ticks(length: timedelta) -> int:
    """A duration in ticks (whole microseconds: a timedelta holds no less)."""
    return (length // _US) * TICKS_PER_US


def in_range(us: int) -> bool:
    """Whether ``us`` (epoch microseconds) is a valid instant."""
    return _MIN_US <= us < _MAX_US


# --- one instant -------------------------------------------------------------------


def utc_instant(moment: datetime, what: str = "now") -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is UTC).

    Raises :class:`ConfigError` when it is not a datetime or lies outside the
    valid range.
    """
    us = to_us(moment, what)
    if not in_range(us):
        raise ConfigError(
            f"{what} {format_instant(moment)} is out of range: "
            f"it must lie in [{format_instant(MIN_INSTANT)}, {format_instant(MAX_INSTANT)})"
        )
    return from_us(us)


def parse_instant(text: str, what: str = "now") -> datetime:
    """Parse one instant written as an input file may write a timestamp.

    Returns an aware UTC datetime; raises :class:`ConfigError` naming
    ``what`` and the value when it does not parse or is out of range.
    """
    if not isinstance(text, str):
        raise ConfigError(f"{what} must be a string, not {type(text).__name__}")
    parsed = parse_timestamps(pl.Series([text], dtype=pl.String)).item()
    if parsed is None:
        raise ConfigError(
            f"bad {what} {text!r}: expected an instant such as 2024-10-14T12:00:00Z or 2024-10-14 12:00:00 UTC"
        )
    return utc_instant(parsed, what)


def format_instant(moment: datetime) -> str:
    """ISO 8601 in UTC with ``Z`` (microseconds only when there are any)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    text = moment.replace(tzinfo=None).isoformat()
    return f"{text}Z"


# --- columns of timestamps -------------------------------------------------------------


def parse_timestamps(raw: pl.Series) -> pl.Series:
    """Strings → Datetime[us, UTC], null where a value is not an accepted timestamp.

    The real files' format first, over every value; each other form only on
    the values still null, so a clean file pays for one parse. Range is not
    checked here (see :func:`in_range`).
    """
    fast = pl.select(timestamp_expr(raw.name, raw)).to_series()
    retry = (fast.is_null() & raw.is_not_null() & (raw != "")).arg_true()
    if retry.len():
        fast = fast.scatter(retry, parse_timestamps_slowly(raw.gather(retry)))
    return fast


def timestamp_expr(name: str, values: pl.Series | None = None) -> pl.Expr:
    """The fast path of :func:`parse_timestamps` as an expression on column ``name`` (or on ``values``)."""
    text = pl.col(name) if values is None else pl.lit(values)
    return pl.when(text.str.contains(TIMESTAMP_FORM)).then(_to_utc_expr(text, _FAST_TIMESTAMP)).alias(name)


def parse_timestamps_slowly(raw: pl.Series) -> pl.Series:
    """The accepted forms other than the real files' one: ``T``, ``Z``, offsets, no zone."""
    attempts: list[Callable[[pl.Series], pl.Series]] = [
        functools.partial(_to_utc, fmt=fmt) for fmt in _OTHER_TIMESTAMPS
    ]
    parsed = _first_success(raw, [*attempts, _to_utc_normalised])
    return (
        pl.select(pl.when(pl.lit(raw).str.contains(TIMESTAMP_FORM)).then(pl.lit(parsed))).to_series().rename(raw.name)
    )


def _to_utc(raw: pl.Series, fmt: str) -> pl.Series:
    return raw.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC", cache=False)


def _to_utc_expr(raw: pl.Expr, fmt: str) -> pl.Expr:
    return raw.str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC", cache=False)


def _to_utc_normalised(raw: pl.Series) -> pl.Series:
    """Looser spellings: blanks, ``t``, ``z``, ``+hh``, ``+hh:mm`` after a blank."""
    text = (
        raw.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt ]", "${1} ")
        .str.replace(r"(?i)\s*(?:UTC|Z)$", "")
        .str.replace(r"\s*([+-]\d{2}):?(\d{2})$", "${1}${2}")
        .str.replace(r"(:\d{2}(?:\.\d+)?)([+-]\d{2})$", "${1}${2}00")
    )
    return _first_success(text, [functools.partial(_to_utc, fmt=fmt) for fmt in _NORMALISED_TIMESTAMPS])


def _first_success(raw: pl.Series, attempts: Sequence[Callable[[pl.Series], pl.Series]]) -> pl.Series:
    """The first non-null result of ``attempts`` per value, each attempt run only on the values still null.

    An attempt that parses none of the values still pending, or all of them,
    places its result without masks: a client sends one form throughout, so
    that is the usual case (and for a one-poll body each Polars call saved
    is a fixed cost saved).
    """
    result: pl.Series | None = None  # None: every value still null
    pending: pl.Series | None = None  # positions still null; None: all of them
    for attempt in attempts:
        values = raw if pending is None else raw.gather(pending)
        if values.is_empty():
            break
        parsed = attempt(values)
        misses = parsed.null_count()
        if misses == parsed.len():
            continue  # nothing to place
        if result is None and misses == 0:
            return parsed.rename(raw.name)  # the first attempt that parses anything parses everything
        if result is None or pending is None:
            result = pl.repeat(None, raw.len(), dtype=pl.Datetime("us", "UTC"), eager=True).rename(raw.name)
            pending = pl.int_range(raw.len(), dtype=pl.UInt32, eager=True)
        hit = parsed.is_not_null()
        result = result.scatter(pending.filter(hit), parsed.filter(hit))
        pending = pending.filter(~hit)
    if result is None:
        return pl.repeat(None, raw.len(), dtype=pl.Datetime("us", "UTC"), eager=True).rename(raw.name)
    return result
