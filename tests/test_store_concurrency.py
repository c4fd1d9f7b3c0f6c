"""The data store under concurrency and crashes, with real processes.

* Reports running while another process ingests and compacts each see one
  committed state: before or after, never a mix.
* Writers in several processes (ingests and compactions at once) lose no row.
* An ingest killed with SIGKILL at a random point (the N-th fsync, rename or
  unlink, or after a random delay) leaves a store that opens, whose committed
  ingests are complete, that shows nothing uncommitted, and that the next
  ingest continues without trouble. The steps include runs of single-poll
  appends with small thresholds, so kills also land in checkpoints, key
  markers, group commits and automatic upkeep (compaction, pruning, GC).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from store_helpers import data_files
from storemon import compute_report
from storemon._generate import generate_dataset
from storemon._load import load_hours, load_polls, load_timezones
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, TIMEZONES_SCHEMA
from storemon.store import check_store, ingest_paths, read_polls, report_from_store
from storemon.store._compact import collect_garbage
from storemon.store._ingest import inline_frame
from storemon.store._manifest import read_manifest
from storemon.store._pins import load_pin, pinned_files

END = datetime(2024, 10, 14, 12, 0, tzinfo=UTC)

# Runs ingest/compact steps given as JSON. With a positive kill_at it SIGKILLs
# itself just before its kill_at-th call of os.fsync, os.replace or os.unlink
# (the calls that make up every write and commit); it prints how many it made.
CHILD = textwrap.dedent(
    """
    import json, os, signal, sys

    store, kill_at, steps = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
    calls = 0

    def counted(function):
        def wrapper(*args, **kwargs):
            global calls
            calls += 1
            if calls == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return function(*args, **kwargs)
        return wrapper

    os.fsync, os.replace, os.unlink = counted(os.fsync), counted(os.replace), counted(os.unlink)

    from datetime import datetime, timedelta, timezone
    import polars as pl
    import storemon.store._ingest as ingest_module
    from storemon.schema import POLLS_SCHEMA
    from storemon.store._compact import compact
    from storemon.store import append_polls, ingest_paths, pin_snapshot

    # Small thresholds, so that a few dozen appends checkpoint and run upkeep.
    ingest_module.CHECKPOINT_EVERY = 4
    ingest_module.UPKEEP_EVERY = 6
    end = datetime(2024, 10, 14, 12, 0, tzinfo=timezone.utc)

    for step in steps:
        if step[0] == "ingest":
            ingest_paths(store, step[1:])
        elif step[0] == "append":  # ["append", tag, count]: single-poll appends, sources "<tag>-<i>"
            for i in range(int(step[2])):
                row = (f"{step[1]}-{i % 5}", end - timedelta(hours=i), "active" if i % 3 else "inactive")
                frame = pl.DataFrame([row], schema=list(POLLS_SCHEMA), orient="row").cast(POLLS_SCHEMA)
                append_polls(store, frame, source=f"{step[1]}-{i}", sha256=f"{step[1]}-{i}")
        elif step[0] == "pin":  # a snapshot pin: written under the commit lock, kept by upkeep/compact/GC
            pin_snapshot(store, ttl=timedelta(hours=1))
        else:
            compact(store)
    print(f"calls={calls}")
    """
)


def append_frame(tag: str, i: int) -> pl.DataFrame:
    """The poll the child's ``append`` step sends as source ``<tag>-<i>``."""
    row = (f"{tag}-{i % 5}", END - timedelta(hours=i), "active" if i % 3 else "inactive")
    return pl.DataFrame([row], schema=list(POLLS_SCHEMA), orient="row").cast(POLLS_SCHEMA)


def appended(sources: set[str]) -> list[pl.DataFrame]:
    """The frames of the committed ``append`` sources among ``sources``."""
    frames = []
    for source in sorted(sources):
        tag, _, index = source.rpartition("-")
        if tag in APPEND_TAGS and index.isdigit():
            frames.append(append_frame(tag, int(index)))
    return frames


APPEND_TAGS = ("a", "b")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hours, time zones and three interleaved polls chunks of a small generated data set."""
    out = tmp_path_factory.mktemp("data")
    files = generate_dataset(out, stores=30, days=10, seed=11, end=END)
    raw = pl.read_csv(files.polls, infer_schema=False)
    paths = {"hours": files.hours, "timezones": files.timezones, "child": out / "child.py"}
    for index in range(3):
        paths[f"polls{index}"] = out / f"polls-{index}.csv"
        raw.gather_every(3, offset=index).write_csv(paths[f"polls{index}"])
    paths["child"].write_text(CHILD)
    return paths


def start_child(data: dict[str, Path], store: Path, steps: list[list[str]], kill_at: int = 0) -> subprocess.Popen:
    command = [sys.executable, str(data["child"]), str(store), str(kill_at), json.dumps(steps)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(child: subprocess.Popen) -> str:
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    return out


def expected_report(polls: list[Path], hours: Path | None, timezones: Path | None, now=None) -> pl.DataFrame:
    frames = [load_polls(path).frame for path in polls]
    polls_frame = pl.concat(frames) if frames else pl.DataFrame(schema=POLLS_SCHEMA)
    hours_frame = load_hours(hours).frame if hours else pl.DataFrame(schema=HOURS_SCHEMA)
    zones_frame = load_timezones(timezones).frame if timezones else pl.DataFrame(schema=TIMEZONES_SCHEMA)
    return compute_report(polls_frame, hours_frame, zones_frame, now)


def ingest(path: Path) -> list[str]:
    return ["ingest", str(path)]


# --- readers during writes ------------------------------------------------------------------------


def test_reports_during_ingest_and_compaction_see_before_or_after(data: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest_paths(store, [data["hours"], data["timezones"], data["polls0"], data["polls1"]])
    before = expected_report([data["polls0"], data["polls1"]], data["hours"], data["timezones"])
    after = expected_report([data["polls0"], data["polls1"], data["polls2"]], data["hours"], data["timezones"])
    assert not before.equals(after)

    child = start_child(data, store, [ingest(data["polls2"]), ["compact"]])
    while True:  # at least one report, then as many as fit while the child runs
        report = report_from_store(store)
        assert report.equals(before) or report.equals(after), "a report saw a state that was never committed"
        if child.poll() is not None:
            break
    finish(child)
    assert report_from_store(store).equals(after)
    assert len(read_manifest(store).parts) == len({part.date for part in read_manifest(store).parts})


def test_reports_during_appends_and_upkeep_see_a_committed_prefix(data: dict[str, Path], tmp_path: Path) -> None:
    """Single-poll appends with checkpoints, upkeep and garbage collection running: each report is a prefix."""
    store = tmp_path / "store"
    ingest_paths(store, [data["hours"], data["timezones"], data["polls0"]])
    base = load_polls(data["polls0"]).frame
    hours, zones = load_hours(data["hours"]).frame, load_timezones(data["timezones"]).frame
    count = 24
    prefixes = [
        compute_report(pl.concat([base, *(append_frame("a", i) for i in range(k))]), hours, zones, END)
        for k in range(count + 1)
    ]
    child = start_child(data, store, [["append", "a", str(count)]])
    while True:
        report = report_from_store(store, END)
        assert any(report.equals(want) for want in prefixes), "a report saw a state that was never committed"
        if child.poll() is not None:
            break
    finish(child)
    assert report_from_store(store, END).equals(prefixes[-1])
    check_store(store)


def test_concurrent_writers_lose_nothing(data: dict[str, Path], tmp_path: Path) -> None:
    store = tmp_path / "store"
    ingest_paths(store, [data["hours"]])  # create it first, so that all children race on commits
    children = [
        start_child(data, store, [ingest(data["polls0"]), ["compact"]]),
        start_child(data, store, [ingest(data["polls1"]), ingest(data["timezones"])]),
        start_child(data, store, [ingest(data["polls2"]), ["compact"]]),
        start_child(data, store, [["compact"], ingest(data["polls1"]), ["compact"]]),
        # Single-poll appends: group commits, checkpoints and upkeep racing the others.
        start_child(data, store, [["append", "a", "40"]]),
        start_child(data, store, [["append", "b", "40"], ["append", "a", "10"]]),  # a-0 … a-9 again: no-ops
    ]
    for child in children:
        finish(child)
    manifest = check_store(store)
    polls_ingests = sorted(entry.source for entry in manifest.ingests if entry.kind == "polls")
    appends = sorted(f"{tag}-{i}" for tag in APPEND_TAGS for i in range(40))
    assert polls_ingests == sorted([*(str(data[f"polls{i}"]) for i in range(3)), *appends])  # polls1 once
    frames = [load_polls(data[f"polls{i}"]).frame for i in range(3)] + appended(set(appends))
    everything = pl.concat(frames)
    assert read_polls(store).equals(everything.sort("store_id", "timestamp_utc", "status"))
    hours, zones = load_hours(data["hours"]).frame, load_timezones(data["timezones"]).frame
    assert report_from_store(store).equals(compute_report(everything, hours, zones))
    assert_pins_hold(store)


# --- crashes ---------------------------------------------------------------------------------------


def crash_steps(data: dict[str, Path]) -> list[list[str]]:
    return [
        ingest(data["hours"]),
        ingest(data["polls0"]),
        ["pin"],
        ["append", "a", "14"],  # checkpoints, key markers, upkeep
        ingest(data["polls1"]),
        ["pin"],  # names parts that the compaction right after merges away
        ["compact"],
        ingest(data["timezones"]),
        ["pin"],  # names inline polls and poll-store deltas that upkeep folds and merges
        ["append", "b", "13"],
        ingest(data["polls2"]),
        ingest(data["polls1"]),  # a no-op
        ["append", "a", "14"],  # no-ops: found in the state or by key markers
        ["compact"],
    ]


@pytest.fixture(scope="module")
def uninterrupted(data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[int, float]:
    """How many fsync/rename/unlink calls the crash steps make, and how long they take."""
    started = time.monotonic()
    out = finish(start_child(data, tmp_path_factory.mktemp("count") / "store", crash_steps(data)))
    return int(out.strip().removeprefix("calls=")), time.monotonic() - started


def assert_consistent_after_crash(data: dict[str, Path], store: Path) -> None:
    """The store opens; every committed ingest is complete; nothing uncommitted shows."""
    if not (store / "manifest.json").exists():
        return  # killed before the store's descriptor: not a store yet, nothing committed
    manifest = check_store(store)  # every file there, with its recorded rows
    sources = [entry.source for entry in manifest.ingests]
    assert len(sources) == len(set(sources)), "a source was committed twice"
    committed = set(sources)
    polls = [data[f"polls{i}"] for i in range(3) if str(data[f"polls{i}"]) in committed]
    frames = [load_polls(path).frame for path in polls] + appended(committed)
    expected_polls = pl.concat(frames) if frames else pl.DataFrame(schema=POLLS_SCHEMA)
    assert read_polls(store).equals(expected_polls.sort("store_id", "timestamp_utc", "status"))
    hours = load_hours(data["hours"]).frame if str(data["hours"]) in committed else pl.DataFrame(schema=HOURS_SCHEMA)
    zones = data["timezones"]
    zones_frame = load_timezones(zones).frame if str(zones) in committed else pl.DataFrame(schema=TIMEZONES_SCHEMA)
    want = compute_report(expected_polls, hours, zones_frame, END)
    assert report_from_store(store, END).equals(want)
    collect_garbage(store)
    assert data_files(store) == manifest.files() | pinned_files(store)
    assert_pins_hold(store)


def assert_pins_hold(store: Path) -> None:
    """Every pin on disk is whole, and a report on it gives the figures of the files it names.

    The expected figures come from reading the pinned state's parts, inline
    polls and tables directly (not through the store's read path): so the
    files of every pin survived the crash, upkeep, compaction and GC.
    """
    for path in sorted((store / "pins").glob("*.json")):
        token = path.stem
        state = load_pin(store, token)
        frames = [pl.read_parquet(store / part.path, columns=list(POLLS_SCHEMA)) for part in state.parts]
        frames.append(inline_frame(state.inline))
        polls = pl.concat(frames).cast(POLLS_SCHEMA)
        hours, zones = pl.DataFrame(schema=HOURS_SCHEMA), pl.DataFrame(schema=TIMEZONES_SCHEMA)
        if state.hours:
            hours = pl.read_parquet(store / state.hours.path, columns=list(HOURS_SCHEMA)).cast(HOURS_SCHEMA)
        if state.timezones:
            zones = pl.read_parquet(store / state.timezones.path, columns=list(TIMEZONES_SCHEMA)).cast(TIMEZONES_SCHEMA)
        want = compute_report(polls, hours, zones, END)
        assert report_from_store(store, END, snapshot=token).equals(want)
        shards = [report_from_store(store, END, snapshot=token, shard=(i, 3)) for i in range(3)]
        assert pl.concat(shards).sort("store_id").equals(want)


@pytest.mark.parametrize("seed", range(10))
def test_ingest_killed_at_a_random_write_leaves_a_consistent_store(
    data: dict[str, Path], tmp_path: Path, uninterrupted: tuple[int, float], seed: int
) -> None:
    calls, _ = uninterrupted
    kill_at = random.Random(seed).randint(1, calls)
    store = tmp_path / "store"
    child = start_child(data, store, crash_steps(data), kill_at=kill_at)
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    assert_consistent_after_crash(data, store)
    # The next run finishes the job (no stale lock, garbage ignored).
    finish(start_child(data, store, crash_steps(data)))
    assert_complete(data, store)


def assert_complete(data: dict[str, Path], store: Path) -> None:
    """Every step's data committed exactly once."""
    manifest = check_store(store)
    sources = sorted(entry.source for entry in manifest.ingests if entry.kind == "polls")
    appends = [f"a-{i}" for i in range(14)] + [f"b-{i}" for i in range(13)]
    assert sources == sorted([*(str(data[f"polls{i}"]) for i in range(3)), *appends])
    frames = [load_polls(data[f"polls{i}"]).frame for i in range(3)] + appended(set(appends))
    everything = pl.concat(frames)
    assert read_polls(store).equals(everything.sort("store_id", "timestamp_utc", "status"))
    hours, zones = load_hours(data["hours"]).frame, load_timezones(data["timezones"]).frame
    assert report_from_store(store).equals(compute_report(everything, hours, zones))


@pytest.mark.parametrize("seed", range(3))
def test_ingest_killed_after_a_random_delay_leaves_a_consistent_store(
    data: dict[str, Path], tmp_path: Path, uninterrupted: tuple[int, float], seed: int
) -> None:
    _, duration = uninterrupted
    store = tmp_path / "store"
    child = start_child(data, store, crash_steps(data))
    time.sleep(random.Random(seed).uniform(0.2, duration))
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=120)
    assert_consistent_after_crash(data, store)
    finish(start_child(data, store, crash_steps(data)))
    assert_complete(data, store)


def test_a_pin_killed_at_each_write_is_whole_or_absent(data: dict[str, Path], tmp_path: Path) -> None:
    """SIGKILL at every fsync/rename/unlink of ``pin_snapshot``: no torn pin, the store as before.

    The calls of the pin step are those of ``steps + pin`` minus those of
    ``steps`` alone (each run starts from an empty store, so both counts are fixed).
    """
    steps = [ingest(data["hours"]), ingest(data["polls0"])]
    before = int(finish(start_child(data, tmp_path / "count0", steps)).strip().removeprefix("calls="))
    total = int(finish(start_child(data, tmp_path / "count1", [*steps, ["pin"]])).strip().removeprefix("calls="))
    assert total > before
    for kill_at in range(before + 1, total + 1):
        store = tmp_path / f"store-{kill_at}"
        child = start_child(data, store, [*steps, ["pin"]], kill_at=kill_at)
        child.communicate(timeout=120)
        assert child.returncode == -signal.SIGKILL
        assert_consistent_after_crash(data, store)  # pins whole (or absent) and readable; GC keeps their files
        assert not list((store / "pins").glob(".*.tmp")), "garbage collection removes a torn pin's temp file"
