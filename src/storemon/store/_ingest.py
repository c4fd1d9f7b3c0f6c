"""Ingesting into the store: validated inputs become committed, durable data.

An ingest **stages** its files (poll parts, a table version, its rejects, the
store ids new to the poll-store table) while holding the writers' lock
shared; each is written to a temporary name, fsync'd and renamed, so staging
runs in parallel in every process. It then **queues an intent**
(``queue/<id>.json``: what it staged) and takes the commit lock.

**Group commit.** Whoever holds the commit lock is the leader: it commits
*every* queued intent in one commit record (one record fsync for all of
them), writes each waiting writer's answer to ``queue/<id>.result.json``
and removes its intent. A queued writer waits for whichever comes first:
its answer (it returns it without the lock and without writing anything)
or the lock free (it leads the next group); so while one commit's fsync
runs, the writers arriving meanwhile queue up and share the next one.
Duplicates are re-checked by the leader against the committed state (and
against the earlier intents of its group), so the same body sent twice at
once commits once.

Crash safety: an intent is only a message between live processes. If a
leader dies after its record and before the answers, the next leader finds
the intents in the record (``Manifest.intents``) and answers them from it;
an intent whose writer died is garbage for :func:`collect_garbage`. Files a
writer staged that were not committed (a duplicate found at commit time, a
version superseded in the same group, a failure) are removed by that
writer before it returns.

Every :data:`~storemon.store._manifest.CHECKPOINT_EVERY` records the leader
writes a checkpoint, once it has released the commit lock
(:func:`checkpoint_if_due`); every :data:`UPKEEP_EVERY` records the writer that
committed it runs :func:`storemon.store._compact.upkeep` before returning.
See :mod:`storemon.store` for the guarantees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from storemon._load import Loaded, load_hours, load_polls, load_special_hours, load_timezones
from storemon.exceptions import ConfigError, InputError, StaleVersionError, StoreError
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, REJECTS_SCHEMA, SPECIAL_HOURS_SCHEMA, TIMEZONES_SCHEMA
from storemon.store._files import (
    Store,
    StoreLike,
    new_id,
    open_store,
    read_poll_stores,
    read_table,
    today_utc,
    write_dated,
    write_parquet,
    write_parts,
    write_poll_stores,
)
from storemon.store._keys import find_polls_ingest, write_keys
from storemon.store._manifest import (
    CHECKPOINT_EVERY,
    INGEST_HISTORY_SCHEMA,
    INLINE_ROWS,
    TABLE_KINDS,
    IngestEntry,
    Manifest,
    PartEntry,
    Record,
    TableEntry,
    checkpoint_lock,
    commit_lock,
    fold,
    latest_checkpoint,
    load_state,
    now_iso,
    plain,
    version_of,
    write_checkpoint,
    write_record,
    writers_lock,
)
from storemon.store._sources import file_sha256, find_sources

__all__ = [
    "IngestResult",
    "ingest_paths",
    "append_polls",
    "replace_hours",
    "replace_timezones",
    "replace_special_hours",
    "restore_table",
    "QUEUE_DIR",
    "UPKEEP_EVERY",
    "checkpoint",
]

_LOG = logging.getLogger("storemon.store")

QUEUE_DIR = "queue"
#: The writer that commits a record whose seq is a multiple of this runs upkeep.
UPKEEP_EVERY = 64


_SCHEMAS = {
    "polls": POLLS_SCHEMA,
    "hours": HOURS_SCHEMA,
    "timezones": TIMEZONES_SCHEMA,
    "special": SPECIAL_HOURS_SCHEMA,
}
_LOADERS: dict[str, Callable[..., Loaded]] = {
    "polls": load_polls,
    "hours": load_hours,
    "timezones": load_timezones,
    "special": load_special_hours,
}
# Columns that may hold nulls in a valid frame: the two times of a closed special date.
_NULLABLE = {"special": ("start_time_local", "end_time_local")}


@dataclass(frozen=True)
class IngestResult:
    """What ingesting one source did.

    ``ingest_id`` is the new manifest entry, or ``None`` when the source was a
    no-op; then ``duplicate_of`` names the earlier ingest with the same
    content and the counts and ``rejects`` are that ingest's.
    """

    source: str
    kind: str
    sha256: str
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rejects: pl.DataFrame
    ingest_id: str | None = None
    duplicate_of: str | None = None

    @property
    def skipped(self) -> bool:
        """Whether this source changed nothing (same content already ingested)."""
        return self.ingest_id is None

    def describe(self) -> str:
        """One line for a person."""
        if self.skipped:
            return f"{self.source}: already ingested (ingest {self.duplicate_of}), nothing to do"
        verb = "appended" if self.kind == "polls" else "replaced"
        return (
            f"{self.source}: {self.kind} {verb}, {self.rows_accepted} rows accepted, "
            f"{self.rows_rejected} rejected (ingest {self.ingest_id})"
        )


@dataclass
class _Source:
    """One validated input waiting to be staged and committed."""

    kind: str
    frame: pl.DataFrame | None  # None when a pre-check found it already ingested
    source: str
    sha256: str
    rows_read: int
    rows_rejected: int
    rejects: pl.DataFrame
    if_version: str | None = None  # tables: commit only while this version is current


@dataclass
class _Staged:
    """A source whose files are written but not yet committed."""

    source: _Source
    ingest_id: str
    parts: tuple[PartEntry, ...] = ()
    table: TableEntry | None = None
    rejects: PartEntry | None = None
    poll_stores: TableEntry | None = None  # the ids of this source new to the poll-store table
    inline: list[list[Any]] | None = None  # a small batch's polls, for the commit record itself


def ingest_paths(
    store: StoreLike, paths: Sequence[str | os.PathLike[str]], *, strict: bool = False
) -> list[IngestResult]:
    """Validate and ingest files and data directories in one atomic commit.

    A directory contributes the files :func:`storemon._load.load_dir` would
    find in it (any of them may be absent; special hours are optional). A
    file is recognised by those names too, otherwise by its header
    (``status`` → polls, ``timezone_str`` → time zones, ``date_local`` →
    special hours, ``start_time_local`` → hours). Polls are appended, hours,
    time zones and special hours replace the current version. The store is
    created if missing. Returns one result per source, in order. Errors
    (unreadable file, and in ``strict`` mode the first invalid row) raise
    before anything is committed.
    """
    opened = open_store(store, create=True)
    sources = find_sources(paths)
    manifest = opened.manifest()
    prepared = []
    for kind, path in sources:
        sha256 = file_sha256(path)
        if kind == "polls" and find_polls_ingest(opened.root, manifest, sha256) is not None:
            # Already in the store for good (polls are never removed): skip
            # the possibly large load. The commit re-checks under the lock.
            empty = pl.DataFrame(schema=REJECTS_SCHEMA)
            prepared.append(_Source(kind, None, str(path), sha256, 0, 0, empty))
            continue
        loaded = _LOADERS[kind](path, strict=strict)
        prepared.append(
            _Source(kind, loaded.frame, loaded.file, sha256, loaded.rows_read, loaded.rows_rejected, loaded.rejects)
        )
    return _ingest(opened, prepared)


def append_polls(
    store: StoreLike,
    polls: pl.DataFrame,
    *,
    source: str,
    sha256: str | None = None,
    rows_read: int | None = None,
    rejects: pl.DataFrame | None = None,
) -> IngestResult:
    """Append validated polls (``POLLS_SCHEMA``) to the store, durably, as one ingest.

    ``source`` names where they came from (a file, ``"POST /api/polls"``);
    ``sha256`` is the content hash of the original bytes, used for
    idempotency (default: a hash of ``polls`` itself); ``rows_read`` and
    ``rejects`` (``REJECTS_SCHEMA``) record what validation left out. The
    rows are fsync'd and committed when this returns.
    """
    return _ingest_frame(store, "polls", polls, source, sha256, rows_read, rejects)


def replace_hours(
    store: StoreLike,
    hours: pl.DataFrame,
    *,
    source: str,
    sha256: str | None = None,
    rows_read: int | None = None,
    rejects: pl.DataFrame | None = None,
    if_version: str | None = None,
) -> IngestResult:
    """Make validated business hours (``HOURS_SCHEMA``) the store's current version, durably.

    Arguments as for :func:`append_polls`. A no-op when ``sha256`` equals the
    current version's. With ``if_version`` (a version from
    :func:`~storemon.store.current_table`) the replace happens only while that
    version is still current, checked by the committing leader under the
    commit lock; otherwise :class:`~storemon.StaleVersionError` (and nothing
    of this call is committed; other writers of the same group commit).
    """
    return _ingest_frame(store, "hours", hours, source, sha256, rows_read, rejects, if_version)


def replace_timezones(
    store: StoreLike,
    timezones: pl.DataFrame,
    *,
    source: str,
    sha256: str | None = None,
    rows_read: int | None = None,
    rejects: pl.DataFrame | None = None,
    if_version: str | None = None,
) -> IngestResult:
    """Make validated time zones (``TIMEZONES_SCHEMA``, first row per store wins) current, durably.

    Arguments (and ``if_version``) as for :func:`replace_hours`.
    """
    return _ingest_frame(store, "timezones", timezones, source, sha256, rows_read, rejects, if_version)


def replace_special_hours(
    store: StoreLike,
    special: pl.DataFrame,
    *,
    source: str,
    sha256: str | None = None,
    rows_read: int | None = None,
    rejects: pl.DataFrame | None = None,
    if_version: str | None = None,
) -> IngestResult:
    """Make validated special hours (``SPECIAL_HOURS_SCHEMA``) the store's current version, durably.

    Like business hours they describe the present and are replaced as a
    whole. Arguments (and ``if_version``) as for :func:`replace_hours`.
    """
    return _ingest_frame(store, "special", special, source, sha256, rows_read, rejects, if_version)


def restore_table(store: StoreLike, table: str, version: str, *, if_version: str | None = None) -> IngestResult:
    """Make an earlier version of ``table`` (``"hours"``, ``"timezones"``, ``"special"``) current again.

    ``version`` is a name from :func:`~storemon.store.table_versions`; the new
    version holds the same rows (a no-op when it already is the current
    content). ``if_version`` as for :func:`replace_hours`. Raises
    :class:`StoreError` for a version the store does not have.
    """
    if table not in TABLE_KINDS:
        raise ConfigError(f"unknown table {table!r}: expected hours, timezones or special")
    opened = open_store(store)
    state = opened.manifest()
    entry = next((t for t in state.versions if t.kind == table and version_of(t) == version), None)
    if entry is None or not (opened.root / entry.path).is_file():
        raise StoreError(f"{opened.root}: no restorable {table} version {version!r}")
    frame = read_table(opened.root, entry, _SCHEMAS[table])
    source = f"restore of {table} version {version}"
    return _ingest_frame(opened, table, frame, source, entry.sha256, None, None, if_version)


def _ingest_frame(
    store: StoreLike,
    kind: str,
    frame: pl.DataFrame,
    source: str,
    sha256: str | None,
    rows_read: int | None,
    rejects: pl.DataFrame | None,
    if_version: str | None = None,
) -> IngestResult:
    typed = _typed(frame, kind)
    rejects = _typed_rejects(rejects)
    rows_rejected = rejects.select(pl.struct("file", "line").n_unique()).item() if rejects.height else 0
    if rows_read is None:
        rows_read = typed.height + rows_rejected
    digest = sha256 if sha256 is not None else hashlib.sha256(typed.write_csv().encode()).hexdigest()
    prepared = _Source(kind, typed, str(source), digest, rows_read, rows_rejected, rejects, if_version)
    return _ingest(open_store(store, create=True), [prepared])[0]


def _ingest(store: Store, sources: list[_Source]) -> list[IngestResult]:
    """Stage every new source's files, queue them as one intent, and see it committed (module docstring)."""
    root = store.root
    committed: list[int | None] = []  # the seq of our commit, once answered
    try:
        return _commit_intent(root, sources, new_id(), [], committed)
    finally:
        seq = committed[0] if committed else None
        if seq is not None and seq % UPKEEP_EVERY == 0:
            _upkeep_after(root)  # after the writers' lock is released, so that upkeep may take it exclusively


def _commit_intent(
    root: Path, sources: list[_Source], intent_id: str, written: list[str], seq_box: list[int | None]
) -> list[IngestResult]:
    """Stage, queue, commit (or be committed by the leader); ``seq_box`` receives the record's seq."""
    kept: set[str] | None = None  # what the commit kept of ours; None until we have the answer
    with writers_lock(root):
        try:
            state = load_state(root)
            staged: dict[int, _Staged] = {}
            for index, source in enumerate(sources):
                if source.frame is not None and _pre_duplicate(root, state, source, sources[:index]) is None:
                    staged[index] = _stage(root, state, source, written)
            _write_json(root / QUEUE_DIR / f"{intent_id}.json", _intent(intent_id, sources, staged))
            answer, due = _await_commit(root, intent_id)
            kept = set(answer["kept"])
            seq_box.append(answer["seq"])
            if due is not None:
                # After the commit lock, still under the writers' lock (so no
                # garbage collection takes the checkpoint's new files): the
                # next group commits meanwhile.
                checkpoint_if_due(root, due, wait=False)
            stale = answer.get("stale")
            if stale is not None:
                raise StaleVersionError(stale["table"], stale["expected"], stale["current"])
            return [_result(root, source, outcome) for source, outcome in zip(sources, answer["outcomes"], strict=True)]
        finally:
            (root / QUEUE_DIR / f"{intent_id}.json").unlink(missing_ok=True)
            (root / QUEUE_DIR / f"{intent_id}.result.json").unlink(missing_ok=True)
            if kept is None:
                # A failure: perhaps after the record (a checkpoint that could
                # not be written), so keep whatever the committed state names.
                kept = _named_now(root, written)
            # Files of sources that turned out to be duplicates or were
            # superseded within the group (or of a failed commit) are named by
            # no record: remove them now rather than leave garbage.
            for relative in written:
                if relative not in kept:
                    (root / relative).unlink(missing_ok=True)


def _named_now(root: Path, written: list[str]) -> set[str]:
    """The files the committed state names; all of ``written`` when the state cannot be read (delete nothing)."""
    try:
        return load_state(root).files()
    except (StoreError, OSError):
        return set(written)


def _upkeep_after(root: Path) -> None:
    """Run upkeep for a writer whose commit is done: a failure here must not turn a commit into an error."""
    from storemon.store._compact import upkeep  # a cycle otherwise: upkeep commits through this module

    try:
        upkeep(root)
    except (StoreError, OSError, pl.exceptions.PolarsError) as exc:
        # The data is committed; the next upkeep (64 records on) tries again.
        _LOG.warning("%s: upkeep failed, next time then: %s", root, exc)


#: Seconds a queued writer first sleeps between looking for its answer and
#: trying the commit lock, and the most it sleeps (doubling in between).
_POLL_FIRST, _POLL_MOST = 0.0002, 0.001


def _await_commit(root: Path, intent_id: str) -> tuple[dict[str, Any], Manifest | None]:
    """Our answer: by leading the next commit, or as a leader left it. ``_lead``'s pair (None: nothing due).

    A writer whose intent a leader has just committed must not wait for the
    commit lock only to read its answer: behind the next leader's whole
    commit it would hold its client back (and with it the work that client
    sends next) for no reason. So it waits for whichever comes first — the
    lock free (it leads, or reads an answer left meanwhile) or its answer
    written (it returns without the lock; the answer is whole, written by a
    rename) — trying the lock without blocking and sleeping briefly between
    tries. A free lock is taken at once: one writer alone never sleeps.
    """
    delay = _POLL_FIRST
    while True:
        with commit_lock(root, wait=False) as held:
            if held:
                answer = _take_answer(root, intent_id)
                return (answer, None) if answer is not None else _lead(root, intent_id)
        answer = _take_answer(root, intent_id)
        if answer is not None:
            return answer, None
        time.sleep(delay)
        delay = min(2 * delay, _POLL_MOST)


def _lead(root: Path, own: str) -> tuple[dict[str, Any], Manifest | None]:
    """Commit every queued intent in one record, answer the others. Holds the commit lock.

    Returns our own answer and, when the record makes a checkpoint due, the
    state as of that record, for :func:`checkpoint_if_due` once the lock is
    released.
    """
    state = load_state(root, repair=True)
    answers: dict[str, dict[str, Any]] = {}
    fresh: list[dict[str, Any]] = []
    for intent in _queued(root, own):
        if intent["id"] in state.intents:
            # Committed by a leader killed before it could answer: answer from the record.
            answers[intent["id"]] = _answer_from_state(root, state, intent)
        else:
            fresh.append(intent)
    record, outcomes, stale = _build(root, state, fresh)
    if record is not None:
        write_record(root, record)  # the commit point, for the whole group
        state = fold(state, record)
    files = state.files()
    for intent in fresh:
        paths = [path for source in intent["sources"] for path in _source_paths(source)]
        answers[intent["id"]] = {
            "seq": record.seq if record is not None else None,
            "kept": [path for path in paths if path in files],
            "outcomes": outcomes[intent["id"]],
            "stale": stale.get(intent["id"]),
        }
    for intent_id, answer in answers.items():
        if intent_id != own:
            _write_json(root / QUEUE_DIR / f"{intent_id}.result.json", answer)
        # Our own intent too, before the lock is released: the next leader
        # would otherwise find it still queued and answer it a second time.
        (root / QUEUE_DIR / f"{intent_id}.json").unlink(missing_ok=True)
    due = record is not None and state.generation - state.checkpoint >= CHECKPOINT_EVERY
    return answers[own], state if due else None


def checkpoint_if_due(root: Path, state: Manifest, *, wait: bool) -> Manifest | None:
    """Checkpoint ``state`` if it is due and no other checkpoint was written since its own; the checkpointed state.

    Checkpoints are written under their own lock, not the commit lock: a
    checkpoint (its keys, history file, inline parts: then tens of fsyncs)
    was about a third of the time the commit lock was held, so
    commits queued behind it. Commits go on meanwhile; ``state`` is the state
    as of a record whose leader has answered every intent it names (ours:
    our lead answered every queued intent the state holds), so folding its
    intents away cannot make a later leader commit an intent twice. Without
    ``wait``, a checkpoint already being written elsewhere means skip: the
    next commit finds it due again if it still is. Returns None when nothing
    was written.
    """
    if state.generation - state.checkpoint < CHECKPOINT_EVERY:
        return None
    with checkpoint_lock(root, wait=wait) as held:
        if not held or latest_checkpoint(root) != state.checkpoint:
            return None  # being written, or written already (a newer state's)
        return checkpoint(root, state)


def checkpoint(root: Path, state: Manifest) -> Manifest:
    """Fold ``state``'s recent ingests into a history file and idempotency keys, then write its checkpoint.

    Call through :func:`checkpoint_if_due` (the checkpoint lock held). The
    keys and the history file are durable before the checkpoint that drops
    the recent entries is written.
    """
    history = None
    parts: tuple[PartEntry, ...] = ()
    if state.inline:
        parts = write_parts(root, inline_frame(state.inline), f"log-{state.generation:020d}")
    if state.ingests:
        frame = pl.DataFrame([plain(entry) for entry in state.ingests], schema=INGEST_HISTORY_SCHEMA, orient="row")
        history = write_dated(root, "history", f"ingests-{state.generation:020d}", today_utc(), frame)
        write_keys(root, state.ingests)
    return write_checkpoint(root, state, history, parts)


def inline_rows(frame: pl.DataFrame) -> list[list[Any]]:
    """Polls as ``[store_id, µs since the epoch, status]`` rows (exact: the schema's unit is µs)."""
    rows = frame.select("store_id", pl.col("timestamp_utc").cast(pl.Int64), pl.col("status").cast(pl.String))
    return [list(row) for row in rows.rows()]


def inline_frame(rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """The inverse of :func:`inline_rows`, in ``POLLS_SCHEMA``."""
    frame = pl.DataFrame(
        [tuple(row) for row in rows],
        schema={"store_id": pl.String(), "timestamp_utc": pl.Int64(), "status": pl.String()},
        orient="row",
    )
    return frame.cast(POLLS_SCHEMA)


def _build(
    root: Path, state: Manifest, intents: list[dict[str, Any]]
) -> tuple[Record | None, dict[str, list[dict[str, Any]]], dict[str, dict[str, str]]]:
    """The record committing ``intents`` (None if all are duplicates), each intent's outcomes, the stale ones.

    An intent with a conditional table replace whose version is no longer
    current (in the committed state or after an earlier intent of this
    group) commits nothing and is answered with the conflict.
    """
    now = now_iso()
    entries: list[IngestEntry] = []
    parts: list[PartEntry] = []
    inline: list[tuple[str, int, str]] = []
    rejects: list[PartEntry] = []
    poll_stores: list[TableEntry] = []
    tables: dict[str, TableEntry] = {}
    tables_entries: dict[str, IngestEntry] = {}
    polls_by_sha: dict[str, IngestEntry] = {}
    outcomes: dict[str, list[dict[str, Any]]] = {}
    stale: dict[str, dict[str, str]] = {}
    for intent in intents:
        answer: list[dict[str, Any]] = []
        conflict = _stale(state, intent, tables)
        if conflict is not None:
            # Checked per intent: this writer gets a StaleVersionError, the rest of the group commits.
            stale[intent["id"]] = conflict
            outcomes[intent["id"]] = []
            continue
        for source in intent["sources"]:
            kind, sha = source["kind"], source["sha256"]
            earlier: IngestEntry | None
            if kind == "polls":
                earlier = polls_by_sha.get(sha) or find_polls_ingest(root, state, sha)
            elif kind in tables:
                earlier = tables_entries[kind] if tables[kind].sha256 == sha else None
            else:
                earlier = _current_table_ingest(state, kind, sha)
            if earlier is not None or source["ingest_id"] is None:
                answer.append({"ingest": None, "duplicate": None if earlier is None else plain(earlier)})
                continue
            entry = IngestEntry(
                id=source["ingest_id"],
                kind=kind,
                source=source["source"],
                sha256=sha,
                rows_read=source["rows_read"],
                rows_accepted=source["rows_accepted"],
                rows_rejected=source["rows_rejected"],
                committed_at=now,
                rejects=source["rejects"]["path"] if source["rejects"] else None,
                intent=intent["id"],
            )
            entries.append(entry)
            parts.extend(PartEntry(**part) for part in source["parts"])
            inline.extend((row[0], row[1], row[2]) for row in source["inline"])
            if source["rejects"]:
                rejects.append(PartEntry(**source["rejects"]))
            if source["poll_stores"]:
                poll_stores.append(TableEntry(**source["poll_stores"]))
            if kind == "polls":
                polls_by_sha[sha] = entry
            else:
                table = TableEntry(**source["table"])
                tables[kind] = dataclasses.replace(table, kind=kind, source=entry.source, committed_at=now)
                tables_entries[kind] = entry
            answer.append({"ingest": plain(entry), "duplicate": None})
        outcomes[intent["id"]] = answer
    if not entries:
        return None, outcomes, stale
    record = Record(
        seq=state.generation + 1,
        committed_at=now,
        ingests=tuple(entries),
        parts=tuple(parts),
        rejects=tuple(rejects),
        poll_stores=tuple(poll_stores),
        hours=tables.get("hours"),
        timezones=tables.get("timezones"),
        special=tables.get("special"),
        intents=tuple(intent["id"] for intent in intents),
        polls=tuple(inline),
    )
    return record, outcomes, stale


def _stale(state: Manifest, intent: dict[str, Any], group: dict[str, TableEntry]) -> dict[str, str] | None:
    """The first conditional replace of ``intent`` whose version is not current (``group``: this group's new ones)."""
    for source in intent["sources"]:
        expected = source.get("if_version")
        if expected is None:
            continue
        kind = source["kind"]
        current = version_of(group.get(kind) or state.current(kind))
        if current != expected:
            return {"table": kind, "expected": expected, "current": current}
    return None


def _answer_from_state(root: Path, state: Manifest, intent: dict[str, Any]) -> dict[str, Any]:
    """The answer a killed leader would have given ``intent``, rebuilt from the committed state."""
    committed = {entry.id: entry for entry in state.ingests if entry.intent == intent["id"]}
    if not committed:
        conflict = _stale(state, intent, {})
        if conflict is not None:
            return {"seq": None, "kept": [], "outcomes": [], "stale": conflict}
    files = state.files()
    outcomes = []
    kept: list[str] = []
    for source in intent["sources"]:
        entry = committed.get(source["ingest_id"])
        if entry is not None:
            outcomes.append({"ingest": plain(entry), "duplicate": None})
            kept.extend(path for path in _source_paths(source) if path in files)
            continue
        if source["kind"] == "polls":
            earlier = find_polls_ingest(root, state, source["sha256"])
        else:
            earlier = _current_table_ingest(state, source["kind"], source["sha256"])
        outcomes.append({"ingest": None, "duplicate": None if earlier is None else plain(earlier)})
    return {"seq": None, "kept": kept, "outcomes": outcomes}


def _current_table_ingest(state: Manifest, kind: str, sha256: str) -> IngestEntry | None:
    """The ingest of the current ``kind`` table when its source had this hash."""
    table: TableEntry | None = getattr(state, kind)
    if table is None or table.sha256 != sha256:
        return None
    recent = next((entry for entry in state.ingests if entry.id == table.ingest), None)
    if recent is not None:
        return recent
    return IngestEntry(
        id=table.ingest or "",
        kind=kind,
        source="",
        sha256=sha256,
        rows_read=table.rows + table.rows_rejected,
        rows_accepted=table.rows,
        rows_rejected=table.rows_rejected,
        committed_at="",
        rejects=table.rejects,
    )


def _pre_duplicate(root: Path, state: Manifest, source: _Source, pending: Sequence[_Source]) -> IngestEntry | None:
    """A duplicate found before staging (saves writing its files); the leader checks again."""
    if source.kind == "polls":
        if any(other.kind == "polls" and other.sha256 == source.sha256 for other in pending):
            return _SAME_BATCH
        return find_polls_ingest(root, state, source.sha256)
    if any(other.kind == source.kind for other in pending):
        return None  # a later version in the same batch replaces the earlier one
    return _current_table_ingest(state, source.kind, source.sha256)


_SAME_BATCH = IngestEntry("earlier in this batch", "polls", "", "", 0, 0, 0, "")


def _intent(intent_id: str, sources: list[_Source], staged: dict[int, _Staged]) -> dict[str, Any]:
    described = []
    for index, source in enumerate(sources):
        one = staged.get(index)
        described.append(
            {
                "kind": source.kind,
                "source": source.source,
                "sha256": source.sha256,
                "rows_read": source.rows_read,
                "rows_accepted": 0 if source.frame is None else source.frame.height,
                "rows_rejected": source.rows_rejected,
                "ingest_id": one.ingest_id if one else None,
                "parts": [plain(part) for part in one.parts] if one else [],
                "table": plain(one.table) if one and one.table else None,
                "rejects": plain(one.rejects) if one and one.rejects else None,
                "poll_stores": plain(one.poll_stores) if one and one.poll_stores else None,
                "inline": one.inline if one and one.inline else [],
                "if_version": source.if_version,
            }
        )
    return {"id": intent_id, "sources": described}


def _source_paths(source: dict[str, Any]) -> list[str]:
    paths = [part["path"] for part in source["parts"]]
    paths.extend(source[name]["path"] for name in ("table", "rejects", "poll_stores") if source[name])
    return paths


def _queued(root: Path, own: str) -> list[dict[str, Any]]:
    """Every intent waiting in the queue, oldest first (ours is among them)."""
    intents = []
    for name in sorted(os.listdir(root / QUEUE_DIR)):
        if not name.endswith(".json") or name.endswith(".result.json") or name.startswith("."):
            continue
        try:
            intents.append(json.loads((root / QUEUE_DIR / name).read_text(encoding="utf-8")))
        except FileNotFoundError:
            continue  # its writer gave up (an error) meanwhile
    if not any(intent["id"] == own for intent in intents):
        raise StoreError(f"{root / QUEUE_DIR}: our queued intent {own} vanished (removed by hand?)")
    return intents


def _take_answer(root: Path, intent_id: str) -> dict[str, Any] | None:
    try:
        answer: dict[str, Any] = json.loads((root / QUEUE_DIR / f"{intent_id}.result.json").read_text("utf-8"))
    except FileNotFoundError:
        return None
    return answer


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Write a queue file whole (temp + rename) without fsync: only live processes read it."""
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def _result(root: Path, source: _Source, outcome: dict[str, Any]) -> IngestResult:
    committed = outcome["ingest"]
    if committed is not None:
        return IngestResult(
            source=source.source,
            kind=source.kind,
            sha256=source.sha256,
            rows_read=source.rows_read,
            rows_accepted=0 if source.frame is None else source.frame.height,
            rows_rejected=source.rows_rejected,
            rejects=source.rejects,
            ingest_id=committed["id"],
        )
    earlier = outcome["duplicate"]
    if earlier is None:
        return IngestResult(
            source=source.source,
            kind=source.kind,
            sha256=source.sha256,
            rows_read=source.rows_read,
            rows_accepted=0 if source.frame is None else source.frame.height,
            rows_rejected=source.rows_rejected,
            rejects=source.rejects,
            duplicate_of="earlier in this batch",
        )
    return IngestResult(
        source=source.source,
        kind=source.kind,
        sha256=source.sha256,
        rows_read=earlier["rows_read"],
        rows_accepted=earlier["rows_accepted"],
        rows_rejected=earlier["rows_rejected"],
        rejects=_rejects_of(root, earlier["id"], earlier["rejects"]),
        duplicate_of=earlier["id"],
    )


def _rejects_of(root: Path, ingest_id: str, path: str | None) -> pl.DataFrame:
    """The rejected rows of an earlier ingest (found in its commit date's rejects files, merged or not)."""
    if path is None:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    day = path.split("date=", 1)[1][:10] if "date=" in path else ""
    for _ in range(5):  # a compaction may merge and remove the files of the state read: read a newer one
        state = load_state(root)
        frames = [
            pl.scan_parquet(root / entry.path, hive_partitioning=False).filter(pl.col("ingest") == ingest_id)
            for entry in state.rejects
            if entry.date == day
        ]
        if not frames:
            break
        try:
            return pl.concat(frames).select(list(REJECTS_SCHEMA)).collect().cast(REJECTS_SCHEMA)
        except FileNotFoundError:
            continue
    return pl.DataFrame(schema=REJECTS_SCHEMA)


# One process, one cache: the poll-store table as of its pieces, so that a
# writer does not re-read it for every batch (the pieces are immutable files).
_KNOWN_STORES: dict[tuple[str, ...], frozenset[str]] = {}


def _known_stores(root: Path, state: Manifest) -> frozenset[str]:
    """Every store id of the poll-store table (of ``state``, or of a newer state if upkeep merged its pieces)."""
    for _ in range(5):
        key = (str(root), *(piece.path for piece in state.poll_stores))
        known = _KNOWN_STORES.get(key)
        if known is not None:
            return known
        try:
            known = frozenset(read_poll_stores(root, state.poll_stores)["store_id"].to_list())
        except FileNotFoundError:
            # A compaction merged the pieces and removed them meanwhile. Only an
            # optimisation is at stake (a stale set just makes a larger delta).
            state = load_state(root)
            continue
        _KNOWN_STORES.clear()
        _KNOWN_STORES[key] = known
        return known
    return frozenset()


def _stage(root: Path, state: Manifest, source: _Source, written: list[str]) -> _Staged:
    """Write the source's data, rejects and new-store files (invisible until committed).

    Every path is added to ``written`` before it is written, so that a
    failure part-way leaves nothing the caller does not know about.
    """
    one = _Staged(source, new_id())
    frame = source.frame
    assert frame is not None
    day = today_utc()
    rejects_path = f"rejects/date={day}/rejects-{one.ingest_id}.parquet" if source.rejects.height else None
    if source.kind == "polls":
        if frame.height <= INLINE_ROWS:
            one.inline = inline_rows(frame)  # no part file: the commit record holds them
        else:
            one.parts = write_parts(root, frame, one.ingest_id, written)
        known = _known_stores(root, state)
        new = sorted(set(frame["store_id"].unique().to_list()) - known)
        if new:
            # Only the ids new to the table: a small delta, merged by upkeep.
            relative = f"tables/poll-stores-{one.ingest_id}.parquet"
            written.append(relative)
            one.poll_stores = write_poll_stores(root, relative, new, one.ingest_id)
    else:
        relative = f"tables/{source.kind}-{one.ingest_id}.parquet"
        written.append(relative)
        write_parquet(root, relative, frame)
        one.table = TableEntry(relative, frame.height, source.sha256, one.ingest_id, source.rows_rejected, rejects_path)
    if rejects_path is not None:
        written.append(rejects_path)
        rows = source.rejects.with_columns(pl.lit(one.ingest_id).alias("ingest"))
        one.rejects = write_dated(root, "rejects", f"rejects-{one.ingest_id}", day, rows)
    return one


def _typed(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """``frame`` in the kind's schema, or :class:`InputError` saying what is wrong."""
    schema = _SCHEMAS[kind]
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{kind} must be a Polars DataFrame, not {type(frame).__name__}", file=kind)
    missing = [column for column in schema if column not in frame.columns]
    if missing:
        raise InputError(f"{kind} frame lacks column(s) {', '.join(missing)}", file=kind)
    try:
        # A loader's frame is in the schema already: then there is nothing to select or cast.
        typed = frame if _in_schema(frame, schema) else frame.select(list(schema)).cast(schema)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{kind} frame has values of the wrong kind: {str(exc).splitlines()[0]}", file=kind) from None
    nullable = _NULLABLE.get(kind, ())
    nulls = [column for column in typed.columns if typed[column].null_count() and column not in nullable]
    if nullable and typed.filter(pl.col(nullable[0]).is_null() != pl.col(nullable[1]).is_null()).height:
        nulls += [f"exactly one of {' and '.join(nullable)}"]
    if nulls:
        raise InputError(f"{kind} frame has missing values in {', '.join(nulls)} (validate it first)", file=kind)
    return typed


def _typed_rejects(rejects: pl.DataFrame | None) -> pl.DataFrame:
    if rejects is None:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    if _in_schema(rejects, REJECTS_SCHEMA):
        return rejects
    missing = [column for column in REJECTS_SCHEMA if column not in rejects.columns]
    if missing:
        raise InputError(f"rejects frame lacks column(s) {', '.join(missing)}", file="rejects")
    return rejects.select(list(REJECTS_SCHEMA)).cast(REJECTS_SCHEMA)


def _in_schema(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> bool:
    """Whether ``frame`` has exactly ``schema``'s columns, in its order and with its dtypes."""
    return list(frame.schema.items()) == list(schema.items())
