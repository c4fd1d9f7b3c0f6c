"""The store's directory and its files: opening, creating, and writing files durably.

Every data file is written to a temporary name, fsync'd and renamed into
place, and new directories are fsync'd into their parents, so that what a
commit record names survives a crash. See :mod:`storemon.store` for the layout.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from storemon._core.shards import BUCKETS, bucket_of, shard_buckets, shard_of
from storemon._fileio import atomic_path, fsync_dir, temp_pattern
from storemon.exceptions import StoreError
from storemon.schema import POLLS_SCHEMA
from storemon.store._manifest import (
    COMMIT_LOCK,
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
    "write_poll_stores",
    "BUCKET",
    "shard_filter",
    "read_table",
    "read_poll_stores",
    "write_dated",
    "today_utc",
    "new_id",
    "make_dirs",
]


#: The poll-store table: every store id that ever had a valid poll.
POLL_STORES_SCHEMA = pl.Schema({"store_id": pl.String()})

#: The hash-bucket column of bucketed poll parts and poll-store pieces (storemon._core.shards).
BUCKET = "bucket"
# Row groups of a bucketed file: about this many per file, so that a shard's
# bucket range prunes all but its own ones and at most one at each end …
_GROUPS_PER_FILE = 64
# … but no smaller than this (per-group overhead, compression) nor larger (memory per group read).
# Measured side by side (1,000 stores × 15 days, 46,000 polls a day): a report took 452 ms
# with groups of ≥ 1 Ki rows, 378 ms with ≥ 4 Ki, 356 ms with ≥ 16 Ki, while a quarter shard
# read 1.16×, 1.48× and 2.80× a quarter of the bytes. Stores that big only need shards when
# far bigger, where groups are 64 Ki rows anyway; 2 Ki is the middle.
_MIN_GROUP_ROWS = 2048
_MAX_GROUP_ROWS = 64 * 1024


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
        descriptor = root / MANIFEST_NAME
        # The descriptor is looked for again after the listing: a creation that
        # finished meanwhile may have ingested already (log/, queue/ …).
        if (
            root.is_dir()
            and not descriptor.exists()
            and not all(map(_creating, root.iterdir()))
            and not descriptor.exists()
        ):
            raise StoreError(
                f"{root}: a directory with other files and no data store in it; "
                "give an empty or new directory, or an existing store"
            )
        _create(root)
    read_descriptor(root)  # refuses a directory without a (readable, current) descriptor
    return Store(root)


def _creating(path: Path) -> bool:
    """Whether ``path`` is what a store's creation makes before its descriptor is in place.

    That is the commit lock file (taken first: the lock makes the creation
    single) and the descriptor's temp file (written, then renamed). Another
    process creating the same store sees them while that creation is under
    way, and a creation killed in between leaves them; they are not someone
    else's files. Garbage collection removes a leftover temp file.
    """
    return path.name == COMMIT_LOCK or fnmatch.fnmatchcase(path.name, temp_pattern(MANIFEST_NAME))


def _create(root: Path) -> None:
    # The descriptor comes first, after only the lock file: a crash right
    # after it leaves an empty store (every directory is made on demand), and
    # a crash before it leaves the lock file (and perhaps the descriptor's
    # temp file), which a second ``create`` accepts (``_creating``); never a
    # directory it would refuse as "other files and no store".
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
    """Write ``polls`` as one part per UTC date, each bucketed; return their entries by date.

    A part holds the polls' columns plus :data:`BUCKET` (the store's hash
    bucket, :func:`~storemon._core.shards.bucket_of`), sorted by bucket,
    store, time and status, in row groups with statistics
    (:func:`_group_rows`): a shard's read filters on its bucket range and the
    Parquet reader skips every other row group. Each path is appended to
    ``written`` (when given) before its file is written.
    """
    if polls.is_empty():
        return ()
    polls = polls.select(list(POLLS_SCHEMA))
    stores = _store_keys(polls)
    timestamps = polls.get_column("timestamp_utc")
    entries = []
    # One date's rows at a time, selected by a range on the timestamps: no copy of every
    # poll (partition_by) nor a column as long as the input beside it, so an ingest
    # needs no more memory than loading the file did.
    day_of = pl.col("timestamp_utc").dt.date().unique().alias("day")
    days = polls.lazy().select(day_of).collect().get_column("day").sort()
    for day in days:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        part = polls.filter((timestamps >= start) & (timestamps < start + timedelta(days=1)))
        key = part.get_column("store_id").replace_strict(stores["store_id"], stores["key"], return_dtype=pl.UInt32)
        # The key orders stores by (bucket, store_id): sorting by it sorts numbers, not strings.
        part = (
            part.with_columns(stores.get_column(BUCKET).gather(key).alias(BUCKET), key.alias("_key"))
            .sort("_key", "timestamp_utc", "status")
            .drop("_key")
        )
        relative = f"polls/date={day.isoformat()}/part-{part_id}.parquet"
        if written is not None:
            written.append(relative)
        write_parquet(root, relative, part, row_group_size=_group_rows(part.height))
        ts = pl.col("timestamp_utc").cast(pl.Int64)
        low, high = part.select(ts.min().alias("low"), ts.max().alias("high")).row(0)
        entries.append(PartEntry(relative, day.isoformat(), part.height, low, high, buckets=BUCKETS))
    return tuple(entries)


def _store_keys(polls: pl.DataFrame) -> pl.DataFrame:
    """The distinct stores of ``polls`` with their :data:`BUCKET`, in (bucket, id) order, numbered by ``key``."""
    ids = polls.lazy().select(pl.col("store_id").unique()).collect()
    return _with_buckets(ids).sort(BUCKET, "store_id").with_row_index("key")


def _with_buckets(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its stores' :data:`BUCKET` column, hashed once per distinct store, not per poll."""
    ids = frame.select(pl.col("store_id").unique())
    ids = ids.with_columns(bucket_of(pl.col("store_id")).alias(BUCKET))
    # A looked-up column added to the frame, not a join: a join would copy every column.
    bucket = frame.get_column("store_id").replace_strict(ids["store_id"], ids[BUCKET], return_dtype=pl.UInt16)
    return frame.with_columns(bucket.alias(BUCKET))


def _group_rows(rows: int) -> int:
    """Rows per row group for a bucketed file of ``rows`` rows (see :data:`_GROUPS_PER_FILE`)."""
    return max(_MIN_GROUP_ROWS, min(_MAX_GROUP_ROWS, -(-rows // _GROUPS_PER_FILE)))


def write_poll_stores(root: Path, relative: str, ids: pl.Series | list[str], ingest: str | None = None) -> TableEntry:
    """Write a poll-store piece (distinct store ids), bucketed like the poll parts; return its entry."""
    frame = pl.DataFrame({"store_id": ids}, schema=POLL_STORES_SCHEMA).unique()
    frame = _with_buckets(frame).sort(BUCKET, "store_id")
    write_parquet(root, relative, frame, row_group_size=_group_rows(frame.height))
    return TableEntry(relative, frame.height, ingest=ingest, buckets=BUCKETS)


def shard_filter(shard: tuple[int, int], bucketed: bool) -> pl.Expr:
    """The rows of shard ``(index, count)``: a range of :data:`BUCKET` when the file has it, else hashed."""
    index, count = shard
    if bucketed:
        low, high = shard_buckets(index, count)
        # A plain range on a sorted column with statistics: the reader prunes row groups.
        return (pl.col(BUCKET) >= low) & (pl.col(BUCKET) < high)
    return shard_of(pl.col("store_id"), count) == index


def write_parquet(root: Path, relative: str, frame: pl.DataFrame, *, row_group_size: int | None = None) -> None:
    """Write ``frame`` to ``root/relative`` via temp file + fsync + rename (+ dir fsyncs)."""
    path = root / relative
    try:
        make_dirs(path.parent)
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=row_group_size)
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


def read_poll_stores(root: Path, pieces: tuple[TableEntry, ...], shard: tuple[int, int] | None = None) -> pl.DataFrame:
    """The poll-store table: the union of its pieces (a merged base and small deltas), sorted.

    With ``shard``, only its stores: a bucket-range scan of bucketed pieces,
    a filter after the read of older ones.
    """
    if not pieces:
        return pl.DataFrame(schema=POLL_STORES_SCHEMA)
    scans = []
    for piece in pieces:
        scan = pl.scan_parquet(root / piece.path, hive_partitioning=False)
        if shard is not None:
            scan = scan.filter(shard_filter(shard, piece.buckets == BUCKETS))
        scans.append(scan.select(list(POLL_STORES_SCHEMA)).cast(POLL_STORES_SCHEMA))
    # One scan per piece, collected together: a scan over several files reads more
    # than the row groups it selects (see storemon.store._reads._shard_polls).
    frames = pl.collect_all(scans)
    if len(frames) == 1 and pieces[0].buckets != BUCKETS:
        return frames[0]  # an old single piece: written sorted by store_id
    return pl.concat(frames).unique().sort("store_id")


def today_utc() -> str:
    return datetime.now(UTC).date().isoformat()


def new_id() -> str:
    """A fresh id that sorts by creation time: ``20241014T120000123456Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"
