"""Sharded reads of the data store and snapshot pins (storemon issue 14).

* ``shard_of`` is a stable hash: known ids give known buckets, computed here by
  a plain-Python implementation of the documented hash (not by Polars).
* Concatenating the ``n`` shards' outputs of a store (report and every view,
  for n = 1..8) gives exactly the unsharded output — a Hypothesis property
  over random small stores with inline polls, bucketed parts and, in a
  separate case, parts of the layout before buckets.
* A shard reads only its stores' polls: with 4 shards each reads at most
  1.3 × a quarter of what the unsharded read of the same kind reads.
* A pinned snapshot gives the pinned figures after ingests, upkeep,
  compaction and garbage collection; unknown and expired tokens are errors.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import storemon
from store_helpers import data_files
from storemon._core.shards import BUCKETS, bucket_of, shard_buckets
from storemon._generate import generate_dataset
from storemon.exceptions import ConfigError, StoreError
from storemon.schema import POLLS_SCHEMA
from storemon.store import (
    append_polls,
    collect_garbage,
    compact,
    daily_from_store,
    incidents_from_store,
    ingest_paths,
    pin_snapshot,
    release_snapshot,
    replace_hours,
    replace_special_hours,
    replace_timezones,
    report_from_store,
    report_views_from_store,
    timeline_from_store,
)
from storemon.store._files import POLL_STORES_SCHEMA, open_store, write_parquet
from storemon.store._manifest import IngestEntry, PartEntry, Record, TableEntry, commit_lock, now_iso, write_record
from storemon.store._pins import PIN_GRACE, load_pin, pinned_files
from storemon.store._reads import shard_poll_bytes
from strategies import Case, cases, polls_frame

END = datetime(2024, 10, 14, 12, 0, tzinfo=UTC)


# --- the hash -------------------------------------------------------------------------------------

_M = 0xFFFF_FFFF


def _fmix(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EB_CA6B) & _M
    h ^= h >> 13
    h = (h * 0xC2B2_AE35) & _M
    return h ^ (h >> 16)


def python_bucket(store_id: str) -> int:
    """The documented hash (storemon._core.shards), byte by byte in plain Python."""
    data = store_id.encode("utf-8")
    total = 0
    for k in range(0, len(data), 4):
        chunk = int.from_bytes(data[k : k + 4], "big")  # the last chunk may be shorter
        total = (total + _fmix((chunk + (k // 4 + 1) * 0x9E37_79B9) & _M)) & _M
    return _fmix(total ^ len(data)) % BUCKETS


# Pinned by hand: these values must never change (a stored layout and every running
# fan-out depend on them). Each was computed with python_bucket above, e.g. for "a":
# one chunk 0x61, term fmix(0x61 + 0x9E3779B9) = fmix(0x9E377A1A), total ^ 1 byte,
# fmix of that, mod 4096 = 3272.
KNOWN_BUCKETS = {
    "a": 3272,
    "abc": 435,
    "abcd": 3642,
    "abcde": 3873,
    "héllo": 2986,
    "5d1b3f2e-0000-4000-8000-000000000001": 879,
    "x" * 256: 3638,
}


def test_shard_of_is_a_stable_documented_hash() -> None:
    ids = pl.Series("store_id", list(KNOWN_BUCKETS))
    buckets = pl.select(bucket_of(pl.lit(ids))).to_series().to_list()
    assert buckets == list(KNOWN_BUCKETS.values())
    assert buckets == [python_bucket(store_id) for store_id in KNOWN_BUCKETS]
    # shard = bucket · n // 4096: "a" (3272) is shard 3272 · 4 // 4096 = 3 of 4, 3272 · 7 // 4096 = 5 of 7.
    frame = pl.DataFrame({"store_id": ["a", "abc"]})
    assert frame.select(storemon.shard_of(pl.col("store_id"), 4)).to_series().to_list() == [3, 0]
    assert frame.select(storemon.shard_of(pl.col("store_id"), 7)).to_series().to_list() == [5, 0]
    assert frame.select(storemon.shard_of(pl.col("store_id"), 4)).to_series().dtype == pl.UInt32


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30), st.integers(1, BUCKETS))
def test_shard_of_agrees_with_the_plain_python_hash_and_its_bucket_range(ids: list[str], shards: int) -> None:
    frame = pl.DataFrame({"store_id": ids}, schema={"store_id": pl.String()})
    got = frame.select(
        bucket_of(pl.col("store_id")).alias("bucket"), storemon.shard_of(pl.col("store_id"), shards).alias("shard")
    )
    for store_id, bucket, shard in zip(ids, got["bucket"], got["shard"], strict=True):
        assert bucket == python_bucket(store_id)
        assert shard == bucket * shards // BUCKETS
        low, high = shard_buckets(shard, shards)
        assert low <= bucket < high


def test_shard_counts_are_checked() -> None:
    for bad in (0, BUCKETS + 1, -1, True, 2.0):
        with pytest.raises(ConfigError, match="number of shards"):
            storemon.shard_of(pl.col("store_id"), bad)  # type: ignore[arg-type]
    for shard in ((4, 4), (-1, 4), (0, 0), (1,), "0/4"):
        with pytest.raises(ConfigError, match="shard"):
            report_from_store("unused", shard=shard)  # type: ignore[arg-type]
    # every bucket is in exactly one shard, the shards in order
    for n in (1, 3, 7, 8, 4096):
        ranges = [shard_buckets(i, n) for i in range(n)]
        assert ranges[0][0] == 0 and ranges[-1][1] == BUCKETS
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))


# --- concatenated shards == unsharded ------------------------------------------------------------

VIEW_KEYS = {"report": ["store_id"], "timeline": ["store_id", "start"], "incidents": ["store_id", "start"]}
VIEW_KEYS["daily"] = ["store_id", "date"]


def concatenated(frames: list[pl.DataFrame], view: str) -> pl.DataFrame:
    """The shards' outputs in the unsharded order: by store, then the view's time key (stable)."""
    return pl.concat(frames).sort(VIEW_KEYS[view], maintain_order=True)


def build(root: Path, case: Case, *, split: bool) -> None:
    """A store holding ``case``: its polls inline (≤ 200 rows) and, once more, as bucketed parts.

    The second batch repeats the polls (duplicates change no figure,
    docs/rules.md invariant 5) so that both inline polls and parts are read.
    """
    polls, hours, tz = case.frames()
    if hours.height:
        replace_hours(root, hours, source="hours")
    if tz.height:
        replace_timezones(root, tz, source="tz")
    if case.special:  # rows with exactly one time are invalid: what validation would reject
        special = case.options()["special"]
        one_time = pl.col("start_time_local").is_null() != pl.col("end_time_local").is_null()
        replace_special_hours(root, special.filter(~one_time), source="special")
    if polls.height:
        append_polls(root, polls.head(200), source="inline")
        if split:
            append_polls(root, pl.concat([polls] * (201 // polls.height + 1)), source="parts")


def assert_same(parts: list[pl.DataFrame], want: pl.DataFrame, view: str) -> None:
    """The shards' outputs, concatenated in the unsharded order, equal ``want`` exactly (every bit).

    Also when a shard holds one store: figures are divided into minutes and
    hours correctly rounded (storemon._core.units), not by Polars' reciprocal,
    which gave a one-row frame other last bits than a longer one.
    """
    assert_frame_equal(concatenated(parts, view), want, check_exact=True)


def assert_shards_equal(root: Path, shards: int, now: datetime | None, options: dict[str, object]) -> None:
    whole = report_views_from_store(root, now, days=10, **options)
    parts = [report_views_from_store(root, now, days=10, shard=(i, shards), **options) for i in range(shards)]
    for view in VIEW_KEYS:
        assert_same([getattr(part, view) for part in parts], getattr(whole, view), view)
    single = {
        "report": report_from_store,
        "timeline": timeline_from_store,
        "incidents": incidents_from_store,
        "daily": daily_from_store,
    }
    for view, read in single.items():
        want = read(root, now, **options)  # type: ignore[operator]
        assert_same([read(root, now, shard=(i, shards), **options) for i in range(shards)], want, view)  # type: ignore[operator]


IDS = st.text(alphabet="abcxyz019-_Äé ", min_size=1, max_size=10).filter(lambda s: s[0] not in "-")


@st.composite
def stores(draw: st.DrawFn) -> Case:
    """A random small case (strategies.cases) whose store ids are renamed to drawn ids (so they spread over shards)."""
    case = draw(cases(max_stores=5, max_polls=12, max_hours=3))
    drawn = draw(st.lists(IDS, min_size=6, max_size=6, unique=True))
    names = dict(zip(["a", "b", "10", "9", "store-Ä", "special-only"], drawn, strict=True))
    return case.replace(
        polls=tuple((names[s], t, x) for s, t, x in case.polls),
        hours=tuple((names[s], *rest) for s, *rest in case.hours),
        tz=tuple((names[s], z) for s, z in case.tz),
        special=tuple((names[s], *rest) for s, *rest in case.special),
    )


@settings(max_examples=int(os.environ.get("STOREMON_SHARD_EXAMPLES", "25")))
@given(stores(), st.integers(1, 8), st.booleans(), st.booleans())
def test_concatenated_shards_equal_the_unsharded_output(case: Case, shards: int, split: bool, compacted: bool) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory) / "store"
        build(root, case, split=split)
        if not case.polls:
            return
        if compacted:
            compact(root)  # merges the bucketed parts per date, again bucketed
        options = {k: v for k, v in case.options().items() if k not in ("now", "special")}
        assert_shards_equal(root, shards, case.now, options)


def legacy_store(root: Path, polls: pl.DataFrame) -> None:
    """A store whose polls sit in parts of the layout before buckets (no bucket column, sorted by store, time).

    Written the way that layout was: Parquet parts and a poll-store piece,
    committed by one record whose entries have no ``buckets``.
    """
    open_store(root, create=True)
    parts = []
    dated = polls.with_columns(pl.col("timestamp_utc").dt.date().alias("_date"))
    for (day,), part in sorted(dated.partition_by("_date", as_dict=True).items()):
        part = part.drop("_date").sort("store_id", "timestamp_utc", "status")
        relative = f"polls/date={day}/part-legacy.parquet"
        write_parquet(root, relative, part)
        ts = part["timestamp_utc"].cast(pl.Int64)
        parts.append(PartEntry(relative, day.isoformat(), part.height, ts.min(), ts.max()))  # type: ignore[arg-type]
    ids = polls.select(pl.col("store_id").unique().sort())
    write_parquet(root, "tables/poll-stores-legacy.parquet", ids.cast(POLL_STORES_SCHEMA))
    entry = IngestEntry("legacy", "polls", "legacy", "0" * 64, polls.height, polls.height, 0, now_iso())
    record = Record(1, now_iso(), ingests=(entry,), parts=tuple(parts))
    record = Record(
        **{**record.__dict__, "poll_stores": (TableEntry("tables/poll-stores-legacy.parquet", ids.height),)}
    )
    with commit_lock(root):
        write_record(root, record)


def test_parts_without_buckets_are_read_and_merged_correctly(tmp_path: Path) -> None:
    files = generate_dataset(tmp_path / "data", stores=60, days=3, seed=5, end=END)
    polls = storemon.load_polls(files.polls).frame
    old, new = (
        polls.filter(pl.col("timestamp_utc") < END - timedelta(days=1)),
        polls.filter(pl.col("timestamp_utc") >= END - timedelta(days=1)),
    )
    root = tmp_path / "store"
    legacy_store(root, old)
    ingest_paths(root, [files.hours, files.timezones])
    append_polls(root, new, source="new")  # bucketed parts next to the legacy ones
    state = open_store(root).manifest()
    assert {part.buckets for part in state.parts} == {0, BUCKETS}
    inputs = storemon.load_dir(tmp_path / "data")
    want = storemon.compute_report(polls, inputs.hours, inputs.timezones, END)
    assert_frame_equal(report_from_store(root, END), want, check_exact=True)
    for shards in (1, 3, 8):
        assert_shards_equal(root, shards, END, {})
    compact(root)  # merges legacy and new parts of a date into bucketed parts
    assert {part.buckets for part in open_store(root).manifest().parts} == {BUCKETS}
    assert_frame_equal(report_from_store(root, END), want, check_exact=True)
    assert_shards_equal(root, 4, END, {})


# --- pushdown ---------------------------------------------------------------------------------------


def test_a_shard_reads_only_its_share_of_the_polls(tmp_path: Path) -> None:
    """Each of 4 shards reads ≤ 1.3 × a quarter of the poll bytes of the unsharded read.

    Both are measured the same way (/proc/self/io rchar around the polls'
    scan, Parquet footers included) and through the same reader: shard (0, 1)
    is the whole bucket range. 3,000 stores × 3 days ≈ 414,000 polls in 4 date
    parts of ~64 row groups each: a quarter of the buckets selects ~16 row
    groups per part, plus at most one partly at each end.
    """
    files = generate_dataset(tmp_path / "data", stores=3000, days=3, seed=2, end=END)
    root = tmp_path / "store"
    ingest_paths(root, [files.polls])
    whole = shard_poll_bytes(root, (0, 1))
    assert whole.rows > 400_000
    quarters = [shard_poll_bytes(root, (i, 4)) for i in range(4)]
    assert sum(q.rows for q in quarters) == whole.rows
    for quarter in quarters:
        assert quarter.bytes <= 1.3 * whole.bytes / 4, (quarter, whole)


def test_read_polls_and_tables_by_window_and_shard(tmp_path: Path) -> None:
    # read_polls(start=, end=) keeps start ≤ t ≤ end (both ends in); the shards of 3
    # partition every poll and table row by store, in the unsharded order.
    generate_dataset(tmp_path / "data", stores=60, days=4, seed=9, end=END)
    root = tmp_path / "store"
    ingest_paths(root, [tmp_path / "data"])
    every = storemon.read_polls(root)
    start, end = END - timedelta(days=2), END - timedelta(hours=5)
    ts = pl.col("timestamp_utc")
    window = storemon.read_polls(root, start=start, end=end)
    assert_frame_equal(window, every.filter((ts >= start) & (ts <= end)), check_exact=True)
    assert 0 < window.height < every.height
    edge = every["timestamp_utc"][every.height // 2]
    assert storemon.read_polls(root, start=edge, end=edge)["timestamp_utc"].to_list() == [
        t for t in every["timestamp_utc"].to_list() if t == edge
    ]
    parts = [storemon.read_polls(root, start=start, end=end, shard=(i, 3)) for i in range(3)]
    assert_frame_equal(pl.concat(parts).sort("store_id", "timestamp_utc", "status"), window, check_exact=True)
    for table in ("hours", "timezones"):
        whole, version = storemon.current_table(root, table)
        pieces = [storemon.current_table(root, table, shard=(i, 3)) for i in range(3)]
        assert {v for _, v in pieces} == {version}
        joined = pl.concat([frame for frame, _ in pieces]).sort("store_id", maintain_order=True)
        assert_frame_equal(joined, whole.sort("store_id", maintain_order=True), check_exact=True)


# --- snapshot pins ----------------------------------------------------------------------------------


def poll_frame(store_id: str, moment: datetime, status: str = "active") -> pl.DataFrame:
    return polls_frame([(store_id, moment, status)]).cast(POLLS_SCHEMA)


def test_a_pinned_snapshot_survives_ingest_upkeep_compaction_and_gc(tmp_path: Path) -> None:
    files = generate_dataset(tmp_path / "data", stores=40, days=9, seed=3, end=END)
    polls = pl.read_csv(files.polls, infer_schema=False)
    for k in range(3):  # three parts per date, so that a compaction merges them away
        polls.gather_every(3, offset=k).write_csv(tmp_path / f"polls-{k}.csv")
    root = tmp_path / "store"
    ingest_paths(root, [files.hours, files.timezones, *(tmp_path / f"polls-{k}.csv" for k in range(3))])
    append_polls(root, poll_frame("pinned-inline", END - timedelta(hours=1)), source="inline")  # held in a record
    snapshot = pin_snapshot(root)
    assert snapshot.stores == storemon.read_polls(root)["store_id"].n_unique()
    assert snapshot.latest_poll is not None and snapshot.seq == open_store(root).manifest().generation
    before = report_views_from_store(root, days=10)
    polls_before, hours_before = storemon.read_polls(root), storemon.current_table(root, "hours")
    pinned_parts = {part.path for part in open_store(root).manifest().parts}

    # Meanwhile: a new store and later polls, enough commits for checkpoints, then compaction and GC.
    for k in range(40):
        append_polls(root, poll_frame(f"late-{k % 3}", END + timedelta(minutes=k), "inactive"), source=f"late-{k}")
    compact(root)
    collect_garbage(root)
    state = open_store(root).manifest()
    assert not pinned_parts & {part.path for part in state.parts}, "compaction replaced every pinned part"
    assert pinned_parts <= data_files(root), "and kept them for the pin"
    after = report_views_from_store(root, days=10)
    assert after.report.height > before.report.height  # the new state differs

    views = report_views_from_store(root, days=10, snapshot=snapshot.token)
    for view in VIEW_KEYS:
        assert_frame_equal(getattr(views, view), getattr(before, view), check_exact=True)
    shards = [report_views_from_store(root, days=10, snapshot=snapshot.token, shard=(i, 3)) for i in range(3)]
    for view in VIEW_KEYS:
        got = concatenated([getattr(part, view) for part in shards], view)
        assert_frame_equal(got, getattr(before, view), check_exact=True)
    assert_frame_equal(report_from_store(root, snapshot=snapshot.token), before.report, check_exact=True)
    # The raw polls and the tables of the pinned state too (the service's polls, hours … files).
    assert storemon.read_polls(root).height > polls_before.height
    assert_frame_equal(storemon.read_polls(root, snapshot=snapshot.token), polls_before, check_exact=True)
    replace_hours(root, hours_before[0].head(3), source="fewer hours")
    assert storemon.current_table(root, "hours")[0].height == 3
    pinned_hours = storemon.current_table(root, "hours", snapshot=snapshot.token)
    assert_frame_equal(pinned_hours[0], hours_before[0], check_exact=True)
    assert pinned_hours[1] == hours_before[1]

    release_snapshot(root, snapshot.token)
    release_snapshot(root, snapshot.token)  # idempotent
    with pytest.raises(StoreError, match="unknown snapshot"):
        report_from_store(root, snapshot=snapshot.token)
    collect_garbage(root)
    assert not pinned_parts & data_files(root), "released: its files are garbage now"
    assert data_files(root) == open_store(root).manifest().files()


def test_unknown_expired_and_malformed_tokens_are_store_errors(tmp_path: Path) -> None:
    root = tmp_path / "store"
    append_polls(root, poll_frame("a", END), source="one")
    with pytest.raises(StoreError, match="unknown snapshot 'nope'"):
        report_from_store(root, snapshot="nope")
    for bad in ("../manifest", "", "a/b", ".hidden"):
        with pytest.raises(StoreError, match="not a snapshot token"):
            report_views_from_store(root, snapshot=bad)
    with pytest.raises(ConfigError, match="ttl"):
        pin_snapshot(root, ttl=timedelta(0))
    expired = pin_snapshot(root, ttl=timedelta(microseconds=1))
    with pytest.raises(StoreError, match="expired at"):
        timeline_from_store(root, snapshot=expired.token)
    # Within the grace period after expiry, the pin still protects its files; past it,
    # upkeep or GC removes the pin. Passing time is played by moving expires_at back.
    path = root / "pins" / f"{expired.token}.json"
    assert pinned_files(root) == open_store(root).manifest().files()
    live = pin_snapshot(root)
    document = json.loads(path.read_text())
    document["expires_at"] = (datetime.now(UTC) - PIN_GRACE - timedelta(seconds=1)).isoformat()
    path.write_text(json.dumps(document))
    append_polls(root, poll_frame("b", END), source="two")
    assert pinned_files(root) == load_pin(root, live.token).files()  # the live pin's only
    collect_garbage(root)
    assert not path.exists() and (root / "pins" / f"{live.token}.json").exists()
    with pytest.raises(StoreError, match="unknown snapshot"):
        daily_from_store(root, snapshot=expired.token)
    (root / "pins" / f"{live.token}.json").write_text("{not json")
    with pytest.raises(StoreError, match="damaged snapshot pin"):
        incidents_from_store(root, snapshot=live.token)
    assert collect_garbage(root) == 0  # a damaged pin: nothing is deleted
