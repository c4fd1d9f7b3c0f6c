"""The DuckDB baseline computes the same report as storemon (runs in ``make test``).

On generated data sets (including the DST weeks of 2024) the report of
:mod:`duckdb_report` must equal ``storemon.compute_report``'s: same stores in
the same order, same dtypes, and every figure within 1e-9. The only
difference allowed is the last rounding of the final division: DuckDB
divides the tick count by the unit (correctly rounded), Polars multiplies by
the unit's reciprocal, which can be one ulp off. So the test also checks that
both figures come from the *same integer tick count*.

duckdb is in the ``test`` extra: without it this module fails to import,
which fails the run (nothing is skipped).
"""

from __future__ import annotations

import sys
import zoneinfo
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb_report  # noqa: E402
from sizes import write_parquet_copies  # noqa: E402
from storemon import compute_report, load_dir  # noqa: E402
from storemon._generate import _ZONES, generate_dataset  # noqa: E402
from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE  # noqa: E402
from storemon.store import append_polls, ingest_paths, report_from_store  # noqa: E402
from storemon.store._manifest import load_state  # noqa: E402

STORES = 60
DAYS = 10
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKS_PER_MINUTE = 120_000_000
_TICKS_PER_HOUR = 60 * _TICKS_PER_MINUTE


def assert_same_report(expected: pl.DataFrame, actual: pl.DataFrame) -> None:
    """Same stores, order, columns and dtypes; each figure within 1e-9 and from the same tick count."""
    assert actual.schema == expected.schema
    assert actual["store_id"].to_list() == expected["store_id"].to_list()
    for column in expected.columns[1:]:
        worst = (expected[column] - actual[column]).abs().max()
        assert worst is not None and worst <= 1e-9, (column, worst)
        unit = _TICKS_PER_MINUTE if column.endswith("_hour") else _TICKS_PER_HOUR
        ticks = [(frame[column] * unit).round().cast(pl.Int64) for frame in (expected, actual)]
        assert ticks[0].equals(ticks[1]), column


def _generate(directory: Path, seed: int, end: datetime) -> Path:
    generate_dataset(directory, stores=STORES, days=DAYS, seed=seed, end=end)
    return directory


def _files(directory: Path, suffix: str = "csv") -> tuple[Path, Path, Path]:
    return tuple(directory / f"{stem}.{suffix}" for stem in ("store_status", "menu_hours", "timezones"))


def _storemon(directory: Path, now: datetime | None = None, horizon: timedelta | None = DEFAULT_HORIZON):
    inputs = load_dir(directory)
    assert inputs.rows_rejected == 0  # generated data is valid, so both sides read every row
    return compute_report(inputs.polls, inputs.hours, inputs.timezones, now, horizon=horizon)


def test_defaults_are_storemons() -> None:
    assert duckdb_report.DEFAULT_HORIZON == DEFAULT_HORIZON
    assert duckdb_report.DEFAULT_TIMEZONE == DEFAULT_TIMEZONE


# The default end (mid-October), the US spring-forward week (10 March) and the
# fall-back week (3 November); Lord Howe and London change in early April and late October.
@pytest.mark.parametrize(
    ("seed", "end"),
    [
        (1, datetime(2024, 10, 14, 12, tzinfo=UTC)),
        (2, datetime(2024, 3, 12, 12, tzinfo=UTC)),
        (3, datetime(2024, 11, 5, 12, tzinfo=UTC)),
        (4, datetime(2024, 4, 9, 6, tzinfo=UTC)),
        (5, datetime(2024, 10, 29, 0, tzinfo=UTC)),
    ],
)
def test_agrees_with_compute_report_on_csv_files(tmp_path: Path, seed: int, end: datetime) -> None:
    data = _generate(tmp_path, seed, end)
    expected = _storemon(data)
    actual = duckdb_report.duckdb_report(*_files(data))
    assert_same_report(expected, actual)
    # Not a vacuous agreement: up and down time in every window, most stores up during the week.
    for window in ("hour", "day", "week"):
        assert (expected[f"uptime_last_{window}"] > 0).any() and (expected[f"downtime_last_{window}"] > 0).any()
    assert (expected["uptime_last_week"] > 0).sum() > STORES // 2


@pytest.mark.parametrize(
    ("now", "horizon"),
    [
        (datetime(2024, 3, 10, 9, 30, tzinfo=UTC), None),  # unlimited horizon, now in the middle of the polls
        (datetime(2024, 3, 11, 4, 0, tzinfo=UTC), timedelta(minutes=20)),  # short horizon: unknown time
        (datetime(2024, 3, 8, 0, 0), timedelta(0)),  # naive now (UTC), zero horizon: no known status at all
    ],
)
def test_agrees_for_other_now_and_horizon(tmp_path: Path, now: datetime, horizon: timedelta | None) -> None:
    data = _generate(tmp_path, 6, datetime(2024, 3, 12, 12, tzinfo=UTC))
    expected = _storemon(data, now, horizon)
    assert_same_report(expected, duckdb_report.duckdb_report(*_files(data), now=now, horizon=horizon))
    if horizon == timedelta(0):
        assert expected["uptime_last_week"].sum() == 0 and expected["downtime_last_week"].sum() > 0


def test_agrees_on_typed_parquet_copies(tmp_path: Path) -> None:
    data = _generate(tmp_path / "csv", 7, datetime(2024, 11, 5, 12, tzinfo=UTC))
    write_parquet_copies(data, tmp_path / "parquet")
    expected = _storemon(data)
    assert_same_report(expected, _storemon(tmp_path / "parquet"))  # the copies hold the same data
    assert_same_report(expected, duckdb_report.duckdb_report(*_files(tmp_path / "parquet", "parquet")))


def test_agrees_with_report_from_store(tmp_path: Path) -> None:
    data = _generate(tmp_path / "data", 8, datetime(2024, 11, 5, 12, tzinfo=UTC))
    store = tmp_path / "store"
    ingest_paths(store, [data])
    assert_same_report(report_from_store(store), duckdb_report.duckdb_report_from_store(store))
    # An earlier now: poll parts after it are pruned, yet their stores stay in the report.
    now = datetime(2024, 11, 2, 8, tzinfo=UTC)
    expected = report_from_store(store, now)
    assert expected.height == _storemon(data).height
    assert_same_report(expected, duckdb_report.duckdb_report_from_store(store, now))


def test_agrees_with_report_from_store_on_polls_held_in_commit_records(tmp_path: Path) -> None:
    """Small batches live in the commit records (store format 2) until a checkpoint writes them as parts."""
    data = _generate(tmp_path / "data", 8, datetime(2024, 11, 5, 12, tzinfo=UTC))
    store = tmp_path / "store"
    ingest_paths(store, [data])
    polls = load_dir(data).polls.sort("timestamp_utc").tail(40)  # the latest polls, again, one per batch
    for n in range(polls.height):
        append_polls(store, polls.slice(n, 1), source=f"again-{n}", sha256=f"again-{n}")
    state = load_state(store)
    assert state.inline and state.checkpoint  # polls in records and a checkpoint are both read
    assert_same_report(report_from_store(store), duckdb_report.duckdb_report_from_store(store))


def test_cli_writes_the_rounded_report(tmp_path: Path) -> None:
    data = _generate(tmp_path / "data", 9, datetime(2024, 10, 14, 12, tzinfo=UTC))
    out = tmp_path / "report.csv"
    assert duckdb_report.main([str(data), "-o", str(out)]) == 0
    written = pl.read_csv(out, schema_overrides={"store_id": pl.String})
    expected = _storemon(data)
    assert written["store_id"].to_list() == expected["store_id"].to_list()
    for column in expected.columns[1:]:
        assert (written[column] - expected[column]).abs().max() <= 0.005 + 1e-9


def _transition_walls(zone: str) -> list[datetime]:
    """Wall times every 10 minutes from 2 h before to 2 h after each offset change of 2023–2025."""
    tz = zoneinfo.ZoneInfo(zone)
    walls = []
    moment = datetime(2023, 1, 1, tzinfo=UTC)
    before = moment.astimezone(tz).utcoffset()
    while moment < datetime(2026, 1, 1, tzinfo=UTC):
        moment += timedelta(minutes=30)
        after = moment.astimezone(tz).utcoffset()
        if after != before:
            change = (moment + before).replace(tzinfo=None)  # the wall clock when it changes, old offset
            walls += [change + timedelta(minutes=m) for m in range(-120, 121, 10)]
            before = after
    return walls


def test_local_to_utc_is_zoneinfo_fold_0_around_every_transition() -> None:
    zones = [zone for zone, _ in _ZONES] + ["Europe/Berlin", "Pacific/Chatham", "America/Santiago"]
    pairs = [(zone, wall) for zone in zones for wall in _transition_walls(zone)]
    kinds = {"ambiguous": 0, "non-existent": 0}
    expected = []
    for zone, wall in pairs:
        first, second = (wall.replace(tzinfo=zoneinfo.ZoneInfo(zone), fold=fold).utcoffset() for fold in (0, 1))
        if first != second:
            kinds["ambiguous" if first > second else "non-existent"] += 1
        aware = wall.replace(tzinfo=zoneinfo.ZoneInfo(zone), fold=0)
        expected.append((aware - _EPOCH) // timedelta(microseconds=1))
    assert min(kinds.values()) > 100  # both kinds are exercised
    walls_us = [(zone, (wall.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)) for zone, wall in pairs]
    assert duckdb_report.local_to_utc_us(walls_us) == expected
