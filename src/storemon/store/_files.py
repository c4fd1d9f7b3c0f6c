"""The store's directory and its files: opening, creating, and writing files durably.

Every file is written to a temporary name, fsync'd and renamed into place,
and new directories are fsync'd into their parents, so that what a manifest
names survives a crash. See :mod:`storemon.store` for the layout.
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
    read_manifest,
    write_manifest,
)

__all__ = [
    "Store",
    "StoreLike",
    "POLL_STORES_SCHEMA",
    "open_store",
    "write_parts",
    "write_parquet",
    "read_table",
    "new_id",
]


#: The poll-store table: every store id that ever had a valid poll.
POLL_STORES_SCHEMA = pl.Schema({"store_id": pl.String()})


@dataclass(frozen=True)
class Store:
    """An opened store: its root directory. Get one with :func:`open_store`."""

    root: Path

    def manifest(self) -> Manifest:
        """The currently committed manifest (a snapshot)."""
        return read_manifest(self.root)


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
    read_manifest(root)  # refuses a directory without a (readable) manifest
    return Store(root)


def _create(root: Path) -> None:
    try:
        for sub in ("polls", "tables", "rejects"):
            _make_dirs(root / sub)
        with commit_lock(root):
            if not (root / MANIFEST_NAME).exists():
                write_manifest(root, Manifest())
    except OSError as exc:
        raise StoreError(f"{root}: cannot create the store: {exc.strerror or exc}") from None


def _make_dirs(directory: Path) -> None:
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
        _make_dirs(path.parent)
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp, compression="zstd", statistics=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from None


def read_table(root: Path, table: TableEntry | None, schema: pl.Schema) -> pl.DataFrame:
    """The table version ``table`` names, in ``schema``; empty when there is none yet."""
    if table is None:
        return pl.DataFrame(schema=schema)
    return pl.read_parquet(root / table.path).select(list(schema)).cast(schema)


def new_id() -> str:
    """A fresh id that sorts by creation time: ``20241014T120000123456Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"
