"""The store's directory and its files: opening, creating, and writing files durably.

Every data file is written to a temporary name, fsync'd and renamed into
place, and new directories are fsync'd into their parents, so that what a
commit record names survives a crash. See :mod:`storemon.store` for the layout.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from storemon._fileio import atomic_path, fsync_dir
from storemon.exceptions import StoreError
from storemon.store._manifest import (
    MANIFEST_NAME,
    Manifest,
    PartEntry,
    TableEntry,
    commit_lock,
    load_state,
    read_descriptor,
    write_descriptor,
)

__all__ = [
    "Store",
    "StoreLike",
    "POLL_STORES_SCHEMA",
    "open_store",
    "write_parts",
    "write_parquet",
    "read_table",
    "read_poll_stores",
    "write_dated",
    "today_utc",
    "new_id",
    "make_dirs",
]


#: The poll-store table: every store id that ever had a valid poll.
POLL_STORES_SCHEMA = pl.Schema({"store_id": pl.String()})


@dataclass(frozen=True)
class Store:
    """An opened store: its root directory. Get one with :func:`open_store`."""

    root: Path

    def manifest(self) -> Manifest:
        """The currently committed state (a snapshot; ingest entries of the recent records only)."""
        return load_state(self.root)


StoreLike = Store | str | os.PathLike[str]


def open_store(location: StoreLike, *, create: bool = False) -> Store:
    """Open the store at ``location`` (a local directory); ``create`` makes a new, empty one.

    Raises :class:`StoreError` for a remote URL, a location that is not a
    directory, a directory that holds no store (without ``create``), or one
    that holds other files and no store (with ``create``: a store is never
    mixed into, say, a data directory by mistake).
    """
    if isinstance(location, Store):
        return location
    text = os.fspath(location)
    if "://" in text:
        raise StoreError(f"{text}: only local directories are supported as a store")
    root = Path(text)
    if root.exists() and not root.is_dir():
        raise StoreError(f"{root}: not a directory")
    if create:
        if root.is_dir() and not (root / MANIFEST_NAME).exists() and any(root.iterdir()):
            raise StoreError(
                f"{root}: a directory with other files and no data store in it; "
                "give an empty or new directory, or an existing store"
            )
        _create(root)
    read_descriptor(root)  # refuses a directory without a (readable, current) descriptor
    return Store(root)


def _create(root: Path) -> None:
    # The descriptor comes first: a crash right after it leaves an empty store
    # (every directory is made on demand), never a directory that a second
    # ``create`` would refuse as "other files and no store".
    if (root / MANIFEST_NAME).exists():
        return  # an existing store: no lock taken (every append opens with create=True)
    try:
        make_dirs(root)
        with commit_lock(root):
            if not (root / MANIFEST_NAME).exists():
                write_descriptor(root)
    except OSError as exc:
        raise StoreError(f"{root}: cannot create the store: {exc.strerror or exc}") from None


def make_dirs(directory: Path) -> None:
    """``mkdir -p`` whose new entries survive a crash (each new parent fsync'd)."""
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        fsync_dir(new.parent)


def write_parts(
    root: Path, polls: pl.DataFrame, part_id: str, written: list[str] | None = None
) -> tuple[PartEntry, ...]:
    """Write ``polls`` as one part per UTC date, each sorted; return their entries by date.

    Each path is appended to ``written`` (when given) before its file is written.
    """
    if polls.is_empty():
        return ()
    dated = polls.with_columns(pl.col("timestamp_utc").dt.date().alias("_date"))
    entries = []
    for (day,), part in sorted(dated.partition_by("_date", as_dict=True).items()):
        part = part.drop("_date").sort("store_id", "timestamp_utc", "status")
        relative = f"polls/date={day.isoformat()}/part-{part_id}.parquet"
        if written is not None:
            written.append(relative)
        write_parquet(root, relative, part)
        ts = pl.col("timestamp_utc").cast(pl.Int64)
        low, high = part.select(ts.min().alias("low"), ts.max().alias("high")).row(0)
        entries.append(PartEntry(relative, day.isoformat(), part.height, low, high))
    return tuple(entries)


def write_parquet(root: Path, relative: str, frame: pl.DataFrame) -> None:
    """Write ``frame`` to ``root/relative`` via temp file + fsync + rename (+ dir fsyncs)."""
    path = root / relative
    try:
        make_dirs(path.parent)
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from None


def write_dated(root: Path, directory: str, stem: str, day: str, frame: pl.DataFrame) -> PartEntry:
    """Write ``frame`` as ``<directory>/date=<day>/<stem>.parquet`` (rejects, ingest history)."""
    relative = f"{directory}/date={day}/{stem}.parquet"
    write_parquet(root, relative, frame)
    return PartEntry(relative, day, frame.height)


def read_table(root: Path, table: TableEntry | None, schema: pl.Schema) -> pl.DataFrame:
    """The table version ``table`` names, in ``schema``; empty when there is none yet."""
    if table is None:
        return pl.DataFrame(schema=schema)
    return pl.read_parquet(root / table.path).select(list(schema)).cast(schema)


def read_poll_stores(root: Path, pieces: tuple[TableEntry, ...]) -> pl.DataFrame:
    """The poll-store table: the union of its pieces (a merged base and small deltas)."""
    if not pieces:
        return pl.DataFrame(schema=POLL_STORES_SCHEMA)
    frames = [read_table(root, piece, POLL_STORES_SCHEMA) for piece in pieces]
    return frames[0] if len(frames) == 1 else pl.concat(frames).unique().sort("store_id")


def today_utc() -> str:
    return datetime.now(UTC).date().isoformat()


def new_id() -> str:
    """A fresh id that sorts by creation time: ``20241014T120000123456Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"
