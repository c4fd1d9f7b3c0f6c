"""Synthetic input data that looks like the Loop store-monitoring data set.

:func:`generate_dataset` writes the three input files (polls, business hours,
time zones) in the 2024 or the 2023 layout, with the quirks of the real files:

* store ids that are UUIDs or 64-bit integers written as strings;
* timestamps like ``2024-10-07 19:37:51.849528 UTC`` with trailing zeros of
  the fraction trimmed (``…:11.866 UTC``, or no fraction when it is zero);
* about two polls per store and hour, jittered (not on a grid), rows only
  partly in time order; statuses mostly ``active`` with outages (runs of
  ``inactive``) and single-poll blips; some stores going stale (no polls for
  the last days), one or more stores with no polls at all; a few exact
  duplicate rows and a few same-instant duplicates with the other status;
* business hours from ~20 weekly templates (split shifts, overnight hours
  written as ``…,23:59:59`` + ``…,00:00:00,…`` rows, single-row overnights
  with ``end < start``, ``end == start`` meaning 24 hours, tiny windows,
  overlapping and duplicated rows), shifted per store; some stores with no
  rows (open 24/7);
* time zones drawn from a realistic, weighted list; some stores without a row.

Everything is drawn from ``numpy.random.default_rng(seed)``: the same
arguments give byte-identical files. The work is vectorized over polls, so
3,700 stores × 11 days (≈ 1.9 M polls) take a few seconds.

With at least :data:`MIN_STORES_FOR_ALL_QUIRKS` stores every quirk above
occurs at least once (every hours template, a store without hours, one
without a zone, a stale store, a store without polls, a mostly inactive
store, an exact and a conflicting duplicate poll).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from storemon._fileio import atomic_path
from storemon.exceptions import ConfigError

__all__ = [
    "DEFAULT_END",
    "FILE_NAMES",
    "FORMATS",
    "MAX_POLLS",
    "MIN_STORES_FOR_ALL_QUIRKS",
    "GeneratedFiles",
    "generate_dataset",
]

#: Default end of the generated period (polls cover ``[end - days, end)``).
DEFAULT_END: datetime = datetime(2024, 10, 14, 12, 0, 0, tzinfo=UTC)

#: File names per format, as ``(polls, hours, timezones)``.
FILE_NAMES: dict[str, tuple[str, str, str]] = {
    "2024": ("store_status.csv", "menu_hours.csv", "timezones.csv"),
    "2023": ("store status.csv", "Menu hours.csv", "bq-results-20230125-202210-1674678181880.csv"),
}

#: Column order per format, as ``(polls, hours, timezones)``.
_HEADERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "2024": (
        ("store_id", "timestamp_utc", "status"),
        ("store_id", "dayOfWeek", "start_time_local", "end_time_local"),
        ("store_id", "timezone_str"),
    ),
    "2023": (
        ("store_id", "status", "timestamp_utc"),
        ("store_id", "day", "start_time_local", "end_time_local"),
        ("store_id", "timezone_str"),
    ),
}

#: The accepted values of ``fmt``.
FORMATS: tuple[str, ...] = tuple(FILE_NAMES)

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_US_PER_HOUR = 60 * _US_PER_MINUTE
_US_PER_DAY = 24 * _US_PER_HOUR

# Time zones with relative weights: mostly US zones as in the real data, plus
# a few with odd rules (midnight DST in Beirut, 30-minute DST on Lord Howe,
# half-hour and 45-minute offsets, no DST in Phoenix and Honolulu).
_ZONES: tuple[tuple[str, float], ...] = (
    ("America/Chicago", 34.0),
    ("America/New_York", 25.0),
    ("America/Los_Angeles", 14.0),
    ("America/Denver", 6.0),
    ("America/Phoenix", 4.0),
    ("America/Detroit", 3.0),
    ("America/Boise", 2.0),
    ("America/Indiana/Indianapolis", 2.0),
    ("America/Anchorage", 0.5),
    ("Pacific/Honolulu", 0.5),
    ("America/Puerto_Rico", 0.5),
    ("America/St_Johns", 0.4),
    ("Europe/London", 0.5),
    ("Asia/Beirut", 0.5),
    ("Australia/Lord_Howe", 0.3),
    ("Asia/Kolkata", 0.3),
    ("Asia/Kathmandu", 0.2),
)

_FILE_MODE = 0o644

_ALL_DAYS = (0, 1, 2, 3, 4, 5, 6)
_WEEKDAYS = (0, 1, 2, 3, 4)


def _t(hms: str) -> int:
    """Seconds after midnight of ``HH:MM:SS``."""
    h, m, s = (int(part) for part in hms.split(":"))
    return h * 3600 + m * 60 + s


def _rows(days: tuple[int, ...], start: str, end: str) -> list[tuple[int, int, int]]:
    return [(day, _t(start), _t(end)) for day in days]


def _overnight(days: tuple[int, ...], start: str, until: str, end_next: str) -> list[tuple[int, int, int]]:
    """Overnight hours written the Loop way: ``start–until`` then ``00:00–end_next`` next day."""
    return _rows(days, start, until) + _rows(tuple((d + 1) % 7 for d in days), "00:00:00", end_next)


# Weekly business-hours templates: (name, weight, rows of (day, start, end) in
# seconds). Every store with hours gets one template, its times shifted by a
# per-store multiple of 15 minutes (see _shift_times for which times stay put).
_TEMPLATES: tuple[tuple[str, float, list[tuple[int, int, int]]], ...] = (
    ("standard", 20.0, _rows(_ALL_DAYS, "10:00:00", "22:00:00")),
    ("weekday_weekend", 8.0, _rows(_WEEKDAYS, "11:00:00", "22:30:00") + _rows((5, 6), "12:00:00", "23:00:00")),
    ("closed_sunday", 8.0, _rows((0, 1, 2, 3, 4, 5), "09:00:00", "21:00:00")),
    (
        "varied_days",
        8.0,
        _rows((0, 1), "11:00:00", "21:00:00")
        + _rows((3,), "11:00:00", "22:00:00")
        + _rows((4,), "11:00:00", "23:00:00")
        + _rows((5,), "10:00:00", "23:00:00")
        + _rows((6,), "10:00:00", "20:00:00"),
    ),
    ("explicit_24h", 8.0, _rows(_ALL_DAYS, "00:00:00", "23:59:59")),
    ("split_shift", 6.0, _rows(_ALL_DAYS, "11:00:00", "14:30:00") + _rows(_ALL_DAYS, "17:00:00", "22:00:00")),
    ("overnight_235959", 5.0, _overnight(_ALL_DAYS, "17:00:00", "23:59:59", "02:00:00")),
    ("office", 4.0, _rows(_WEEKDAYS, "07:00:00", "15:00:00")),
    (
        "late_weekend",
        4.0,
        _rows((6, 0, 1, 2, 3), "11:00:00", "23:00:00") + _rows((4, 5), "11:00:00", "02:00:00"),
    ),
    (
        "overnight_2359",
        3.0,
        _rows((6, 0, 1, 2), "18:00:00", "22:00:00") + _overnight((3, 4, 5), "18:00:00", "23:59:00", "03:00:00"),
    ),
    ("single_row_overnight", 3.0, _rows(_ALL_DAYS, "20:00:00", "04:00:00")),
    ("overlapping", 3.0, _rows(_ALL_DAYS, "09:00:00", "15:00:00") + _rows(_ALL_DAYS, "13:00:00", "21:00:00")),
    ("duplicated_rows", 2.0, _rows(_ALL_DAYS, "10:00:00", "21:00:00") * 2),
    ("breakfast", 2.0, _rows(_ALL_DAYS, "06:00:00", "11:00:00")),
    ("weekend_only", 2.0, _rows((5, 6), "10:00:00", "23:00:00")),
    ("until_midnight", 2.0, _rows(_ALL_DAYS, "16:00:00", "00:00:00")),
    ("night_shift", 2.0, _rows(_ALL_DAYS, "22:00:00", "06:00:00")),
    ("one_day_24h", 1.0, _rows((0, 1, 2, 3, 4, 5), "10:00:00", "21:00:00") + _rows((6,), "09:00:00", "09:00:00")),
    ("tiny_window", 1.0, _rows((0, 1, 2, 3, 4, 5), "10:00:00", "20:00:00") + _rows((6,), "12:00:00", "12:04:00")),
    ("midnight_24h", 1.0, _rows(_ALL_DAYS, "00:00:00", "00:00:00")),
)

#: Weight of "no business-hours rows at all" (open 24/7), next to the templates.
_NO_HOURS_WEIGHT = 10.0
_NO_ZONE_SHARE = 0.05
_STALE_SHARE = 0.03
_NO_POLLS_SHARE = 0.01
_MOSTLY_INACTIVE_SHARE = 0.01
_FLAKY_SHARE = 0.05
_MISSED_POLL_SHARE = 0.02
_BLIP_SHARE = 0.01
_EXACT_DUPLICATE_SHARE = 0.0003
_CONFLICT_DUPLICATE_SHARE = 0.0001

#: Stores needed so that every quirk is present at least once (see module doc).
MIN_STORES_FOR_ALL_QUIRKS: int = len(_TEMPLATES) + 1

#: Largest ``stores × days × 48`` accepted: generation holds every poll in
#: memory (≈ 150 bytes each at peak), so this keeps a typo from exhausting RAM.
MAX_POLLS: int = 25_000_000


@dataclass(frozen=True)
class GeneratedFiles:
    """The three files :func:`generate_dataset` wrote, and their data-row counts."""

    polls: Path
    hours: Path
    timezones: Path
    polls_rows: int
    hours_rows: int
    timezones_rows: int

    def __str__(self) -> str:
        """One line for people: the directory, then each file with its row count."""
        parts = (
            f"{self.polls.name} ({self.polls_rows} rows)",
            f"{self.hours.name} ({self.hours_rows} rows)",
            f"{self.timezones.name} ({self.timezones_rows} rows)",
        )
        return f"{self.polls.parent}: " + ", ".join(parts)


@dataclass(frozen=True)
class _Stores:
    """Per-store parameters, one array element per store."""

    ids: list[str]
    template: np.ndarray  # index into _TEMPLATES, or -1 for "no hours"
    shift_s: np.ndarray  # seconds added to the template's movable times
    zone: np.ndarray  # index into _ZONES
    no_zone: np.ndarray  # bool: leave the store out of the time-zone file
    no_polls: np.ndarray  # bool
    stale: np.ndarray  # bool
    mostly_inactive: np.ndarray  # bool
    flaky: np.ndarray  # bool


def generate_dataset(
    out_dir: str | os.PathLike[str],
    *,
    stores: int,
    days: float,
    seed: int,
    fmt: str = "2024",
    end: datetime | None = None,
) -> GeneratedFiles:
    """Write a synthetic Loop-style data set to ``out_dir`` and return what was written.

    ``stores`` distinct store ids, polls covering ``[end - days, end)`` (``end``
    defaults to :data:`DEFAULT_END`; a naive ``end`` is UTC), in layout ``fmt``
    (``"2024"`` or ``"2023"``, see :data:`FILE_NAMES`). The same arguments
    always give byte-identical files. Each file is written to a temporary name
    in ``out_dir`` and renamed into place, so no partial file is ever visible
    under a final name. Raises :class:`~storemon.exceptions.ConfigError` for
    bad arguments, more than :data:`MAX_POLLS` expected polls, or a directory
    that cannot be written.
    """
    end_utc = _check_args(stores=stores, days=days, seed=seed, fmt=fmt, end=end)
    rng = np.random.default_rng(seed)
    store_rng, poll_rng, hours_rng, zone_rng = rng.spawn(4)

    params = _draw_stores(store_rng, stores)
    end_us = _epoch_us(end_utc)
    begin_us = end_us - round(days * _US_PER_DAY)
    polls, has_polls = _polls_frame(poll_rng, params, begin_us, end_us)
    hours = _hours_frame(hours_rng, params)
    zones = _zones_frame(zone_rng, params, has_polls)
    return _write(Path(out_dir), fmt, polls, hours, zones)


def _check_args(*, stores: int, days: float, seed: int, fmt: str, end: datetime | None) -> datetime:
    if isinstance(stores, bool) or not isinstance(stores, int) or stores < 1:
        raise ConfigError(f"stores must be a positive integer, got {stores!r}")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not 0 < days <= 3660:
        raise ConfigError(f"days must be a number in (0, 3660], got {days!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if stores * days * 48 > MAX_POLLS:
        raise ConfigError(
            f"{stores} stores × {days} days is about {round(stores * days * 48):,} polls, "
            f"more than the {MAX_POLLS:,} this generator holds in memory"
        )
    if fmt not in FILE_NAMES:
        raise ConfigError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if end is None:
        return DEFAULT_END
    if not isinstance(end, datetime):
        raise ConfigError(f"end must be a datetime, got {end!r}")
    return end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)


def _epoch_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# --------------------------------------------------------------------------- stores


def _draw_stores(rng: np.random.Generator, n: int) -> _Stores:
    ids = _store_ids(rng, n)

    weights = np.array([w for _, w, _ in _TEMPLATES] + [_NO_HOURS_WEIGHT])
    template = rng.choice(len(weights), size=n, p=weights / weights.sum())
    # Guarantee every template and "no hours" once, when there are enough stores.
    first = rng.permutation(n)[: len(weights)]
    if n >= MIN_STORES_FOR_ALL_QUIRKS:
        template[first] = np.arange(len(first))
    template[template == len(_TEMPLATES)] = -1
    shift_s = rng.integers(-4, 5, size=n) * 15 * 60

    zone_weights = np.array([w for _, w in _ZONES])
    zone = rng.choice(len(_ZONES), size=n, p=zone_weights / zone_weights.sum())

    roles = rng.random(n)
    no_polls = roles < _NO_POLLS_SHARE
    stale = (roles >= _NO_POLLS_SHARE) & (roles < _NO_POLLS_SHARE + _STALE_SHARE)
    mostly_inactive = (roles >= 0.5) & (roles < 0.5 + _MOSTLY_INACTIVE_SHARE)
    flaky = (roles >= 0.6) & (roles < 0.6 + _FLAKY_SHARE)
    no_zone = rng.random(n) < _NO_ZONE_SHARE
    # Guarantee each role once, on distinct stores, when there are enough.
    special = rng.permutation(n)
    if n >= MIN_STORES_FOR_ALL_QUIRKS:
        for store, mask in zip(special, (no_polls, stale, mostly_inactive, no_zone), strict=False):
            no_polls[store] = stale[store] = mostly_inactive[store] = flaky[store] = False
            mask[store] = True
    elif no_polls.all():
        no_polls[special[0]] = False
    return _Stores(ids, template, shift_s, zone, no_zone, no_polls, stale, mostly_inactive, flaky)


def _store_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct ids, about half UUIDs and half 64-bit integers."""
    ids: dict[str, None] = {}
    while len(ids) < n:
        missing = n - len(ids)
        is_uuid = rng.random(missing) < 0.5
        raw = rng.integers(0, 256, size=(missing, 16), dtype=np.uint8)
        numbers = rng.integers(10**17, 2**63 - 1, size=missing, dtype=np.int64)
        for use_uuid, octets, number in zip(is_uuid, raw, numbers, strict=True):
            key = str(uuid.UUID(bytes=octets.tobytes(), version=4)) if use_uuid else str(int(number))
            ids[key] = None
    return list(ids)


def _gather_ids(ids: list[str], index: np.ndarray) -> pl.Series:
    """The store ids at ``index`` (store numbers), as a String series."""
    return pl.Series("store_id", ids, dtype=pl.String).gather(pl.Series(index.astype(np.int64)))


# --------------------------------------------------------------------------- polls


def _polls_frame(
    rng: np.random.Generator, params: _Stores, begin_us: int, end_us: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """All polls as ``store_id, timestamp_utc, status`` strings, partly shuffled,
    and which stores have at least one poll."""
    store, t_us = _poll_times(rng, params, begin_us, end_us)
    has_polls = np.bincount(store, minlength=len(params.ids)) > 0
    inactive = _inactive_mask(rng, params, store, t_us, begin_us, end_us)
    t_us = _round_some_fractions(rng, t_us)
    store, t_us, inactive = _add_duplicates(rng, store, t_us, inactive)

    # Partly shuffled: order by time plus up to six hours of noise.
    order = np.argsort(t_us + rng.integers(0, 6 * _US_PER_HOUR, size=t_us.size), kind="stable")
    frame = pl.DataFrame(
        {
            "store_id": _gather_ids(params.ids, store[order]),
            "t": t_us[order],
            "inactive": inactive[order],
        }
    )
    fraction = (pl.col("t") % _US_PER_SECOND).cast(pl.String).str.zfill(6).str.strip_chars_end("0")
    polls = frame.select(
        "store_id",
        timestamp_utc=pl.col("t").cast(pl.Datetime("us")).dt.strftime("%Y-%m-%d %H:%M:%S")
        + pl.when(fraction == "").then(pl.lit("")).otherwise(pl.lit(".") + fraction)
        + pl.lit(" UTC"),
        status=pl.when(pl.col("inactive")).then(pl.lit("inactive")).otherwise(pl.lit("active")),
    )
    return polls, has_polls


def _poll_times(rng: np.random.Generator, params: _Stores, begin_us: int, end_us: int) -> tuple[np.ndarray, np.ndarray]:
    """Store index and time (µs) of every poll, grouped by store, in time order per store."""
    n = len(params.ids)
    span = end_us - begin_us
    # About two polls an hour: each store has its own period and phase.
    period = (_US_PER_HOUR / rng.uniform(1.9, 2.1, size=n)).astype(np.int64)
    phase = (rng.random(n) * period).astype(np.int64)
    stop = np.full(n, end_us, dtype=np.int64)
    staleness = np.minimum(rng.uniform(1.5, 4.0, size=n) * _US_PER_DAY, rng.uniform(0.3, 0.7, size=n) * span)
    stop[params.stale] = end_us - staleness[params.stale].astype(np.int64)
    count = np.where(params.no_polls, 0, (stop - begin_us) // period + 2)

    store = np.repeat(np.arange(n), count)
    k = np.arange(store.size) - np.repeat(np.cumsum(count) - count, count)
    jitter = ((rng.random(store.size) - 0.5) * 0.7 * period[store]).astype(np.int64)
    t_us = begin_us + phase[store] + k * period[store] + jitter
    keep = (t_us >= begin_us) & (t_us < stop[store]) & (rng.random(store.size) >= _MISSED_POLL_SHARE)
    return store[keep], t_us[keep]


def _inactive_mask(
    rng: np.random.Generator, params: _Stores, store: np.ndarray, t_us: np.ndarray, begin_us: int, end_us: int
) -> np.ndarray:
    """Which polls are ``inactive``: those inside an outage, plus random blips."""
    n = len(params.ids)
    span = end_us - begin_us
    lead_in = _US_PER_DAY
    rate_per_day = rng.gamma(1.0, 0.5, size=n)
    rate_per_day[params.flaky] = 4.0
    outages = rng.poisson(rate_per_day * (span + lead_in) / _US_PER_DAY)
    o_store = np.repeat(np.arange(n), outages)
    o_start = begin_us - lead_in + (rng.random(o_store.size) * (span + lead_in)).astype(np.int64)
    minutes = np.clip(rng.lognormal(np.log(90.0), 1.0, size=o_store.size), 5.0, 3 * 24 * 60.0)
    o_end = o_start + (minutes * _US_PER_MINUTE).astype(np.int64)

    # A mostly inactive store has one outage from early on to the end.
    long_store = np.flatnonzero(params.mostly_inactive)
    long_start = begin_us + (rng.uniform(0.0, 0.2, size=long_store.size) * span).astype(np.int64)
    o_store = np.concatenate([o_store, long_store])
    o_start = np.concatenate([o_start, long_start])
    o_end = np.concatenate([o_end, np.full(long_store.size, end_us, dtype=np.int64)])

    # Find, per poll, the latest-starting outage of its store that starts at
    # or before it; keys put each store on its own stretch of the number line.
    stretch = (end_us - begin_us) + 4 * lead_in + 3 * _US_PER_DAY
    base = begin_us - 2 * lead_in
    o_key = o_store * stretch + (o_start - base)
    order = np.argsort(o_key, kind="stable")
    o_key, o_store = o_key[order], o_store[order]
    # Running max of the ends, so an earlier, longer outage is not forgotten.
    o_reach = np.maximum.accumulate(o_store * stretch + (o_end[order] - base)) if o_key.size else o_key
    p_key = store * stretch + (t_us - base)
    idx = np.searchsorted(o_key, p_key, side="right") - 1
    safe = np.clip(idx, 0, None)
    in_outage = (idx >= 0) & (o_reach[safe] > p_key) if o_key.size else np.zeros(store.size, dtype=bool)
    blip = rng.random(store.size) < _BLIP_SHARE
    return in_outage | blip


def _round_some_fractions(rng: np.random.Generator, t_us: np.ndarray) -> np.ndarray:
    """Round a few times to whole milliseconds or seconds, as in the real files."""
    draw = rng.random(t_us.size)
    t_us = t_us.copy()
    to_ms = draw < 0.03
    t_us[to_ms] -= t_us[to_ms] % 1000
    to_s = draw < 0.01
    t_us[to_s] -= t_us[to_s] % _US_PER_SECOND
    return t_us


def _add_duplicates(
    rng: np.random.Generator, store: np.ndarray, t_us: np.ndarray, inactive: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Append a few exact duplicate rows and a few same-instant rows with the other status."""
    total = store.size
    if total < 2:
        return store, t_us, inactive
    exact = max(1, round(total * _EXACT_DUPLICATE_SHARE))
    conflict = max(1, round(total * _CONFLICT_DUPLICATE_SHARE))
    picked = rng.choice(total, size=exact + conflict, replace=False)
    status = inactive[picked].copy()
    status[exact:] = ~status[exact:]
    return (
        np.concatenate([store, store[picked]]),
        np.concatenate([t_us, t_us[picked]]),
        np.concatenate([inactive, status]),
    )


# --------------------------------------------------------------------------- hours and zones


def _hours_frame(rng: np.random.Generator, params: _Stores) -> pl.DataFrame:
    """Business-hours rows as ``store_id, dayOfWeek, start, end`` strings, shuffled."""
    stores, days, starts, ends = [], [], [], []
    for index, (_, _, rows) in enumerate(_TEMPLATES):
        members = np.flatnonzero(params.template == index)
        if members.size == 0:
            continue
        table = np.array(rows, dtype=np.int64)  # (rows, 3): day, start, end
        shift = params.shift_s[members][:, None]
        stores.append(np.repeat(members, len(rows)))
        days.append(np.tile(table[:, 0], members.size))
        starts.append(_shift_times(table[None, :, 1], shift).ravel())
        ends.append(_shift_times(table[None, :, 2], shift).ravel())
    if not stores:
        return pl.DataFrame(schema={c: pl.String for c in ("store_id", "dayOfWeek", "start", "end")})
    store = np.concatenate(stores)
    order = rng.permutation(store.size)
    frame = pl.DataFrame(
        {
            "store_id": _gather_ids(params.ids, store[order]),
            "day": np.concatenate(days)[order],
            "start": np.concatenate(starts)[order],
            "end": np.concatenate(ends)[order],
        }
    )
    return frame.select(
        "store_id",
        dayOfWeek=pl.col("day").cast(pl.String),
        start=_hms(pl.col("start")),
        end=_hms(pl.col("end")),
    )


def _shift_times(seconds: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Shift template times by ``shift``, except midnight and ``23:59:xx`` (the quirks).

    Movable template times lie in 01:00–23:00 and shifts within ±1 h, so only
    an end of 23:00 can reach 24:00; it wraps to ``00:00:00``, which as an end
    time means the same midnight.
    """
    pinned = (seconds == 0) | (seconds >= _t("23:59:00"))
    return np.where(pinned, seconds, (seconds + shift) % 86_400)


def _hms(seconds: pl.Expr) -> pl.Expr:
    return (seconds * 1_000_000_000).cast(pl.Time).dt.strftime("%H:%M:%S")


def _zones_frame(rng: np.random.Generator, params: _Stores, has_polls: np.ndarray) -> pl.DataFrame:
    """Time-zone rows, shuffled; a store without polls always keeps its row so
    that every store occurs in at least one file."""
    members = np.flatnonzero(~params.no_zone | ~has_polls)
    members = members[rng.permutation(members.size)]
    names = [_ZONES[i][0] for i in params.zone[members]]
    return pl.DataFrame(
        {"store_id": [params.ids[i] for i in members], "timezone_str": names},
        schema={"store_id": pl.String, "timezone_str": pl.String},
    )


# --------------------------------------------------------------------------- writing


def _write(out_dir: Path, fmt: str, polls: pl.DataFrame, hours: pl.DataFrame, zones: pl.DataFrame) -> GeneratedFiles:
    """Write the three frames under their ``fmt`` names and headers, each atomically."""
    polls_header, hours_header, zones_header = _HEADERS[fmt]
    polls = polls.select(polls_header)
    hours = hours.rename({"start": "start_time_local", "end": "end_time_local"})
    hours = hours.rename({"dayOfWeek": hours_header[1]}).select(hours_header)
    zones = zones.select(zones_header)
    paths = [out_dir / name for name in FILE_NAMES[fmt]]
    # All three temp files are written before any rename, so a failed write
    # (disk full …) removes every temp file and leaves the final names alone.
    try:
        with contextlib.ExitStack() as stack:
            temps = [stack.enter_context(atomic_path(path)) for path in paths]
            for frame, tmp in zip((polls, hours, zones), temps, strict=True):
                frame.write_csv(tmp)
                # mkstemp creates 0600 files; a data set is meant to be shared.
                os.chmod(tmp, _FILE_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write the data set to {out_dir}: {exc}") from exc
    return GeneratedFiles(
        polls=paths[0],
        hours=paths[1],
        timezones=paths[2],
        polls_rows=polls.height,
        hours_rows=hours.height,
        timezones_rows=zones.height,
    )
