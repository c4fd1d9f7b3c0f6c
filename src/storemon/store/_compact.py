"""Compaction, automatic upkeep and garbage collection of a data store.

:func:`compact` merges each UTC date's poll parts into one new part (rows
kept as they are, duplicates included, bucketed and sorted by bucket, store
and time like every new part, see :func:`~storemon.store._files.write_parts`), likewise
each commit date's rejects and ingest-history files (rows kept in ingest
order), and the poll-store pieces into one table; it commits the swap in
one commit record, deletes the merged files, then runs
:func:`collect_garbage`. Reports before and after are identical: the same
rows are committed, only in fewer files.

:func:`upkeep` is what runs **by itself**: the writer that commits a record
whose seq is a multiple of :data:`~storemon.store._ingest.UPKEEP_EVERY`
runs it before it returns. It merges only *small* files (fewer than
:data:`SMALL_ROWS` rows) of each date, so a big part from a bulk ingest is
not rewritten for every few new polls, and then leaves per date the big
parts plus at most one small one — except on the two newest dates of polls,
the ones live intake is filling, where it merges size-tiered
(:func:`growing_merge`: at most :data:`GROWING_PARTS` small parts stay),
so that a growing day's small part of tens of thousands of rows is not
rewritten for every 64 single-poll commits; it merges the poll-store deltas, deletes
the files it merged away, expires idempotency keys past their retention
(:mod:`storemon.store._keys`), and collects garbage if no writer is staging
right now (it never waits for that, so intake never stalls behind it).
Metadata needs no upkeep of its own: checkpoints fold and prune the log
(:mod:`storemon.store._manifest`).

:func:`collect_garbage` deletes every file under ``polls/``, ``tables/``,
``rejects/`` and ``history/`` that the committed state does not name (parts
replaced by a compaction, merged poll-store pieces, files of ingests that
crashed before their commit; every hours, time-zone and special-hours
version stays, restorable) nor any live snapshot pin
(:mod:`storemon.store._pins`), queue files of dead writers, pins past their
expiry and grace, and leftover temporary files. It holds the writers' lock exclusively, so files
being staged by a running ingest are never touched. A report that was
reading a deleted file of an older snapshot starts again from the new state
(see :func:`storemon.store.report_from_store`).

Only one compaction runs at a time (``.compact.lock``); it holds the writers'
lock shared while it writes merged files, and the commit lock only to commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from storemon._core.shards import BUCKETS
from storemon._fileio import temp_pattern
from storemon.exceptions import StoreError
from storemon.schema import POLLS_SCHEMA
from storemon.store._files import (
    StoreLike,
    new_id,
    open_store,
    read_poll_stores,
    write_dated,
    write_parts,
    write_poll_stores,
)
from storemon.store._keys import expire_keys
from storemon.store._manifest import (
    CHECKPOINT_DIR,
    LOG_DIR,
    MANIFEST_NAME,
    Manifest,
    PartEntry,
    Record,
    TableEntry,
    commit_lock,
    fold,
    load_state,
    now_iso,
    try_writers_lock_exclusive,
    write_record,
    writers_lock,
)
from storemon.store._pins import expire_pins, pinned_files

__all__ = ["CompactResult", "compact", "upkeep", "collect_garbage", "growing_merge", "SMALL_ROWS", "GROWING_PARTS"]

#: Upkeep merges a date's files with fewer rows than this (a date's big parts stay as they are).
SMALL_ROWS = 100_000
#: Small poll parts a growing date (the newest two) keeps at most after upkeep (see :func:`growing_merge`).
GROWING_PARTS = 8
COMPACT_LOCK = ".compact.lock"
_DATA_DIRS = ("polls", "tables", "rejects", "history")


@dataclass(frozen=True)
class CompactResult:
    """What :func:`compact` (or :func:`upkeep`) did; dates and parts count poll parts."""

    dates_merged: int
    parts_before: int
    parts_after: int
    files_removed: int

    def describe(self) -> str:
        """One line for a person."""
        return (
            f"merged the parts of {self.dates_merged} dates: {self.parts_before} → {self.parts_after} "
            f"part files; removed {self.files_removed} unreferenced files"
        )


def compact(store: StoreLike, *, garbage: bool = True) -> CompactResult:
    """Merge every date's files into one, atomically; then collect garbage.

    Safe to run while ingests and reports run: an ingest committed meanwhile
    keeps its parts (only files still live at commit time are swapped).
    """
    opened = open_store(store)
    dates, before, after, removed = _compact(opened.root, small_only=False)
    if garbage:
        removed += collect_garbage(opened)
    return CompactResult(dates, before, after, removed)


def upkeep(store: StoreLike) -> CompactResult:
    """The automatic upkeep (module docstring): merge small files, expire keys, collect garbage if idle."""
    root = open_store(store).root
    if not _compact_idle(root):
        return CompactResult(0, 0, 0, 0)  # a compaction runs already: it does this job; do not wait for it
    dates, before, after, removed = _compact(root, small_only=True)
    expire_keys(root, datetime.now(UTC).date())
    expire_pins(root)
    with try_writers_lock_exclusive(root) as idle:
        if idle:
            removed += _collect(root)
    return CompactResult(dates, before, after, removed)


def _compact_idle(root: Path) -> bool:
    """Whether no compaction holds ``.compact.lock`` right now (a hint: taken again, blocking, by ``_compact``)."""
    fd = os.open(root / COMPACT_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


@contextlib.contextmanager
def _compact_lock(root: Path) -> Iterator[None]:
    fd = os.open(root / COMPACT_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class _Merge:
    kind: str  # "parts", "rejects", "history" or "poll_stores"
    sources: frozenset[str]
    part: PartEntry | None = None
    table: TableEntry | None = None


def _compact(root: Path, *, small_only: bool) -> tuple[int, int, int, int]:
    """Merge, commit, delete the merged files; return (dates merged, parts before, parts after, files removed)."""
    with _compact_lock(root), writers_lock(root):
        state = load_state(root)
        merges: list[_Merge] = []
        written: list[str] = []
        try:
            growing = _growing_dates(state.parts)
            for kind in ("parts", "rejects", "history"):
                entries: tuple[PartEntry, ...] = getattr(state, kind)
                for day, group in _by_date(entries):
                    chosen = [e for e in group if e.rows < SMALL_ROWS] if small_only else group
                    if small_only and kind == "parts" and day in growing:
                        chosen = growing_merge(chosen)
                    # A full compaction also rewrites a date's single part of the layout
                    # before buckets, so that sharded reads prune it from then on.
                    legacy = kind == "parts" and not small_only and any(e.buckets != BUCKETS for e in chosen)
                    if len(chosen) > 1 or (chosen and legacy):
                        merges.append(_merge(root, kind, day, chosen, written))
            if len(state.poll_stores) > 1 or any(piece.buckets != BUCKETS for piece in state.poll_stores):
                merges.append(_merge_poll_stores(root, state.poll_stores, written))
            with commit_lock(root):
                current = load_state(root, repair=True)
                live = current.files()
                done = [merge for merge in merges if merge.sources <= live]
                if done:
                    current = _commit(root, current, done)
        except BaseException:
            # Perhaps after the commit (a checkpoint that failed): keep what the state names.
            try:
                named = load_state(root).files()
            except (StoreError, OSError):
                named = set(written)
            for relative in written:
                if relative not in named:
                    (root / relative).unlink(missing_ok=True)
            raise
        kept = current.files()
        removed = 0
        for relative in written:  # a merge whose sources changed meanwhile (cannot happen under the lock)
            if relative not in kept:
                (root / relative).unlink(missing_ok=True)
        # Read after the commit: a pin made before it names the merged files and keeps
        # them (storemon.store._pins); one made after it does not name them.
        try:
            pinned = pinned_files(root)
        except StoreError:
            pinned = None  # a damaged pin: delete nothing now, garbage collection decides later
        for merge in done:
            for relative in merge.sources:
                if pinned is not None and relative not in pinned:
                    (root / relative).unlink(missing_ok=True)
                    removed += 1
        dates = sum(1 for merge in done if merge.kind == "parts")
        return dates, len(state.parts), len(current.parts), removed


def _commit(root: Path, current: Manifest, done: list[_Merge]) -> Manifest:
    from storemon.store._ingest import checkpoint_if_due  # _ingest imports this module lazily

    record = Record(
        seq=current.generation + 1,
        committed_at=now_iso(),
        parts=tuple(m.part for m in done if m.kind == "parts" and m.part),
        rejects=tuple(m.part for m in done if m.kind == "rejects" and m.part),
        history=tuple(m.part for m in done if m.kind == "history" and m.part),
        poll_stores=tuple(m.table for m in done if m.table),
        remove=tuple(sorted(path for m in done for path in m.sources)),
    )
    write_record(root, record)
    state = fold(current, record)
    # Waiting for a checkpoint being written by a writer is safe here (that
    # writer holds no commit lock); and ours is not skipped for theirs unless
    # theirs already covers our state's checkpoint base.
    return checkpoint_if_due(root, state, wait=True) or state


def _growing_dates(parts: tuple[PartEntry, ...]) -> set[str]:
    """The newest date of polls and the one before it: the dates live intake is adding parts to."""
    if not parts:
        return set()
    newest = date.fromisoformat(max(part.date for part in parts))
    return {newest.isoformat(), (newest - timedelta(days=1)).isoformat()}


def growing_merge(small: list[PartEntry]) -> list[PartEntry]:
    """Which of a growing date's small parts upkeep merges (none, or at least two).

    Size-tiered: the smallest parts, taken from the smallest up for as long
    as the next one has at most as many rows as those taken so far together
    — so every part merged has at most as many rows as the others of its
    merge together, and each rewrite of a row at least doubles the part it
    is in (not a rewrite at every upkeep). What bounds the parts left is
    the cap: should more than :data:`GROWING_PARTS` stay, every small part
    is merged instead.

    Two 32-row parts next to one of 83,000 rows: the two are merged (32 ≤ 32)
    and the big one stays (83,000 > 32 + 32).
    """
    ordered = sorted(small, key=lambda entry: (entry.rows, entry.path))
    chosen: list[PartEntry] = []
    rows = 0
    for entry in ordered:
        if chosen and entry.rows > rows:
            break
        chosen.append(entry)
        rows += entry.rows
    if len(ordered) - len(chosen) + 1 > GROWING_PARTS:
        return ordered
    return chosen if len(chosen) > 1 else []


def _by_date(entries: tuple[PartEntry, ...]) -> list[tuple[str, list[PartEntry]]]:
    ordered = sorted(entries, key=lambda entry: (entry.date, entry.path))
    return [(day, list(group)) for day, group in itertools.groupby(ordered, key=lambda entry: entry.date)]


def _merge(root: Path, kind: str, day: str, entries: list[PartEntry], written: list[str]) -> _Merge:
    """Write one file holding every row of ``entries`` (in path order, which is ingest order)."""
    sources = frozenset(entry.path for entry in entries)
    if kind == "parts":
        # Only the polls' columns: older parts have no bucket column (write_parts adds it again).
        frame = pl.concat(
            [pl.read_parquet(root / entry.path, columns=list(POLLS_SCHEMA)).cast(POLLS_SCHEMA) for entry in entries]
        )
        (part,) = write_parts(root, frame, f"compact-{new_id()}", written)
        return _Merge(kind, sources, part=part)
    frame = pl.concat([pl.read_parquet(root / entry.path) for entry in entries], how="diagonal_relaxed")
    # Named after the first file it merges, so that it sorts where that one did.
    first = Path(entries[0].path).stem.split("~", 1)[0]
    stem = f"{first}~c{new_id()}"
    directory = "rejects" if kind == "rejects" else "history"
    written.append(f"{directory}/date={day}/{stem}.parquet")
    return _Merge(kind, sources, part=write_dated(root, directory, stem, day, frame))


def _merge_poll_stores(root: Path, pieces: tuple[TableEntry, ...], written: list[str]) -> _Merge:
    merged = read_poll_stores(root, pieces)
    relative = f"tables/poll-stores-{new_id()}.parquet"
    written.append(relative)
    table = write_poll_stores(root, relative, merged["store_id"])
    return _Merge("poll_stores", frozenset(piece.path for piece in pieces), table=table)


def collect_garbage(store: StoreLike) -> int:
    """Delete every store file the committed state does not name; return how many."""
    root = open_store(store).root
    with writers_lock(root, exclusive=True):
        return _collect(root)


def _collect(root: Path) -> int:
    """The garbage collection proper; call with the writers' lock held exclusively."""
    removed = expire_pins(root)
    try:
        keep = load_state(root).files() | pinned_files(root)
    except StoreError:
        return removed  # nothing is deleted from a store whose state (or a pin) cannot be read
    for sub in _DATA_DIRS:
        for path in sorted((root / sub).rglob("*"), reverse=True):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and relative not in keep:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()  # an emptied date directory
    # No writer is staging (we hold the writers' lock exclusively): every queue
    # file is an intent or answer of a writer that died.
    leftovers = list((root / "queue").glob("*")) if (root / "queue").is_dir() else []
    leftovers += list(root.glob(temp_pattern(MANIFEST_NAME)))
    for sub in (LOG_DIR, CHECKPOINT_DIR):
        if (root / sub).is_dir():
            leftovers += list((root / sub).glob(".*.tmp"))
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed
