"""The store's commit log: bounded metadata, idempotency keys, group commit, automatic upkeep.

Crashes (SIGKILL at the N-th fsync or a random time, also during upkeep)
are in ``test_store_concurrency.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import storemon.store._ingest as ingest_module
import storemon.store._keys as keys_module
import storemon.store._manifest as manifest_module
from store_helpers import data_files
from storemon import StaleVersionError, compute_report, daily, incidents, timeline
from storemon._generate import generate_dataset
from storemon._load import load_dir
from storemon.exceptions import StoreError
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, SPECIAL_HOURS_SCHEMA, TIMEZONES_SCHEMA
from storemon.store import (
    IngestResult,
    append_polls,
    check_store,
    current_table,
    daily_from_store,
    incidents_from_store,
    ingest_paths,
    open_store,
    read_polls,
    replace_hours,
    replace_special_hours,
    report_from_store,
    restore_table,
    table_versions,
    timeline_from_store,
)
from storemon.store._compact import GROWING_PARTS, SMALL_ROWS, growing_merge, upkeep
from storemon.store._keys import KEY_RETENTION_DAYS, KEYS_DB, KEYS_DIR, expire_keys
from storemon.store._manifest import (
    CHECKPOINT_DIR,
    CHECKPOINT_EVERY,
    LOG_DIR,
    IngestEntry,
    PartEntry,
    Record,
    _read_record,
    checkpoint_lock,
    commit_lock,
    latest_checkpoint,
    load_state,
    plain,
)

END = datetime(2024, 10, 14, 12, 0, tzinfo=UTC)


def poll(n: int, store: str = "s") -> pl.DataFrame:
    row = (f"{store}{n % 7}", END - timedelta(minutes=13 * n), "active" if n % 4 else "inactive")
    return pl.DataFrame([row], schema=list(POLLS_SCHEMA), orient="row").cast(POLLS_SCHEMA)


def append(store: Path, n: int, tag: str = "p") -> str | None:
    return append_polls(store, poll(n), source=f"{tag}-{n}", sha256=f"{tag}-{n}").ingest_id


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    generate_dataset(out, stores=20, days=4, seed=3, end=END)
    return out


def test_metadata_stays_bounded_and_a_commit_reads_only_the_last_records(tmp_path: Path) -> None:
    store = tmp_path / "store"
    sizes = []
    for n in range(3 * CHECKPOINT_EVERY + 5):
        append(store, n)
        records = sorted((store / LOG_DIR).iterdir())
        ours = [r for r in records if f'"source":"p-{n}"' in r.read_text()]  # not an upkeep record
        sizes.append(ours[-1].stat().st_size)
        assert len(records) <= 2 * CHECKPOINT_EVERY
        assert len(list((store / CHECKPOINT_DIR).glob("*.json"))) <= 2
    state = load_state(store)
    assert state.generation >= 3 * CHECKPOINT_EVERY + 5  # and the records of upkeep
    assert state.generation - state.checkpoint < CHECKPOINT_EVERY  # what a commit or a report folds
    assert max(sizes[7:]) <= min(sizes[7:]) + 16  # a record does not grow with history (the first 7 add stores)
    assert state.inline  # the last single-poll batches live in their records …
    polls = pl.concat([poll(n) for n in range(3 * CHECKPOINT_EVERY + 5)])
    assert read_polls(store).equals(polls.sort("store_id", "timestamp_utc", "status"))  # … and are read
    manifest = check_store(store)
    assert len(manifest.ingests) == 3 * CHECKPOINT_EVERY + 5  # every entry kept, in the history files


def test_commits_go_on_while_a_checkpoint_is_being_written(tmp_path: Path) -> None:
    # The checkpoint lock is held (as by a writer in the middle of a
    # checkpoint): commits neither wait for it nor write a checkpoint of
    # their own; the first commit after it is released writes the one due.
    store = tmp_path / "store"
    append(store, 0)
    root = open_store(store).root
    with checkpoint_lock(root, wait=True):
        for n in range(1, CHECKPOINT_EVERY + 9):
            append(store, n)
        assert latest_checkpoint(root) == 0
        assert load_state(store).generation - load_state(store).checkpoint > CHECKPOINT_EVERY
    append(store, CHECKPOINT_EVERY + 9)
    state = load_state(store)
    assert state.checkpoint == latest_checkpoint(root) == state.generation  # the commit that found it due
    polls = pl.concat([poll(n) for n in range(CHECKPOINT_EVERY + 10)])
    assert read_polls(store).equals(polls.sort("store_id", "timestamp_utc", "status"))
    check_store(store)


def test_a_record_read_while_it_was_being_written_is_read_again_once_a_later_one_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Records are written in place, so a reader without the commit lock can find one empty or
    # half-written; if its writer and the next leader commit before the reader lists the log,
    # the record is no longer the last one, yet whole: it is read again, not called damaged.
    store = tmp_path / "store"
    for n in range(3):
        append(store, n)
    root = open_store(store).root
    real = manifest_module._read_record
    torn: list[int] = []

    def read_mid_write(at: Path, seq: int) -> Record:
        if seq == 2 and not torn:
            torn.append(seq)
            raise ValueError("Expecting value: line 1 column 1 (char 0)")  # what an empty file gives
        return real(at, seq)

    monkeypatch.setattr(manifest_module, "_read_record", read_mid_write)
    manifest_module._STATES.clear()  # fold every record again
    assert load_state(root).generation == 3 and torn == [2]


def test_a_torn_record_followed_by_a_later_one_is_damage(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(3):
        append(store, n)
    root = open_store(store).root
    (root / LOG_DIR / f"{2:020d}.json").write_text('{"format": 2, "seq": 2, "ingests": [{"id"')
    manifest_module._STATES.clear()
    with pytest.raises(StoreError, match="damaged commit record"):
        load_state(root)


def test_a_checkpoint_of_a_state_older_than_the_latest_checkpoint_is_not_written(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(CHECKPOINT_EVERY - 1):
        append(store, n)
    root = open_store(store).root
    with checkpoint_lock(root, wait=True):  # the checkpoint due at the next record waits
        append(store, CHECKPOINT_EVERY)
    stale = load_state(store)
    assert stale.generation - stale.checkpoint >= CHECKPOINT_EVERY
    for n in range(CHECKPOINT_EVERY + 1, CHECKPOINT_EVERY + 3):
        append(store, n)  # the first of them writes the checkpoint (of a newer state)
    written = latest_checkpoint(root)
    assert written > stale.generation
    before = sorted(path.name for path in (root / CHECKPOINT_DIR).iterdir())
    # A writer that found the checkpoint due at ``stale`` and got the lock only now writes nothing.
    assert ingest_module.checkpoint_if_due(root, stale, wait=True) is None
    assert sorted(path.name for path in (root / CHECKPOINT_DIR).iterdir()) == before
    assert load_state(store).checkpoint == written
    check_store(store)


def test_a_body_stays_a_noop_after_its_record_was_folded_until_its_key_expires(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = append(store, 0, tag="once")
    assert append(store, 0, tag="once") is None  # found among the recent records
    for n in range(1, CHECKPOINT_EVERY + 2):
        append(store, n)
    assert not any(e.sha256 == "once-0" for e in load_state(store).ingests)  # folded into a checkpoint
    assert stored_keys(store).get("once-0") == date.today().isoformat()
    again = append_polls(store, poll(0), source="once-0", sha256="once-0")
    assert again.skipped and again.duplicate_of == first  # found by its key
    assert read_polls(store).height == CHECKPOINT_EVERY + 2
    # After the retention the key is forgotten: the same body is ingested again (its polls count once anyway).
    assert expire_keys(store, date.today() + timedelta(days=KEY_RETENTION_DAYS + 1)) >= 1
    assert not append_polls(store, poll(0), source="once-0", sha256="once-0").skipped
    assert read_polls(store).height == CHECKPOINT_EVERY + 3


def stored_keys(store: Path) -> dict[str, str]:
    """The keys' table, read apart from the store's code: sha256 → commit day."""
    with contextlib.closing(sqlite3.connect(store / KEYS_DIR / KEYS_DB)) as connection:
        return dict(connection.execute("SELECT sha256, day FROM keys").fetchall())


def test_a_key_keeps_every_field_of_its_ingest_in_order() -> None:
    # A key is read back as IngestEntry(*row): a field added to the entry needs its column.
    assert keys_module._FIELDS == tuple(field.name for field in dataclasses.fields(IngestEntry))


def test_keys_take_three_files_however_many_ingests_were_folded(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(3 * CHECKPOINT_EVERY + 1):  # three checkpoints' worth of keys
        append(store, n)
    folded = 3 * CHECKPOINT_EVERY + 1 - len(load_state(store).ingests)
    assert folded >= 2 * CHECKPOINT_EVERY
    assert len(stored_keys(store)) == folded
    files = sorted(path.name for path in (store / KEYS_DIR).rglob("*") if path.is_file())
    assert set(files) <= {KEYS_DB, f"{KEYS_DB}-wal", f"{KEYS_DB}-shm"}, files


def test_the_key_markers_of_an_earlier_store_are_still_found_and_expired(tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = append(store, 0, tag="old")
    for n in range(1, CHECKPOINT_EVERY + 2):
        append(store, n)
    # Make it look like a store written before the keys' table: its key as a marker file, not a row.
    assert "old-0" in stored_keys(store)  # folded: its key is a row
    with contextlib.closing(sqlite3.connect(store / KEYS_DIR / KEYS_DB)) as connection, connection:
        connection.row_factory = sqlite3.Row
        row = connection.execute("SELECT * FROM keys WHERE sha256 = 'old-0'").fetchone()
        connection.execute("DELETE FROM keys WHERE sha256 = 'old-0'")
    marker = {name: row[name] for name in row.keys() if name != "day"}  # a marker held the ingest's entry as JSON
    day = store / KEYS_DIR / date.today().isoformat()
    day.mkdir()
    (day / "old-0").write_text(json.dumps(marker), encoding="utf-8")
    again = append_polls(store, poll(0), source="old-0", sha256="old-0")
    assert again.skipped and again.duplicate_of == first  # found by its marker
    assert (
        expire_keys(store, date.today() + timedelta(days=KEY_RETENTION_DAYS + 1)) == 2
    )  # the table's day and the marker's
    assert not day.exists() and stored_keys(store) == {}
    assert not append_polls(store, poll(0), source="old-0", sha256="old-0").skipped


def test_a_store_made_again_at_the_same_path_does_not_find_the_old_ones_keys(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(CHECKPOINT_EVERY + 2):
        append(store, n, tag="gone")
    assert "gone-0" in stored_keys(store)
    assert append_polls(store, poll(0), source="gone-0", sha256="gone-0").skipped  # a connection is kept open
    shutil.rmtree(store)
    assert not append_polls(store, poll(0), source="gone-0", sha256="gone-0").skipped
    check_store(store)


def queue_writers(store: Path, count: int, tag: str) -> tuple[list[threading.Thread], list[str], dict[int, str | None]]:
    """Start ``count`` writers appending polls 1 … count and wait until all have queued (call holding the lock).

    Returns the threads, the queued intent ids and the dict their ingest ids land in.
    """
    root = open_store(store).root
    results: dict[int, str | None] = {}

    def post(n: int) -> None:
        results[n] = append(store, n, tag=tag)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(1, count + 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(queued := [p.stem for p in (root / "queue").glob("*.json") if ".result" not in p.name]) < count:
        assert time.monotonic() < deadline, "the writers did not queue"
        time.sleep(0.01)
    return threads, queued, results


def test_waiting_writers_share_one_commit_record(tmp_path: Path) -> None:
    store = tmp_path / "store"
    append(store, 0)
    root = open_store(store).root
    with commit_lock(root):  # the writers stage and queue, then wait for the lock
        threads, _, results = queue_writers(store, 4, "group")
    for thread in threads:
        thread.join(30)
    assert all(results.values()) and len(set(results.values())) == 4
    assert load_state(store).generation == 2  # one record for the four
    assert read_polls(store).height == 5
    assert not list((root / "queue").iterdir())


def test_a_committed_writer_returns_its_answer_while_the_lock_is_still_held(tmp_path: Path) -> None:
    # Three writers queue while the lock is held. The holder leads for
    # them (as a leader of another process would) and keeps the lock: every
    # writer must return with its answer, not wait for the lock to read it.
    store = tmp_path / "store"
    append(store, 0)
    root = open_store(store).root
    with commit_lock(root):
        threads, queued, results = queue_writers(store, 3, "follow")
        own = queued[0]
        answer, _ = ingest_module._lead(root, own)  # answers the other two; ours is written as a leader would
        ingest_module._write_json(root / "queue" / f"{own}.result.json", answer)
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads)  # all returned, the lock still held here
    assert all(results.values()) and len(set(results.values())) == 3
    assert load_state(store).generation == 2  # one record for the three
    assert read_polls(store).height == 4
    assert not list((root / "queue").iterdir())


def test_many_concurrent_writers_leave_an_empty_queue(tmp_path: Path) -> None:
    """Every intent and answer is removed by its writer (a leader removes its own under the lock)."""
    store = tmp_path / "store"
    append(store, 0)

    def post(offset: int) -> None:
        for n in range(offset, offset + 15):
            append(store, n, tag="many")

    threads = [threading.Thread(target=post, args=(15 * k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert read_polls(store).height == 61
    assert not list((store / "queue").iterdir())


def test_a_group_commits_the_same_body_once(tmp_path: Path) -> None:
    store = tmp_path / "store"
    append(store, 0)
    root = open_store(store).root
    results: list[str | None] = []
    with commit_lock(root):
        threads = [threading.Thread(target=lambda: results.append(append(store, 9, tag="same"))) for _ in range(3)]
        for thread in threads:
            thread.start()
        while len(list((root / "queue").glob("*.json"))) < 3:
            time.sleep(0.01)
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=str) == sorted([None, None, next(r for r in results if r)], key=str)
    assert read_polls(store).height == 2


def test_answers_of_a_leader_killed_after_its_record_come_from_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The leader commits a queued intent and dies before answering it: the next leader answers from the log."""
    store = tmp_path / "store"
    append(store, 0)
    root = open_store(store).root
    state = load_state(root)
    waiting = ingest_module._Source("polls", poll(5), "waiting", "waiting-sha", 1, 0, pl.DataFrame())
    staged = {0: ingest_module._stage(root, state, waiting, [])}
    ingest_module._write_json(root / "queue" / "w.json", ingest_module._intent("w", [waiting], staged))

    real = ingest_module._write_json

    def dies_answering(path: Path, document: dict) -> None:
        if path.name == "w.result.json":
            raise SystemExit("killed")  # what SIGKILL right after the record would leave
        real(path, document)

    monkeypatch.setattr(ingest_module, "_write_json", dies_answering)
    with pytest.raises(SystemExit):
        append(store, 1)
    monkeypatch.setattr(ingest_module, "_write_json", real)
    committed = load_state(root)
    assert committed.generation == 2 and "w" in committed.intents
    with commit_lock(root):
        answer, _ = ingest_module._lead(root, "w")
    assert answer["outcomes"][0]["ingest"]["id"] == staged[0].ingest_id
    assert load_state(root).generation == 2  # answered, not committed again
    assert read_polls(store).height == 3  # polls 0, 5 and 1, once each
    check_store(store)


def test_upkeep_runs_by_itself_and_leaves_no_garbage(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "UPKEEP_EVERY", 10)
    monkeypatch.setattr(ingest_module, "CHECKPOINT_EVERY", 4)
    monkeypatch.setattr(ingest_module, "INLINE_ROWS", 0)  # every batch a part file of its own, to be merged
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    # What crashes leave: a staged part never committed, an intent of a dead writer.
    orphan = store / "polls" / "date=2024-10-13" / "part-crashed.parquet"
    poll(1, store="intruder").write_parquet(orphan)
    (store / "queue").mkdir(exist_ok=True)
    (store / "queue" / "dead-writer.result.json").write_text("{}")
    n = 0
    while True:  # appends until one whose record's seq is a multiple of 10 (it ran upkeep), at least 30
        n += 1
        triggers = (load_state(store).generation + 1) % 10 == 0
        append(store, n)
        if triggers and n >= 30:
            break
    state = load_state(store)
    newest = max(date.fromisoformat(part.date) for part in state.parts)
    growing = {newest.isoformat(), (newest - timedelta(days=1)).isoformat()}
    for day in {part.date for part in state.parts}:
        small = [p for p in state.parts if p.date == day and p.rows < SMALL_ROWS]
        # The two newest dates merge size-tiered (a bounded number of small parts), the others into one.
        limit = GROWING_PARTS if day in growing else 1
        assert len(small) <= limit, f"{day}: {len(small)} small parts left after upkeep"
    assert len(state.poll_stores) == 1
    assert data_files(store) == state.files()  # merged files and garbage gone, nobody ran a command
    assert not orphan.exists() and not list((store / "queue").iterdir())
    inputs = load_dir(dataset)
    polls = pl.concat([inputs.polls, *(poll(k) for k in range(1, n + 1))])
    assert report_from_store(store).equals(compute_report(polls, inputs.hours, inputs.timezones))
    check_store(store)


def test_upkeep_keeps_big_parts_and_changes_no_report(dataset: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    for n in range(1, 20):
        append(store, n)
    before = report_from_store(store)
    big = {p.path for p in load_state(store).parts if p.rows >= SMALL_ROWS}
    upkeep(store)
    after = load_state(store)
    assert big <= {p.path for p in after.parts}
    assert report_from_store(store).equals(before)
    check_store(store)


def _parts(*rows: int) -> list[PartEntry]:
    return [PartEntry(f"polls/date=2024-10-14/part-{i:02d}.parquet", "2024-10-14", n) for i, n in enumerate(rows)]


def test_growing_merge_takes_the_smallest_parts_while_the_next_is_no_bigger_than_them_together() -> None:
    def merged(*rows: int) -> list[int]:
        return sorted(entry.rows for entry in growing_merge(_parts(*rows)))

    # 32 <= 32, then 83,000 > 32 + 32: the day's big small part stays as it is.
    assert merged(83_000, 32, 32) == [32, 32]
    # 1 <= 1, 1 <= 1 + 1, 1 <= 3: all four.
    assert merged(1, 1, 1, 1) == [1, 1, 1, 1]
    # 50 > 30, 60 > 30: one part alone is no merge.
    assert merged(60, 30, 50) == []
    # 30 <= 40? no; the order given does not matter: sorted by rows first.
    assert merged(40, 30) == []
    # 1, 2, 4, ..., 256: each bigger than all smaller together, 9 would stay > GROWING_PARTS: all are merged.
    doubling = [2**k for k in range(9)]
    assert GROWING_PARTS == 8 and merged(*doubling) == doubling


@given(st.lists(st.integers(min_value=1, max_value=SMALL_ROWS - 1), max_size=40))
def test_growing_merge_leaves_few_parts_and_merges_only_the_smallest(rows: list[int]) -> None:
    parts = _parts(*rows)
    chosen = growing_merge(parts)
    assert len(chosen) != 1  # a merge of one part would only rewrite it
    assert {p.path for p in chosen} <= {p.path for p in parts}
    kept = [p for p in parts if p not in chosen]
    assert len(kept) + (1 if chosen else 0) <= GROWING_PARTS  # the merged part counts once
    if chosen and kept:
        assert max(p.rows for p in chosen) <= min(p.rows for p in kept)
        # Not everything merged, so not the cap: each merged part at most half of its merge.
        assert all(2 * p.rows <= sum(q.rows for q in chosen) for p in chosen)


def test_upkeep_merges_a_growing_date_size_tiered_and_other_dates_whole(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A growing day's bigger small part is not rewritten for a few new polls; an older date is merged into one."""
    monkeypatch.setattr(ingest_module, "UPKEEP_EVERY", 10**9)  # upkeep only when called below
    monkeypatch.setattr(ingest_module, "INLINE_ROWS", 0)  # every batch a part file of its own
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    bulk = {p.date: p for p in load_state(store).parts}
    newest, settled = max(bulk), min(bulk)
    for n in (1, 2):  # END - 13 min, END - 26 min: the newest date
        append(store, n)
    older = poll(0).with_columns(pl.lit(datetime.fromisoformat(f"{settled}T06:00:00+00:00")).alias("timestamp_utc"))
    append_polls(store, older.cast(POLLS_SCHEMA), source="older", sha256="older")
    before = report_from_store(store)
    upkeep(store)
    state = load_state(store)
    newest_parts = sorted(p.rows for p in state.parts if p.date == newest)
    # The bulk part (hundreds of rows) stays; the two one-row parts became one of two rows (1 <= 1).
    assert bulk[newest].path in {p.path for p in state.parts}
    assert newest_parts == [2, bulk[newest].rows]
    # The oldest date is not growing: its bulk part and the new poll are one part now.
    assert [p.rows for p in state.parts if p.date == settled] == [bulk[settled].rows + 1]
    assert report_from_store(store).equals(before)
    check_store(store)


def test_plain_is_asdict_for_states_and_records(dataset: Path, tmp_path: Path) -> None:
    """The commit's fast ``plain`` gives exactly ``dataclasses.asdict`` (the JSON written depends on it)."""
    store = tmp_path / "store"
    ingest_paths(store, [dataset])
    for n in range(1, 4):
        append(store, n)
    replace_hours(store, _hours("08:00"), source="hours")
    state = load_state(store)
    assert state.ingests and state.inline and state.intents and state.hours is not None
    assert plain(state) == dataclasses.asdict(state)
    for seq in range(state.checkpoint + 1, state.generation + 1):
        record = _read_record(open_store(store).root, seq)
        assert plain(record) == dataclasses.asdict(record)


def _hours(start: str) -> pl.DataFrame:
    frame = pl.DataFrame([("s1", 0, start, "17:00")], schema=list(HOURS_SCHEMA), orient="row", strict=False)
    return frame.with_columns(pl.col("start_time_local", "end_time_local").str.to_time("%H:%M")).cast(HOURS_SCHEMA)


def test_a_stale_intent_fails_alone_and_the_rest_of_its_group_commits(tmp_path: Path) -> None:
    """The leader checks ``if_version`` per intent: the stale writer gets StaleVersionError, the others commit."""
    store = tmp_path / "store"
    seen = replace_hours(store, _hours("09:00"), source="first").ingest_id
    assert seen is not None
    root = open_store(store).root
    results: dict[str, object] = {}

    def write(name: str, call: Callable[[], object]) -> None:
        try:
            results[name] = call()
        except StaleVersionError as exc:
            results[name] = exc

    calls: dict[str, Callable[[], object]] = {
        "polls": lambda: append(store, 1, tag="group"),
        "winner": lambda: replace_hours(store, _hours("10:00"), source="winner", if_version=seen),
        "loser": lambda: replace_hours(store, _hours("11:00"), source="loser", if_version=seen),
    }
    with commit_lock(root):  # all three queue, then one leader commits the group
        threads = []
        for name in ("polls", "winner", "loser"):  # queued in this order: the intents sort by id, so wait
            threads.append(threading.Thread(target=write, args=(name, calls[name])))
            threads[-1].start()
            deadline = time.monotonic() + 30
            while len([p for p in (root / "queue").glob("*.json") if ".result" not in p.name]) < len(threads):
                assert time.monotonic() < deadline, "the writers did not queue"
                time.sleep(0.01)
    for thread in threads:
        thread.join(30)
    polls, winner, loser = results["polls"], results["winner"], results["loser"]
    # Which of the two conditional replaces wins depends on the queue order; exactly one does.
    if isinstance(winner, StaleVersionError):
        winner, loser = loser, winner
    assert isinstance(polls, str) and isinstance(winner, IngestResult) and isinstance(loser, StaleVersionError)
    assert loser.expected == seen and loser.current == winner.ingest_id
    assert load_state(root).generation == 2  # one record for the polls and the winner
    assert current_table(store, "hours")[1] == winner.ingest_id
    assert [v["source"] for v in table_versions(store, "hours")] == [winner.source, "first"]
    assert not list((root / "queue").iterdir())
    assert sorted(p.name for p in (root / "tables").glob("hours-*")) == sorted(
        f"hours-{v}.parquet" for v in (seen, winner.ingest_id)
    )  # the loser's staged file is gone
    check_store(store)


def test_table_versions_outlive_checkpoints_and_upkeep(tmp_path: Path) -> None:
    """Every version stays listed and restorable after its record was folded and garbage was collected."""
    store = tmp_path / "store"
    first = replace_hours(store, _hours("09:00"), source="first").ingest_id
    special = pl.DataFrame(
        [("s1", date(2024, 10, 12), None, None)], schema=list(SPECIAL_HOURS_SCHEMA), orient="row"
    ).cast(SPECIAL_HOURS_SCHEMA)
    closed = replace_special_hours(store, special, source="holiday").ingest_id
    second = replace_hours(store, _hours("10:00"), source="second").ingest_id
    for n in range(ingest_module.UPKEEP_EVERY + 2):
        append(store, n)
    assert load_state(store).checkpoint > 3  # the records of the three table versions are folded
    upkeep(store)
    versions = table_versions(store, "hours")
    assert [(v["version"], v["current"], v["restorable"]) for v in versions] == [
        (second, True, True),
        (first, False, True),
    ]
    assert table_versions(store, "special")[0]["version"] == closed
    assert current_table(store, "special")[0].equals(special)
    restored = restore_table(store, "hours", str(first), if_version=second)
    assert current_table(store, "hours")[0].equals(_hours("09:00")) and restored.ingest_id not in (first, second)
    check_store(store)


def test_range_reads_from_the_store_see_polls_held_in_records(tmp_path: Path) -> None:
    """timeline/incidents/daily_from_store read the state's parts *and* the inline polls of the recent records."""
    store = tmp_path / "store"
    for n in range(40):
        append(store, n)
    state = load_state(store)
    assert state.inline and state.parts  # both kinds of poll storage are read
    polls = pl.concat([poll(n) for n in range(40)])
    frames = (polls, pl.DataFrame(schema=HOURS_SCHEMA), pl.DataFrame(schema=TIMEZONES_SCHEMA), END)
    options = {"start": END - timedelta(hours=9), "horizon_inactive": timedelta(hours=2)}
    assert timeline_from_store(store, END, **options).equals(timeline(*frames, **options))
    assert incidents_from_store(store, END, **options).equals(incidents(*frames, **options))
    assert daily_from_store(store, END, **options).equals(daily(*frames, **options))
    assert report_from_store(store, END).equals(compute_report(*frames))


def test_a_stale_intent_of_a_leader_killed_before_answering_is_answered_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next leader rebuilds the conflict from the log: the stale intent is never committed."""
    store = tmp_path / "store"
    seen = replace_hours(store, _hours("09:00"), source="first").ingest_id
    newer = replace_hours(store, _hours("10:00"), source="newer").ingest_id
    root = open_store(store).root
    late = ingest_module._Source("hours", _hours("11:00"), "late", "late-sha", 1, 0, pl.DataFrame(), seen)
    staged = {0: ingest_module._stage(root, load_state(root), late, [])}
    ingest_module._write_json(root / "queue" / "w.json", ingest_module._intent("w", [late], staged))
    real = ingest_module._write_json

    def dies_answering(path: Path, document: dict) -> None:
        if path.name == "w.result.json":
            assert document["stale"] == {"table": "hours", "expected": seen, "current": newer}
            raise SystemExit("killed")
        real(path, document)

    monkeypatch.setattr(ingest_module, "_write_json", dies_answering)
    with pytest.raises(SystemExit):
        append(store, 1)  # its record lists both intents; only the polls are committed
    monkeypatch.setattr(ingest_module, "_write_json", real)
    assert "w" in load_state(root).intents
    with commit_lock(root):
        answer, _ = ingest_module._lead(root, "w")
    assert answer["stale"] == {"table": "hours", "expected": seen, "current": newer} and answer["kept"] == []
    assert current_table(store, "hours")[1] == newer
    assert [v["source"] for v in table_versions(store, "hours")] == ["newer", "first"]
