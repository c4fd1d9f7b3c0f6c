"""The data store's manifest: the one file that says what the store holds.

``manifest.json`` at the store root lists every committed poll part file,
the current business-hours, time-zone and poll-store tables, and one entry
per ingest (source name, sha256, rows read/accepted/rejected, time). It is
only ever replaced whole (temp file + fsync + rename + directory fsync), so
replacing it is the **commit point** of every change: a reader that reads it
once sees one committed state, and a file the manifest does not name is
invisible to readers (it is garbage from a crash or a superseded version).

Writers serialise their commits with ``flock`` on ``.commit.lock``; writers
that stage files hold ``.writers.lock`` shared so that garbage collection
(exclusive) never deletes a file that is about to be committed. Locks are
released by the kernel when a process dies, so a crash leaves no stale lock.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from storemon._fileio import atomic_path
from storemon.exceptions import StoreError

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "PartEntry",
    "TableEntry",
    "IngestEntry",
    "Manifest",
    "NO_VERSION",
    "version_of",
    "read_manifest",
    "write_manifest",
    "commit_lock",
    "writers_lock",
]

#: Version of the manifest layout; a store written by a newer layout is refused.
FORMAT = 1
MANIFEST_NAME = "manifest.json"
COMMIT_LOCK = ".commit.lock"
WRITERS_LOCK = ".writers.lock"


@dataclass(frozen=True)
class PartEntry:
    """One immutable poll part file: polls of one UTC date, sorted by store and time."""

    path: str  # relative to the store root, POSIX separators
    date: str  # YYYY-MM-DD, the UTC date of every timestamp in the file
    rows: int
    min_us: int  # earliest and latest timestamp_utc, µs since the epoch
    max_us: int


@dataclass(frozen=True)
class TableEntry:
    """One version of a whole table (hours, time zones, special hours, or the poll-store ids)."""

    path: str
    rows: int
    sha256: str | None = None  # of the source it came from, when it has one
    ingest: str | None = None  # id of the ingest that wrote it


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
    rejects: str | None = None  # path of the rejects file, when there were any
    table: str | None = None  # hours / time zones: path of the version it wrote (kept for restores)


@dataclass(frozen=True)
class Manifest:
    """A committed state of the store (immutable; build a new one to change it)."""

    generation: int = 0
    committed_at: str | None = None
    max_timestamp_us: int | None = None
    parts: tuple[PartEntry, ...] = ()
    hours: TableEntry | None = None
    timezones: TableEntry | None = None
    poll_stores: TableEntry | None = None
    ingests: tuple[IngestEntry, ...] = field(default=())
    special: TableEntry | None = None  # special hours; absent from manifests written before they existed

    def files(self) -> set[str]:
        """Every file this state refers to, relative to the store root."""
        tables = (self.hours, self.timezones, self.special, self.poll_stores)
        named = {part.path for part in self.parts} | {table.path for table in tables if table is not None}
        named |= {entry.table for entry in self.ingests if entry.table}  # every table version stays restorable
        return named | {entry.rejects for entry in self.ingests if entry.rejects}

    def polls_ingest_with(self, sha256: str) -> IngestEntry | None:
        """The committed polls ingest whose source had this content hash, if any."""
        return next((e for e in self.ingests if e.kind == "polls" and e.sha256 == sha256), None)


def read_manifest(root: Path) -> Manifest:
    """Read and check ``root/manifest.json``; :class:`StoreError` if missing or damaged."""
    path = root / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(
            f"{root}: not a storemon store (no {MANIFEST_NAME}); create one with 'storemon ingest'"
        ) from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the manifest: {exc.strerror or exc}") from None
    try:
        return _from_json(json.loads(text))
    except (ValueError, TypeError, KeyError) as exc:
        raise StoreError(f"{path}: damaged manifest: {exc}") from None


def write_manifest(root: Path, manifest: Manifest) -> Manifest:
    """Commit ``manifest`` as the next generation, durably; return what was written.

    Call with :func:`commit_lock` held. When this returns, the new state is on
    disk (file and directory entry fsync'd).
    """
    committed = dataclasses.replace(
        manifest,
        generation=manifest.generation + 1,
        committed_at=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
    )
    document = json.dumps(_to_json(committed), indent=1, sort_keys=False)
    with atomic_path(root / MANIFEST_NAME) as tmp:
        tmp.write_text(document + "\n", encoding="utf-8")
    return committed


@contextlib.contextmanager
def commit_lock(root: Path) -> Iterator[None]:
    """Hold the store's commit lock (exclusive) for the ``with`` block."""
    with _flock(root / COMMIT_LOCK, fcntl.LOCK_EX):
        yield


@contextlib.contextmanager
def writers_lock(root: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Hold the writers' lock: shared while staging and committing, exclusive for GC."""
    with _flock(root / WRITERS_LOCK, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH):
        yield


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open the lock file: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- JSON ----------------------------------------------------------------------


def _to_json(manifest: Manifest) -> dict[str, Any]:
    document = {"format": FORMAT}
    document.update(asdict(manifest))
    return document


def _from_json(document: Any) -> Manifest:
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    if document.get("format") != FORMAT:
        raise ValueError(f"unsupported format {document.get('format')!r} (this storemon reads format {FORMAT})")
    parts = tuple(_checked(PartEntry, raw) for raw in document["parts"])
    ingests = tuple(_checked(IngestEntry, raw) for raw in document["ingests"])
    manifest = Manifest(
        generation=_int(document["generation"], "generation"),
        committed_at=document["committed_at"],
        max_timestamp_us=None
        if document["max_timestamp_us"] is None
        else _int(document["max_timestamp_us"], "max_timestamp_us"),
        parts=parts,
        hours=_table(document["hours"]),
        timezones=_table(document["timezones"]),
        poll_stores=_table(document["poll_stores"]),
        ingests=ingests,
        special=_table(document.get("special")),
    )
    for path in manifest.files():
        _check_relative(path)
    return manifest


def _table(raw: Any) -> TableEntry | None:
    return None if raw is None else _checked(TableEntry, raw)


def _checked(kind: type[Any], raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ValueError(f"{kind.__name__} entry is not an object: {raw!r}")
    names = {field.name for field in dataclasses.fields(kind)}
    unknown = set(raw) - names
    if unknown:
        raise ValueError(f"{kind.__name__} entry has unknown keys {sorted(unknown)}")
    entry = kind(**raw)
    for name in ("rows", "min_us", "max_us", "rows_read", "rows_accepted", "rows_rejected"):
        if hasattr(entry, name):
            _int(getattr(entry, name), name)
    return entry


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is not an integer: {value!r}")
    return value


def _check_relative(path: str) -> None:
    """Refuse paths that would leave the store root (a damaged or hostile manifest)."""
    if not isinstance(path, str):
        raise ValueError(f"file path {path!r} is not a string")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValueError(f"file path {path!r} is not inside the store")
