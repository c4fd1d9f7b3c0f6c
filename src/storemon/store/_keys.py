"""Idempotency keys: has a polls source with this sha256 been ingested?

One SQLite table (Python's own :mod:`sqlite3`), ``keys/keys.sqlite``:
sha256 → the ingest's id and counts (what a no-op answer repeats) and its
commit date. A lookup is one primary-key query — it never loads the other
keys — so it costs the same after 100 or 100,000 ingests, and the keys take
three files (the database, its write-ahead log and that log's index)
however many there are. One marker file per key, as stores written before
held, made the file count grow by one per ingest for the whole retention.

Keys are written by the checkpointer (under the checkpoint lock: one
writer at a time) for the ingests of the records a checkpoint folds, in one
transaction committed durably (``journal_mode=WAL``, ``synchronous=FULL``:
the log is fsync'd at the commit) *before* the checkpoint is written: the
ingests of the records after the latest checkpoint are in the state itself
(:attr:`Manifest.ingests`), so every committed ingest is found, by the
state or by a committed key, at every moment — also right after a crash.
Readers never wait for that writer (WAL).

**Earlier stores.** Their markers, ``keys/<commit date>/<sha256>``, are
still found and expired; once the last of their days has expired, nothing
of them is left.

**Retention.** Keys older than :data:`KEY_RETENTION_DAYS` days (by commit
date) are deleted by upkeep. A polls body sent again after that is
ingested again: its polls are then stored twice, which changes no figure
(docs/rules.md, invariant 5).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from pathlib import Path

from storemon.exceptions import StoreError
from storemon.store._manifest import IngestEntry, Manifest

__all__ = ["KEYS_DIR", "KEYS_DB", "KEY_RETENTION_DAYS", "find_polls_ingest", "write_keys", "expire_keys"]

KEYS_DIR = "keys"
#: The keys' database, in :data:`KEYS_DIR`.
KEYS_DB = "keys.sqlite"
#: How long a polls source is remembered for idempotency (days, by commit date).
KEY_RETENTION_DAYS = 30

#: A key's columns: the ingest's entry, field by field (:class:`IngestEntry`, in its order),
#: after the sha256 and the commit day. Columns of their own, not one JSON text: SQLite then
#: keeps the counts as small integers and repeats no field name — about 300 bytes a key, its
#: index included, against 590 as JSON (3,025 keys of single-poll POSTs, measured).
_COLUMNS = {
    "id": "TEXT NOT NULL",
    "kind": "TEXT NOT NULL",
    "source": "TEXT NOT NULL",
    "sha256": "TEXT PRIMARY KEY",
    "rows_read": "INTEGER NOT NULL",
    "rows_accepted": "INTEGER NOT NULL",
    "rows_rejected": "INTEGER NOT NULL",
    "committed_at": "TEXT NOT NULL",
    "rejects": "TEXT",
    "intent": "TEXT",
}
_FIELDS = tuple(_COLUMNS)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS keys (day TEXT NOT NULL, "
    + ", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())
    + ") WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS keys_by_day ON keys (day)",
)
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM keys WHERE sha256 = ?"
_INSERT = f"INSERT OR REPLACE INTO keys (day, {', '.join(_FIELDS)}) VALUES (?{', ?' * len(_FIELDS)})"
#: The write-ahead log is checkpointed into the database at 1,000 pages (SQLite's default)
#: and cut back to this size after: it stays small however large one transaction was.
_WAL_BYTES = 4 << 20
#: A day directory of the markers of earlier stores.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def find_polls_ingest(root: Path, state: Manifest, sha256: str) -> IngestEntry | None:
    """The committed polls ingest of this content, if it is still remembered."""
    recent = state.recent_polls_ingest(sha256)
    if recent is not None:
        return recent
    connection = _connection(root, create=False)
    if connection is not None:
        try:
            row = connection.execute(_SELECT, (sha256,)).fetchone()
        except sqlite3.Error as exc:
            raise _failed(root, "read", exc) from None
        if row is not None:
            return IngestEntry(*row)
    return _find_marker(root, sha256)


def write_keys(root: Path, entries: Iterable[IngestEntry]) -> None:
    """Commit (durably) the key of every polls ingest in ``entries``. Call under the checkpoint lock."""
    rows = [
        (entry.committed_at[:10], *(getattr(entry, name) for name in _FIELDS))
        for entry in entries
        if entry.kind == "polls"
    ]
    if not rows:
        return
    connection = _connection(root, create=True)
    assert connection is not None
    try:
        with _transaction(connection):
            # A key ingested again after its retention: the newer ingest is the one remembered.
            connection.executemany(_INSERT, rows)
    except sqlite3.Error as exc:
        raise _failed(root, "write", exc) from None


def expire_keys(root: Path, today: date) -> int:
    """Delete the keys of the days older than the retention; return how many days went."""
    oldest = (today - timedelta(days=KEY_RETENTION_DAYS)).isoformat()
    expired = 0
    connection = _connection(root, create=False)
    if connection is not None:
        try:
            with _transaction(connection):
                (days,) = connection.execute("SELECT COUNT(DISTINCT day) FROM keys WHERE day < ?", (oldest,)).fetchone()
                connection.execute("DELETE FROM keys WHERE day < ?", (oldest,))
        except sqlite3.Error as exc:
            raise _failed(root, "expire", exc) from None
        expired += days
    for day in _marker_days(root):
        if day < oldest:
            shutil.rmtree(root / KEYS_DIR / day, ignore_errors=True)
            expired += 1
    return expired


# --- the database ----------------------------------------------------------------------------

#: Open connections of this thread, most recently used last: (root, pid) → (file identity, connection).
_local = threading.local()
#: Connections a thread keeps open (a process serving one store uses one; tests make many stores).
_KEPT = 4


def _connection(root: Path, *, create: bool) -> sqlite3.Connection | None:
    """This thread's connection to ``root``'s keys (None: no database yet and not ``create``).

    Kept open between calls (opening costs more than a lookup), per thread
    (a connection is not shared between threads), per process (nor across
    a fork), and only while the file is the one it opened: a store removed
    and created again at the same path gets a new connection.
    """
    path = root / KEYS_DIR / KEYS_DB
    kept: OrderedDict[tuple[str, int], tuple[tuple[int, int], sqlite3.Connection]]
    kept = _local.__dict__.setdefault("connections", OrderedDict())
    key = (str(root), os.getpid())
    try:
        found = os.stat(path)
    except FileNotFoundError:
        found = None
    if found is not None and key in kept:
        identity, connection = kept[key]
        if identity == (found.st_dev, found.st_ino):
            kept.move_to_end(key)
            return connection
    if key in kept:
        kept.pop(key)[1].close()
    if found is None and not create:
        return None
    path.parent.mkdir(exist_ok=True)
    try:
        connection = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute(f"PRAGMA journal_size_limit={_WAL_BYTES}")
        for statement in _SCHEMA:
            connection.execute(statement)
    except sqlite3.Error as exc:
        raise _failed(root, "open", exc) from None
    found = os.stat(path)
    kept[key] = ((found.st_dev, found.st_ino), connection)
    while len(kept) > _KEPT:
        kept.popitem(last=False)[1][1].close()
    return connection


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` on an autocommit connection; ``ROLLBACK`` when the block fails."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _failed(root: Path, doing: str, exc: sqlite3.Error) -> StoreError:
    return StoreError(f"{root / KEYS_DIR / KEYS_DB}: cannot {doing} the idempotency keys: {exc}")


# --- the markers of earlier stores ----------------------------------------------------------


def _marker_days(root: Path) -> list[str]:
    """The day directories of markers, newest first."""
    try:
        names = os.listdir(root / KEYS_DIR)
    except FileNotFoundError:
        return []
    return sorted((name for name in names if _DAY.fullmatch(name)), reverse=True)


def _find_marker(root: Path, sha256: str) -> IngestEntry | None:
    for day in _marker_days(root):
        try:
            text = (root / KEYS_DIR / day / sha256).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            return IngestEntry(**json.loads(text))
        except (ValueError, TypeError):
            continue  # a marker the checkpointer did not finish: its ingest is in the state or a later marker
    return None
