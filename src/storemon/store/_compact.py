"""Compaction and garbage collection of a data store.

:func:`compact` merges each UTC date's poll parts into one new part (rows
kept as they are, duplicates included, sorted by store and time), commits
the swap in one manifest replacement, then runs :func:`collect_garbage`.
Reports before and after are identical: the same rows are committed, only
in fewer files.

:func:`collect_garbage` deletes every file under ``polls/``, ``tables/`` and
``rejects/`` that the committed manifest does not name: parts replaced by a
compaction, superseded poll-store versions, files of
ingests that crashed before their commit, and leftover temporary files. It
holds the writers' lock exclusively, so files being staged by a running
ingest are never touched. A report that was reading a deleted file of an
older snapshot starts again from the new manifest
(see :func:`storemon.store.report_from_store`).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from storemon.schema import POLLS_SCHEMA
from storemon.store._files import StoreLike, new_id, open_store, write_parts
from storemon.store._manifest import MANIFEST_NAME, PartEntry, commit_lock, read_manifest, write_manifest, writers_lock

__all__ = ["CompactResult", "compact", "collect_garbage"]


@dataclass(frozen=True)
class CompactResult:
    """What :func:`compact` did."""

    dates_merged: int
    parts_before: int
    parts_after: int
    files_removed: int

    def describe(self) -> str:
        """One line for a person."""
        return (
            f"merged the parts of {self.dates_merged} dates: {self.parts_before} → {self.parts_after} "
            f"part files; removed {self.files_removed} unreferenced files"
        )


def compact(store: StoreLike, *, garbage: bool = True) -> CompactResult:
    """Merge every date's poll parts into one part, atomically; then collect garbage.

    Safe to run while ingests and reports run: an ingest committed meanwhile
    keeps its parts (only parts still live at commit time are swapped).
    """
    opened = open_store(store)
    root = opened.root
    with writers_lock(root):
        before = read_manifest(root)
        merged = {date: _merge(root, parts) for date, parts in _by_date(before.parts) if len(parts) > 1}
        with commit_lock(root):
            current = read_manifest(root)
            parts, dates = _swap(current.parts, merged)
            if dates:
                current = write_manifest(root, dataclasses.replace(current, parts=parts))
    removed = collect_garbage(opened) if garbage else 0
    return CompactResult(dates, len(before.parts), len(current.parts), removed)


def _by_date(parts: tuple[PartEntry, ...]) -> list[tuple[str, list[PartEntry]]]:
    ordered = sorted(parts, key=lambda part: part.date)
    return [(date, list(group)) for date, group in itertools.groupby(ordered, key=lambda part: part.date)]


def _merge(root: Path, parts: list[PartEntry]) -> tuple[frozenset[str], PartEntry]:
    """Write one part holding every row of ``parts``; return the sources and the new entry."""
    frame = pl.concat([pl.read_parquet(root / part.path).cast(POLLS_SCHEMA) for part in parts])
    (entry,) = write_parts(root, frame, f"compact-{new_id()}")
    return frozenset(part.path for part in parts), entry


def _swap(
    live: tuple[PartEntry, ...], merged: dict[str, tuple[frozenset[str], PartEntry]]
) -> tuple[tuple[PartEntry, ...], int]:
    """``live`` with each merged date's sources replaced by its new part, if all are still live."""
    paths = {part.path for part in live}
    result = list(live)
    dates = 0
    for sources, entry in merged.values():
        if sources <= paths:  # another compaction may have merged them already
            result = [part for part in result if part.path not in sources] + [entry]
            dates += 1
    return tuple(sorted(result, key=lambda part: (part.date, part.path))), dates


def collect_garbage(store: StoreLike) -> int:
    """Delete every store file the committed manifest does not name; return how many."""
    opened = open_store(store)
    root = opened.root
    removed = 0
    with writers_lock(root, exclusive=True):
        keep = read_manifest(root).files()
        for sub in ("polls", "tables", "rejects"):
            for path in sorted((root / sub).rglob("*"), reverse=True):
                relative = path.relative_to(root).as_posix()
                if path.is_file() and relative not in keep:
                    path.unlink()
                    removed += 1
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()  # an emptied date directory
        for leftover in root.glob(f".{MANIFEST_NAME}.*.tmp"):
            leftover.unlink()
            removed += 1
    return removed
