"""The store's metadata: a log of small commit records, folded into periodic checkpoints.

What a store holds is the fold of its **commit log**::

    manifest.json                  the store descriptor: {"format": 2}; written once, at creation
    log/<seq>.json                 one commit record per commit (seq = 1, 2, …, 20 digits)
    checkpoints/<seq>.json         the whole state after record <seq> (a snapshot)

* **The commit point** of every change is the creation of ``log/<seq>.json``
  with ``O_CREAT | O_EXCL``, then fsync of the file and of ``log/``. The
  exclusive create means two writers can never both commit ``seq``; a
  record that is on disk is committed, one that is not (a crash before the
  create) never was. A record half-written by a crash cannot exist as a
  committed one: writers hold ``.commit.lock`` and a record that does not
  parse is only possible for the last seq of a crashed writer, which the
  next writer removes under the lock before it commits (:func:`load_state`
  with ``repair``) — readers treat it as not there. The record is written
  in place, so a reader without the lock may also find the last record
  still being written: not there yet, for it. Should a later record exist
  by the time it looks, the first one is whole by then, and it reads it again.
* **Cost independent of history.** A record holds only what its commit
  adds or removes (the batch's part files, its ingest entries), so a commit
  writes O(batch). A small polls batch (at most :data:`INLINE_ROWS` rows) is
  held in the record itself (``polls``: ``[store_id, µs, status]`` rows),
  so a single-poll POST costs one file and one fsync pair, not a Parquet
  part of its own; the checkpoint writes those rows as Parquet parts.
  Every :data:`CHECKPOINT_EVERY` records the committing writer writes a
  checkpoint (temp + fsync + rename; under ``.checkpoint.lock``, after it
  has released the commit lock, so that commits go on meanwhile): the state with the ingest entries of
  the records it folds moved into an ingest-history Parquet file (read
  only by :func:`read_manifest`, never by commits or reports). A reader loads the latest checkpoint plus the (fewer than
  ``CHECKPOINT_EVERY``) records after it, so reading the state costs the
  same after 100 or 100,000 ingests.
* **Bounded metadata.** When checkpoint ``N`` is written, the records and
  checkpoints before the *previous* checkpoint are deleted: at most two
  checkpoints and ``2 × CHECKPOINT_EVERY`` records exist, plus the records
  committed while a checkpoint is being written. A reader that
  started from an older checkpoint and finds a record gone starts again
  from the newest checkpoint (records are deleted only once a checkpoint
  covers them, so a gap always has one).
* **Snapshot reads.** A state is ``checkpoint + records up to the first
  missing seq``: one committed state, never a mix.

Writers serialise commits with ``flock`` on ``.commit.lock``; writers that
stage files hold ``.writers.lock`` shared so that a full garbage collection
(exclusive) never deletes a file about to be committed. Locks are released
by the kernel when a process dies, so a crash leaves no stale lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from storemon._fileio import atomic_path, fsync_dir
from storemon.exceptions import StoreError

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "LOG_DIR",
    "CHECKPOINT_DIR",
    "CHECKPOINT_EVERY",
    "PartEntry",
    "TableEntry",
    "IngestEntry",
    "Record",
    "Manifest",
    "NO_VERSION",
    "plain",
    "TABLE_KINDS",
    "version_of",
    "read_descriptor",
    "write_descriptor",
    "load_state",
    "read_manifest",
    "write_record",
    "write_checkpoint",
    "commit_lock",
    "COMMIT_LOCK",
    "writers_lock",
    "now_iso",
    "INGEST_HISTORY_SCHEMA",
    "INLINE_ROWS",
    "fold",
    "try_writers_lock_exclusive",
    "checkpoint_lock",
    "latest_checkpoint",
    "state_to_json",
    "state_from_json",
]

#: Version of the store layout. 1 was a single ``manifest.json`` rewritten at every commit.
FORMAT = 2
MANIFEST_NAME = "manifest.json"
LOG_DIR = "log"
CHECKPOINT_DIR = "checkpoints"
COMMIT_LOCK = ".commit.lock"
WRITERS_LOCK = ".writers.lock"
CHECKPOINT_LOCK = ".checkpoint.lock"
#: A checkpoint every this many records: readers read at most this many records after it.
CHECKPOINT_EVERY = 32
#: Polls batches of at most this many rows go into the commit record instead of a Parquet part.
INLINE_ROWS = 200
_SEQ_DIGITS = 20


@dataclass(frozen=True)
class PartEntry:
    """One immutable dated Parquet file: poll parts (date of the polls), rejects and ingest history (commit date)."""

    path: str  # relative to the store root, POSIX separators
    date: str  # YYYY-MM-DD
    rows: int
    min_us: int = 0  # poll parts: earliest and latest timestamp_utc, µs since the epoch
    max_us: int = 0
    # Poll parts: the number of hash buckets of its ``bucket`` column (storemon._core.shards.BUCKETS),
    # rows sorted by bucket; 0 for parts written before sharded reads (no bucket column).
    buckets: int = 0


@dataclass(frozen=True)
class TableEntry:
    """One version of a whole table (hours, time zones, special hours) or a piece of the poll-store table."""

    path: str
    rows: int
    sha256: str | None = None  # of the source it came from, when it has one
    ingest: str | None = None  # id of the ingest that wrote it
    rows_rejected: int = 0  # rows of that source that validation rejected
    rejects: str | None = None  # the rejects file it was committed with
    kind: str | None = None  # table versions: "hours", "timezones" or "special"
    source: str | None = None  # table versions: where the rows came from
    committed_at: str | None = None  # table versions: when it was committed
    buckets: int = 0  # poll-store pieces: as PartEntry.buckets


#: The replaced, versioned tables (every version is kept, restorable).
TABLE_KINDS = ("hours", "timezones", "special")

#: The version of a table that has none yet (no ingest of it was ever committed).
NO_VERSION = "none"


def version_of(table: TableEntry | None) -> str:
    """A table version's name: the id of the ingest that wrote it (:data:`NO_VERSION` for none)."""
    if table is None:
        return NO_VERSION
    return table.ingest or Path(table.path).stem


@dataclass(frozen=True)
class IngestEntry:
    """What one ingest of one source committed."""

    id: str
    kind: str  # "polls", "hours", "timezones" or "special"
    source: str
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    committed_at: str  # ISO 8601, UTC
    rejects: str | None = None  # the rejects file it was committed with (its rows carry ``ingest``)
    intent: str | None = None  # the queued intent (group commit) it came from


#: The ingest-history files: one row per IngestEntry.
INGEST_HISTORY_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "kind": pl.String(),
        "source": pl.String(),
        "sha256": pl.String(),
        "rows_read": pl.Int64(),
        "rows_accepted": pl.Int64(),
        "rows_rejected": pl.Int64(),
        "committed_at": pl.String(),
        "rejects": pl.String(),
        "intent": pl.String(),
    }
)


@dataclass(frozen=True)
class Record:
    """One commit: what it adds and removes. Folded in order into the state."""

    seq: int
    committed_at: str
    ingests: tuple[IngestEntry, ...] = ()
    parts: tuple[PartEntry, ...] = ()  # poll parts added
    rejects: tuple[PartEntry, ...] = ()  # rejects files added
    history: tuple[PartEntry, ...] = ()  # ingest-history files added (compaction)
    poll_stores: tuple[TableEntry, ...] = ()  # poll-store pieces added
    remove: tuple[str, ...] = ()  # files no longer part of the state (compaction)
    hours: TableEntry | None = None  # a new current version, when set
    timezones: TableEntry | None = None
    special: TableEntry | None = None
    intents: tuple[str, ...] = ()  # the queued intents this record committed
    polls: tuple[tuple[str, int, str], ...] = ()  # inline polls: (store_id, timestamp µs, status)


@dataclass(frozen=True)
class Manifest:
    """A committed state of the store (immutable): a checkpoint plus the records after it.

    ``generation`` is the seq of the last record folded in. ``ingests`` holds
    the ingest entries of the records after the checkpoint (all of them from
    :func:`read_manifest`); older ones live in the ``history`` files.
    """

    generation: int = 0
    committed_at: str | None = None
    max_timestamp_us: int | None = None
    parts: tuple[PartEntry, ...] = ()
    hours: TableEntry | None = None
    timezones: TableEntry | None = None
    poll_stores: tuple[TableEntry, ...] = ()
    rejects: tuple[PartEntry, ...] = ()
    history: tuple[PartEntry, ...] = ()
    ingests: tuple[IngestEntry, ...] = field(default=())
    polls_ingests: int = 0  # running totals over every polls ingest (history included)
    polls_rows_accepted: int = 0
    polls_rows_rejected: int = 0
    checkpoint: int = 0  # seq of the checkpoint this state starts from
    intents: frozenset[str] = frozenset()  # intents committed by the records after the checkpoint
    inline: tuple[tuple[str, int, str], ...] = ()  # inline polls of the records after the checkpoint
    special: TableEntry | None = None
    # Every table version ever committed (hours, time zones, special hours), oldest
    # first: their files are kept, so that any of them can be restored.
    versions: tuple[TableEntry, ...] = ()

    def files(self) -> set[str]:
        """Every data file this state refers to, relative to the store root."""
        named = {entry.path for group in (self.parts, self.rejects, self.history) for entry in group}
        named |= {table.path for table in (*self.poll_stores, *self.versions)}
        named |= {table.rejects for table in self.versions if table.rejects}
        return named | {table.path for table in (self.hours, self.timezones, self.special) if table is not None}

    def current(self, kind: str) -> TableEntry | None:
        """The current version of table ``kind`` (one of :data:`TABLE_KINDS`)."""
        table: TableEntry | None = getattr(self, kind)
        return table

    def recent_polls_ingest(self, sha256: str) -> IngestEntry | None:
        """A polls ingest of this content among the records after the checkpoint."""
        return next((e for e in reversed(self.ingests) if e.kind == "polls" and e.sha256 == sha256), None)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# --- the descriptor ---------------------------------------------------------------------


def read_descriptor(root: Path) -> None:
    """Check ``root/manifest.json`` says this is a store of this format; :class:`StoreError` if not."""
    path = root / MANIFEST_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"{root}: not a storemon store (no {MANIFEST_NAME}); create one with 'storemon ingest'"
        ) from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise StoreError(f"{path}: damaged manifest: {exc}") from None
    if not isinstance(document, dict):
        raise StoreError(f"{path}: damaged manifest: not a JSON object")
    found = document.get("format")
    if found == 1:
        # Format 1 rewrote one manifest listing every ingest at every commit. We
        # refuse rather than migrate: re-ingesting the source files rebuilds the
        # same store (ingests are idempotent), and a refusal cannot half-convert one.
        raise StoreError(
            f"{root}: a store of the old layout (format 1, one manifest.json rewritten at every ingest); "
            "this storemon reads format 2: ingest the source files into a new store directory"
        )
    if found != FORMAT:
        raise StoreError(f"{path}: damaged manifest: unsupported format {found!r} (this storemon reads {FORMAT})")


def write_descriptor(root: Path) -> None:
    """Write the descriptor of a new store (atomically, durably)."""
    with atomic_path(root / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps({"format": FORMAT, "created_at": now_iso()}) + "\n", encoding="utf-8")


# --- reading the state -----------------------------------------------------------------------


def _seq_name(seq: int) -> str:
    return f"{seq:0{_SEQ_DIGITS}d}.json"


def _seqs(directory: Path) -> list[int]:
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    return sorted(int(name[:-5]) for name in names if name.endswith(".json") and name[:-5].isdigit())


def load_state(root: Path, *, repair: bool = False) -> Manifest:
    """The committed state: the newest checkpoint plus the records after it.

    With ``repair`` (only under the commit lock) a last record that does not
    parse — a writer killed while writing it, so never acknowledged — is
    removed, so the next commit can take its seq.
    """
    for _ in range(20):  # each retry sees a newer checkpoint; more means damage
        checkpoints = _seqs(root / CHECKPOINT_DIR)
        start = checkpoints[-1] if checkpoints else 0
        identity = _identity(root)
        cached = _STATES.get(identity)
        if cached is not None and cached.checkpoint == start and _still_there(root, cached):
            state = cached  # same checkpoint: only the records committed since are read
        else:
            try:
                state = _read_checkpoint(root, start) if checkpoints else Manifest()
            except FileNotFoundError:
                continue  # pruned meanwhile by a newer checkpoint
        seq = state.generation + 1
        while True:
            try:
                record = _read_record(root, seq)
            except FileNotFoundError:
                break
            except ValueError:
                if _seqs(root / LOG_DIR)[-1:] == [seq]:
                    if repair:
                        (root / LOG_DIR / _seq_name(seq)).unlink()
                    break  # the uncommitted leftover of a killed writer, or a record being written
                try:
                    record = _reread_record(root, seq)
                except FileNotFoundError:
                    break  # pruned meanwhile: the newer checkpoint below
            state = fold(state, record)
            seq += 1
        newer = _seqs(root / CHECKPOINT_DIR)
        if newer and newer[-1] >= seq:
            continue  # a checkpoint was written and our next record pruned: start again from it
        _STATES.clear()  # one store per process is the common case; keep the cache small
        _STATES[identity] = state
        return state
    raise StoreError(f"{root}: cannot read a consistent state (the log keeps changing or is damaged)")


# The last state read per store root, in this process. Committed records and
# checkpoints never change, so a state is extended by the records committed
# after it rather than folded again from its checkpoint (a writer reads the
# state twice per commit; a gunicorn worker serves many commits).
_STATES: dict[tuple[str, int, int], Manifest] = {}


def _identity(root: Path) -> tuple[str, int, int]:
    """The store at ``root``: a store removed and created again at the same path is another one."""
    try:
        info = os.stat(root / MANIFEST_NAME)
    except OSError:
        return str(root), 0, 0
    return str(root), info.st_ino, info.st_mtime_ns


def _still_there(root: Path, state: Manifest) -> bool:
    """Whether the last record a cached state folded is still on disk (not pruned, not replaced)."""
    if state.generation == state.checkpoint:
        return True
    return (root / LOG_DIR / _seq_name(state.generation)).exists()


def fold(state: Manifest, record: Record) -> Manifest:
    """The state after ``record``."""
    removed = set(record.remove)
    parts = tuple(p for p in state.parts if p.path not in removed) + record.parts
    latest = state.max_timestamp_us
    highs = [part.max_us for part in record.parts] + [poll[1] for poll in record.polls]
    if highs:
        latest = max(highs) if latest is None else max(latest, *highs)
    polls = [entry for entry in record.ingests if entry.kind == "polls"]
    return dataclasses.replace(
        state,
        generation=record.seq,
        committed_at=record.committed_at,
        max_timestamp_us=latest,
        parts=tuple(sorted(parts, key=lambda p: (p.date, p.path))),
        hours=record.hours or state.hours,
        timezones=record.timezones or state.timezones,
        special=record.special or state.special,
        versions=state.versions + _versions_of(record),
        poll_stores=tuple(t for t in state.poll_stores if t.path not in removed) + record.poll_stores,
        rejects=tuple(sorted((*(r for r in state.rejects if r.path not in removed), *record.rejects), key=_by_path)),
        history=tuple(sorted((*(h for h in state.history if h.path not in removed), *record.history), key=_by_path)),
        ingests=state.ingests + record.ingests,
        polls_ingests=state.polls_ingests + len(polls),
        polls_rows_accepted=state.polls_rows_accepted + sum(e.rows_accepted for e in polls),
        polls_rows_rejected=state.polls_rows_rejected + sum(e.rows_rejected for e in polls),
        intents=state.intents | set(record.intents),
        inline=state.inline + record.polls,
    )


def _versions_of(record: Record) -> tuple[TableEntry, ...]:
    """The table versions ``record`` commits, each with its kind and commit time."""
    tables = zip(TABLE_KINDS, (record.hours, record.timezones, record.special), strict=True)
    return tuple(
        dataclasses.replace(table, kind=kind, committed_at=table.committed_at or record.committed_at)
        for kind, table in tables
        if table is not None
    )


def _by_path(entry: PartEntry) -> tuple[str, str]:
    return entry.date, entry.path


def read_manifest(root: Path) -> Manifest:
    """The committed state with *every* ingest entry (history files read): for checks and tools, O(history)."""
    state = load_state(root)
    frames = [pl.read_parquet(root / entry.path) for entry in state.history]
    older: tuple[IngestEntry, ...] = ()
    if frames:
        rows = pl.concat(frames).cast(INGEST_HISTORY_SCHEMA).to_dicts()
        older = tuple(IngestEntry(**row) for row in rows)
    return dataclasses.replace(state, ingests=older + state.ingests)


def _read_checkpoint(root: Path, seq: int) -> Manifest:
    path = root / CHECKPOINT_DIR / _seq_name(seq)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return _state_from_json(document)
    except FileNotFoundError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreError(f"{path}: damaged checkpoint: {exc}") from None


def _reread_record(root: Path, seq: int) -> Record:
    """Record ``seq`` again, found torn but no longer the last one: whole now, or damaged.

    Records are written in place (:func:`write_record`), so a reader without
    the commit lock can find one empty or half-written. A later record
    exists only once that one was written whole, or once a leader removed
    it as a killed writer's leftover and wrote its seq again: so read it
    again, and only a record torn still is damage.
    """
    try:
        return _read_record(root, seq)
    except ValueError as exc:
        raise StoreError(f"{root / LOG_DIR / _seq_name(seq)}: damaged commit record: {exc}") from None


def _read_record(root: Path, seq: int) -> Record:
    """The record ``seq``; ValueError when it is torn (not whole JSON), StoreError when damaged otherwise."""
    path = root / LOG_DIR / _seq_name(seq)
    text = path.read_bytes()
    try:
        document = json.loads(text)
    except ValueError as exc:  # truncated: only a writer killed mid-write leaves that
        raise ValueError(str(exc)) from None
    try:
        return _record_from_json(document)
    except (TypeError, KeyError, ValueError) as exc:
        # Whole JSON but not a record: damage, never mistaken for a torn write.
        raise StoreError(f"{path}: damaged commit record: {exc}") from None


# --- writing ---------------------------------------------------------------------------------


def write_record(root: Path, record: Record) -> None:
    """Commit ``record``: create ``log/<seq>.json`` exclusively, fsync it and the directory.

    Call with :func:`commit_lock` held and ``record.seq`` = the state's
    generation + 1. When this returns, the commit is durable.
    """
    directory = root / LOG_DIR
    if not directory.is_dir():
        directory.mkdir(exist_ok=True)
        fsync_dir(root)
    data = (json.dumps(_record_to_json(record), separators=(",", ":")) + "\n").encode()
    path = directory / _seq_name(record.seq)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise StoreError(f"{path}: commit record exists already (a writer not holding the lock?)") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the commit record: {exc.strerror or exc}") from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)  # never acknowledged: not a commit
        raise StoreError(f"{path}: cannot write the commit record: {exc.strerror or exc}") from None
    os.close(fd)
    fsync_dir(directory)


def write_checkpoint(
    root: Path, state: Manifest, history: PartEntry | None, inline_parts: tuple[PartEntry, ...] = ()
) -> Manifest:
    """Write the checkpoint of ``state``; prune old metadata.

    Call with the commit lock held. ``history`` is the already written
    (fsync'd) Parquet file holding ``state.ingests``, ``inline_parts`` the
    parts holding ``state.inline``. Returns the state as checkpointed.
    """
    folded = dataclasses.replace(
        state,
        parts=tuple(sorted((*state.parts, *inline_parts), key=_by_path)),
        history=tuple(sorted((*state.history, history), key=_by_path)) if history else state.history,
        ingests=(),
        checkpoint=state.generation,
        intents=frozenset(),
        inline=(),
    )
    directory = root / CHECKPOINT_DIR
    if not directory.is_dir():
        directory.mkdir(exist_ok=True)
        fsync_dir(root)
    with atomic_path(directory / _seq_name(state.generation)) as tmp:
        tmp.write_text(json.dumps(_state_to_json(folded), separators=(",", ":")) + "\n", encoding="utf-8")
    # Keep the previous checkpoint and the records after it, so that a reader
    # that has just started from it rarely has to start again.
    checkpoints = _seqs(directory)
    if len(checkpoints) >= 2:
        keep_from = checkpoints[-2]
        for seq in checkpoints[:-2]:
            (directory / _seq_name(seq)).unlink(missing_ok=True)
        for seq in _seqs(root / LOG_DIR):
            if seq <= keep_from:
                (root / LOG_DIR / _seq_name(seq)).unlink(missing_ok=True)
    return folded


# --- locks -------------------------------------------------------------------------------------


@contextlib.contextmanager
def commit_lock(root: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold the store's commit lock (exclusive) for the ``with`` block. Without ``wait``, False if it is taken."""
    with _flock(root / COMMIT_LOCK, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)) as held:
        yield held


@contextlib.contextmanager
def writers_lock(root: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Hold the writers' lock: shared while staging and committing, exclusive for a full GC."""
    with _flock(root / WRITERS_LOCK, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH):
        yield


@contextlib.contextmanager
def try_writers_lock_exclusive(root: Path) -> Iterator[bool]:
    """The writers' lock exclusively if no writer holds it now (yields False otherwise, without waiting)."""
    with _flock(root / WRITERS_LOCK, fcntl.LOCK_EX | fcntl.LOCK_NB) as held:
        yield held


@contextlib.contextmanager
def checkpoint_lock(root: Path, *, wait: bool) -> Iterator[bool]:
    """Hold the checkpoint lock: one checkpoint is written at a time. Without ``wait``, False if it is taken.

    Taken by a writer after it released the commit lock, or by a compaction
    holding the commit lock; never the other way round (no deadlock).
    """
    with _flock(root / CHECKPOINT_LOCK, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)) as held:
        yield held


def latest_checkpoint(root: Path) -> int:
    """The seq of the newest checkpoint (0: none yet)."""
    seqs = _seqs(root / CHECKPOINT_DIR)
    return seqs[-1] if seqs else 0


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[bool]:
    """``flock(path, mode)`` for the block; yields False if ``mode`` has ``LOCK_NB`` and the lock is taken."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the lock file: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, mode)
        except OSError as exc:
            if not mode & fcntl.LOCK_NB or exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- JSON ----------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """:func:`dataclasses.asdict` for the store's entries, records and states, without its copies.

    They hold only strings, numbers, None, tuples, frozensets and nested
    entries — all immutable — so nothing needs copying: ``asdict`` copied
    every value, which cost a single-poll commit more than its JSON encoding
    (and a checkpoint more still). Equal to ``asdict`` (a test checks it).
    """
    names = _FIELDS.get(type(value))
    if names is None:
        if not dataclasses.is_dataclass(value) or isinstance(value, type):
            return tuple(plain(item) for item in value) if isinstance(value, tuple) else value
        names = _FIELDS[type(value)] = tuple(f.name for f in dataclasses.fields(value))
    return {name: plain(getattr(value, name)) for name in names}


_FIELDS: dict[type, tuple[str, ...]] = {}


def _record_to_json(record: Record) -> dict[str, Any]:
    document: dict[str, Any] = {"format": FORMAT}
    document.update(plain(record))
    return document


def _record_from_json(document: Any) -> Record:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError("not a commit record of this format")
    return Record(
        seq=_int(document["seq"], "seq"),
        committed_at=document["committed_at"],
        ingests=tuple(_checked(IngestEntry, raw) for raw in document["ingests"]),
        parts=_parts(document["parts"]),
        rejects=_parts(document["rejects"]),
        history=_parts(document["history"]),
        poll_stores=tuple(_checked(TableEntry, raw) for raw in document["poll_stores"]),
        remove=tuple(_relative(path) for path in document["remove"]),
        hours=_table(document["hours"]),
        timezones=_table(document["timezones"]),
        special=_table(document.get("special")),
        intents=tuple(str(intent) for intent in document["intents"]),
        polls=tuple(_poll(row) for row in document.get("polls", ())),
    )


def _poll(row: Any) -> tuple[str, int, str]:
    store_id, moment, status = row
    if not isinstance(store_id, str) or not isinstance(status, str):
        raise ValueError(f"inline poll {row!r} is not [store_id, µs, status]")
    return store_id, _int(moment, "timestamp"), status


def _state_to_json(state: Manifest, *, inline: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {"format": FORMAT}
    document.update(plain(state))
    document["intents"] = sorted(state.intents)
    if state.inline and not inline:
        raise ValueError("a checkpoint holds no inline polls (write them as parts first)")
    return document


def state_to_json(state: Manifest) -> dict[str, Any]:
    """``state`` as a JSON document, inline polls included (a snapshot pin holds them)."""
    return _state_to_json(state, inline=True)


def state_from_json(document: Any) -> Manifest:
    """The inverse of :func:`state_to_json`; ValueError, TypeError or KeyError when damaged."""
    return _state_from_json(document)


def _state_from_json(document: Any) -> Manifest:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError("not a checkpoint of this format")
    latest = document["max_timestamp_us"]
    return Manifest(
        generation=_int(document["generation"], "generation"),
        committed_at=document["committed_at"],
        max_timestamp_us=None if latest is None else _int(latest, "max_timestamp_us"),
        parts=_parts(document["parts"]),
        hours=_table(document["hours"]),
        timezones=_table(document["timezones"]),
        poll_stores=tuple(_checked(TableEntry, raw) for raw in document["poll_stores"]),
        rejects=_parts(document["rejects"]),
        history=_parts(document["history"]),
        ingests=tuple(_checked(IngestEntry, raw) for raw in document["ingests"]),
        polls_ingests=_int(document["polls_ingests"], "polls_ingests"),
        polls_rows_accepted=_int(document["polls_rows_accepted"], "polls_rows_accepted"),
        polls_rows_rejected=_int(document["polls_rows_rejected"], "polls_rows_rejected"),
        checkpoint=_int(document["checkpoint"], "checkpoint"),
        intents=frozenset(document["intents"]),
        inline=tuple(_poll(row) for row in document["inline"]),
        special=_table(document.get("special")),
        versions=tuple(_version(raw) for raw in document.get("versions", ())),
    )


def _parts(raw: Any) -> tuple[PartEntry, ...]:
    entries = tuple(_checked(PartEntry, item) for item in raw)
    for entry in entries:
        _relative(entry.path)
    return entries


def _table(raw: Any) -> TableEntry | None:
    if raw is None:
        return None
    entry: TableEntry = _checked(TableEntry, raw)
    _relative(entry.path)
    return entry


def _version(raw: Any) -> TableEntry:
    entry = _table(raw)
    if entry is None or entry.kind not in TABLE_KINDS:
        raise ValueError(f"table version {raw!r} has no known kind")
    return entry


def _checked(kind: type[Any], raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ValueError(f"{kind.__name__} entry is not an object: {raw!r}")
    names = {item.name for item in dataclasses.fields(kind)}
    unknown = set(raw) - names
    if unknown:
        raise ValueError(f"{kind.__name__} entry has unknown keys {sorted(unknown)}")
    entry = kind(**raw)
    for name in ("rows", "min_us", "max_us", "rows_read", "rows_accepted", "rows_rejected", "buckets"):
        if hasattr(entry, name):
            _int(getattr(entry, name), name)
    return entry


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not an integer: {value!r}")
    return value


def _relative(path: Any) -> str:
    """Refuse paths that would leave the store root (damaged or hostile metadata)."""
    if not isinstance(path, str):
        raise ValueError(f"file path {path!r} is not a string")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValueError(f"file path {path!r} is not inside the store")
    return path
