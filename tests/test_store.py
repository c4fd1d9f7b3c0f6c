"""The data store: ingest → report equals compute_report, idempotency, tables, rejects, compaction.

Concurrency and crash safety are in ``test_store_concurrency.py``, the CLI in
``test_store_cli.py``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest

import storemon
import storemon.store._files as files_module
from store_helpers import data_files
from storemon import compute_report
from storemon._core.shards import BUCKETS, bucket_of
from storemon._generate import generate_dataset
from storemon._load import load_dir, load_hours, load_polls, load_timezones
from storemon.exceptions import ConfigError, FileFormatError, InputError, InvalidRowError, StoreError
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, REJECTS_SCHEMA, TIMEZONES_SCHEMA
from storemon.store import (
    append_polls,
    check_store,
    ingest_paths,
    latest_poll,
    open_store,
    read_polls,
    read_rejects,
    replace_hours,
    replace_timezones,
    report_from_store,
    table_versions,
)
from storemon.store._compact import collect_garbage, compact
from storemon.store._manifest import read_manifest

END = datetime(2024, 10, 14, 12, 0, tzinfo=UTC)
POLLS_HEADER = ["store_id", "timestamp_utc", "status"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A small CSV written by hand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def store_files(root: Path) -> set[str]:
    """Every data file under the store (lock files and metadata left out)."""
    return data_files(root)


def expected(data: Path, now: datetime | None = None, **options) -> pl.DataFrame:
    inputs = load_dir(data)
    return compute_report(inputs.polls, inputs.hours, inputs.timezones, now, **options)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated data set: 40 stores × 12 days (every generator quirk occurs)."""
    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, stores=40, days=12, seed=7, end=END)
    return out


@pytest.fixture
def polls_chunks(dataset: Path, tmp_path: Path) -> list[Path]:
    """The data set's polls dealt into three CSVs (every third row; rows kept verbatim).

    Each chunk spans the whole period, so every date gets a part per chunk.
    """
    raw = pl.read_csv(dataset / "store_status.csv", infer_schema=False)
    (tmp_path / "chunks").mkdir()
    paths = []
    for index in range(3):
        path = tmp_path / "chunks" / f"polls-{index}.csv"
        raw.gather_every(3, offset=index).write_csv(path)
        paths.append(path)
    return paths


# --- ingest → report ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "options"),
    [
        (None, {}),
        (END - timedelta(days=3, minutes=17), {}),  # inside the history: later polls are ignored
        (END + timedelta(days=2), {"horizon": timedelta(hours=36)}),
        (END - timedelta(days=6), {"horizon": None, "default_timezone": "Asia/Kolkata"}),
        (END - timedelta(days=30), {}),  # before every poll: stores listed, all downtime
    ],
)
def test_report_from_store_equals_compute_report(dataset: Path, tmp_path: Path, now, options) -> None:
    store = tmp_path / "store"
    results = ingest_paths(store, [dataset])
    assert [r.kind for r in results] == ["polls", "hours", "timezones"]
    want = expected(dataset, now, **options)
    got = report_from_store(store, now, **options)
    assert got.equals(want)
    assert got.height == 40


@pytest.mark.parametrize("horizon", [timedelta(hours=-1), "8d"])
def test_a_bad_horizon_is_a_config_error(dataset: Path, tmp_path: Path, horizon) -> None:
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    with pytest.raises(ConfigError, match="horizon"):
        report_from_store(store, END, horizon=horizon)


def test_polls_ingested_in_chunks_equal_one_file(dataset: Path, polls_chunks: list[Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    for chunk in polls_chunks:
        ingest_paths(store, [chunk])
    ingest_paths(store, [dataset / "menu_hours.csv", dataset / "timezones.csv"])
    assert len(read_manifest(store).ingests) == 5
    assert report_from_store(store).equals(expected(dataset))
    everything = load_polls(dataset / "store_status.csv").frame.sort(POLLS_HEADER)
    assert read_polls(store).equals(everything)


def test_stores_with_only_old_or_future_polls_are_listed(tmp_path: Path) -> None:
    """docs/rules.md: every store with any valid row is in the report, even when no part is read for it."""
    data = tmp_path / "data"
    write_csv(
        data / "store_status.csv",
        POLLS_HEADER,
        [
            ["recent", stamp(END - timedelta(hours=2)), "active"],
            ["recent", stamp(END), "inactive"],
            ["ancient", stamp(END - timedelta(days=90)), "active"],  # far outside the partitions read
            ["future", stamp(END + timedelta(days=40)), "active"],  # after the report's now
        ],
    )
    write_csv(data / "menu_hours.csv", ["store_id", "dayOfWeek", "start_time_local", "end_time_local"], [])
    write_csv(data / "timezones.csv", ["store_id", "timezone_str"], [])
    store = tmp_path / "store"
    ingest_paths(store, [data])
    got = report_from_store(store, END)
    assert got["store_id"].to_list() == ["ancient", "future", "recent"]
    assert got.equals(expected(data, END))
    assert report_from_store(store).equals(expected(data))  # now = the future poll


def test_latest_poll_comes_from_the_manifest(dataset: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert ingest_paths(store, [dataset / "menu_hours.csv"])
    assert latest_poll(store) is None
    with pytest.raises(ConfigError, match="no polls"):
        report_from_store(store)
    ingest_paths(store, [dataset])
    polls = load_polls(dataset / "store_status.csv").frame
    assert latest_poll(store) == polls["timestamp_utc"].max()


# --- idempotency and duplicates -------------------------------------------------------------


def test_reingesting_the_same_files_is_a_noop(dataset: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = ingest_paths(store, [dataset])
    manifest, files = read_manifest(store), store_files(store)
    again = ingest_paths(store, [dataset])
    assert all(result.skipped for result in again)
    assert [r.duplicate_of for r in again] == [r.ingest_id for r in first]
    assert [r.rows_accepted for r in again] == [r.rows_accepted for r in first]
    assert "already ingested" in again[0].describe()
    assert read_manifest(store) == manifest
    assert store_files(store) == files


def test_same_polls_file_twice_in_one_call_counts_once(polls_chunks: list[Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    results = ingest_paths(store, [polls_chunks[0], polls_chunks[0]])
    assert not results[0].skipped
    assert results[1].skipped
    assert len(read_manifest(store).ingests) == 1
    check_store(store)


def test_overlapping_and_duplicated_uploads_change_no_figure(dataset: Path, tmp_path: Path) -> None:
    raw = pl.read_csv(dataset / "store_status.csv", infer_schema=False)
    half = raw.height // 2
    uploads = {
        "first-60pc.csv": raw.slice(0, int(raw.height * 0.6)),
        "last-60pc.csv": raw.slice(int(raw.height * 0.4)),  # overlaps the first by 20 %
        "middle-again.csv": raw.slice(half - 500, 1000),
        "everything-reversed.csv": raw.reverse(),  # all rows again, other bytes
    }
    store = tmp_path / "store"
    ingest_paths(store, [dataset / "menu_hours.csv", dataset / "timezones.csv"])
    for name, frame in uploads.items():
        frame.write_csv(tmp_path / name)
        assert not ingest_paths(store, [tmp_path / name])[0].skipped
    assert read_polls(store).height == sum(frame.height for frame in uploads.values())
    for now in (None, END - timedelta(days=4, hours=5)):
        assert report_from_store(store, now).equals(expected(dataset, now))


# --- hours, time zones, rejects ----------------------------------------------------------------


def test_hours_and_timezones_are_replaced_by_new_versions(tmp_path: Path) -> None:
    polls = [["s1", stamp(END - timedelta(hours=h)), "active"] for h in range(30)]
    hours_v1 = write_csv(
        tmp_path / "v1" / "menu_hours.csv",
        ["store_id", "dayOfWeek", "start_time_local", "end_time_local"],
        [["s1", str(day), "09:00", "17:00"] for day in range(7)],
    )
    hours_v2 = write_csv(
        tmp_path / "v2" / "menu_hours.csv",
        ["store_id", "dayOfWeek", "start_time_local", "end_time_local"],
        [["s1", str(day), "00:00", "12:00"] for day in range(7)],
    )
    zones = write_csv(tmp_path / "v1" / "timezones.csv", ["store_id", "timezone_str"], [["s1", "Asia/Tokyo"]])
    store = tmp_path / "store"
    ingest_paths(store, [write_csv(tmp_path / "polls.csv", POLLS_HEADER, polls), hours_v1, zones])

    def report_with(hours: Path) -> pl.DataFrame:
        return compute_report(
            load_polls(tmp_path / "polls.csv").frame, load_hours(hours).frame, load_timezones(zones).frame
        )

    assert report_from_store(store).equals(report_with(hours_v1))
    assert not ingest_paths(store, [hours_v2])[0].skipped
    assert report_from_store(store).equals(report_with(hours_v2))
    assert not report_with(hours_v1).equals(report_with(hours_v2))
    # Going back to an older version is a change, not a no-op …
    assert not ingest_paths(store, [hours_v1])[0].skipped
    assert report_from_store(store).equals(report_with(hours_v1))
    # … but the current version again is.
    assert ingest_paths(store, [hours_v1])[0].skipped
    # Superseded versions stay (restorable: storemon.restore_table); compact keeps them.
    assert len(list((store / "tables").glob("hours-*.parquet"))) == 3
    compact(store)
    assert len(list((store / "tables").glob("hours-*.parquet"))) == 3
    versions = table_versions(store, "hours")
    assert [v["current"] for v in versions] == [True, False, False] and all(v["restorable"] for v in versions)


def test_rejected_rows_are_kept_per_ingest(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "polls.csv",
        POLLS_HEADER,
        [
            ["s1", stamp(END), "active"],
            ["s1", "yesterday", "active"],
            ["", stamp(END), "inactive"],
            ["s2", stamp(END), "sleeping"],
        ],
    )
    store = tmp_path / "store"
    (result,) = ingest_paths(store, [path])
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (4, 1, 3)
    rejects = read_rejects(store)
    assert rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert rejects.select("file", "line", "column", "value", "reason").rows() == [
        (str(path), 3, "timestamp_utc", "yesterday", "unparsable timestamp"),
        (str(path), 4, "store_id", "", "empty store id"),
        (str(path), 5, "status", "sleeping", "unknown status"),
    ]
    entry = read_manifest(store).ingests[0]
    assert (entry.source, entry.rows_accepted, entry.rows_rejected) == (str(path), 1, 3)
    assert entry.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    # A no-op re-ingest still shows the rejects of the ingest it repeats.
    assert ingest_paths(store, [path])[0].rejects.equals(result.rejects)


def test_strict_ingest_commits_nothing(dataset: Path, tmp_path: Path) -> None:
    bad = write_csv(tmp_path / "polls.csv", POLLS_HEADER, [["s1", stamp(END), "active"], ["s1", "never", "active"]])
    store = tmp_path / "store"
    ingest_paths(store, [dataset / "timezones.csv"])
    before = read_manifest(store)
    with pytest.raises(InvalidRowError) as caught:
        ingest_paths(store, [dataset / "store_status.csv", bad], strict=True)
    assert (caught.value.file, caught.value.line, caught.value.value) == (str(bad), 3, "never")
    assert read_manifest(store) == before
    assert store_files(store) == before.files()


def test_files_are_recognised_by_header_when_not_by_name(dataset: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "in"
    renamed.mkdir()
    for source, target in [("store_status.csv", "a.csv"), ("menu_hours.csv", "b.csv"), ("timezones.csv", "c.csv")]:
        (renamed / target).write_bytes((dataset / source).read_bytes())
    pl.read_csv(renamed / "a.csv", infer_schema=False).write_parquet(renamed / "a.parquet")
    store = tmp_path / "store"
    results = ingest_paths(store, [renamed / "c.csv", renamed / "a.parquet", renamed / "b.csv"])
    assert [r.kind for r in results] == ["timezones", "polls", "hours"]
    assert report_from_store(store).equals(expected(dataset))


def test_bad_sources_are_clear_errors(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(FileFormatError, match="no such file"):
        ingest_paths(store, [tmp_path / "missing.csv"])
    odd = write_csv(tmp_path / "odd.csv", ["store_id", "colour"], [["s1", "blue"]])
    with pytest.raises(FileFormatError, match="cannot tell which table") as caught:
        ingest_paths(store, [odd])
    assert caught.value.file == str(odd)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="no input files"):
        ingest_paths(store, [tmp_path / "empty"])
    with pytest.raises(ConfigError):
        ingest_paths(store, [])


# --- the frame API (what the HTTP endpoints call) ---------------------------------------------


def polls_frame(rows: list[tuple[str, datetime, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=list(POLLS_SCHEMA), orient="row").cast(POLLS_SCHEMA)


def test_append_polls_is_durable_and_idempotent_by_hash(tmp_path: Path) -> None:
    store = tmp_path / "store"
    frame = polls_frame([("s1", END - timedelta(minutes=m), "active") for m in range(0, 120, 20)])
    result = append_polls(store, frame, source="POST /api/polls", sha256="abc")
    assert (result.rows_accepted, result.rows_rejected, result.skipped) == (6, 0, False)
    # Another handle (as after a restart) sees the rows.
    assert read_polls(open_store(store)).equals(frame.sort(POLLS_HEADER))
    assert append_polls(store, frame, source="POST /api/polls", sha256="abc").skipped
    # Without a hash the frame's own content is hashed.
    assert not append_polls(store, frame, source="POST /api/polls").skipped
    assert append_polls(store, frame.clone(), source="POST /api/polls").skipped
    assert read_polls(store).height == 12
    check_store(store)


def test_frame_api_records_rejects_and_counts(tmp_path: Path) -> None:
    rejects = pl.DataFrame(
        [
            ("POST /api/polls", 3, "status", "up", "unknown status"),
            ("POST /api/polls", 3, "store_id", "", "empty store id"),
        ],
        schema=REJECTS_SCHEMA,
        orient="row",
    )
    store = tmp_path / "store"
    result = append_polls(store, polls_frame([("s1", END, "active")]), source="POST /api/polls", rejects=rejects)
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (2, 1, 1)
    assert read_rejects(store).equals(rejects)


def test_replace_tables_from_frames(tmp_path: Path) -> None:
    store = tmp_path / "store"
    polls = polls_frame([("s1", END - timedelta(hours=h), "active") for h in range(48)])
    hours = pl.DataFrame([("s1", 0, "10:00:00", "14:00:00")], schema=list(HOURS_SCHEMA), orient="row").with_columns(
        pl.col("dayOfWeek").cast(pl.Int8), pl.col("start_time_local", "end_time_local").str.to_time("%H:%M:%S")
    )
    zones = pl.DataFrame([("s1", "Europe/Paris")], schema=TIMEZONES_SCHEMA, orient="row")
    append_polls(store, polls, source="api")
    replace_hours(store, hours, source="PUT /api/hours")
    replace_timezones(store, zones, source="PUT /api/timezones")
    assert report_from_store(store).equals(compute_report(polls, hours, zones))
    assert replace_hours(store, hours, source="PUT /api/hours").skipped


def test_frame_api_refuses_unvalidated_frames(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with pytest.raises(InputError, match="lacks column"):
        append_polls(store, pl.DataFrame({"store_id": ["s1"]}), source="api")
    with pytest.raises(InputError, match="missing values"):
        append_polls(
            store, polls_frame([("s1", END, "active")]).with_columns(store_id=pl.lit(None, pl.String)), source="api"
        )
    with pytest.raises(InputError, match="wrong kind"):
        bad = pl.DataFrame({"store_id": ["s1"], "timestamp_utc": [END], "status": ["asleep"]})
        append_polls(store, bad, source="api")
    assert not store.exists()  # validation comes before anything is written


# --- reading only what is needed, and damage --------------------------------------------------------


def test_report_reads_only_partitions_that_can_matter(dataset: Path, tmp_path: Path) -> None:
    """A part outside [now − 7 d − horizon, now] may even be unreadable: it is never opened."""
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    now = END - timedelta(hours=1)
    horizon = timedelta(days=2)
    manifest = read_manifest(store)
    lowest = now - timedelta(days=7) - horizon
    outside = [p for p in manifest.parts if datetime.fromisoformat(p.date).date() < (lowest - timedelta(days=1)).date()]
    assert outside, "the data set must reach back beyond the window"
    want = report_from_store(store, now, horizon=horizon)
    for part in outside:
        (store / part.path).write_bytes(b"not parquet at all")
    assert report_from_store(store, now, horizon=horizon).equals(want)
    with pytest.raises(storemon.StoreError, match="unreadable"):
        report_from_store(store, now, horizon=None)  # now every part is needed


def test_report_restarts_when_a_compaction_removed_its_files(
    dataset: Path, polls_chunks: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storemon.store import Store

    store = tmp_path / "store"
    ingest_paths(store, [*polls_chunks, dataset / "menu_hours.csv", dataset / "timezones.csv"])
    stale = read_manifest(store)
    compact(store)  # deletes every part file the stale manifest names
    assert not any((store / part.path).exists() for part in stale.parts)
    reads = []

    def first_stale(self: Store):
        reads.append(self.root)
        return stale if len(reads) == 1 else read_manifest(self.root)

    monkeypatch.setattr(Store, "manifest", first_stale)
    assert report_from_store(store).equals(expected(dataset))
    assert len(reads) == 2


def test_a_creation_writing_its_descriptor_leaves_no_other_files(tmp_path: Path) -> None:
    # What a creation under way (or killed while writing the descriptor) shows another
    # process: the lock file and the descriptor's temp file. Neither is someone else's file.
    store = tmp_path / "store"
    store.mkdir()
    (store / ".commit.lock").touch()
    (store / ".manifest.json.k2x9_q.tmp").write_text('{"format"')
    assert open_store(store, create=True).manifest().generation == 0
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".manifest.json.notes.txt").touch()  # not the descriptor's temp file
    with pytest.raises(StoreError, match="other files and no data store"):
        open_store(tmp_path / "data", create=True)


def test_a_creation_that_finished_and_ingested_during_the_listing_is_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process's creation completes (and its first ingest makes log/) while this one
    # lists the directory: what it saw is that store's files, not someone else's.
    store = tmp_path / "store"
    store.mkdir()
    (store / "log").mkdir()
    real = files_module._creating

    def finished_meanwhile(path: Path) -> bool:
        files_module.write_descriptor(store)
        return real(path)

    monkeypatch.setattr(files_module, "_creating", finished_meanwhile)
    assert open_store(store, create=True).root == store


def test_processes_creating_one_new_store_at_once_all_open_it(tmp_path: Path) -> None:
    # Each gunicorn worker opens (creates) the configured store as it starts.
    store = tmp_path / "store"
    code = "import sys; from storemon.store import open_store; open_store(sys.argv[1], create=True)"
    for _ in range(5):  # bounded: 5 rounds of 4 processes
        shutil.rmtree(store, ignore_errors=True)
        started = [
            subprocess.Popen([sys.executable, "-c", code, str(store)], stderr=subprocess.PIPE, text=True)
            for _ in range(4)
        ]
        failures = [err for process in started if (err := process.communicate(timeout=60)[1]) or process.returncode]
        assert not failures, failures
        assert open_store(store).manifest().generation == 0


def test_missing_or_damaged_store_is_a_store_error(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a storemon store"):
        report_from_store(tmp_path)
    with pytest.raises(StoreError, match="only local directories"):
        open_store("s3://bucket/store")
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    part = read_manifest(store).parts[-1]
    (store / part.path).unlink()
    with pytest.raises(StoreError, match="missing"):
        report_from_store(store)
    with pytest.raises(StoreError, match="unreadable"):
        check_store(store)
    descriptor = (store / "manifest.json").read_text()
    (store / "manifest.json").write_text('{"format": 2, "parts": [')
    with pytest.raises(StoreError, match="damaged manifest"):
        report_from_store(store)
    # A store of the old layout is refused, saying what to do.
    (store / "manifest.json").write_text(json.dumps({"format": 1, "generation": 1, "parts": [], "ingests": []}))
    with pytest.raises(StoreError, match="old layout.*ingest the source files into a new store"):
        open_store(store)
    (store / "manifest.json").write_text(descriptor)
    # A commit record naming a path outside the store is damage, not a file to read.
    record = json.loads((store / "log" / f"{1:020d}.json").read_text())
    record["hours"] = {"path": "../../etc/passwd", "rows": 1}
    (store / "log" / f"{2:020d}.json").write_text(json.dumps({**record, "seq": 2}))
    (store / "log" / f"{3:020d}.json").write_text(json.dumps({**record, "seq": 3, "hours": None}))
    with pytest.raises(StoreError, match="not inside the store"):
        report_from_store(store)


def test_a_torn_last_commit_record_is_not_a_commit(dataset: Path, tmp_path: Path) -> None:
    """What a writer killed while writing its record leaves: readers skip it, the next writer replaces it."""
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    want = report_from_store(store)
    (store / "log" / f"{2:020d}.json").write_text('{"format": 2, "seq": 2, "ingests": [{"id"')
    assert report_from_store(store).equals(want)
    assert open_store(store).manifest().generation == 1
    frame = polls_frame([("torn", END, "active")])
    assert not append_polls(store, frame, source="after the crash").skipped
    assert open_store(store).manifest().generation == 2
    assert read_polls(store).filter(pl.col("store_id") == "torn").height == 1
    check_store(store)


# --- compaction and garbage ------------------------------------------------------------------------


def test_compact_merges_parts_per_date_and_changes_no_report(
    dataset: Path, polls_chunks: list[Path], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    ingest_paths(store, [dataset / "menu_hours.csv", dataset / "timezones.csv", *polls_chunks])
    nows = [None, END - timedelta(days=2, hours=3), END - timedelta(days=9)]
    before = [report_from_store(store, now) for now in nows]
    polls_before = read_polls(store)
    rejects_before = read_rejects(store)
    manifest = read_manifest(store)
    dates = {part.date for part in manifest.parts}
    assert len(manifest.parts) > len(dates)

    result = compact(store)
    after = read_manifest(store)
    assert sorted(part.date for part in after.parts) == sorted(dates)  # one part per date
    assert (result.parts_before, result.parts_after) == (len(manifest.parts), len(dates))
    merged = [p for p in manifest.parts if sum(q.date == p.date for q in manifest.parts) > 1]
    # Also merged: the rejects files of one commit date and the poll-store pieces (one per chunk here).
    merged_rejects = manifest.rejects if len(manifest.rejects) > 1 else ()
    merged_stores = manifest.poll_stores if len(manifest.poll_stores) > 1 else ()
    assert len(merged_stores) == 3
    assert result.files_removed == len(merged) + len(merged_rejects) + len(merged_stores)
    assert len(after.rejects) <= 1 and len(after.poll_stores) == 1
    assert read_rejects(store).equals(rejects_before)
    for now, want in zip(nows, before, strict=True):
        assert report_from_store(store, now).equals(want)
    assert read_polls(store).equals(polls_before)
    assert store_files(store) == after.files()
    check_store(store)
    for part in after.parts:  # each merged file is bucketed, sorted by bucket, store and time
        frame = pl.read_parquet(store / part.path)
        assert part.buckets == BUCKETS
        assert frame.equals(frame.sort("bucket", "store_id", "timestamp_utc", "status"))
        assert frame["bucket"].equals(frame.select(bucket_of(pl.col("store_id")).alias("bucket")).to_series())
    assert compact(store).dates_merged == 0


def test_garbage_from_a_crashed_ingest_is_invisible_and_collected(dataset: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    want = report_from_store(store)
    manifest = read_manifest(store)
    # What a crash leaves: a finished part and a temp file not in the manifest.
    orphan = store / "polls" / "date=2024-10-13" / "part-crashed.parquet"
    polls_frame([("intruder", END - timedelta(hours=1), "inactive")]).write_parquet(orphan)
    (store / "polls" / "date=2024-10-13" / ".part-x.parquet.abc.tmp").write_bytes(b"half")
    (store / ".manifest.json.xyz.tmp").write_text("{")
    assert report_from_store(store).equals(want)
    assert collect_garbage(store) == 3
    assert store_files(store) == manifest.files()
    assert report_from_store(store).equals(want)


# --------------------------------------------------------------------------
# Special hours, per-status horizons and the range views


def _with_special(dataset: Path, directory: Path) -> Path:
    """``dataset`` plus a special_hours.csv: closed days, shortened days, an invalid row, a new store."""
    directory.mkdir()
    for entry in dataset.iterdir():
        (directory / entry.name).write_bytes(entry.read_bytes())
    inputs = load_dir(dataset)
    stores = sorted(set(inputs.hours["store_id"]))[:6]
    rows = [[store, "2024-10-10", "", ""] for store in stores[:3]]
    rows += [[store, "2024-10-12", "10:00:00", "14:00:00"] for store in stores[3:]]
    rows += [["special-only", "2024-10-13", "22:00", "02:00"], [stores[0], "2024-10-11", "09:00", ""]]
    write_csv(directory / "special_hours.csv", ["store_id", "date_local", "start_time_local", "end_time_local"], rows)
    return directory


def test_special_hours_are_a_replaced_table_and_reach_the_report(dataset: Path, tmp_path: Path) -> None:
    data = _with_special(dataset, tmp_path / "data")
    store = tmp_path / "store"
    results = ingest_paths(store, [data])
    assert [r.kind for r in results] == ["polls", "hours", "timezones", "special"]
    assert results[-1].rows_rejected == 1  # the row with only one time
    inputs = load_dir(data)
    assert inputs.special.height == 7
    options = {"horizon_active": timedelta(hours=2)}
    want = compute_report(inputs.polls, inputs.hours, inputs.timezones, special=inputs.special, **options)
    got = report_from_store(store, **options)
    assert got.equals(want)
    assert "special-only" in got["store_id"].to_list()
    assert not got.equals(report_from_store(open_store(store)))  # the horizon matters here
    # A new version replaces the old one as a whole; an equal one is a no-op.
    empty = pl.DataFrame(schema=storemon.SPECIAL_HOURS_SCHEMA)
    storemon.replace_special_hours(store, empty, source="none")
    assert report_from_store(store).equals(compute_report(inputs.polls, inputs.hours, inputs.timezones))
    assert storemon.replace_special_hours(store, empty, source="none").skipped
    check_store(store)
    one_time = pl.DataFrame(
        {"store_id": ["a"], "date_local": [END.date()], "start_time_local": [time(9)], "end_time_local": [None]},
        schema=storemon.SPECIAL_HOURS_SCHEMA,
    )
    with pytest.raises(InputError, match="exactly one"):
        storemon.replace_special_hours(store, one_time, source="unvalidated")


@pytest.mark.parametrize(
    "keywords",
    [
        {},
        {"start": END - timedelta(days=9), "end": END - timedelta(days=1), "stores": ["special-only", "nobody"]},
    ],
)
def test_range_views_from_the_store_equal_the_library(dataset: Path, tmp_path: Path, keywords) -> None:
    data = _with_special(dataset, tmp_path / "data")
    store = tmp_path / "store"
    ingest_paths(store, [data])
    inputs = load_dir(data)
    frames = (inputs.polls, inputs.hours, inputs.timezones)
    options = {"special": inputs.special, "horizon_inactive": timedelta(days=1), **keywords}
    store_options = {key: value for key, value in options.items() if key != "special"}
    assert storemon.timeline_from_store(store, **store_options).equals(storemon.timeline(*frames, **options))
    assert storemon.incidents_from_store(store, min_minutes=5, **store_options).equals(
        storemon.incidents(*frames, min_minutes=5, **options)
    )
    assert storemon.daily_from_store(store, **store_options).equals(storemon.daily(*frames, **options))


@pytest.mark.parametrize("days", [30, 3])
def test_report_views_from_the_store_equal_the_separate_calls(dataset: Path, tmp_path: Path, days: int) -> None:
    """One snapshot, one computation: the frames of report/timeline/incidents/daily_from_store exactly."""
    data = _with_special(dataset, tmp_path / "data")
    store = tmp_path / "store"
    ingest_paths(store, [data])
    horizons = {"horizon_inactive": timedelta(days=1), "horizon_active": timedelta(hours=3)}
    views = storemon.report_views_from_store(store, days=days, **horizons)
    now = storemon.latest_poll(store)
    assert now is not None
    assert views.report.equals(storemon.report_from_store(store, **horizons))
    assert views.timeline.equals(storemon.timeline_from_store(store, **horizons))
    assert views.incidents.equals(storemon.incidents_from_store(store, **horizons))
    assert views.daily.equals(storemon.daily_from_store(store, start=now - timedelta(days=days), **horizons))
    with pytest.raises(ConfigError, match="days"):
        storemon.report_views_from_store(store, days=0)


def test_range_views_read_only_the_parts_their_range_needs(dataset: Path, tmp_path: Path) -> None:
    """Parts before ``start − max(horizons)`` are never opened, like a report's."""
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    start, end = END - timedelta(days=2), END - timedelta(days=1)
    horizons = {
        "horizon": timedelta(days=8),
        "horizon_active": timedelta(hours=2),
        "horizon_inactive": timedelta(hours=6),
    }
    manifest = read_manifest(store)
    lowest = start - timedelta(hours=6)
    outside = [p for p in manifest.parts if datetime.fromisoformat(p.date).date() < (lowest - timedelta(days=1)).date()]
    assert outside
    want = storemon.daily_from_store(store, start=start, end=end, **horizons)
    for part in outside:
        (store / part.path).write_bytes(b"not parquet at all")
    assert storemon.daily_from_store(store, start=start, end=end, **horizons).equals(want)
    assert storemon.timeline_from_store(store, start=start, end=end, **horizons).height
