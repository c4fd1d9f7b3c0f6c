"""Ingesting into the store: validated inputs become committed, durable data.

An ingest stages its files (poll parts, a table version, its rejects) while
holding the writers' lock shared, then takes the commit lock, re-checks for
duplicates against the manifest now committed, and commits everything in one
manifest replacement. Files it wrote that the new manifest does not name (a
duplicate found at commit time, a version superseded within the batch, a
failure) are removed before it returns. See :mod:`storemon.store` for the
guarantees.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from storemon._load import Loaded, load_hours, load_polls, load_special_hours, load_timezones
from storemon.exceptions import ConfigError, InputError, StaleVersionError, StoreError
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, REJECTS_SCHEMA, SPECIAL_HOURS_SCHEMA, TIMEZONES_SCHEMA
from storemon.store._files import (
    POLL_STORES_SCHEMA,
    Store,
    StoreLike,
    new_id,
    open_store,
    read_table,
    write_parquet,
    write_parts,
)
from storemon.store._manifest import (
    IngestEntry,
    Manifest,
    PartEntry,
    TableEntry,
    commit_lock,
    read_manifest,
    version_of,
    write_manifest,
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
]


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
    if_version: str | None = None  # hours / time zones: commit only while this version is current


@dataclass
class _Staged:
    """A source whose files are written but not yet committed."""

    source: _Source
    ingest_id: str
    parts: tuple[PartEntry, ...] = ()
    table: TableEntry | None = None
    rejects_path: str | None = None


def ingest_paths(
    store: StoreLike, paths: Sequence[str | os.PathLike[str]], *, strict: bool = False
) -> list[IngestResult]:
    """Validate and ingest files and data directories in one atomic commit.

    A directory contributes the files :func:`storemon._load.load_dir` would
    find in it (any of the three may be absent). A file is recognised by
    those names too, otherwise by its header (``status`` → polls,
    ``timezone_str`` → time zones, ``start_time_local`` → hours). Polls are
    appended, hours and time zones replace the current version. The store is
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
        if kind == "polls" and _duplicate_of(manifest, kind, sha256) is not None:
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
    current version's. With ``if_version`` (a version from :func:`table_version`)
    the replace happens only while that version is still current, checked
    under the commit lock; otherwise :class:`~storemon.StaleVersionError`.
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


def restore_table(store: StoreLike, table: str, version: str, *, if_version: str | None = None) -> IngestResult:
    """Make an earlier version of ``table`` (``"hours"``, ``"timezones"``, ``"special"``) current again.

    ``version`` is a name from :func:`table_versions`; the new version holds
    the same rows (a no-op when it already is the current content).
    ``if_version`` as for :func:`replace_hours`. Raises :class:`StoreError`
    for a version the store does not have (or no longer can restore).
    """
    if table not in ("hours", "timezones", "special"):
        raise ConfigError(f"unknown table {table!r}: expected hours, timezones or special")
    opened = open_store(store)
    manifest = opened.manifest()
    entry = next((e for e in manifest.ingests if e.kind == table and e.id == version), None)
    path = _version_path(opened.root, entry)
    if entry is None or path is None:
        raise StoreError(f"{opened.root}: no restorable {table} version {version!r}")
    frame = read_table(opened.root, TableEntry(path, entry.rows_accepted), _SCHEMAS[table])
    return _ingest_frame(
        opened, table, frame, f"restore of {table} version {version}", entry.sha256, None, None, if_version
    )


def _version_path(root: Path, entry: IngestEntry | None) -> str | None:
    """Where the table version an ingest wrote lives (older manifests did not record it: the naming rule)."""
    if entry is None:
        return None
    path = entry.table or f"tables/{entry.kind}-{entry.id}.parquet"
    return path if (root / path).is_file() else None


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
    """Stage every new source's files, then commit them all in one manifest swap."""
    root = store.root
    results: dict[int, IngestResult] = {}
    staged: dict[int, _Staged] = {}
    written: list[str] = []
    committed = None
    with writers_lock(root):
        try:
            before = read_manifest(root)
            for index, source in enumerate(sources):
                if (
                    source.frame is not None
                    and _duplicate_of(before, source.kind, source.sha256, sources[:index]) is None
                ):
                    staged[index] = _stage(root, source, written)
            with commit_lock(root):
                committed = _commit(root, read_manifest(root), sources, staged, results, written)
        finally:
            # Files of sources that turned out to be duplicates or were
            # superseded within this batch (or of a failed commit) are not
            # named by the manifest: remove them now rather than leave garbage.
            named = committed.files() if committed is not None else set()
            for relative in written:
                if relative not in named:
                    (root / relative).unlink(missing_ok=True)
    return [results[index] for index in range(len(sources))]


def _commit(
    root: Path,
    current: Manifest,
    sources: list[_Source],
    staged: dict[int, _Staged],
    results: dict[int, IngestResult],
    written: list[str],
) -> Manifest:
    """Build and write the manifest that adds ``staged``; fill ``results``. Holds the commit lock."""
    now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    manifest = current
    entries: list[IngestEntry] = []
    new_store_ids: list[pl.Series] = []
    for index, source in enumerate(sources):
        if source.if_version is not None:
            now_current = version_of(getattr(current, source.kind))
            if now_current != source.if_version:
                raise StaleVersionError(source.kind, source.if_version, now_current)
        earlier = _duplicate_of(current, source.kind, source.sha256, sources[:index])
        one = staged.get(index)
        if one is None or earlier is not None or source.frame is None:
            results[index] = _skipped(root, current, source, earlier)
            continue
        entry = IngestEntry(
            id=one.ingest_id,
            kind=source.kind,
            source=source.source,
            sha256=source.sha256,
            rows_read=source.rows_read,
            rows_accepted=source.frame.height,
            rows_rejected=source.rows_rejected,
            committed_at=now,
            rejects=one.rejects_path,
            table=one.table.path if one.table is not None else None,
        )
        entries.append(entry)
        manifest = _with_source(manifest, source, one)
        if source.kind == "polls" and source.frame.height:
            new_store_ids.append(source.frame["store_id"])
        results[index] = _result(source, one.ingest_id, None)
    if not entries:
        return current
    poll_stores = _merged_poll_stores(root, current.poll_stores, new_store_ids, written)
    manifest = dataclasses.replace(manifest, poll_stores=poll_stores, ingests=current.ingests + tuple(entries))
    return write_manifest(root, manifest)


def _with_source(manifest: Manifest, source: _Source, one: _Staged) -> Manifest:
    if source.kind == "polls":
        if not one.parts:
            return manifest
        latest = max(part.max_us for part in one.parts)
        if manifest.max_timestamp_us is not None:
            latest = max(latest, manifest.max_timestamp_us)
        parts = tuple(sorted(manifest.parts + one.parts, key=lambda p: (p.date, p.path)))
        return dataclasses.replace(manifest, parts=parts, max_timestamp_us=latest)
    if source.kind == "hours":
        return dataclasses.replace(manifest, hours=one.table)
    if source.kind == "special":
        return dataclasses.replace(manifest, special=one.table)
    return dataclasses.replace(manifest, timezones=one.table)


def _duplicate_of(manifest: Manifest, kind: str, sha256: str, pending: Iterable[_Source] = ()) -> str | None:
    """Id of the ingest that already holds this content (``"this batch"`` if pending), else None."""
    if kind == "polls":
        if any(other.kind == "polls" and other.sha256 == sha256 for other in pending):
            return "earlier in this batch"
        earlier = manifest.polls_ingest_with(sha256)
        return earlier.id if earlier else None
    if any(other.kind == kind for other in pending):
        return None  # a later version in the same batch replaces the earlier one
    table: TableEntry | None = getattr(manifest, kind)
    if table is not None and table.sha256 == sha256:
        return table.ingest
    return None


def _skipped(root: Path, manifest: Manifest, source: _Source, earlier: str | None) -> IngestResult:
    entry = next((e for e in manifest.ingests if e.id == earlier), None)
    if entry is None:
        return _result(source, None, earlier)
    rejects = pl.read_parquet(root / entry.rejects) if entry.rejects else pl.DataFrame(schema=REJECTS_SCHEMA)
    return IngestResult(
        source=source.source,
        kind=source.kind,
        sha256=source.sha256,
        rows_read=entry.rows_read,
        rows_accepted=entry.rows_accepted,
        rows_rejected=entry.rows_rejected,
        rejects=rejects,
        duplicate_of=earlier,
    )


def _result(source: _Source, ingest_id: str | None, duplicate_of: str | None) -> IngestResult:
    return IngestResult(
        source=source.source,
        kind=source.kind,
        sha256=source.sha256,
        rows_read=source.rows_read,
        rows_accepted=0 if source.frame is None else source.frame.height,
        rows_rejected=source.rows_rejected,
        rejects=source.rejects,
        ingest_id=ingest_id,
        duplicate_of=duplicate_of,
    )


def _stage(root: Path, source: _Source, written: list[str]) -> _Staged:
    """Write the source's data and rejects files (invisible until committed).

    Every path is added to ``written`` before it is written, so that a
    failure part-way leaves nothing the caller does not know about.
    """
    one = _Staged(source, new_id())
    frame = source.frame
    assert frame is not None
    if source.kind == "polls":
        one.parts = write_parts(root, frame, one.ingest_id, written)
    else:
        relative = f"tables/{source.kind}-{one.ingest_id}.parquet"
        written.append(relative)
        write_parquet(root, relative, frame)
        one.table = TableEntry(relative, frame.height, source.sha256, one.ingest_id)
    if source.rejects.height:
        one.rejects_path = f"rejects/{one.ingest_id}.parquet"
        written.append(one.rejects_path)
        write_parquet(root, one.rejects_path, source.rejects)
    return one


def _merged_poll_stores(
    root: Path, current: TableEntry | None, new_ids: list[pl.Series], written: list[str]
) -> TableEntry | None:
    """The poll-store table with ``new_ids`` added: a new version only if it grows."""
    if not new_ids:
        return current
    known = read_table(root, current, POLL_STORES_SCHEMA)
    merged = pl.concat([known, *(ids.to_frame("store_id") for ids in new_ids)]).unique().sort("store_id")
    if current is not None and merged.height == known.height:
        return current
    relative = f"tables/poll-stores-{new_id()}.parquet"
    written.append(relative)
    write_parquet(root, relative, merged)
    return TableEntry(relative, merged.height)


def _typed(frame: pl.DataFrame, kind: str) -> pl.DataFrame:
    """``frame`` in the kind's schema, or :class:`InputError` saying what is wrong."""
    schema = _SCHEMAS[kind]
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{kind} must be a Polars DataFrame, not {type(frame).__name__}", file=kind)
    missing = [column for column in schema if column not in frame.columns]
    if missing:
        raise InputError(f"{kind} frame lacks column(s) {', '.join(missing)}", file=kind)
    try:
        typed = frame.select(list(schema)).cast(schema)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{kind} frame has values of the wrong kind: {str(exc).splitlines()[0]}", file=kind) from None
    nullable = _NULLABLE.get(kind, ())
    nulls = [
        column
        for column, count in zip(typed.columns, typed.null_count().row(0), strict=False)
        if count and column not in nullable
    ]
    if nullable and typed.filter(pl.col(nullable[0]).is_null() != pl.col(nullable[1]).is_null()).height:
        nulls += [f"exactly one of {' and '.join(nullable)}"]
    if nulls:
        raise InputError(f"{kind} frame has missing values in {', '.join(nulls)} (validate it first)", file=kind)
    return typed


def _typed_rejects(rejects: pl.DataFrame | None) -> pl.DataFrame:
    if rejects is None:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    missing = [column for column in REJECTS_SCHEMA if column not in rejects.columns]
    if missing:
        raise InputError(f"rejects frame lacks column(s) {', '.join(missing)}", file="rejects")
    return rejects.select(list(REJECTS_SCHEMA)).cast(REJECTS_SCHEMA)
