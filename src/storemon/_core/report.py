"""``compute_report``: the whole of docs/rules.md in one vectorized pipeline.

Pipeline (every step a Polars operation over all stores at once)::

    inputs ─coerce─► typed frames, invalid rows left out ─► store codes (store_codes.py)
      hours + special hours + zones ─► business intervals (business_hours.py, zones.py)
      polls in [window start − max(horizons), now] ─► status intervals (status.py)
      both ─► sorted sweep into segments (sweep.py) ─► per-window sums ─► report

The same preparation (:func:`prepare`) and segments (:func:`range_segments`)
serve the timeline, incidents and daily series (:mod:`storemon._core.ranges`),
so their figures and the report's agree by construction.

Instants are Int64 ticks of half a microsecond, so every boundary (midpoints
included) is exact; figures are converted to minutes/hours only at the end.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from storemon._core.business_hours import business_intervals
from storemon._core.status import status_intervals
from storemon._core.store_codes import StoreTable, polls_with_codes, store_table, valid_store_id
from storemon._core.sweep import measure_windows, segments
from storemon._core.units import TICKS_PER_HOUR, TICKS_PER_MINUTE, in_units
from storemon._instants import MAX_INSTANT, MIN_INSTANT, TICKS_PER_US, from_us, to_ticks, to_us, utc_instant
from storemon.defaults import DAY, DEFAULT_HORIZON, DEFAULT_TIMEZONE, HOUR, WEEK
from storemon.exceptions import ConfigError, InputError
from storemon.schema import (
    HOURS_SCHEMA,
    POLLS_SCHEMA,
    REPORT_SCHEMA,
    SPECIAL_HOURS_SCHEMA,
    TIMEZONES_SCHEMA,
    check_zone,
    is_known_zone,
)

__all__ = [
    "compute_report",
    "reaching_polls",
    "resolve_now",
    "prepare",
    "range_segments",
    "report_figures",
    "Prepared",
    "SameAsHorizon",
    "SAME_AS_HORIZON",
    "Horizon",
]

Frame = pl.DataFrame | pl.LazyFrame


class SameAsHorizon(enum.Enum):
    """The default of ``horizon_active`` / ``horizon_inactive``: whatever ``horizon`` is."""

    SAME = "same as horizon"


SAME_AS_HORIZON = SameAsHorizon.SAME
#: A per-status horizon argument: a length, None (no limit) or "same as ``horizon``".
Horizon = timedelta | None | SameAsHorizon

# A horizon this long (about 36,000 years) already reaches every instant a
# Datetime[us] can hold from any other: it is what "infinite" means here.
_INFINITE_HORIZON_TICKS = 2**60
_WINDOWS = {"hour": HOUR, "day": DAY, "week": WEEK}
_MIN_US, _MAX_US = to_us(MIN_INSTANT), to_us(MAX_INSTANT)
_MIN_DATE, _MAX_DATE = MIN_INSTANT.date(), MAX_INSTANT.date()


def compute_report(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Frame | None = None,
) -> pl.DataFrame:
    """Uptime and downtime within business hours per store, per docs/rules.md.

    ``polls``, ``hours``, ``tz`` and ``special`` (special hours, optional) are
    typed frames (see :mod:`storemon.schema`; a String ``status`` of
    active/inactive is accepted too), eager or lazy. ``now`` defaults to the
    latest poll; a naive ``now`` is UTC. ``horizon`` is how far one poll's
    status reaches (``None``: without limit); ``horizon_active`` and
    ``horizon_inactive`` set it per status and default to ``horizon``.
    Time-zone rows naming an unknown zone are invalid rows and ignored (they
    list no store); the first remaining row of a store wins. Returns
    ``store_id`` and :data:`~storemon.schema.REPORT_COLUMNS` as unrounded
    Float64 (minutes for ``_hour``, hours otherwise), one row per store that
    appears in any input, sorted by ``store_id``.

    Invalid rows it is given (nulls, an unknown status, a day outside 0–6, an
    invalid store id, a timestamp or date out of range, an unknown zone, a
    special row with exactly one time) are left out (docs/rules.md, "Invalid rows");
    reporting them is the loaders' job (:mod:`storemon._load`).

    Raises :class:`ConfigError` for a bad parameter and :class:`InputError` for
    frames that lack a column or hold values of the wrong kind.
    """
    prepared = prepare(
        polls,
        hours,
        tz,
        now,
        horizon=horizon,
        horizon_active=horizon_active,
        horizon_inactive=horizon_inactive,
        default_timezone=default_timezone,
        special=special,
    )
    now_ticks = prepared.now_ticks
    window = (now_ticks - to_ticks(WEEK), now_ticks)
    return report_figures(prepared, range_segments(prepared, window).filter("business"))


def report_figures(prepared: Prepared, business: pl.DataFrame) -> pl.DataFrame:
    """The report (docs/rules.md, "The figures") from the business segments of the week before ``now``.

    ``business``: segments with ``business`` true, within ``[now − 168 h, now)``
    (cut anywhere: the figures are sums of their lengths).
    """
    windows = {name: to_ticks(length) for name, length in _WINDOWS.items()}
    return _figures(prepared.table.stores, measure_windows(business, prepared.now_ticks, windows))


@dataclass(frozen=True)
class Prepared:
    """Typed, valid inputs of one computation and its parameters in ticks.

    ``zones`` maps every ``store_id`` of ``table`` to its resolved ``zone``;
    ``horizons`` is (active, inactive) in ticks.
    """

    table: StoreTable
    polls: pl.LazyFrame
    hours: pl.DataFrame
    special: pl.DataFrame
    zones: pl.DataFrame
    now_ticks: int
    horizons: tuple[int, int]


def prepare(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    special: Frame | None = None,
) -> Prepared:
    """Check the parameters, coerce the inputs (leaving out invalid rows) and list the stores."""
    check_zone(default_timezone, "default time zone")
    horizons = horizon_ticks(horizon, horizon_active, horizon_inactive)
    polls_lf, hours_df = _collected_polls(polls), _coerce_hours(hours)
    special_df = _coerce_special(special)
    tz_df = _known_zone_rows(_coerce_timezones(tz))
    table = store_table(polls_lf, hours_df, tz_df, special_df)
    now_us = to_us(utc_instant(now)) if now is not None else _latest(table.latest_poll_us)
    return Prepared(
        table=table,
        polls=polls_lf,
        hours=hours_df,
        special=special_df,
        zones=_store_zones(table.stores, tz_df, default_timezone),
        now_ticks=now_us * TICKS_PER_US,
        horizons=horizons,
    )


def range_segments(
    prepared: Prepared,
    window: tuple[int, int],
    *,
    cover: pl.DataFrame | None = None,
    cuts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Segments (see :func:`storemon._core.sweep.segments`) of every store within ``window`` (ticks).

    ``window`` must end at or before ``now``. With ``cover`` (a frame of
    ``code``), those stores' segments cover the whole window.
    """
    stores = prepared.table.stores
    business = business_intervals(prepared.hours, prepared.zones, stores, window, prepared.special)
    status = _status(prepared, window)
    return segments(business, status, cover=None if cover is None else (cover, window), cuts=cuts)


def resolve_now(polls: Frame, now: datetime | None = None) -> datetime:
    """The report instant: ``now`` as an aware UTC datetime, or the latest poll."""
    if now is not None:
        return utc_instant(now)
    return from_us(_latest_poll_us(_coerce_polls(polls)))


def reaching_polls(
    now: datetime,
    horizon: timedelta | None = DEFAULT_HORIZON,
    *,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    start: datetime | None = None,
) -> tuple[int, int]:
    """``(earliest, latest)``: epoch microseconds, inclusive, of the polls a computation at ``now`` reads.

    That is ``[start − max(horizon_active, horizon_inactive), now]`` (docs/rules.md,
    "How exactness is kept") with ``start`` the range's start, by default the
    report's week ``now − 7 d``: an earlier poll's status ends before the
    range begins. An unlimited horizon gives an ``earliest`` before any
    representable date. Raises :class:`ConfigError` for a bad ``now`` or
    horizon.
    """
    now_ticks = to_us(utc_instant(now)) * TICKS_PER_US
    lo = now_ticks - to_ticks(WEEK) if start is None else to_us(utc_instant(start, "start")) * TICKS_PER_US
    return _poll_range((lo, now_ticks), horizon_ticks(horizon, horizon_active, horizon_inactive))


def _poll_range(window: tuple[int, int], horizons: tuple[int, int]) -> tuple[int, int]:
    lo, now = window
    return (lo - max(horizons)) // TICKS_PER_US, now // TICKS_PER_US


# --- parameters --------------------------------------------------------------


def horizon_ticks(
    horizon: timedelta | None,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
) -> tuple[int, int]:
    """The (active, inactive) horizons in ticks; each per-status one defaults to ``horizon``."""
    default = _horizon_ticks(horizon)
    active = default if horizon_active is SAME_AS_HORIZON else _horizon_ticks(horizon_active, "horizon_active")
    inactive = default if horizon_inactive is SAME_AS_HORIZON else _horizon_ticks(horizon_inactive, "horizon_inactive")
    return active, inactive


def _horizon_ticks(horizon: object, what: str = "horizon") -> int:
    if horizon is None:
        return _INFINITE_HORIZON_TICKS
    if not isinstance(horizon, timedelta):
        raise ConfigError(f"{what} must be a timedelta or None, not {type(horizon).__name__}")
    if horizon < timedelta(0):
        raise ConfigError(f"{what} must not be negative (got {horizon})")
    return min(to_ticks(horizon), _INFINITE_HORIZON_TICKS)


def _latest_poll_us(polls: pl.LazyFrame) -> int:
    """The latest poll of a valid store id.

    Usually the latest poll of all is one: then only its id is checked, not
    every poll's (checking every id is a regular expression over millions of
    strings); otherwise the polls of invalid ids are left out first.
    """
    t = pl.col("t")
    latest = polls.select(pl.col("store_id").get(t.arg_max()).alias("store_id"), t.max()).collect()
    if latest.select(valid_store_id(pl.col("store_id")).fill_null(True).all()).item():
        return _latest(latest.get_column("t").item())
    valid = polls.filter(valid_store_id(pl.col("store_id")))
    return _latest(valid.select(t.max()).collect().item())


def _latest(latest_us: int | None) -> int:
    if latest_us is None:
        raise ConfigError("no polls to take 'now' from: pass now explicitly")
    return latest_us


# --- inputs --------------------------------------------------------------------


def _lazy(frame: Frame, name: str, schema: pl.Schema) -> pl.LazyFrame:
    lf = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    if not isinstance(lf, pl.LazyFrame):
        raise InputError(f"{name} must be a Polars DataFrame or LazyFrame, not {type(frame).__name__}")
    missing = [column for column in schema if column not in lf.collect_schema()]
    if missing:
        raise InputError(f"{name} frame lacks column(s) {', '.join(missing)}", file=name)
    return lf


def _coerce_polls(polls: Frame) -> pl.LazyFrame:
    """``store_id``, ``t`` (Int64 µs UTC) and ``active`` (Boolean)."""
    lf = _lazy(polls, "polls", POLLS_SCHEMA)
    schema = lf.collect_schema()
    ts = pl.col("timestamp_utc")
    ts_dtype = schema["timestamp_utc"]
    if not isinstance(ts_dtype, pl.Datetime):
        raise InputError(
            f"polls.timestamp_utc must be a Datetime, not {ts_dtype}", file="polls", column="timestamp_utc"
        )
    if ts_dtype.time_zone is None:
        ts = ts.dt.replace_time_zone("UTC")
    status = pl.col("status")
    if schema["status"] == POLLS_SCHEMA["status"]:
        active = status == "active"
    elif schema["status"] == pl.Boolean:
        active = status
    elif schema["status"] in (pl.String, pl.Categorical) or isinstance(schema["status"], pl.Enum):
        # Strings are normalised as the loaders do; an unknown value is an invalid row (null, left out).
        normalised = status.cast(pl.String).str.strip_chars().str.to_lowercase()
        active = normalised.cast(POLLS_SCHEMA["status"], strict=False) == "active"
    else:
        raise InputError(f"polls.status must be active/inactive, not {schema['status']}", file="polls", column="status")
    t = pl.col("t")
    return (
        lf.select(
            pl.col("store_id").cast(pl.String),
            ts.dt.convert_time_zone("UTC").dt.cast_time_unit("us").cast(pl.Int64).alias("t"),
            active.alias("active"),
        )
        .drop_nulls()
        # Invalid store ids are left out by store_table, once per distinct id.
        .filter((t >= _MIN_US) & (t < _MAX_US))
    )


def _collected_polls(polls: Frame) -> pl.LazyFrame:
    """:func:`_coerce_polls`, collected once: the store table and the timeline both read it.

    For an eager frame of valid polls that is a cheap projection (no row is
    copied); a lazy input is read once instead of once per step.
    """
    return _coerce_polls(polls).collect().lazy()


def _coerce_hours(hours: Frame) -> pl.DataFrame:
    lf = _lazy(hours, "hours", HOURS_SCHEMA)
    frame = lf.select(list(HOURS_SCHEMA)).collect()
    try:
        frame = frame.cast(HOURS_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"hours frame has values of the wrong kind: {exc}", file="hours") from None
    return frame.drop_nulls().filter(valid_store_id(pl.col("store_id")), pl.col("dayOfWeek").is_between(0, 6))


def _coerce_timezones(tz: Frame) -> pl.DataFrame:
    lf = _lazy(tz, "timezones", TIMEZONES_SCHEMA)
    frame = lf.select(list(TIMEZONES_SCHEMA)).collect().cast(TIMEZONES_SCHEMA)
    return frame.drop_nulls().filter(valid_store_id(pl.col("store_id")))


def _coerce_special(special: Frame | None) -> pl.DataFrame:
    """Valid special-hours rows: both times null (closed) or both set, date in range."""
    if special is None:
        return pl.DataFrame(schema=SPECIAL_HOURS_SCHEMA)
    lf = _lazy(special, "special hours", SPECIAL_HOURS_SCHEMA)
    frame = lf.select(list(SPECIAL_HOURS_SCHEMA)).collect()
    try:
        frame = frame.cast(SPECIAL_HOURS_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"special hours frame has values of the wrong kind: {exc}", file="special hours") from None
    start, end, day = pl.col("start_time_local"), pl.col("end_time_local"), pl.col("date_local")
    return frame.filter(
        pl.col("store_id").is_not_null() & valid_store_id(pl.col("store_id")),
        day.is_not_null() & (day >= _MIN_DATE) & (day < _MAX_DATE),
        start.is_null() == end.is_null(),
    )


# --- stores ----------------------------------------------------------------------


def _known_zone_rows(tz: pl.DataFrame) -> pl.DataFrame:
    """Time-zone rows naming a zone we know; others are invalid rows (docs/rules.md)."""
    known = [name for name in tz["timezone_str"].unique().to_list() if name is not None and is_known_zone(name)]
    return tz.filter(pl.col("timezone_str").is_in(pl.lit(pl.Series(known, dtype=pl.String)).implode()))


def _store_zones(stores: pl.DataFrame, tz: pl.DataFrame, default_timezone: str) -> pl.DataFrame:
    """``store_id`` → ``zone``: the store's first (known) zone row, else the default."""
    first = tz.unique("store_id", keep="first", maintain_order=True).select(
        "store_id", pl.col("timezone_str").alias("zone")
    )
    return (
        stores.select("store_id")
        .join(first, on="store_id", how="left")
        .with_columns(pl.col("zone").fill_null(default_timezone))
    )


def _status(prepared: Prepared, window: tuple[int, int]) -> pl.DataFrame:
    """Status intervals per store from the polls that can reach ``window``.

    Those are the polls with ``t`` in [window start − max(horizons), now]:
    polls after the window's end but not after ``now`` still place the
    midpoint of the last status change.
    """
    table = prepared.table
    earliest, latest = _poll_range((window[0], prepared.now_ticks), prepared.horizons)
    t = pl.col("t")
    relevant = polls_with_codes(prepared.polls.filter((t >= earliest) & (t <= latest)), table)
    relevant = relevant.select("code", "t", "active")
    if table.earliest_poll_us is not None and table.latest_poll_us is not None:
        earliest, latest = max(earliest, table.earliest_poll_us), min(latest, table.latest_poll_us)
    return status_intervals(
        relevant, window, prepared.horizons, t_bounds=(earliest, latest), stores=table.stores.height
    )


# --- output -----------------------------------------------------------------------


def _figures(stores: pl.DataFrame, measured: pl.DataFrame) -> pl.DataFrame:
    """Ticks → minutes (last hour) and hours (day, week); one row per store."""
    per_store = stores.join(measured, on="code", how="left").fill_null(0)
    columns = [pl.col("store_id")]
    for kind in ("up", "down"):
        for name in _WINDOWS:
            ticks = pl.col(f"up_{name}") if kind == "up" else pl.col(f"business_{name}") - pl.col(f"up_{name}")
            unit = TICKS_PER_MINUTE if name == "hour" else TICKS_PER_HOUR
            columns.append(in_units(ticks, unit).alias(f"{kind}time_last_{name}"))
    return per_store.sort("store_id").select(columns).cast(REPORT_SCHEMA)
