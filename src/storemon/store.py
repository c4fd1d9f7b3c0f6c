"""The data store: polls as date-partitioned Parquet, versioned tables, a manifest.

Layout under the store root (a local directory)::

    manifest.json                              the commit point (storemon.manifest)
    polls/date=YYYY-MM-DD/part-<id>.parquet    immutable poll parts: one UTC date each,
                                               sorted by store_id, timestamp_utc
    tables/hours-<id>.parquet                  business-hours versions
    tables/timezones-<id>.parquet              time-zone versions
    tables/poll-stores-<id>.parquet            every store id that ever had a valid poll
    rejects/<ingest-id>.parquet                the rejected rows of one ingest (REJECTS_SCHEMA)
    .commit.lock, .writers.lock                flock(2) lock files

What it guarantees:

* **Atomic, durable ingests.** An ingest writes its new files (each via temp
  file + fsync + rename), then commits by replacing ``manifest.json`` under
  the commit lock. When :func:`append_polls`, :func:`replace_hours`,
  :func:`replace_timezones` or :func:`ingest_paths` return, the data is
  fsync'd. A crash at any point leaves the previous or the new state; files
  of an uncommitted ingest are invisible and removed by
  :func:`~storemon.compact.collect_garbage`.
* **Snapshot reads.** :func:`report_from_store` reads the manifest once and
  then only the files it names, so a concurrent ingest is seen entirely or
  not at all. If a compaction deletes a file of that snapshot meanwhile, the
  report starts again from the new manifest.
* **Idempotency.** Each ingest records the sha256 of its source. A polls
  source already ingested is a no-op that says so; an hours or time-zone
  source equal to the *current* version is a no-op too (re-ingesting an
  older version makes it current again).
* **Duplicates are harmless.** Overlapping uploads store the same poll
  twice. ``compute_report`` treats polls of the same store and instant as one
  (``inactive`` wins), per SPEC.md invariant 5, so no figure changes; the
  store keeps every accepted row as it came.
* **Reports read only what they need.** Polls only matter in
  ``[now − 7 d − horizon, now]`` (SPEC.md, status timeline), so only part
  files whose time range overlaps it are scanned (pruned from the manifest,
  which records each part's date and min/max time), with the same range as a
  predicate pushed into the Parquet scan. The cost of a report does not grow
  with the length of history.

Hours and time zones are *replaced* by each ingest of such a file (they
describe the present); polls are *appended*. Only local directories are
supported: locks, renames and fsync need a POSIX file system, so ``s3://``
or ``gs://`` locations are refused with :class:`StoreError`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE, WEEK
from storemon.exceptions import ConfigError, FileFormatError, InputError, StoreError
from storemon.load import FILE_NAMES, Loaded, load_hours, load_polls, load_timezones
from storemon.manifest import (
    IngestEntry,
    Manifest,
    PartEntry,
    TableEntry,
    commit_lock,
    read_manifest,
    write_manifest,
    writers_lock,
)
from storemon.output import atomic_path
from storemon.report import compute_report, resolve_now
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, REJECTS_SCHEMA, TIMEZONES_SCHEMA

__all__ = [
    "Store",
    "IngestResult",
    "open_store",
    "ingest_paths",
    "append_polls",
    "replace_hours",
    "replace_timezones",
    "latest_poll",
    "report_from_store",
    "read_polls",
    "read_rejects",
    "check_store",
]

KINDS = ("polls", "hours", "timezones")
_SCHEMAS = {"polls": POLLS_SCHEMA, "hours": HOURS_SCHEMA, "timezones": TIMEZONES_SCHEMA}
_LOADERS: dict[str, Callable[..., Loaded]] = {"polls": load_polls, "hours": load_hours, "timezones": load_timezones}
_POLLS_STORES_SCHEMA = {"store_id": pl.String()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# A report whose snapshot lost a file to a concurrent compaction starts again;
# each retry reads a newer manifest, so more than a few means a damaged store.
_READ_ATTEMPTS = 5


@dataclass(frozen=True)
class Store:
    """An opened store: its root directory. Get one with :func:`open_store`."""

    root: Path

    def manifest(self) -> Manifest:
        """The currently committed manifest (a snapshot)."""
        return read_manifest(self.root)


StoreLike = Store | str | os.PathLike[str]


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


# --- opening ---------------------------------------------------------------------


def open_store(location: StoreLike, *, create: bool = False) -> Store:
    """Open the store at ``location`` (a local directory); ``create`` makes a new, empty one.

    Raises :class:`StoreError` for a remote URL, a location that is not a
    directory, or (without ``create``) a directory that holds no store.
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
        _create(root)
    read_manifest(root)  # refuses a directory without a (readable) manifest
    return Store(root)


def _create(root: Path) -> None:
    try:
        for sub in ("polls", "tables", "rejects"):
            _make_dirs(root / sub)
        with commit_lock(root):
            if not (root / "manifest.json").exists():
                write_manifest(root, Manifest())
    except OSError as exc:
        raise StoreError(f"{root}: cannot create the store: {exc.strerror or exc}") from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(directory: Path) -> None:
    """``mkdir -p`` whose new entries survive a crash (each new parent fsync'd)."""
    missing = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        _fsync_dir(new.parent)


# --- ingesting -------------------------------------------------------------------


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


@dataclass
class _Staged:
    """A source whose files are written but not yet committed."""

    source: _Source
    ingest_id: str
    parts: tuple[PartEntry, ...] = ()
    table: TableEntry | None = None
    rejects_path: str | None = None


def ingest_paths(store: StoreLike, paths: Sequence[str | os.PathLike[str]], *, strict: bool = False) -> list[IngestResult]:
    """Validate and ingest files and data directories in one atomic commit.

    A directory contributes the files :func:`storemon.load.load_dir` would
    find in it (any of the three may be absent). A file is recognised by
    those names too, otherwise by its header (``status`` → polls,
    ``timezone_str`` → time zones, ``start_time_local`` → hours). Polls are
    appended, hours and time zones replace the current version. The store is
    created if missing. Returns one result per source, in order. Errors
    (unreadable file, and in ``strict`` mode the first invalid row) raise
    before anything is committed.
    """
    opened = open_store(store, create=True)
    sources = _expand(paths)
    manifest = opened.manifest()
    prepared = []
    for kind, path in sources:
        sha256 = _file_sha256(path)
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
) -> IngestResult:
    """Make validated business hours (``HOURS_SCHEMA``) the store's current version, durably.

    Arguments as for :func:`append_polls`. A no-op when ``sha256`` equals the
    current version's.
    """
    return _ingest_frame(store, "hours", hours, source, sha256, rows_read, rejects)


def replace_timezones(
    store: StoreLike,
    timezones: pl.DataFrame,
    *,
    source: str,
    sha256: str | None = None,
    rows_read: int | None = None,
    rejects: pl.DataFrame | None = None,
) -> IngestResult:
    """Make validated time zones (``TIMEZONES_SCHEMA``, first row per store wins) current, durably.

    Arguments as for :func:`append_polls`.
    """
    return _ingest_frame(store, "timezones", timezones, source, sha256, rows_read, rejects)


def _ingest_frame(
    store: StoreLike,
    kind: str,
    frame: pl.DataFrame,
    source: str,
    sha256: str | None,
    rows_read: int | None,
    rejects: pl.DataFrame | None,
) -> IngestResult:
    typed = _typed(frame, kind)
    rejects = _typed_rejects(rejects)
    rows_rejected = rejects.select(pl.struct("file", "line").n_unique()).item() if rejects.height else 0
    if rows_read is None:
        rows_read = typed.height + rows_rejected
    digest = sha256 if sha256 is not None else hashlib.sha256(typed.write_csv().encode()).hexdigest()
    prepared = _Source(kind, typed, str(source), digest, rows_read, rows_rejected, rejects)
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
                if source.frame is not None and _duplicate_of(before, source.kind, source.sha256, sources[:index]) is None:
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
        earlier = _duplicate_of(current, source.kind, source.sha256, sources[:index])
        one = staged.get(index)
        if one is None or earlier is not None:
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
    return dataclasses.replace(manifest, **{source.kind: one.table})


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


# --- staging files ------------------------------------------------------------------


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


def _merged_poll_stores(
    root: Path, current: TableEntry | None, new_ids: list[pl.Series], written: list[str]
) -> TableEntry | None:
    """The poll-store table with ``new_ids`` added: a new version only if it grows."""
    if not new_ids:
        return current
    known = _read_table(root, current, _POLLS_STORES_SCHEMA)
    merged = pl.concat([known, *(ids.to_frame("store_id") for ids in new_ids)]).unique().sort("store_id")
    if current is not None and merged.height == known.height:
        return current
    relative = f"tables/poll-stores-{new_id()}.parquet"
    written.append(relative)
    write_parquet(root, relative, merged)
    return TableEntry(relative, merged.height)


def new_id() -> str:
    """A fresh id that sorts by creation time: ``20241014T120000123456Z-1a2b3c4d``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"


# --- finding sources -----------------------------------------------------------------


def _expand(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[str, Path]]:
    """``(kind, file)`` for every argument, directories expanded."""
    if not paths:
        raise ConfigError("nothing to ingest: give data directories or files")
    found: list[tuple[str, Path]] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.extend(_files_in(path))
        elif path.exists():
            found.append((_kind_of(path), path))
        else:
            raise FileFormatError("no such file or directory", file=str(path))
    return found


def _files_in(directory: Path) -> list[tuple[str, Path]]:
    entries = sorted(entry for entry in directory.iterdir() if entry.is_file())
    found = []
    for kind in KINDS:
        matches = [entry for entry in entries if _name_matches(entry, kind)]
        if len(matches) > 1:
            names = ", ".join(repr(m.name) for m in matches)
            raise FileFormatError(f"several {kind} files ({names}): keep one, or name files explicitly", file=str(directory))
        found.extend((kind, match) for match in matches)
    if not found:
        wanted = ", ".join(repr(name) for names in FILE_NAMES.values() for name in names)
        raise FileFormatError(f"no input files: looked for {wanted}", file=str(directory))
    return found


def _name_matches(path: Path, kind: str) -> bool:
    return any(fnmatch.fnmatchcase(path.name.lower(), pattern.lower()) for pattern in FILE_NAMES[kind])


def _kind_of(path: Path) -> str:
    """Which table a file holds: by its name, else by its header."""
    for kind in KINDS:
        if _name_matches(path, kind):
            return kind
    columns = {name.strip().lower() for name in _header(path)}
    if "status" in columns:
        return "polls"
    if "timezone_str" in columns:
        return "timezones"
    if "start_time_local" in columns:
        return "hours"
    raise FileFormatError(
        f"cannot tell which table this is (columns {sorted(columns)}): expected a 'status', "
        "'timezone_str' or 'start_time_local' column",
        file=str(path),
    )


def _header(path: Path) -> list[str]:
    try:
        if path.suffix.lower() == ".parquet":
            return pl.scan_parquet(path, hive_partitioning=False).collect_schema().names()
        return pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"cannot read the header: {str(exc).splitlines()[0] if str(exc) else exc}", file=str(path)) from None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise FileFormatError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return digest.hexdigest()


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
    nulls = [column for column, count in zip(typed.columns, typed.null_count().row(0)) if count]
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


# --- reading ---------------------------------------------------------------------------


def latest_poll(store: StoreLike) -> datetime | None:
    """The latest committed poll's ``timestamp_utc`` (from the manifest), or None."""
    latest = open_store(store).manifest().max_timestamp_us
    return None if latest is None else _EPOCH + timedelta(microseconds=latest)


def report_from_store(
    store: StoreLike,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """:func:`~storemon.compute_report` over the store's committed data, per SPEC.md.

    Equal to ``compute_report`` on the ingested inputs (polls appended,
    latest hours and time zones). ``now`` defaults to the latest committed
    poll. Reads one committed snapshot and only the poll parts that overlap
    ``[now − 7 d − horizon, now]``.
    """
    opened = open_store(store)
    _check_horizon(horizon)
    missing: FileNotFoundError | None = None
    generation = None
    for _ in range(_READ_ATTEMPTS):
        manifest = opened.manifest()
        if missing is not None and manifest.generation == generation:
            break  # same snapshot, file still gone: not a race, a damaged store
        generation = manifest.generation
        try:
            return _report(opened.root, manifest, now, horizon, default_timezone)
        except FileNotFoundError as exc:
            missing = exc
    raise StoreError(f"{opened.root}: a file named by the manifest is missing: {missing}")


def _report(
    root: Path, manifest: Manifest, now: datetime | None, horizon: timedelta | None, default_timezone: str
) -> pl.DataFrame:
    if now is None and manifest.max_timestamp_us is None:
        raise ConfigError("no polls to take 'now' from: pass now explicitly")
    if now is None:
        now = _EPOCH + timedelta(microseconds=manifest.max_timestamp_us)
    now = resolve_now(pl.DataFrame(schema=POLLS_SCHEMA), now)
    now_us = (now - _EPOCH) // _US
    try:
        lowest = None if horizon is None else now_us - (WEEK + horizon) // _US
    except OverflowError:  # a horizon beyond any date: every poll counts
        lowest = None
    polls = pl.concat([_polls_between(root, manifest, lowest, now_us), _store_markers(root, manifest, now_us)])
    hours = _read_table(root, manifest.hours, HOURS_SCHEMA)
    timezones = _read_table(root, manifest.timezones, TIMEZONES_SCHEMA)
    return compute_report(polls, hours, timezones, now, horizon=horizon, default_timezone=default_timezone)


def _polls_between(root: Path, manifest: Manifest, lowest: int | None, highest: int | None) -> pl.LazyFrame:
    """Committed polls with ``lowest ≤ t ≤ highest`` (µs; None: no bound), scanning only overlapping parts."""
    parts = [
        root / part.path
        for part in manifest.parts
        if (highest is None or part.min_us <= highest) and (lowest is None or part.max_us >= lowest)
    ]
    if not parts:
        return pl.LazyFrame(schema=POLLS_SCHEMA)
    ts = pl.col("timestamp_utc")
    condition = pl.lit(True)
    if highest is not None:
        condition = condition & (ts <= _EPOCH + timedelta(microseconds=highest))
    if lowest is not None and lowest > _MIN_US:
        condition = condition & (ts >= _EPOCH + timedelta(microseconds=lowest))
    scan = pl.scan_parquet(parts, hive_partitioning=False).filter(condition)
    return scan.select(list(POLLS_SCHEMA)).cast(POLLS_SCHEMA)


_MIN_US = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // _US


def _store_markers(root: Path, manifest: Manifest, now_us: int) -> pl.LazyFrame:
    """One poll per store ever polled, 1 µs after ``now``.

    The report lists every store that has any valid poll (SPEC.md, "Stores
    in the report"), also stores whose polls all lie outside the partitions
    read. A poll after ``now`` adds its store and changes no figure (SPEC.md
    invariant 4, no look-ahead), so these markers restore exactly that set.
    """
    stores = _read_table(root, manifest.poll_stores, _POLLS_STORES_SCHEMA)
    marker = _EPOCH + timedelta(microseconds=now_us + 1)
    return stores.lazy().select(
        "store_id",
        pl.lit(marker, dtype=POLLS_SCHEMA["timestamp_utc"]).alias("timestamp_utc"),
        pl.lit("active", dtype=POLLS_SCHEMA["status"]).alias("status"),
    )


def _read_table(root: Path, table: TableEntry | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if table is None:
        return pl.DataFrame(schema=schema)
    return pl.read_parquet(root / table.path).select(list(schema)).cast(schema)


def _check_horizon(horizon: timedelta | None) -> None:
    if horizon is not None and (not isinstance(horizon, timedelta) or horizon < timedelta(0)):
        raise ConfigError(f"horizon must be a non-negative timedelta or None, got {horizon!r}")


def read_polls(store: StoreLike) -> pl.DataFrame:
    """Every committed poll (duplicates included), sorted by store, time and status."""
    opened = open_store(store)
    manifest = opened.manifest()
    frame = _polls_between(opened.root, manifest, None, None).collect()
    return frame.sort("store_id", "timestamp_utc", "status")


def read_rejects(store: StoreLike) -> pl.DataFrame:
    """Every rejected row of every committed ingest, in ingest order (``REJECTS_SCHEMA``)."""
    opened = open_store(store)
    paths = [opened.root / entry.rejects for entry in opened.manifest().ingests if entry.rejects]
    if not paths:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    return pl.concat([pl.read_parquet(path) for path in paths]).cast(REJECTS_SCHEMA)


def check_store(store: StoreLike) -> Manifest:
    """Check that every file the manifest names is there with the recorded rows; return it.

    Also checks that the poll parts hold exactly the rows the polls ingests
    accepted. Raises :class:`StoreError` naming the first problem.
    """
    opened = open_store(store)
    manifest = opened.manifest()
    for part in manifest.parts:
        _check_rows(opened.root, part.path, part.rows)
    for table in (manifest.hours, manifest.timezones, manifest.poll_stores):
        if table is not None:
            _check_rows(opened.root, table.path, table.rows)
    for entry in manifest.ingests:
        if entry.rejects and not (opened.root / entry.rejects).is_file():
            raise StoreError(f"{opened.root / entry.rejects}: rejects file named by the manifest is missing")
    accepted = sum(entry.rows_accepted for entry in manifest.ingests if entry.kind == "polls")
    stored = sum(part.rows for part in manifest.parts)
    if accepted != stored:
        raise StoreError(f"{opened.root}: poll parts hold {stored} rows but ingests accepted {accepted}")
    return manifest


def _check_rows(root: Path, relative: str, rows: int) -> None:
    path = root / relative
    try:
        actual = pl.scan_parquet(path, hive_partitioning=False).select(pl.len()).collect().item()
    except (FileNotFoundError, pl.exceptions.PolarsError) as exc:
        raise StoreError(f"{path}: named by the manifest but unreadable: {str(exc).splitlines()[0]}") from None
    if actual != rows:
        raise StoreError(f"{path}: holds {actual} rows, the manifest says {rows}")
