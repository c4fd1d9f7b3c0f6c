"""The typed frames storemon works on, and the report it produces.

The loaders (:mod:`storemon._load`) turn files into these frames; everything
after them (:func:`storemon.compute_report`, the data store) takes them as
given. Column names follow the Loop data set; ``dayOfWeek`` keeps its
original spelling.

=============  ==========================================================
frame          columns (dtype)
=============  ==========================================================
polls          ``store_id`` (String), ``timestamp_utc`` (Datetime[us, UTC]),
               ``status`` (Enum ``inactive``/``active``)
hours          ``store_id`` (String), ``dayOfWeek`` (Int8, 0 = Monday),
               ``start_time_local`` (Time), ``end_time_local`` (Time)
timezones      ``store_id`` (String), ``timezone_str`` (String, IANA name)
special hours  ``store_id`` (String), ``date_local`` (Date),
               ``start_time_local``, ``end_time_local`` (Time, both null
               on a closed date)
report         ``store_id`` then the six figures in :data:`REPORT_COLUMNS`
timeline       ``store_id``, ``start``, ``end`` (Datetime[ns, UTC]),
               ``business`` (Boolean), ``status`` (:data:`TIMELINE_STATUS`)
incidents      ``store_id``, ``start``, ``end``, ``minutes``,
               ``inactive_minutes``, ``unknown_minutes`` (Float64)
daily          ``store_id``, ``date`` (Date), ``business_hours``,
               ``uptime_hours``, ``downtime_hours``, ``uptime_ratio``
=============  ==========================================================
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import datetime

import polars as pl

from storemon.exceptions import ConfigError

__all__ = [
    "STATUS",
    "POLLS_SCHEMA",
    "HOURS_SCHEMA",
    "TIMEZONES_SCHEMA",
    "SPECIAL_HOURS_SCHEMA",
    "REPORT_SCHEMA",
    "TIMELINE_STATUS",
    "TIMELINE_SCHEMA",
    "INCIDENTS_SCHEMA",
    "DAILY_SCHEMA",
    "REPORT_COLUMNS",
    "REJECTS_SCHEMA",
    "is_known_zone",
    "check_zone",
]

#: Poll statuses; the physical order puts ``inactive`` first on purpose.
STATUS = pl.Enum(["inactive", "active"])

#: Valid status polls.
POLLS_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "timestamp_utc": pl.Datetime("us", "UTC"),
        "status": STATUS,
    }
)

#: Valid weekly business-hours rows, local wall-clock times.
HOURS_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "dayOfWeek": pl.Int8(),
        "start_time_local": pl.Time(),
        "end_time_local": pl.Time(),
    }
)

#: Valid time-zone rows.
TIMEZONES_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "timezone_str": pl.String(),
    }
)

#: Valid special-hours rows (date overrides): both times null means closed on ``date_local``.
SPECIAL_HOURS_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "date_local": pl.Date(),
        "start_time_local": pl.Time(),
        "end_time_local": pl.Time(),
    }
)

#: The six figures of a report, in order: minutes for ``_hour``, hours otherwise.
REPORT_COLUMNS: tuple[str, ...] = (
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)

#: One row per store, sorted by ``store_id``, unrounded.
REPORT_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        **{name: pl.Float64() for name in REPORT_COLUMNS},
    }
)

#: A timeline segment's status: ``unknown`` is time no poll's status reaches.
TIMELINE_STATUS = pl.Enum(["active", "inactive", "unknown"])

#: Exact instants: a status change at a midpoint falls on a half microsecond.
_INSTANT = pl.Datetime("ns", "UTC")

#: Maximal segments of constant (business, status) per store, sorted by store and start.
TIMELINE_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "start": _INSTANT,
        "end": _INSTANT,
        "business": pl.Boolean(),
        "status": TIMELINE_STATUS,
    }
)

#: Maximal business intervals not known to be active; ``minutes`` = inactive + unknown.
INCIDENTS_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "start": _INSTANT,
        "end": _INSTANT,
        "minutes": pl.Float64(),
        "inactive_minutes": pl.Float64(),
        "unknown_minutes": pl.Float64(),
    }
)

#: Per store and local calendar date: hours of that day within the range.
DAILY_SCHEMA: pl.Schema = pl.Schema(
    {
        "store_id": pl.String(),
        "date": pl.Date(),
        "business_hours": pl.Float64(),
        "uptime_hours": pl.Float64(),
        "downtime_hours": pl.Float64(),
        "uptime_ratio": pl.Float64(),
    }
)

#: Rows the loaders left out, and why. ``line`` is 1-based with the header as
#: line 1 (for Parquet: the row number + 1, so the first row is line 2 too).
REJECTS_SCHEMA: pl.Schema = pl.Schema(
    {
        "file": pl.String(),
        "line": pl.Int64(),
        "column": pl.String(),
        "value": pl.String(),
        "reason": pl.String(),
    }
)


@functools.cache
def is_known_zone(name: str) -> bool:
    """Whether ``name`` is an IANA zone that both ``zoneinfo`` and Polars know."""
    if not isinstance(name, str) or not name or name != name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    try:
        pl.Series([datetime(2024, 1, 1)]).dt.replace_time_zone(name)
    except Exception:  # Polars raises ComputeError (or panics) on unknown zones
        return False
    return True


def check_zone(name: str, what: str = "time zone") -> str:
    """Return ``name`` if it is a known zone, else raise :class:`ConfigError`."""
    if not is_known_zone(name):
        raise ConfigError(f"unknown {what} {name!r} (expected an IANA name such as 'America/Chicago')")
    return name
