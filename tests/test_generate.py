"""The synthetic data generator: layout, determinism, and the quirks of the real data."""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon._generate import DEFAULT_END, FILE_NAMES, MIN_STORES_FOR_ALL_QUIRKS, generate_dataset
from storemon.exceptions import ConfigError
from storemon.schema import is_known_zone

STORES = 60
DAYS = 4.0
SEED = 11

TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{0,5}[1-9])? UTC$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
INT_ID_RE = re.compile(r"^[1-9]\d{17,18}$")

HEADERS = {
    "2024": (
        "store_id,timestamp_utc,status",
        "store_id,dayOfWeek,start_time_local,end_time_local",
        "store_id,timezone_str",
    ),
    "2023": (
        "store_id,status,timestamp_utc",
        "store_id,day,start_time_local,end_time_local",
        "store_id,timezone_str",
    ),
}


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def _parsed_polls(polls: pl.DataFrame) -> pl.DataFrame:
    return polls.with_columns(
        ts=pl.col("timestamp_utc").str.strip_suffix(" UTC").str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us")
    )


def _seconds(column: str) -> pl.Expr:
    parts = pl.col(column).str.split(":")
    return (
        parts.list.get(0).cast(pl.Int32) * 3600
        + parts.list.get(1).cast(pl.Int32) * 60
        + parts.list.get(2).cast(pl.Int32)
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    """A small 2024-format set, its return value and the three files read as strings."""
    out = tmp_path_factory.mktemp("gen")
    files = generate_dataset(out, stores=STORES, days=DAYS, seed=SEED)
    return files, _read(files.polls), _read(files.hours), _read(files.timezones)


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("fmt", ["2024", "2023"])
def test_file_names_and_headers(tmp_path: Path, fmt: str) -> None:
    files = generate_dataset(tmp_path, stores=25, days=1, seed=1, fmt=fmt)
    assert [files.polls.name, files.hours.name, files.timezones.name] == list(FILE_NAMES[fmt])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILE_NAMES[fmt])
    for path, header in zip((files.polls, files.hours, files.timezones), HEADERS[fmt], strict=True):
        assert path.read_text().split("\n", 1)[0] == header


def test_formats_hold_the_same_data(tmp_path: Path) -> None:
    new = generate_dataset(tmp_path / "new", stores=25, days=1, seed=4, fmt="2024")
    old = generate_dataset(tmp_path / "old", stores=25, days=1, seed=4, fmt="2023")
    assert _read(old.polls).select(_read(new.polls).columns).equals(_read(new.polls))
    assert _read(old.hours).rename({"day": "dayOfWeek"}).equals(_read(new.hours))
    assert _read(old.timezones).equals(_read(new.timezones))


def test_row_counts_match_files(dataset) -> None:
    files, polls, hours, zones = dataset
    assert (files.polls_rows, files.hours_rows, files.timezones_rows) == (polls.height, hours.height, zones.height)
    assert files.polls.read_text().count("\n") == polls.height + 1
    assert str(files.polls.parent) in str(files) and f"({files.polls_rows} rows)" in str(files)


def test_files_are_readable_by_others(dataset) -> None:
    files, *_ = dataset
    for path in (files.polls, files.hours, files.timezones):
        assert path.stat().st_mode & 0o044 == 0o044


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", stores=40, days=2, seed=7)
    b = generate_dataset(tmp_path / "b", stores=40, days=2, seed=7)
    for left, right in ((a.polls, b.polls), (a.hours, b.hours), (a.timezones, b.timezones)):
        assert left.read_bytes() == right.read_bytes()


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", stores=40, days=2, seed=7)
    b = generate_dataset(tmp_path / "b", stores=40, days=2, seed=8)
    for left, right in ((a.polls, b.polls), (a.hours, b.hours), (a.timezones, b.timezones)):
        assert left.read_bytes() != right.read_bytes()


def test_naive_end_is_utc(tmp_path: Path) -> None:
    aware = generate_dataset(tmp_path / "a", stores=22, days=1, seed=3, end=datetime(2024, 3, 10, 8, tzinfo=UTC))
    naive = generate_dataset(tmp_path / "n", stores=22, days=1, seed=3, end=datetime(2024, 3, 10, 8))
    assert aware.polls.read_bytes() == naive.polls.read_bytes()


# --------------------------------------------------------------------------- polls


def test_timestamps_look_like_the_real_files(dataset) -> None:
    _, polls, _, _ = dataset
    stamps = polls["timestamp_utc"]
    assert stamps.str.contains(TIMESTAMP_RE.pattern).all()
    fraction = stamps.str.extract(r"\.(\d+) UTC$").str.len_chars()
    assert (fraction == 6).any()  # full microseconds
    assert (fraction < 6).any()  # trailing zeros trimmed, e.g. ….866 UTC
    assert fraction.is_null().any()  # whole seconds: no fraction at all


def test_polls_cover_the_period_before_end(tmp_path: Path) -> None:
    end = datetime(2024, 3, 10, 8, 30, tzinfo=UTC)
    files = generate_dataset(tmp_path, stores=30, days=2.5, seed=5, end=end)
    ts = _parsed_polls(_read(files.polls))["ts"].dt.replace_time_zone("UTC")
    assert ts.min() >= end - timedelta(days=2.5)
    assert ts.max() < end
    assert ts.max() > end - timedelta(hours=1)


def test_default_end(dataset) -> None:
    _, polls, _, _ = dataset
    ts = _parsed_polls(polls)["ts"].dt.replace_time_zone("UTC")
    assert DEFAULT_END - timedelta(hours=1) < ts.max() < DEFAULT_END
    assert ts.min() >= DEFAULT_END - timedelta(days=DAYS)


def test_about_two_polls_per_store_hour_off_grid(dataset) -> None:
    _, polls, _, _ = dataset
    per_store = (
        _parsed_polls(polls)
        .unique(["store_id", "ts"])
        .sort("store_id", "ts")
        .group_by("store_id")
        .agg(
            n=pl.len(),
            last=pl.col("ts").max(),
            gap_minutes=pl.col("ts").diff().dt.total_microseconds().median() / 60e6,
            gap_spread=pl.col("ts").diff().dt.total_microseconds().std() / 60e6,
        )
    )
    live = per_store.filter(pl.col("last") > pl.lit(DEFAULT_END.replace(tzinfo=None)) - pl.duration(hours=2))
    assert live.height > 0.9 * per_store.height
    rate = live["n"] / (DAYS * 24)
    assert 1.7 < rate.mean() < 2.2
    assert rate.min() > 1.4 and rate.max() < 2.4
    assert live["gap_minutes"].is_between(24, 36).all()
    assert (live["gap_spread"] > 3).all()  # jittered, not a fixed grid


def test_statuses_mostly_active_with_outages(dataset) -> None:
    _, polls, _, _ = dataset
    assert set(polls["status"].unique()) == {"active", "inactive"}
    inactive_share = (polls["status"] == "inactive").mean()
    assert 0.01 < inactive_share < 0.25
    runs = (
        _parsed_polls(polls)
        .sort("store_id", "ts")
        .with_columns(run=pl.col("status").rle_id().over("store_id"))
        .group_by("store_id", "run", "status")
        .len()
    )
    assert runs.filter(pl.col("status") == "inactive")["len"].max() >= 3


def test_row_order_is_shuffled_somewhat(dataset) -> None:
    _, polls, _, _ = dataset
    ts = _parsed_polls(polls)["ts"]
    assert not ts.is_sorted()
    assert not polls["store_id"].is_sorted()
    # … but only somewhat: the first tenth of the file is from the first half of the period.
    assert ts.head(polls.height // 10).max() < ts.min() + timedelta(days=DAYS / 2)


def test_some_store_goes_stale(dataset) -> None:
    _, polls, _, _ = dataset
    last = _parsed_polls(polls).group_by("store_id").agg(last=pl.col("ts").max())["last"]
    assert (last < DEFAULT_END.replace(tzinfo=None) - timedelta(days=1)).any()


def test_exact_and_conflicting_duplicates(dataset) -> None:
    _, polls, _, _ = dataset
    exact = polls.height - polls.unique().height
    conflicting = polls.unique().height - polls.unique(["store_id", "timestamp_utc"]).height
    assert 1 <= exact <= polls.height // 100
    assert 1 <= conflicting <= polls.height // 100


# --------------------------------------------------------------------------- stores, hours, zones


def test_store_ids_mix_uuids_and_big_integers(dataset) -> None:
    _, polls, hours, zones = dataset
    ids = pl.concat([polls["store_id"], hours["store_id"], zones["store_id"]]).unique()
    assert ids.len() == STORES
    is_uuid = ids.str.contains(UUID_RE.pattern)
    is_int = ids.str.contains(INT_ID_RE.pattern)
    assert (is_uuid | is_int).all()
    assert is_uuid.sum() >= 10 and is_int.sum() >= 10
    assert all(int(i) < 2**63 for i in ids.filter(is_int))


def test_every_store_occurs_even_when_tiny(tmp_path: Path) -> None:
    for seed in range(8):
        files = generate_dataset(tmp_path / str(seed), stores=3, days=0.001, seed=seed)
        ids = pl.concat([_read(p)["store_id"] for p in (files.polls, files.hours, files.timezones)]).unique()
        assert ids.len() == 3


def test_stores_missing_from_some_files(dataset) -> None:
    _, polls, hours, zones = dataset
    with_polls, with_hours, with_zone = (set(f["store_id"]) for f in (polls, hours, zones))
    assert with_polls - with_hours, "a store without business hours (open 24/7)"
    assert with_polls - with_zone, "a store without a time-zone row"
    assert (with_hours | with_zone) - with_polls, "a store with no polls at all"


def test_time_zones_are_known_and_varied(dataset) -> None:
    _, _, _, zones = dataset
    assert zones["store_id"].is_unique().all()
    assert all(is_known_zone(name) for name in zones["timezone_str"].unique())
    assert zones["timezone_str"].n_unique() >= 4


def test_hours_values_are_well_formed(dataset) -> None:
    _, _, hours, _ = dataset
    assert set(hours["dayOfWeek"].unique()) <= {str(d) for d in range(7)}
    for column in ("start_time_local", "end_time_local"):
        assert hours[column].str.contains(TIME_RE.pattern).all()


def test_hours_quirks_present(dataset) -> None:
    _, _, hours, _ = dataset
    rows = hours.with_columns(
        day=pl.col("dayOfWeek").cast(pl.Int8), start=_seconds("start_time_local"), end=_seconds("end_time_local")
    )
    ends = set(rows["end_time_local"])
    assert {"23:59:59", "23:59:00"} <= ends
    assert rows.filter((pl.col("end") < pl.col("start")) & (pl.col("end") > 0)).height > 0, "single-row overnight"
    assert rows.filter(pl.col("end") == pl.col("start")).height > 0, "end == start (24 h)"
    assert rows.filter((pl.col("end") > pl.col("start")) & (pl.col("end") - pl.col("start") <= 600)).height > 0

    # Overnight split in two rows: …,d,x,23:59:59 then …,d+1,00:00:00,y for the same store.
    late = rows.filter(pl.col("end_time_local") == "23:59:59").select("store_id", day=(pl.col("day") + 1) % 7)
    early = rows.filter((pl.col("start") == 0) & (pl.col("end") > 0) & (pl.col("end") < 6 * 3600))
    assert late.join(early, on=["store_id", "day"]).height > 0

    same_day = rows.join(rows, on=["store_id", "day"], suffix="_b").filter(pl.col("start") < pl.col("start_b"))
    assert same_day.filter(pl.col("end") < pl.col("start_b")).height > 0, "split shift"
    assert same_day.filter((pl.col("end") > pl.col("start_b")) & (pl.col("end") > pl.col("start"))).height > 0, (
        "overlap"
    )


def test_quirks_threshold_is_honest() -> None:
    assert MIN_STORES_FOR_ALL_QUIRKS <= STORES


# --------------------------------------------------------------------------- errors and writing


@pytest.mark.parametrize(
    "kwargs",
    [
        {"stores": 0},
        {"stores": 2.5},
        {"days": 0},
        {"days": -1},
        {"seed": -1},
        {"fmt": "2022"},
        {"stores": 1_000_000, "days": 365},
        {"end": "2024-10-14"},
    ],
)
def test_bad_arguments_raise_config_error(tmp_path: Path, kwargs: dict) -> None:
    args = {"stores": 5, "days": 1.0, "seed": 0} | kwargs
    with pytest.raises(ConfigError):
        generate_dataset(tmp_path, **args)
    assert list(tmp_path.iterdir()) == []


def test_overwrites_existing_files_and_leaves_no_temp_files(tmp_path: Path) -> None:
    generate_dataset(tmp_path, stores=25, days=1, seed=1)
    files = generate_dataset(tmp_path, stores=25, days=1, seed=2)
    fresh = generate_dataset(tmp_path / "fresh", stores=25, days=1, seed=2)
    assert files.polls.read_bytes() == fresh.polls.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(FILE_NAMES["2024"])


def test_unwritable_target_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "menu_hours.csv").mkdir()
    with pytest.raises(ConfigError, match="cannot write"):
        generate_dataset(tmp_path, stores=25, days=1, seed=1)
    assert not (tmp_path / "store_status.csv").exists()


def test_unwritable_target_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "menu_hours.csv").mkdir()
    with pytest.raises(ConfigError):
        generate_dataset(tmp_path, stores=25, days=1, seed=1)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# --------------------------------------------------------------------------- loading and the sample


@pytest.mark.parametrize("fmt", ["2024", "2023"])
def test_loads_without_rejects(tmp_path: Path, fmt: str) -> None:
    from storemon._load import load_dir

    files = generate_dataset(tmp_path, stores=STORES, days=2, seed=9, fmt=fmt)
    inputs = load_dir(tmp_path)
    assert inputs.rejects.height == 0, inputs.rejects.head(5)
    assert (inputs.polls.height, inputs.hours.height, inputs.timezones.height) == (
        files.polls_rows,
        files.hours_rows,
        files.timezones_rows,
    )


@settings(max_examples=15)
@given(
    stores=st.integers(1, 30),
    days=st.floats(0.001, 3.0),
    seed=st.integers(0, 2**32),
    fmt=st.sampled_from(["2024", "2023"]),
)
def test_any_small_set_is_valid(tmp_path_factory: pytest.TempPathFactory, stores, days, seed, fmt) -> None:
    from storemon._load import load_dir

    out = tmp_path_factory.mktemp("any")
    generate_dataset(out, stores=stores, days=days, seed=seed, fmt=fmt)
    inputs = load_dir(out)
    assert inputs.rejects.height == 0
    ids = pl.concat([inputs.polls["store_id"], inputs.hours["store_id"], inputs.timezones["store_id"]])
    assert ids.n_unique() == stores


SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


def test_committed_sample_is_regenerated_by_its_readme_command(tmp_path: Path) -> None:
    readme = (SAMPLE / "README.md").read_text()
    match = re.search(r"storemon generate (\S+) (.*)$", readme, re.MULTILINE)
    assert match, "README.md must show the storemon generate command"
    args = shlex.split(match.group(2).strip().strip("`"))
    options = dict(zip(args[::2], args[1::2], strict=True))
    files = generate_dataset(
        tmp_path,
        stores=int(options["--stores"]),
        days=float(options["--days"]),
        seed=int(options["--seed"]),
        fmt=options.get("--format", "2024"),
    )
    for path in (files.polls, files.hours, files.timezones):
        assert path.read_bytes() == (SAMPLE / path.name).read_bytes(), path.name
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) <= 2 * 1024 * 1024
