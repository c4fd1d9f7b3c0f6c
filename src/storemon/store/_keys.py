"""Idempotency keys: has a polls source with this sha256 been ingested?

One small marker file per key, ``keys/<commit date>/<sha256>``, holding the
ingest's id and counts (what a no-op answer repeats). A lookup is one
``stat``/read per retained day — it never loads the other keys — so it costs
the same after 100 or 100,000 ingests.

Markers are written by the checkpointer (under the commit lock) for the
ingests of the records a checkpoint folds, and fsync'd (in parallel, so that
the journal commits them together) *before* the checkpoint is written: the
ingests of the records after the latest checkpoint are in the state itself
(:attr:`Manifest.ingests`), so every committed ingest is found, by the state
or by a durable marker, at every moment — also right after a crash.

**Retention.** Markers older than :data:`KEY_RETENTION_DAYS` days (by
commit date) are deleted by upkeep. A polls body sent again after that is
ingested again: its polls are then stored twice, which changes no figure
(docs/rules.md, invariant 5).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from storemon._fileio import fsync_dir, fsync_path
from storemon.store._manifest import IngestEntry, Manifest, plain

__all__ = ["KEYS_DIR", "KEY_RETENTION_DAYS", "find_polls_ingest", "write_keys", "expire_keys"]

KEYS_DIR = "keys"
#: How long a polls source is remembered for idempotency (days, by commit date).
KEY_RETENTION_DAYS = 30


def find_polls_ingest(root: Path, state: Manifest, sha256: str) -> IngestEntry | None:
    """The committed polls ingest of this content, if it is still remembered."""
    recent = state.recent_polls_ingest(sha256)
    if recent is not None:
        return recent
    try:
        days = sorted(os.listdir(root / KEYS_DIR), reverse=True)
    except FileNotFoundError:
        return None
    for day in days:
        try:
            text = (root / KEYS_DIR / day / sha256).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            return IngestEntry(**json.loads(text))
        except (ValueError, TypeError):
            continue  # a marker the checkpointer did not finish: its ingest is in the state or a later marker
    return None


def write_keys(root: Path, entries: Iterable[IngestEntry]) -> None:
    """Write (and fsync) one marker per polls ingest in ``entries``. Call under the commit lock."""
    paths: list[Path] = []
    directories: set[Path] = set()
    for entry in entries:
        if entry.kind != "polls":
            continue
        directory = root / KEYS_DIR / entry.committed_at[:10]
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            directories.add(directory.parent)
        path = directory / entry.sha256
        # Written in place, not renamed: a torn marker is skipped by the lookup,
        # and the state still names its ingest until the checkpoint is written.
        path.write_text(json.dumps(plain(entry)), encoding="utf-8")
        paths.append(path)
        directories.add(directory)
    if not paths:
        return
    # One fsync per file, in parallel: the file system's journal commits them
    # together, so 32 markers cost about as much as a few.
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fsync_path, paths))
        list(pool.map(fsync_dir, sorted(directories)))


def expire_keys(root: Path, today: date) -> int:
    """Delete the marker days older than the retention; return how many days went."""
    oldest = (today - timedelta(days=KEY_RETENTION_DAYS)).isoformat()
    try:
        days = os.listdir(root / KEYS_DIR)
    except FileNotFoundError:
        return 0
    expired = [day for day in days if day < oldest]
    for day in expired:
        shutil.rmtree(root / KEYS_DIR / day, ignore_errors=True)
    return len(expired)
