"""The data store: polls as date-partitioned Parquet, versioned tables, a commit log.

Layout under the store root (a local directory)::

    manifest.json                              the descriptor, {"format": 2}, written once
    log/<seq>.json                             commit records: the commit point (storemon.store._manifest)
    checkpoints/<seq>.json                     the state after record <seq>, every CHECKPOINT_EVERY records
    keys/keys.sqlite                           idempotency keys (storemon.store._keys), kept 30 days
    queue/                                     group commit: intents and answers of waiting writers
    polls/date=YYYY-MM-DD/part-<id>.parquet    immutable poll parts: one UTC date each, with a
                                               ``bucket`` column (storemon._core.shards), sorted by
                                               bucket, store_id, timestamp_utc, in row groups
    tables/hours-<id>.parquet                  business-hours versions
    tables/timezones-<id>.parquet              time-zone versions
    tables/poll-stores-<id>.parquet            store ids that ever had a valid poll (base + deltas)
    rejects/date=<day>/rejects-<id>.parquet    rejected rows (REJECTS_SCHEMA + ingest id), merged per day
    history/date=<day>/ingests-<seq>.parquet   ingest entries folded out of the log by checkpoints
    pins/<token>.json                          snapshot pins (storemon.store._pins)
    .commit.lock, .writers.lock, .compact.lock, .checkpoint.lock   flock(2) lock files

What it guarantees:

* **Atomic, durable ingests.** An ingest writes its new files (each via temp
  file + fsync + rename; a small polls batch goes into the record itself),
  then commits by creating ``log/<seq>.json`` exclusively and fsyncing it
  and its directory. When :func:`append_polls`, :func:`replace_hours`,
  :func:`replace_timezones` or :func:`ingest_paths` return, the data is
  fsync'd. A crash at any point leaves the previous or the new state; files
  of an uncommitted ingest are invisible and removed by garbage collection.
* **Commit cost independent of history.** A commit reads the latest
  checkpoint and fewer than ``CHECKPOINT_EVERY`` records, looks its sha256
  up in one table of keys, and writes one record of the size of its batch.
  Concurrent writers share commits (group commit, :mod:`~storemon.store._ingest`).
* **Snapshot reads.** :func:`report_from_store` reads one state (checkpoint
  + records) and then only the files it names, so a concurrent ingest is
  seen entirely or not at all. If upkeep or a compaction deletes a file of
  that snapshot meanwhile, the report starts again from the new state.
* **Idempotency.** Each ingest records the sha256 of its source. A polls
  source already ingested (within the 30-day key retention) is a no-op that
  says so; an hours or time-zone source equal to the *current* version is a
  no-op too (re-ingesting an older version makes it current again).
* **Duplicates are harmless.** Overlapping uploads store the same poll
  twice. ``compute_report`` treats polls of the same store and instant as one
  (``inactive`` wins), per docs/rules.md invariant 5, so no figure changes; the
  store keeps every accepted row as it came.
* **Reports read only what they need.** Polls only matter in
  ``[now − 7 d − horizon, now]`` (docs/rules.md, status timeline), so only part
  files whose time range overlaps it are scanned (pruned from the state,
  which records each part's date and min/max time), with the same range as a
  predicate pushed into the Parquet scan.
* **Sharded reads, pinned snapshots.** Every report and view read takes
  ``shard=(i, n)`` — exactly the unsharded rows of the stores with
  ``shard_of(store_id, n) == i``, reading only their row groups of the
  bucketed parts — and ``snapshot=token``, a state pinned by
  :func:`pin_snapshot` that compaction and garbage collection leave readable
  until it expires or :func:`release_snapshot` ends it.
* **Upkeep by itself.** Every ``UPKEEP_EVERY`` records the committing writer
  merges small files, prunes metadata and collects garbage
  (:func:`~storemon.store._compact.upkeep`); metadata stays bounded.

Hours, time zones and special hours are *replaced* by each ingest of such a
file (they describe the present); polls are *appended*. Every table version
stays in the store (the state lists them all), so :func:`table_versions`
lists them and :func:`restore_table` makes one current again. Only local
directories are supported: locks, exclusive creates, renames and fsync need
a POSIX file system, so ``s3://`` or ``gs://`` locations are refused with
:class:`StoreError`. A store of the old layout (format 1, one manifest
rewritten at every commit) is refused with a :class:`StoreError` saying to
re-ingest its sources into a new store.

The package gathers the public names; the work lives in
:mod:`~storemon.store._manifest` (the log, checkpoints and locks),
:mod:`~storemon.store._keys` (idempotency keys),
:mod:`~storemon.store._files` (opening, durable file writes),
:mod:`~storemon.store._sources` (recognising input files),
:mod:`~storemon.store._ingest` (the write side, group commit), :mod:`~storemon.store._compact`
(compaction, upkeep, garbage collection), :mod:`~storemon.store._pins` (snapshot pins)
and :mod:`~storemon.store._reads` (snapshot reads).
"""

from storemon.store._compact import CompactResult, collect_garbage, compact
from storemon.store._files import Store, StoreLike, open_store
from storemon.store._ingest import (
    IngestResult,
    append_polls,
    ingest_paths,
    replace_hours,
    replace_special_hours,
    replace_timezones,
    restore_table,
)
from storemon.store._pins import Snapshot, pin_snapshot, release_snapshot
from storemon.store._reads import (
    check_store,
    current_table,
    daily_from_store,
    incidents_from_store,
    latest_poll,
    read_polls,
    read_rejects,
    report_from_store,
    report_views_from_store,
    rows_rejected,
    table_versions,
    timeline_from_store,
)

__all__ = [
    "Store",
    "StoreLike",
    "IngestResult",
    "CompactResult",
    "open_store",
    "ingest_paths",
    "append_polls",
    "replace_hours",
    "replace_timezones",
    "replace_special_hours",
    "latest_poll",
    "report_from_store",
    "timeline_from_store",
    "incidents_from_store",
    "daily_from_store",
    "report_views_from_store",
    "read_polls",
    "read_rejects",
    "rows_rejected",
    "check_store",
    "current_table",
    "table_versions",
    "restore_table",
    "compact",
    "collect_garbage",
    "Snapshot",
    "pin_snapshot",
    "release_snapshot",
]
