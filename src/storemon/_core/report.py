"""``compute_report``: the whole of SPEC.md in one vectorized pipeline.

Pipeline (every step a Polars operation over all stores at once)::

    inputs ─coerce─► typed frames ─► store codes (every id in any input; stores.py)
      hours + zones ─► business intervals (hours.py, zones.py)
      polls in [window − horizon, now] ─► active runs (timeline.py)
      both ─► sorted sweep per store and window (sweep.py) ─► report

Instants are Int64 ticks of half a microsecond, so every boundary (midpoints
included) is exact; figures are converted to minutes/hours only at the end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from storemon._core.business_hours import business_intervals
from storemon._core.status import active_intervals
from storemon._core.store_codes import StoreTable, polls_with_codes, store_table
from storemon._core.sweep import measure_windows
from storemon._instants import TICKS_PER_US, from_us, to_ticks, to_us, utc_instant
from storemon.defaults import DAY, DEFAULT_HORIZON, DEFAULT_TIMEZONE, HOUR, WEEK
from storemon.exceptions import ConfigError, InputError
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, REPORT_SCHEMA, TIMEZONES_SCHEMA, check_zone, is_known_zone

__all__ = ["compute_report", "reaching_polls", "resolve_now"]

Frame = pl.DataFrame | pl.LazyFrame

# A horizon this long (about 36,000 years) already reaches every instant a
# Datetime[us] can hold from any other: it is what "infinite" means here.
_INFINITE_HORIZON_TICKS = 2**60
_WINDOWS = {"hour": HOUR, "day": DAY, "week": WEEK}
_TICKS_PER_MINUTE = 60 * 1_000_000 * TICKS_PER_US
_TICKS_PER_HOUR = 60 * _TICKS_PER_MINUTE


def compute_report(
    polls: Frame,
    hours: Frame,
    tz: Frame,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """Uptime and downtime within business hours per store, per SPEC.md.

    ``polls``, ``hours`` and ``tz`` are typed frames (see :mod:`storemon.schema`;
    a String ``status`` of active/inactive is accepted too), eager or lazy.
    ``now`` defaults to the latest poll; a naive ``now`` is UTC. ``horizon`` is
    how far one poll's status reaches (``None``: without limit). Time-zone rows
    naming an unknown zone are invalid rows and ignored (they list no store);
    the first remaining row of a store wins. Returns ``store_id`` and :data:`~storemon.schema.REPORT_COLUMNS` as
    unrounded Float64 (minutes for ``_hour``, hours otherwise), one row per
    store that appears in any input, sorted by ``store_id``.

    Invalid rows it is given (nulls, an unknown status, a day outside 0–6, an
    empty store id in hours or zones, an unknown zone) are left out, as SPEC.md
    says; reporting them is the loaders' job (:mod:`storemon._load`).

    Raises :class:`ConfigError` for a bad parameter and :class:`InputError` for
    frames that lack a column or hold values of the wrong kind.
    """
    check_zone(default_timezone, "default time zone")
    horizon_ticks = _horizon_ticks(horizon)
    polls_lf, hours_df = _coerce_polls(polls), _coerce_hours(hours)
    tz_df = _known_zone_rows(_coerce_timezones(tz))
    table = store_table(polls_lf, hours_df, tz_df)
    stores = table.stores

    now_us = to_us(utc_instant(now)) if now is not None else _latest(table.latest_poll_us)
    now_ticks = now_us * TICKS_PER_US
    window = (now_ticks - to_ticks(WEEK), now_ticks)

    business = business_intervals(hours_df, _store_zones(stores, tz_df, default_timezone), stores, window)
    active = _active(polls_lf, table, window, horizon_ticks)
    measured = measure_windows(
        business, active, now_ticks, {name: to_ticks(length) for name, length in _WINDOWS.items()}
    )
    return _figures(stores, measured)


def resolve_now(polls: Frame, now: datetime | None = None) -> datetime:
    """The report instant: ``now`` as an aware UTC datetime, or the latest poll."""
    if now is not None:
        return utc_instant(now)
    return from_us(_latest_poll_us(_coerce_polls(polls)))


def reaching_polls(now: datetime, horizon: timedelta | None = DEFAULT_HORIZON) -> tuple[int, int]:
    """``(earliest, latest)``: epoch microseconds, inclusive, of the polls a report at ``now`` reads.

    That is ``[now − 7 d − horizon, now]`` (SPEC.md, status timeline): an
    earlier poll's status ends before the week begins. ``horizon=None``
    (no limit) gives an ``earliest`` before any representable date. Raises
    :class:`ConfigError` for a bad ``now`` or ``horizon``.
    """
    now_ticks = to_us(utc_instant(now)) * TICKS_PER_US
    return _poll_range((now_ticks - to_ticks(WEEK), now_ticks), _horizon_ticks(horizon))


def _poll_range(window: tuple[int, int], horizon_ticks: int) -> tuple[int, int]:
    lo, now = window
    return (lo - horizon_ticks) // TICKS_PER_US, now // TICKS_PER_US


# --- parameters --------------------------------------------------------------


def _horizon_ticks(horizon: timedelta | None) -> int:
    if horizon is None:
        return _INFINITE_HORIZON_TICKS
    if not isinstance(horizon, timedelta):
        raise ConfigError(f"horizon must be a timedelta or None, not {type(horizon).__name__}")
    if horizon < timedelta(0):
        raise ConfigError(f"horizon must not be negative (got {horizon})")
    return min(to_ticks(horizon), _INFINITE_HORIZON_TICKS)


def _latest_poll_us(polls: pl.LazyFrame) -> int:
    return _latest(polls.select(pl.col("t").max()).collect().item())


def _latest(latest_us: int | None) -> int:
    if latest_us is None:
        raise ConfigError("no polls to take 'now' from: pass now explicitly")
    return latest_us


# --- inputs --------------------------------------------------------------------


def _lazy(frame: Frame, name: str, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
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
    return lf.select(
        pl.col("store_id").cast(pl.String),
        ts.dt.convert_time_zone("UTC").dt.cast_time_unit("us").cast(pl.Int64).alias("t"),
        active.alias("active"),
    ).drop_nulls()


def _coerce_hours(hours: Frame) -> pl.DataFrame:
    lf = _lazy(hours, "hours", HOURS_SCHEMA)
    frame = lf.select(list(HOURS_SCHEMA)).collect()
    try:
        frame = frame.cast(HOURS_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"hours frame has values of the wrong kind: {exc}", file="hours") from None
    return frame.drop_nulls().filter(_valid_store_id(), pl.col("dayOfWeek").is_between(0, 6))


def _coerce_timezones(tz: Frame) -> pl.DataFrame:
    lf = _lazy(tz, "timezones", TIMEZONES_SCHEMA)
    return lf.select(list(TIMEZONES_SCHEMA)).collect().cast(TIMEZONES_SCHEMA).drop_nulls().filter(_valid_store_id())


def _valid_store_id() -> pl.Expr:
    return pl.col("store_id").str.strip_chars() != ""


# --- stores ----------------------------------------------------------------------


def _known_zone_rows(tz: pl.DataFrame) -> pl.DataFrame:
    """Time-zone rows naming a zone we know; others are invalid rows (SPEC.md)."""
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


def _active(polls: pl.LazyFrame, table: StoreTable, window: tuple[int, int], horizon_ticks: int) -> pl.DataFrame:
    """Active runs per store from the polls that can reach the window.

    Those are the polls with ``t`` in [window start − horizon, now].
    """
    earliest, latest = _poll_range(window, horizon_ticks)
    t = pl.col("t")
    relevant = polls_with_codes(polls.filter((t >= earliest) & (t <= latest)), table).select("code", "t", "active")
    if table.earliest_poll_us is not None:
        earliest, latest = max(earliest, table.earliest_poll_us), min(latest, table.latest_poll_us)
    return active_intervals(relevant, window, horizon_ticks, t_bounds=(earliest, latest), stores=table.stores.height)


# --- output -----------------------------------------------------------------------


def _figures(stores: pl.DataFrame, measured: pl.DataFrame) -> pl.DataFrame:
    """Ticks → minutes (last hour) and hours (day, week); one row per store."""
    per_store = stores.join(measured, on="code", how="left").fill_null(0)
    columns = [pl.col("store_id")]
    for kind in ("up", "down"):
        for name in _WINDOWS:
            ticks = pl.col(f"up_{name}") if kind == "up" else pl.col(f"business_{name}") - pl.col(f"up_{name}")
            unit = _TICKS_PER_MINUTE if name == "hour" else _TICKS_PER_HOUR
            columns.append((ticks / unit).cast(pl.Float64).alias(f"{kind}time_last_{name}"))
    return per_store.sort("store_id").select(columns).cast(REPORT_SCHEMA)
