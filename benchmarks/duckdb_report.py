"""The DuckDB baseline: storemon's rules (docs/rules.md) as one set-based SQL query.

This is what a skilled data engineer would write instead of storemon: read the
inputs with DuckDB's own CSV/Parquet readers, then one query with window
functions (midpoints between polls), ICU time zones (local → UTC) and interval
joins (business ∩ active). The benchmark (``benchmarks/run.py``) runs it side by
side with storemon; ``benchmarks/test_duckdb_baseline.py`` checks that both give
the same report. It does not import storemon.

Exactness: instants are BIGINT *ticks* of half a microsecond, as in storemon,
so a midpoint ``(tᵢ + tᵢ₊₁) / 2`` is the exact integer ``tᵢ + tᵢ₊₁`` in ticks;
figures are divided into minutes or hours only at the very end.

Local → UTC uses DuckDB's ICU extension (statically linked into the pip wheel,
so nothing is downloaded; :func:`connect` refuses to auto-install anything).
``timezone(zone, wall)`` alone does not follow ``fold=0`` everywhere: for a
wall time that does not exist (clocks go forward) it uses the offset before
the change, as fold=0 does, but for an ambiguous one (clocks go back) it takes
the *second* occurrence. So each distinct (zone, wall time) is converted by
ICU (``later``), and the first occurrence ``earlier = wall − offset one day
before`` replaces it when it is earlier and really shows that wall time in the
zone. No zone has two transitions within a day (the assumption storemon's own
conversion makes too).

Inputs are validated as the rules say (invalid rows left out, not reported):
an unparsable timestamp, unknown status, day outside 0–6, bad time, unknown
zone (not in ICU's list) or empty store id. Timestamps are read in the format
of the 2024 files, ``2024-10-07 19:37:51.849528 UTC`` with a shorter fraction
or none (other spellings of the rules' loaders are out of scope here), or as a
typed Parquet timestamp.

Usage::

    python benchmarks/duckdb_report.py DATA_DIR -o report.csv [--now ISO] [--horizon-hours H]
    python benchmarks/duckdb_report.py --store STORE -o report.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_TIMEZONE",
    "connect",
    "load_files",
    "load_store",
    "compute",
    "duckdb_report",
    "duckdb_report_from_store",
    "local_to_utc_us",
]

#: The same defaults as storemon.defaults (checked by the agreement test).
DEFAULT_HORIZON = timedelta(days=8)
DEFAULT_TIMEZONE = "America/Chicago"

REPORT_COLUMNS = (
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)
#: Input file names looked for in a data directory (the 2024 names), CSV or Parquet.
FILE_STEMS = {"polls": "store_status", "hours": "menu_hours", "timezones": "timezones"}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_TICKS_PER_US = 2
_DAY_US = 86_400_000_000
_INFINITE_HORIZON_TICKS = 2**60  # as storemon: reaches every representable instant
_TIMESTAMP_FORMATS = ["%Y-%m-%d %H:%M:%S.%f UTC", "%Y-%m-%d %H:%M:%S UTC"]
_WINDOW_TICKS = {"hour": 3_600_000_000 * 2, "day": 24 * 3_600_000_000 * 2, "week": 168 * 3_600_000_000 * 2}
_TICKS_PER_MINUTE = 60_000_000 * 2
_TICKS_PER_HOUR = 3_600_000_000 * 2


# --- connection and loading --------------------------------------------------------------


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ICU loaded from the wheel (never downloaded) and the session zone UTC."""
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads is not None:
        config["threads"] = threads
    con = duckdb.connect(config=config)
    con.execute("LOAD icu")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _source(path: Path) -> str:
    """A DuckDB table function reading ``path`` (Parquet by suffix or magic bytes, else CSV), every CSV column text."""
    quoted = "'" + str(path).replace("'", "''") + "'"
    with open(path, "rb") as handle:
        parquet = handle.read(4) == b"PAR1"
    if parquet or path.suffix.lower() == ".parquet":
        return f"read_parquet({quoted})"
    return f"read_csv({quoted}, header = true, all_varchar = true)"


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}


def _timestamp_us(column: str, dtype: str) -> str:
    if dtype.startswith("TIMESTAMP"):
        return f"epoch_us({column})"  # a naive Parquet timestamp is UTC (the session zone)
    formats = ", ".join(f"'{fmt}'" for fmt in _TIMESTAMP_FORMATS)
    return f"epoch_us(try_strptime(trim({column}::VARCHAR), [{formats}]))"


def _time_us(column: str, dtype: str) -> str:
    if dtype.startswith("TIME"):
        return f"epoch_us({column}::TIME)"
    return f"epoch_us(try_cast(trim({column}::VARCHAR) AS TIME))"


def load_files(
    con: duckdb.DuckDBPyConnection, polls: str | Path, hours: str | Path, timezones: str | Path
) -> dict[str, int]:
    """Read the three input files into the typed tables :func:`compute` works on; their row counts.

    ``polls(store_id, t, active)`` with ``t`` in epoch microseconds,
    ``hours(store_id, dow, open_us, end_us)`` (times of day in µs) and
    ``timezones(store_id, zone)`` (in file order: its ``rowid`` says which row of a store comes first).
    """
    polls_src, hours_src, tz_src = (_source(Path(p)) for p in (polls, hours, timezones))
    polls_cols = _columns(con, polls_src)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE polls AS
        SELECT store_id, t, status = 'active' AS active FROM (
            SELECT store_id::VARCHAR AS store_id,
                   {_timestamp_us("timestamp_utc", polls_cols["timestamp_utc"])} AS t,
                   lower(trim(status::VARCHAR)) AS status
            FROM {polls_src})
        WHERE trim(store_id) <> '' AND t IS NOT NULL AND status IN ('active', 'inactive')
        """
    )
    hours_cols = _columns(con, hours_src)
    day = "dayOfWeek" if "dayOfWeek" in hours_cols else "day"  # the 2023 files call it "day"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE hours AS
        SELECT * FROM (
            SELECT store_id::VARCHAR AS store_id,
                   try_cast(trim("{day}"::VARCHAR) AS TINYINT) AS dow,
                   {_time_us("start_time_local", hours_cols["start_time_local"])} AS open_us,
                   {_time_us("end_time_local", hours_cols["end_time_local"])} AS end_us
            FROM {hours_src})
        WHERE trim(store_id) <> '' AND dow BETWEEN 0 AND 6 AND open_us IS NOT NULL AND end_us IS NOT NULL
        """
    )
    # A table keeps the insertion (file) order, so its rowid says which zone row of a store comes first.
    con.execute(
        f"""
        CREATE OR REPLACE TABLE timezones AS
        SELECT * FROM (SELECT store_id::VARCHAR AS store_id, trim(timezone_str::VARCHAR) AS zone FROM {tz_src})
        WHERE trim(store_id) <> '' AND zone IN (SELECT name FROM pg_timezone_names())
        """
    )
    con.execute("CREATE OR REPLACE TABLE extra_stores (store_id VARCHAR)")
    return _row_counts(con)


def load_store(
    con: duckdb.DuckDBPyConnection,
    store: str | Path,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
) -> datetime:
    """Read a storemon data store's committed snapshot straight from its Parquet files.

    The committed state (:func:`_store_state`: the latest checkpoint plus the
    commit records after it) names the current files; only poll parts whose
    time range overlaps ``[now − 7 d − horizon, now]`` are read, with that
    range as a filter pushed into the Parquet scan, plus the small batches
    held in the records themselves. The store's poll-store table adds the
    stores whose polls all lie outside that range. Returns ``now`` (default:
    the latest committed poll) as an aware datetime.
    """
    root = Path(store)
    manifest = _store_state(root)
    if now is None:
        if manifest["max_timestamp_us"] is None:
            raise ValueError("no polls to take 'now' from: pass now explicitly")
        now = _EPOCH + timedelta(microseconds=manifest["max_timestamp_us"])
    now_us = _us(now)
    lowest = _earliest_poll_us(now_us, _horizon_ticks(horizon))
    parts = [
        str(root / part["path"]) for part in manifest["parts"] if part["min_us"] <= now_us and part["max_us"] >= lowest
    ]

    def files(paths: list[str]) -> str:
        return "[" + ", ".join("'" + path.replace("'", "''") + "'" for path in paths) + "]"

    if parts:
        con.execute(
            f"""
            CREATE OR REPLACE TABLE polls AS
            SELECT store_id, epoch_us(timestamp_utc) AS t, status = 'active' AS active
            FROM read_parquet({files(parts)}, hive_partitioning = false)
            WHERE timestamp_utc BETWEEN make_timestamp($lowest::BIGINT) AND make_timestamp($highest::BIGINT)
            """,
            {"lowest": max(lowest, -62_135_596_800_000_000), "highest": now_us},
        )
    else:
        con.execute("CREATE OR REPLACE TABLE polls (store_id VARCHAR, t BIGINT, active BOOLEAN)")
    inline = [(store_id, t, status == "active") for store_id, t, status in manifest["inline"] if lowest <= t <= now_us]
    if inline:
        con.executemany("INSERT INTO polls VALUES (?, ?, ?)", inline)
    tables = {name: manifest.get(name) for name in ("hours", "timezones", "poll_stores")}
    if tables["hours"]:
        con.execute(
            f"""CREATE OR REPLACE TABLE hours AS
            SELECT store_id, "dayOfWeek"::TINYINT AS dow, epoch_us(start_time_local::TIME) AS open_us,
                   epoch_us(end_time_local::TIME) AS end_us
            FROM read_parquet({files([str(root / tables["hours"]["path"])])})"""
        )
    else:
        con.execute("CREATE OR REPLACE TABLE hours (store_id VARCHAR, dow TINYINT, open_us BIGINT, end_us BIGINT)")
    if tables["timezones"]:
        con.execute(
            "CREATE OR REPLACE TABLE timezones AS SELECT store_id, timezone_str AS zone "
            f"FROM read_parquet({files([str(root / tables['timezones']['path'])])})"
        )
        con.execute("DELETE FROM timezones WHERE zone NOT IN (SELECT name FROM pg_timezone_names())")
    else:
        con.execute("CREATE OR REPLACE TABLE timezones (store_id VARCHAR, zone VARCHAR)")
    if tables["poll_stores"]:
        source = files([str(root / piece["path"]) for piece in tables["poll_stores"]])
        con.execute(f"CREATE OR REPLACE TABLE extra_stores AS SELECT store_id FROM read_parquet({source})")
    else:
        con.execute("CREATE OR REPLACE TABLE extra_stores (store_id VARCHAR)")
    return now


def _store_state(root: Path) -> dict[str, Any]:
    """The committed state of a store of format 2: its latest checkpoint folded with the records after it.

    Only what :func:`load_store` needs: ``max_timestamp_us``, ``parts``,
    ``inline`` (``[store_id, µs, status]`` rows held in records), ``hours``,
    ``timezones`` and ``poll_stores`` (a list of pieces). A last record that
    is not whole JSON is a crashed writer's leftover, not committed.
    """
    descriptor = json.loads((root / "manifest.json").read_text())
    if descriptor.get("format") != 2:
        raise ValueError(f"{root}: a store of format {descriptor.get('format')!r}; this baseline reads format 2")

    def seqs(directory: Path) -> list[int]:
        names = [p.name[:-5] for p in directory.glob("*.json")] if directory.is_dir() else []
        return sorted(int(name) for name in names if name.isdigit())

    checkpoints = seqs(root / "checkpoints")
    state: dict[str, Any] = {
        "generation": 0, "max_timestamp_us": None, "parts": [], "inline": [],
        "hours": None, "timezones": None, "poll_stores": [],
    }  # fmt: skip
    if checkpoints:
        state.update(json.loads((root / "checkpoints" / f"{checkpoints[-1]:020d}.json").read_text()))
    seq = state["generation"] + 1
    while (path := root / "log" / f"{seq:020d}.json").exists():
        try:
            record = json.loads(path.read_text())
        except ValueError:
            break
        removed = set(record["remove"])
        state["parts"] = [p for p in state["parts"] if p["path"] not in removed] + record["parts"]
        state["poll_stores"] = [t for t in state["poll_stores"] if t["path"] not in removed] + record["poll_stores"]
        state["inline"] = state["inline"] + record.get("polls", [])
        highs = [part["max_us"] for part in record["parts"]] + [row[1] for row in record.get("polls", [])]
        if state["max_timestamp_us"] is not None:
            highs.append(state["max_timestamp_us"])
        state["max_timestamp_us"] = max(highs) if highs else None
        for name in ("hours", "timezones"):
            state[name] = record[name] or state[name]
        seq += 1
    return state


def _row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = ("polls", "hours", "timezones")
    return {name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in tables}


# --- the report query ---------------------------------------------------------------------

#: Wall time → UTC µs with fold=0, for every distinct (zone, wall) of the CTE ``walls``.
_FOLD0 = """
icu AS (
    SELECT zone, wall, epoch_us(timezone(zone, make_timestamp(wall))) AS later FROM walls
),
candidates AS (
    -- the first occurrence, read with the offset in force one day before
    SELECT zone, wall, later,
           wall - (epoch_us(timezone(zone, make_timestamp(later - 86400000000)::TIMESTAMPTZ))
                   - (later - 86400000000)) AS earlier
    FROM icu
),
utc AS (
    SELECT zone, wall,
           CASE WHEN earlier < later
                     AND epoch_us(timezone(zone, make_timestamp(earlier)::TIMESTAMPTZ)) = wall
                THEN earlier ELSE later END AS utc_us
    FROM candidates
)"""

_REPORT_SQL = f"""
WITH
stores AS (
    SELECT store_id FROM polls UNION SELECT store_id FROM hours
    UNION SELECT store_id FROM timezones UNION SELECT store_id FROM extra_stores
),
store_zone AS (
    SELECT s.store_id, coalesce(z.zone, $default_zone) AS zone
    FROM stores s
    LEFT JOIN (SELECT store_id, arg_min(zone, rowid) AS zone FROM timezones GROUP BY store_id) z USING (store_id)
),
-- business hours: 23:59 rule, overnight, end = start means 24 h
weekly AS (
    SELECT h.store_id, z.zone, h.dow, h.open_us,
           CASE WHEN h.e > h.open_us THEN h.e ELSE h.e + 86400000000 END AS close_us
    FROM (SELECT *, CASE WHEN end_us >= 86340000000 THEN 86400000000 ELSE end_us END AS e FROM hours) h
    JOIN store_zone z USING (store_id)
),
dates AS (
    SELECT (isodow(d) - 1)::TINYINT AS dow, epoch_us(d) AS midnight
    FROM unnest(generate_series($first_date::TIMESTAMP, $last_date::TIMESTAMP, INTERVAL 1 DAY)) AS r(d)
),
local_iv AS (
    SELECT w.store_id, w.zone, d.midnight + w.open_us AS wall_start, d.midnight + w.close_us AS wall_end
    FROM weekly w JOIN dates d USING (dow)
),
walls AS (
    SELECT DISTINCT zone, wall_start AS wall FROM local_iv UNION SELECT DISTINCT zone, wall_end FROM local_iv
),
{_FOLD0},
-- one join per end (materialized: planned together, the two joins went through a zone-only join)
starts AS MATERIALIZED (
    SELECT l.store_id, l.zone, l.wall_end, u.utc_us AS utc_start
    FROM local_iv l JOIN utc u ON u.zone = l.zone AND u.wall = l.wall_start
),
-- DISTINCT: duplicated rows would tie in ORDER BY s, e, and the two windows below could order ties differently
business AS (
    SELECT DISTINCT store_id, s, e FROM (
        SELECT b.store_id,
               greatest(least(2 * b.utc_start, $now_t), $lo) AS s,
               greatest(least(2 * u.utc_us, $now_t), $lo) AS e
        FROM starts b JOIN utc u ON u.zone = b.zone AND u.wall = b.wall_end
        UNION ALL
        SELECT store_id, $lo, $now_t FROM stores ANTI JOIN (SELECT DISTINCT store_id FROM hours) USING (store_id)
    ) WHERE e > s
),
-- union of overlapping business intervals (gaps and islands)
business_marked AS (
    SELECT *, max(e) OVER (PARTITION BY store_id ORDER BY s, e ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
              AS reach
    FROM business
),
business_runs AS (
    SELECT *, sum(CASE WHEN reach IS NULL OR s > reach THEN 1 ELSE 0 END)
              OVER (PARTITION BY store_id ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS run
    FROM business_marked
),
open_time AS (SELECT store_id, min(s) AS s, max(e) AS e FROM business_runs GROUP BY store_id, run),
-- status: one poll per store and instant (inactive wins), held to the midpoints, capped by the horizon;
-- stores get integer codes first, so the windows below partition on an integer, not a string
codes AS MATERIALIZED (SELECT store_id, row_number() OVER () AS code FROM (SELECT DISTINCT store_id FROM polls)),
instants AS (
    SELECT c.code, p.t, bool_and(p.active) AS active
    FROM polls p JOIN codes c USING (store_id) WHERE p.t BETWEEN $poll_lo AND $now_us GROUP BY c.code, p.t
),
held AS (
    SELECT code, active,
           CASE WHEN lag(t) OVER w IS NULL THEN 2 * t - $horizon
                ELSE greatest(2 * t - $horizon, lag(t) OVER w + t) END AS s,
           CASE WHEN lead(t) OVER w IS NULL THEN 2 * t + $horizon
                ELSE least(2 * t + $horizon, t + lead(t) OVER w) END AS e
    FROM instants WINDOW w AS (PARTITION BY code ORDER BY t)
),
active_iv AS (
    SELECT * FROM (
        SELECT code, greatest(least(s, $now_t), $lo) AS s, greatest(least(e, $now_t), $lo) AS e
        FROM held WHERE active
    ) WHERE e > s
),
business_ticks AS (
    SELECT store_id,
           sum(greatest(0, e - greatest(s, $now_t - $hour)))::BIGINT AS b_hour,
           sum(greatest(0, e - greatest(s, $now_t - $day)))::BIGINT AS b_day,
           sum(greatest(0, e - greatest(s, $now_t - $week)))::BIGINT AS b_week
    FROM open_time GROUP BY store_id
),
-- interval join: business ∩ active
up_ticks AS (
    SELECT o.store_id,
           sum(greatest(0, least(o.e, a.e) - greatest(o.s, a.s, $now_t - $hour)))::BIGINT AS u_hour,
           sum(greatest(0, least(o.e, a.e) - greatest(o.s, a.s, $now_t - $day)))::BIGINT AS u_day,
           sum(greatest(0, least(o.e, a.e) - greatest(o.s, a.s, $now_t - $week)))::BIGINT AS u_week
    FROM open_time o
    JOIN (SELECT c.store_id, a.s, a.e FROM active_iv a JOIN codes c USING (code)) a
      ON a.store_id = o.store_id AND a.s < o.e AND o.s < a.e
    GROUP BY o.store_id
),
figures AS (
    SELECT s.store_id,
           coalesce(b_hour, 0) AS b_hour, coalesce(b_day, 0) AS b_day, coalesce(b_week, 0) AS b_week,
           coalesce(u_hour, 0) AS u_hour, coalesce(u_day, 0) AS u_day, coalesce(u_week, 0) AS u_week
    FROM stores s LEFT JOIN business_ticks USING (store_id) LEFT JOIN up_ticks USING (store_id)
)
SELECT store_id,
       u_hour::DOUBLE / {_TICKS_PER_MINUTE} AS uptime_last_hour,
       u_day::DOUBLE / {_TICKS_PER_HOUR} AS uptime_last_day,
       u_week::DOUBLE / {_TICKS_PER_HOUR} AS uptime_last_week,
       (b_hour - u_hour)::DOUBLE / {_TICKS_PER_MINUTE} AS downtime_last_hour,
       (b_day - u_day)::DOUBLE / {_TICKS_PER_HOUR} AS downtime_last_day,
       (b_week - u_week)::DOUBLE / {_TICKS_PER_HOUR} AS downtime_last_week
FROM figures
ORDER BY store_id
"""


def _us(moment: datetime) -> int:
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return (aware - _EPOCH) // _US


def _horizon_ticks(horizon: timedelta | None) -> int:
    if horizon is None:
        return _INFINITE_HORIZON_TICKS
    if horizon < timedelta(0):
        raise ValueError(f"horizon must not be negative (got {horizon})")
    return min((horizon // _US) * _TICKS_PER_US, _INFINITE_HORIZON_TICKS)


def _earliest_poll_us(now_us: int, horizon_ticks: int) -> int:
    """The earliest poll that can reach the week: ``now − 7 d − horizon`` (µs, floor)."""
    return (now_us * _TICKS_PER_US - _WINDOW_TICKS["week"] - horizon_ticks) // _TICKS_PER_US


def _tick_date(ticks: int) -> date:
    return date(1970, 1, 1) + timedelta(microseconds=ticks // _TICKS_PER_US)


def report_parameters(
    con: duckdb.DuckDBPyConnection,
    now: datetime | None,
    horizon: timedelta | None,
    default_timezone: str,
) -> dict[str, Any]:
    """The query's parameters; ``now`` defaults to the latest poll in the ``polls`` table."""
    if now is None:
        latest = con.execute("SELECT max(t) FROM polls").fetchall()[0][0]
        if latest is None:
            raise ValueError("no polls to take 'now' from: pass now explicitly")
        now_us = latest
    else:
        now_us = _us(now)
    known = con.execute("SELECT count(*) FROM pg_timezone_names() WHERE name = ?", [default_timezone]).fetchall()[0][0]
    if not known:
        raise ValueError(f"unknown default time zone {default_timezone!r}")
    horizon_ticks = _horizon_ticks(horizon)
    now_t = now_us * _TICKS_PER_US
    lo = now_t - _WINDOW_TICKS["week"]
    # Local dates whose hours could touch the week: offsets are within ±14 h, an interval ends ≤ 48 h after midnight.
    return {
        "now_t": now_t,
        "now_us": now_us,
        "lo": lo,
        "poll_lo": _earliest_poll_us(now_us, horizon_ticks),
        "horizon": horizon_ticks,
        "hour": _WINDOW_TICKS["hour"],
        "day": _WINDOW_TICKS["day"],
        "week": _WINDOW_TICKS["week"],
        "default_zone": default_timezone,
        "first_date": (_tick_date(lo) - timedelta(days=3)).isoformat(),
        "last_date": (_tick_date(now_t) + timedelta(days=1)).isoformat(),
    }


def compute_relation(
    con: duckdb.DuckDBPyConnection,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> duckdb.DuckDBPyRelation:
    """The report query over the loaded tables, as a DuckDB relation (not yet fetched)."""
    return con.sql(_REPORT_SQL, params=report_parameters(con, now, horizon, default_timezone))


def compute(
    con: duckdb.DuckDBPyConnection,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """The report over the tables :func:`load_files` or :func:`load_store` made, as a Polars frame.

    Same columns and units as ``storemon.compute_report``: ``store_id`` then the
    six figures, minutes for ``_hour`` and hours otherwise, sorted by store id.
    """
    return pl.DataFrame(compute_relation(con, now, horizon, default_timezone))


def duckdb_report(
    polls_path: str | Path,
    hours_path: str | Path,
    tz_path: str | Path,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """``storemon.compute_report`` of the three files (CSV or Parquet), computed by DuckDB."""
    con = connect()
    try:
        load_files(con, polls_path, hours_path, tz_path)
        return compute(con, now, horizon, default_timezone)
    finally:
        con.close()


def duckdb_report_from_store(
    store: str | Path,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """``storemon.report_from_store``, with DuckDB reading the store's Parquet files directly."""
    con = connect()
    try:
        now = load_store(con, store, now, horizon)
        return compute(con, now, horizon, default_timezone)
    finally:
        con.close()


def local_to_utc_us(zone_walls: list[tuple[str, int]]) -> list[int]:
    """UTC µs of each (zone, wall-clock µs) by the query's fold=0 conversion (for the tests)."""
    con = connect()
    try:
        query = f"""
            WITH input AS (
                SELECT unnest(range(len($zones))) AS i, unnest($zones) AS zone, unnest($walls)::BIGINT AS wall
            ),
            walls AS (SELECT DISTINCT zone, wall FROM input),
            {_FOLD0.strip()}
            SELECT utc_us FROM input JOIN utc USING (zone, wall) ORDER BY i"""
        params = {"zones": [zone for zone, _ in zone_walls], "walls": [wall for _, wall in zone_walls]}
        return [row[0] for row in con.execute(query, params).fetchall()]
    finally:
        con.close()


# --- command line --------------------------------------------------------------------------


def find_inputs(directory: Path) -> dict[str, Path]:
    """The three input files of a data directory: ``<stem>.parquet`` if present, else ``<stem>.csv``."""
    found = {}
    for role, stem in FILE_STEMS.items():
        candidates = [directory / f"{stem}.{ext}" for ext in ("parquet", "csv")]
        existing = [path for path in candidates if path.is_file()]
        if not existing:
            raise FileNotFoundError(f"{directory}: no {stem}.csv or {stem}.parquet")
        found[role] = existing[0]
    return found


def write_report_csv(relation: duckdb.DuckDBPyRelation, output: Path) -> None:
    """The report as CSV with figures rounded to two decimals (as storemon's CSV), written by DuckDB."""
    rounded = ", ".join(f"round({name}, 2) AS {name}" for name in REPORT_COLUMNS)
    partial = output.with_name(f".{output.name}.tmp")
    relation.query("report", f"SELECT store_id, {rounded} FROM report").write_csv(str(partial), header=True)
    partial.replace(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="duckdb_report.py", description="storemon's report, computed by DuckDB.")
    parser.add_argument("data_dir", nargs="?", type=Path, help="directory with the three input files")
    parser.add_argument("--store", type=Path, help="a storemon data store instead of input files")
    parser.add_argument("-o", "--output", type=Path, default=Path("report.csv"), help="CSV to write")
    parser.add_argument("--now", type=datetime.fromisoformat, help="report instant, ISO 8601 (default: latest poll)")
    parser.add_argument("--horizon-hours", type=float, default=DEFAULT_HORIZON / timedelta(hours=1))
    parser.add_argument("--default-timezone", default=DEFAULT_TIMEZONE)
    args = parser.parse_args(argv)
    if (args.data_dir is None) == (args.store is None):
        parser.error("give either DATA_DIR or --store")
    horizon = timedelta(hours=args.horizon_hours)
    con = connect()
    now = args.now
    if args.store is not None:
        now = load_store(con, args.store, now, horizon)
    else:
        inputs = find_inputs(args.data_dir)
        load_files(con, inputs["polls"], inputs["hours"], inputs["timezones"])
    write_report_csv(compute_relation(con, now, horizon, args.default_timezone), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
