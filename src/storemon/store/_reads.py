"""Reading the data store: snapshot reports, polls, rejects and checks.

Every read takes one committed manifest and then only the files it names
(:func:`_on_snapshot`); the store's guarantees are listed in
:mod:`storemon.store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import polars as pl

from storemon._core.ranges import ReportViews, daily, incidents, report_views, timeline
from storemon._core.report import SAME_AS_HORIZON, Horizon, compute_report, reaching_polls
from storemon._core.shards import BUCKETS, check_shard, shard_of
from storemon._instants import to_us, utc_instant
from storemon.defaults import DAY, DEFAULT_HORIZON, DEFAULT_TIMEZONE, WEEK
from storemon.exceptions import ConfigError, StoreError
from storemon.schema import HOURS_SCHEMA, POLLS_SCHEMA, REJECTS_SCHEMA, SPECIAL_HOURS_SCHEMA, TIMEZONES_SCHEMA
from storemon.store._files import StoreLike, open_store, read_poll_stores, read_table, shard_filter
from storemon.store._ingest import inline_frame
from storemon.store._manifest import TABLE_KINDS, Manifest, PartEntry, read_manifest, version_of
from storemon.store._pins import load_pin

__all__ = [
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
]


_T = TypeVar("_T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MIN_US = (datetime(1, 1, 2, tzinfo=UTC) - _EPOCH) // _US
# A report whose snapshot lost a file to a concurrent compaction starts again;
# each retry reads a newer manifest, so more than a few means a damaged store.
_READ_ATTEMPTS = 5


def latest_poll(store: StoreLike) -> datetime | None:
    """The latest committed poll's ``timestamp_utc`` (from the committed state), or None."""
    latest = open_store(store).manifest().max_timestamp_us
    return None if latest is None else _EPOCH + timedelta(microseconds=latest)


def rows_rejected(store: StoreLike) -> int:
    """Rejected input rows behind a report from ``store``.

    Those of every polls ingest and of the current hours, time-zone and
    special-hours versions (older versions no longer count: their rows are not read).
    """
    state = open_store(store).manifest()
    current = (state.hours, state.timezones, state.special)
    tables = sum(table.rows_rejected for table in current if table is not None)
    return state.polls_rows_rejected + tables


def report_from_store(
    store: StoreLike,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    shard: tuple[int, int] | None = None,
    snapshot: str | None = None,
) -> pl.DataFrame:
    """:func:`~storemon.compute_report` over the store's committed data, per docs/rules.md.

    Equal to ``compute_report`` on the ingested inputs (polls appended,
    latest hours, time zones and special hours). ``now`` defaults to the
    latest committed poll. Reads one committed snapshot and only the poll
    parts that overlap ``[now − 7 d − max(horizon_active, horizon_inactive), now]``.

    ``shard=(i, n)`` gives the rows of the stores with
    ``shard_of(store_id, n) == i`` only — exactly those rows of the whole
    report, since a store's figures depend only on its own rows
    (docs/rules.md, invariant 7) — reading only those stores' polls.
    ``snapshot`` (a token of :func:`pin_snapshot`) reads that pinned state
    instead of the current one.
    """
    horizons = _Horizons(horizon, horizon_active, horizon_inactive)
    shard = _checked_shard(shard)

    def report(root: Path, manifest: Manifest) -> pl.DataFrame:
        inputs = _snapshot_inputs(root, manifest, now, horizons, None, shard=shard)
        return compute_report(
            inputs.polls,
            inputs.hours,
            inputs.timezones,
            inputs.now,
            special=inputs.special,
            default_timezone=default_timezone,
            horizon=horizons.horizon,
            horizon_active=horizons.active,
            horizon_inactive=horizons.inactive,
        )

    return _on_snapshot(store, report, snapshot)


def timeline_from_store(
    store: StoreLike,
    now: datetime | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stores: Iterable[str] | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    shard: tuple[int, int] | None = None,
    snapshot: str | None = None,
) -> pl.DataFrame:
    """:func:`~storemon.timeline` over the store's committed data.

    Reads only the poll parts that overlap ``[start − max(horizons), now]``
    (``start`` defaults to ``now − 168 h``). ``shard`` and ``snapshot`` as
    for :func:`report_from_store`.
    """
    return _range_from_store(timeline, store, now, start, end, stores, horizon, horizon_active, horizon_inactive,
                             default_timezone, {}, shard, snapshot)  # fmt: skip


def incidents_from_store(
    store: StoreLike,
    now: datetime | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stores: Iterable[str] | None = None,
    min_minutes: float = 0,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    shard: tuple[int, int] | None = None,
    snapshot: str | None = None,
) -> pl.DataFrame:
    """:func:`~storemon.incidents` over the store's committed data (reads as :func:`timeline_from_store`)."""
    return _range_from_store(incidents, store, now, start, end, stores, horizon, horizon_active, horizon_inactive,
                             default_timezone, {"min_minutes": min_minutes}, shard, snapshot)  # fmt: skip


def daily_from_store(
    store: StoreLike,
    now: datetime | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stores: Iterable[str] | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    shard: tuple[int, int] | None = None,
    snapshot: str | None = None,
) -> pl.DataFrame:
    """:func:`~storemon.daily` over the store's committed data (reads as :func:`timeline_from_store`)."""
    return _range_from_store(daily, store, now, start, end, stores, horizon, horizon_active, horizon_inactive,
                             default_timezone, {}, shard, snapshot)  # fmt: skip


def report_views_from_store(
    store: StoreLike,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    horizon_active: Horizon = SAME_AS_HORIZON,
    horizon_inactive: Horizon = SAME_AS_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
    days: int = 30,
    shard: tuple[int, int] | None = None,
    snapshot: str | None = None,
) -> ReportViews:
    """:func:`~storemon.report_views` over the store's committed data, from one snapshot read once.

    Each frame equals the separate ``*_from_store`` call on the same
    snapshot (docs/rules.md, "Timeline, incidents and daily series").
    Reads only the poll parts that overlap ``[now − max(168 h, days · 24 h)
    − max(horizons), now]``. ``shard`` and ``snapshot`` as for
    :func:`report_from_store`: with a shard, every frame holds only that
    shard's stores.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ConfigError(f"days must be a whole number ≥ 1, not {days!r}")
    horizons = _Horizons(horizon, horizon_active, horizon_inactive)
    shard = _checked_shard(shard)

    def read(root: Path, manifest: Manifest) -> ReportViews:
        inputs = _snapshot_inputs(root, manifest, now, horizons, None, reach=max(WEEK, days * DAY), shard=shard)
        return report_views(
            inputs.polls,
            inputs.hours,
            inputs.timezones,
            inputs.now,
            special=inputs.special,
            default_timezone=default_timezone,
            horizon=horizons.horizon,
            horizon_active=horizons.active,
            horizon_inactive=horizons.inactive,
            days=days,
        )

    return _on_snapshot(store, read, snapshot)


def _range_from_store(
    compute: Callable[..., pl.DataFrame],
    store: StoreLike,
    now: datetime | None,
    start: datetime | None,
    end: datetime | None,
    stores: Iterable[str] | None,
    horizon: timedelta | None,
    horizon_active: Horizon,
    horizon_inactive: Horizon,
    default_timezone: str,
    extra: dict[str, float],
    shard: tuple[int, int] | None,
    snapshot: str | None,
) -> pl.DataFrame:
    horizons = _Horizons(horizon, horizon_active, horizon_inactive)
    wanted = None if stores is None or isinstance(stores, str) else list(stores)
    shard = _checked_shard(shard)

    def read(root: Path, manifest: Manifest) -> pl.DataFrame:
        inputs = _snapshot_inputs(root, manifest, now, horizons, start, shard=shard)
        return compute(
            inputs.polls,
            inputs.hours,
            inputs.timezones,
            inputs.now,
            start=start,
            end=end,
            stores=stores if wanted is None else wanted,
            special=inputs.special,
            default_timezone=default_timezone,
            horizon=horizons.horizon,
            horizon_active=horizons.active,
            horizon_inactive=horizons.inactive,
            **extra,
        )

    return _on_snapshot(store, read, snapshot)


def _on_snapshot(store: StoreLike, read: Callable[[Path, Manifest], _T], snapshot: str | None = None) -> _T:
    """``read(root, manifest)`` on the committed manifest, read once (or on the pinned one, ``snapshot``).

    When a file of that snapshot vanished (a compaction committed and removed
    it meanwhile), start again on the newer manifest. A pinned state's files
    are kept while the pin lives, so one missing there is damage.
    """
    opened = open_store(store)
    if snapshot is not None:
        pinned = load_pin(opened.root, snapshot)
        try:
            return read(opened.root, pinned)
        except FileNotFoundError as exc:
            raise StoreError(f"{opened.root}: a file of snapshot {snapshot!r} is missing: {exc}") from None
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable(opened.root, exc) from None
    missing: FileNotFoundError | None = None
    generation = None
    for _ in range(_READ_ATTEMPTS):
        manifest = opened.manifest()
        if missing is not None and manifest.generation == generation:
            break  # same snapshot, file still gone: not a race, a damaged store
        generation = manifest.generation
        try:
            return read(opened.root, manifest)
        except FileNotFoundError as exc:
            missing = exc
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise _unreadable(opened.root, exc) from None
    raise StoreError(f"{opened.root}: a file named by the manifest is missing: {missing}")


def _unreadable(root: Path, exc: BaseException) -> StoreError:
    # A damaged part (truncated, overwritten) is the store's problem, not the caller's input.
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(f"{root}: a file of the store is unreadable: {first_line}")


def _checked_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    return None if shard is None else check_shard(shard)


@dataclass(frozen=True)
class _Horizons:
    """A computation's ``horizon``, ``horizon_active`` and ``horizon_inactive`` arguments."""

    horizon: timedelta | None
    active: Horizon
    inactive: Horizon


@dataclass(frozen=True)
class _SnapshotInputs:
    """What a computation reads from one snapshot."""

    polls: pl.LazyFrame
    hours: pl.DataFrame
    timezones: pl.DataFrame
    special: pl.DataFrame
    now: datetime


def _snapshot_inputs(
    root: Path,
    manifest: Manifest,
    now: datetime | None,
    horizons: _Horizons,
    start: datetime | None,
    *,
    reach: timedelta | None = None,
    shard: tuple[int, int] | None = None,
) -> _SnapshotInputs:
    """The polls that can reach ``[start, now]`` (plus one marker per polled store) and the tables.

    ``start`` defaults to ``now − reach`` when ``reach`` is given, else to
    ``now − 7 d``. With ``shard``, all of them restricted to that shard's stores.
    """
    if now is None:
        if manifest.max_timestamp_us is None:
            raise ConfigError("no polls to take 'now' from: pass now explicitly")
        now = _EPOCH + timedelta(microseconds=manifest.max_timestamp_us)
    now = utc_instant(now)
    if start is None and reach is not None:
        start = now - reach
    lowest, now_us = reaching_polls(
        now, horizons.horizon, horizon_active=horizons.active, horizon_inactive=horizons.inactive, start=start
    )
    polls = pl.concat(
        [_polls_between(root, manifest, lowest, now_us, shard), _store_markers(root, manifest, now_us, shard)]
    )
    return _SnapshotInputs(
        polls=polls,
        hours=_of_shard(read_table(root, manifest.hours, HOURS_SCHEMA), shard),
        timezones=_of_shard(read_table(root, manifest.timezones, TIMEZONES_SCHEMA), shard),
        special=_of_shard(read_table(root, manifest.special, SPECIAL_HOURS_SCHEMA), shard),
        now=now,
    )


def _of_shard(frame: pl.DataFrame, shard: tuple[int, int] | None) -> pl.DataFrame:
    """The rows of ``frame`` whose store is in ``shard`` (all of them without one); tables are small."""
    if shard is None:
        return frame
    index, count = shard
    # Hashed once per distinct store (hours have several rows per store), kept in row order.
    ids = frame.select(pl.col("store_id").unique()).filter(shard_of(pl.col("store_id"), count) == index)
    return frame.filter(pl.col("store_id").is_in(ids["store_id"].implode()))


def _polls_between(
    root: Path, manifest: Manifest, lowest: int | None, highest: int | None, shard: tuple[int, int] | None = None
) -> pl.LazyFrame:
    """Committed polls with ``lowest ≤ t ≤ highest`` (µs; None: no bound), scanning only overlapping parts.

    With ``shard``, only the polls of that shard's stores.
    """
    parts = [
        part
        for part in manifest.parts
        if (highest is None or part.min_us <= highest) and (lowest is None or part.max_us >= lowest)
    ]
    ts = pl.col("timestamp_utc")
    condition = pl.lit(True)
    if highest is not None:
        condition = condition & (ts <= _EPOCH + timedelta(microseconds=highest))
    if lowest is not None and lowest > _MIN_US:
        condition = condition & (ts >= _EPOCH + timedelta(microseconds=lowest))
    if shard is not None:
        return _shard_polls(root, parts, manifest.inline, condition, shard)
    frames = []
    for bucketed in (True, False):  # one scan per layout: a scan's files must agree on their columns
        paths = [root / part.path for part in parts if (part.buckets == BUCKETS) == bucketed]
        if paths:
            scan = pl.scan_parquet(paths, hive_partitioning=False)
            frames.append(scan.select(list(POLLS_SCHEMA)).cast(POLLS_SCHEMA))
    if manifest.inline:  # small batches of the records after the checkpoint, held in the records
        frames.append(inline_frame(manifest.inline).lazy())
    if not frames:
        return pl.LazyFrame(schema=POLLS_SCHEMA)
    return pl.concat(frames).filter(condition)


def _shard_polls(
    root: Path,
    parts: list[PartEntry],
    inline: tuple[tuple[str, int, str], ...],
    condition: pl.Expr,
    shard: tuple[int, int],
) -> pl.LazyFrame:
    """The polls of ``parts`` and ``inline`` that meet ``condition`` and belong to ``shard``.

    A bucketed part (sorted by bucket, row groups with statistics) is
    scanned with the shard's bucket range as a predicate, so the reader
    skips the other row groups; an older part (no bucket column) and the
    inline polls are filtered after the read, hashing each distinct store
    once (:func:`_of_shard`). Each part is its own scan, collected together
    (:func:`polars.collect_all`): one scan over several files read far more
    than the selected row groups (Polars 2.1 here: 1.42 MB instead of 0.66 MB
    for a quarter of 4 parts of 2.5 MB).
    """
    scans, bucketed = [], []
    for part in parts:
        scan = pl.scan_parquet(root / part.path, hive_partitioning=False)
        bucketed.append(part.buckets == BUCKETS)
        if bucketed[-1]:
            scan = scan.filter(shard_filter(shard, True))
        scans.append(scan.select(list(POLLS_SCHEMA)).cast(POLLS_SCHEMA).filter(condition))
    if inline:  # small batches of the records after the checkpoint, held in the records
        scans.append(inline_frame(inline).lazy().filter(condition))
        bucketed.append(False)
    if not scans:
        return pl.LazyFrame(schema=POLLS_SCHEMA)
    frames = pl.collect_all(scans)
    return pl.concat([f if done else _of_shard(f, shard) for f, done in zip(frames, bucketed, strict=True)]).lazy()


def _store_markers(root: Path, manifest: Manifest, now_us: int, shard: tuple[int, int] | None) -> pl.LazyFrame:
    """One poll per store ever polled, 1 µs after ``now``.

    The report lists every store that has any valid poll (docs/rules.md, "Stores
    in the report"), also stores whose polls all lie outside the partitions
    read. A poll after ``now`` adds its store and changes no figure (docs/rules.md
    invariant 4, no look-ahead), so these markers restore exactly that set.
    """
    stores = read_poll_stores(root, manifest.poll_stores, shard)
    marker = _EPOCH + timedelta(microseconds=now_us + 1)
    return stores.lazy().select(
        "store_id",
        pl.lit(marker, dtype=POLLS_SCHEMA["timestamp_utc"]).alias("timestamp_utc"),
        pl.lit("active", dtype=POLLS_SCHEMA["status"]).alias("status"),
    )


def read_polls(
    store: StoreLike,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    shard: tuple[int, int] | None = None,
    snapshot: str | None = None,
) -> pl.DataFrame:
    """The committed polls (duplicates included), sorted by store, time and status.

    Every poll by default; with ``start`` and/or ``end`` only those with
    ``start ≤ timestamp_utc ≤ end`` (parts outside are not read). ``shard`` and
    ``snapshot`` as for :func:`report_from_store`: only that shard's stores
    (a pushdown into the bucketed parts), from that pinned state.
    """
    shard = _checked_shard(shard)
    lowest = None if start is None else to_us(utc_instant(start, "start"))
    highest = None if end is None else to_us(utc_instant(end, "end"))

    def read(root: Path, manifest: Manifest) -> pl.DataFrame:
        return _polls_between(root, manifest, lowest, highest, shard).collect()

    return _on_snapshot(store, read, snapshot).sort("store_id", "timestamp_utc", "status")


_TABLE_SCHEMAS = dict(zip(TABLE_KINDS, (HOURS_SCHEMA, TIMEZONES_SCHEMA, SPECIAL_HOURS_SCHEMA), strict=True))


def current_table(
    store: StoreLike, table: str, *, shard: tuple[int, int] | None = None, snapshot: str | None = None
) -> tuple[pl.DataFrame, str]:
    """The current version of ``table`` (``"hours"``, ``"timezones"`` or ``"special"``) and its version name.

    The version is the id of the ingest that wrote it, or ``"none"`` while
    the table has none (the frame is then empty); pass it as ``if_version``
    to :func:`replace_hours` / :func:`replace_timezones` /
    :func:`replace_special_hours` to replace only that version. ``shard``
    keeps that shard's stores' rows (in table order); ``snapshot`` reads the
    version current in that pinned state (see :func:`report_from_store`).
    """
    if table not in _TABLE_SCHEMAS:
        raise ConfigError(f"unknown table {table!r}: expected one of {', '.join(_TABLE_SCHEMAS)}")
    shard = _checked_shard(shard)

    def read(root: Path, manifest: Manifest) -> tuple[pl.DataFrame, str]:
        entry = manifest.current(table)
        return _of_shard(read_table(root, entry, _TABLE_SCHEMAS[table]), shard), version_of(entry)

    return _on_snapshot(store, read, snapshot)


def table_versions(store: StoreLike, table: str) -> list[dict[str, object]]:
    """Every version of ``table`` (``"hours"``, ``"timezones"``, ``"special"``), newest first.

    Each is ``{"version", "committed_at", "source", "rows", "current", "restorable"}``;
    ``restorable`` says whether its rows are still in the store (the state
    names every version's file, so garbage collection keeps them all).
    """
    if table not in _TABLE_SCHEMAS:
        raise ConfigError(f"unknown table {table!r}: expected one of {', '.join(_TABLE_SCHEMAS)}")

    def read(root: Path, manifest: Manifest) -> list[dict[str, object]]:
        current = version_of(manifest.current(table))
        return [
            {
                "version": version_of(entry),
                "committed_at": entry.committed_at,
                "source": entry.source,
                "rows": entry.rows,
                "current": version_of(entry) == current,
                "restorable": (root / entry.path).is_file(),
            }
            for entry in reversed(manifest.versions)
            if entry.kind == table
        ]

    return _on_snapshot(store, read)


def read_rejects(store: StoreLike) -> pl.DataFrame:
    """Every rejected row of every committed ingest, in ingest order (``REJECTS_SCHEMA``)."""

    def read(root: Path, manifest: Manifest) -> pl.DataFrame:
        # Rejects files sort by commit date, then by ingest (merged files sort where their first source did).
        frames = [pl.read_parquet(root / entry.path).select(list(REJECTS_SCHEMA)) for entry in manifest.rejects]
        return pl.concat(frames).cast(REJECTS_SCHEMA) if frames else pl.DataFrame(schema=REJECTS_SCHEMA)

    return _on_snapshot(store, read)


def check_store(store: StoreLike) -> Manifest:
    """Check that every file the state names is there with the recorded rows; return the state.

    The state returned has every ingest entry (the history files read).
    Also checks that the poll parts hold exactly the rows the polls ingests
    accepted. Raises :class:`StoreError` naming the first problem.
    """
    opened = open_store(store)
    manifest = read_manifest(opened.root)
    for part in (*manifest.parts, *manifest.rejects, *manifest.history):
        _check_rows(opened.root, part.path, part.rows)
    for table in (manifest.hours, manifest.timezones, manifest.special, *manifest.poll_stores, *manifest.versions):
        if table is not None:
            _check_rows(opened.root, table.path, table.rows)
    accepted = sum(entry.rows_accepted for entry in manifest.ingests if entry.kind == "polls")
    if accepted != manifest.polls_rows_accepted:
        raise StoreError(
            f"{opened.root}: the ingest history counts {accepted} polls, the state {manifest.polls_rows_accepted}"
        )
    stored = sum(part.rows for part in manifest.parts) + len(manifest.inline)
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


@dataclass(frozen=True)
class PollBytes:
    """What one shard's poll read took: rows read and bytes read (``/proc/self/io`` ``rchar``)."""

    rows: int
    bytes: int


def shard_poll_bytes(
    store: StoreLike,
    shard: tuple[int, int],
    *,
    snapshot: str | None = None,
    now: datetime | None = None,
    horizon: timedelta | None = DEFAULT_HORIZON,
    reach: timedelta = WEEK,
) -> PollBytes:
    """Read the polls (and poll-store markers) one shard's report reads; return the rows and bytes read.

    For tests and ``benchmarks/shards.py``: bytes are the process's ``rchar``
    delta (``/proc/self/io``, Linux) around the scan — Polars reads Parquet
    with ``read(2)``, so skipped row groups are not counted, footers are.
    ``shard=(0, 1)`` is the whole store through the same reader: the fair
    baseline. ``reach`` as for :func:`report_views_from_store` (a report: 168 h).
    """
    index, count = check_shard(shard)
    horizons = _Horizons(horizon, SAME_AS_HORIZON, SAME_AS_HORIZON)

    def read(root: Path, manifest: Manifest) -> PollBytes:
        at = now
        if at is None:
            if manifest.max_timestamp_us is None:
                return PollBytes(0, 0)
            at = _EPOCH + timedelta(microseconds=manifest.max_timestamp_us)
        lowest, now_us = reaching_polls(
            utc_instant(at), horizons.horizon, horizon_active=horizons.active, horizon_inactive=horizons.inactive,
            start=utc_instant(at) - reach,
        )  # fmt: skip
        before = _rchar()
        polls = _polls_between(root, manifest, lowest, now_us, (index, count)).collect()
        markers = _store_markers(root, manifest, now_us, (index, count)).collect()
        read_bytes = _rchar() - before
        del markers  # read for its bytes: a shard's report reads these too
        return PollBytes(polls.height, read_bytes)

    return _on_snapshot(store, read, snapshot)


def _rchar() -> int:
    """Bytes this process has read so far (``rchar`` of ``/proc/self/io``)."""
    with open("/proc/self/io", encoding="ascii") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise StoreError("/proc/self/io has no rchar line: bytes read cannot be measured here")  # pragma: no cover
