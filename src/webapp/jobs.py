"""The report job: what an RQ worker runs for each triggered report.

The web app enqueues :func:`build_report` with plain, JSON-like arguments (the
job carries everything it needs, so any worker sharing the data and reports
directories can run it). The job reads its inputs — the data store
(``STOREMON_STORE``) through :func:`storemon.report_views_from_store`, or else the
data directory through :func:`storemon.load_dir` and
:func:`storemon.report_views` — computes the report, the week's timeline
and incidents and the 30 days' daily series in one go, writes every file of
:data:`webapp.records.REPORT_FILES` (each atomically; the Parquet files
sorted by store and time in row groups of :data:`ROW_GROUP_ROWS` rows with
statistics, so a reader filtering one store reads only its row groups) and
then ``<id>.json`` (the record, see :mod:`webapp.records`) last, then deletes the reports older than
``STOREMON_REPORT_RETENTION_DAYS`` (:func:`prune_reports`). Every failure it can see becomes a
``Failed`` record with a message for a person, and is re-raised so that RQ
records it too. A worker killed outright writes nothing; the web app turns the
abandoned job into a ``Failed`` record (:mod:`webapp.status`).

:func:`submit_report` is how the web app queues a job: it writes the
``Queued`` record first (with what the job needs), then enqueues, so that a
job Redis loses can be put back on the queue (:func:`requeue_report`).

The only place that knows where inputs come from is this module:
:func:`job_source` (what a job is told), :func:`data_present` (for the health
check) and :func:`produce_report` (what the job reads).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException

import storemon
from storemon import DEFAULT_TIMEZONE, atomic_path, resolve_now, rows_rejected, utc_instant, write_report
from webapp.config import Settings
from webapp.params import ReportParams
from webapp.records import (
    COMPLETE,
    FAILED,
    QUEUED,
    REPORT_FILES,
    is_report_id,
    record_path,
    report_file,
    report_files,
    utc_now_iso,
    write_record,
)

__all__ = [
    "Produced",
    "job_source",
    "data_present",
    "produce_report",
    "build_report",
    "submit_report",
    "requeue_report",
    "prune_reports",
    "write_report_files",
    "write_report_file",
    "remove_report_files",
    "failed_record",
    "describe_error",
    "week_of",
    "inputs_tables",
]

log = logging.getLogger(__name__)

#: How long RQ keeps a finished job; the record in the reports directory is what lasts.
RESULT_TTL_SECONDS = 3600

#: Progress reported while a job runs (``GET /api/get_report/<id>/`` shows it).
PROGRESS_STARTED, PROGRESS_LOADED, PROGRESS_COMPUTED = 0.05, 0.4, 0.9

#: Rows per Parquet row group of a report's files: small enough that one store's rows are a few groups.
ROW_GROUP_ROWS = 16_384
#: The range of a report's timeline, incidents and polls (the report's week) and of its daily series.
VIEW_RANGE, DAILY_RANGE = timedelta(hours=168), timedelta(days=30)
DAILY_DAYS = DAILY_RANGE.days


@dataclass(frozen=True)
class Produced:
    """A computed report and its views, the instant it is for, how many input rows were rejected.

    ``tables`` holds the other files' frames by kind (``timeline``,
    ``incidents``, ``daily``, ``polls``, ``stores``, ``hours``, ``special``);
    ``timings`` the seconds each stage took.
    """

    report: pl.DataFrame
    now: datetime
    rejects: int
    tables: dict[str, pl.DataFrame]
    timings: dict[str, float]


def job_source(settings: Settings) -> dict[str, str]:
    """Where a job reads its inputs: ``{"store": PATH}`` when a store is configured, else ``{"data_dir": PATH}``."""
    if settings.store is not None:
        return {"store": str(settings.store)}
    return {"data_dir": str(settings.data_dir)}


def data_present(settings: Settings) -> bool:
    """Whether the inputs a job would read are there: an openable store, or the data directory."""
    if settings.store is None:
        return settings.data_dir is not None and settings.data_dir.is_dir()
    try:
        storemon.open_store(settings.store)
    except storemon.StoreError:
        return False
    return True


def produce_report(params: ReportParams, source: dict[str, str]) -> Produced:
    """Compute the report ``params`` ask for and its views, from ``source`` (see :func:`job_source`).

    ``rejects`` counts the rejected input rows behind the report: for a
    store, those of every polls ingest and of the current hours and time-zone
    versions. The report and its views are one computation
    (:func:`storemon.report_views`, or :func:`storemon.report_views_from_store`
    on one snapshot of the store); the input files (polls, hours, special
    hours) are read after it, so over a store an ingest committed in between
    (polls dated at or before ``now`` arriving late, new hours) can make them
    differ from what the report used.
    """
    clock = _Clock()
    if "store" in source:
        return _produce_from_store(params, source["store"], clock)
    inputs = storemon.load_dir(source["data_dir"])
    clock.lap("load")
    _set_progress(PROGRESS_LOADED)
    now = resolve_now(inputs.polls, params.now)
    views = storemon.report_views(
        inputs.polls, inputs.hours, inputs.timezones, now, special=inputs.special, days=DAILY_DAYS, **params.horizons
    )
    report, tables = views.report, _view_tables(views, clock)
    tables |= _inputs_used(report, now, inputs.polls, inputs.hours, inputs.timezones, inputs.special)
    clock.lap("inputs")
    return Produced(report=report, now=now, rejects=inputs.rows_rejected, tables=tables, timings=clock.laps)


def _produce_from_store(params: ReportParams, location: str, clock: _Clock) -> Produced:
    store = storemon.open_store(location)
    now = params.now or storemon.latest_poll(store)
    if now is None:
        raise storemon.ConfigError(
            f"the data store {location} holds no polls yet: send some to POST /api/polls, "
            'or trigger with an explicit "now"'
        )
    now = utc_instant(now)
    rejects = rows_rejected(store)
    clock.lap("load")
    _set_progress(PROGRESS_LOADED)
    views = storemon.report_views_from_store(store, now, days=DAILY_DAYS, **params.horizons)
    report, tables = views.report, _view_tables(views, clock)
    hours, timezones, special = (storemon.current_table(store, name)[0] for name in ("hours", "timezones", "special"))
    week = storemon.read_polls(store, start=now - VIEW_RANGE, end=now)  # parts outside the week are not read
    tables |= _inputs_used(report, now, week, hours, timezones, special)
    clock.lap("inputs")
    return Produced(report=report, now=now, rejects=rejects, tables=tables, timings=clock.laps)


def _view_tables(views: storemon.ReportViews, clock: _Clock) -> dict[str, pl.DataFrame]:
    """The views' frames by kind; the one computation is timed as ``report`` (the views' own stages take 0 s)."""
    clock.lap("report")
    for stage in ("timeline", "incidents", "daily"):
        clock.lap(stage)
    return {"timeline": views.timeline, "incidents": views.incidents, "daily": views.daily}


def _inputs_used(
    report: pl.DataFrame,
    now: datetime,
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    special: pl.DataFrame,
) -> dict[str, pl.DataFrame]:
    """The polls of the week ``[now − 168 h, now]``, each store's zone, and the hours and special rows."""
    return {"polls": week_of(polls, now), **inputs_tables(report, timezones, hours, special)}


def week_of(polls: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """The polls of the week ``[now − 168 h, now]`` (the report's polls file), sorted by store, time, status."""
    ts = pl.col("timestamp_utc")
    week = polls.filter((ts >= now - VIEW_RANGE) & (ts <= now)).select("store_id", "timestamp_utc", "status")
    return week.sort("store_id", "timestamp_utc", "status")


def inputs_tables(
    report: pl.DataFrame, timezones: pl.DataFrame, hours: pl.DataFrame, special: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    """The report's ``stores`` (each store's zone), ``hours`` and ``special`` files, sorted by store."""
    first_zone = timezones.unique("store_id", keep="first", maintain_order=True).select(
        "store_id", pl.col("timezone_str").alias("zone")
    )
    stores = (
        report.select("store_id")
        .join(first_zone, on="store_id", how="left")
        .with_columns(pl.col("zone").fill_null(DEFAULT_TIMEZONE))
    )
    return {
        "stores": stores.sort("store_id"),
        "hours": hours.sort("store_id", maintain_order=True),
        "special": special.sort("store_id", maintain_order=True),
    }


class _Clock:
    """Seconds per stage, measured one after the other."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self._last, 6)
        self._last = now


def write_report_files(reports: Path, report_id: str, produced: Produced, timings: dict[str, float]) -> None:
    """Write every file of :data:`REPORT_FILES` for ``produced``, in order, each atomically.

    The CSV as ``write_report`` writes it (rounded); the others Parquet,
    sorted by store (then time), in row groups of :data:`ROW_GROUP_ROWS`
    rows with statistics. ``timings`` gains a ``write_<kind>`` entry per file.
    """
    frames = {"csv": produced.report, "parquet": produced.report, **produced.tables}
    for kind in REPORT_FILES:
        write_report_file(reports, report_id, kind, frames[kind], timings)


def write_report_file(
    reports: Path, report_id: str, kind: str, frame: pl.DataFrame | pl.LazyFrame, timings: dict[str, float]
) -> None:
    """Write the report's file of ``kind`` from ``frame`` (the report itself, a frame, for ``csv``), atomically.

    ``timings`` gains ``write_<kind>``. :func:`write_report_files` writes them all
    in order; the sharded fan-in writes them one at a time, in the same order,
    from lazy merges of its shards' files. Parquet goes through one streaming
    writer for both: its bytes depend on the rows and :data:`ROW_GROUP_ROWS`
    only, not on how the frame is chunked or where the rows come from, and a
    lazy frame is never held whole.
    """
    started = time.perf_counter()
    path = report_file(reports, report_id, kind)
    if kind == "csv":
        assert isinstance(frame, pl.DataFrame), "the CSV is written from the report itself"
        write_report(frame, path)
    else:
        with atomic_path(path) as tmp:
            frame.lazy().sink_parquet(tmp, row_group_size=ROW_GROUP_ROWS, statistics=True)
    timings[f"write_{kind}"] = round(time.perf_counter() - started, 6)


def remove_report_files(reports: Path, report_id: str) -> None:
    """Delete whatever files of the report exist (not its record)."""
    for kind in REPORT_FILES:
        report_file(reports, report_id, kind).unlink(missing_ok=True)


def build_report(
    report_id: str,
    params: dict[str, Any],
    source: dict[str, str],
    reports_dir: str,
    created: str,
    hold_file: str | None = None,
    requested_by: str | None = None,
    retention_days: int | None = None,
) -> dict[str, Any]:
    """Run one report (on an RQ worker): write its files and then its record; return the record.

    ``params`` is :meth:`ReportParams.to_json`; ``created`` the trigger time
    (ISO); ``requested_by`` names the token that asked (role and fingerprint,
    :mod:`webapp.auth`); with ``retention_days``, older reports are pruned
    afterwards (:func:`prune_reports`). ``hold_file`` is TEST ONLY (``STOREMON_TEST_HOLD_FILE``): while that
    file exists the job waits just before writing its files.
    """
    reports = Path(reports_dir)
    started, clock = utc_now_iso(), time.monotonic()
    _set_progress(PROGRESS_STARTED)
    try:
        produced = produce_report(ReportParams.from_json(params), source)
        _set_progress(PROGRESS_COMPUTED)
        _wait_while_held(hold_file)
        timings = dict(produced.timings)
        write_report_files(reports, report_id, produced, timings)
        started_fleet = time.perf_counter()
        fleet = storemon.fleet_summary(
            produced.report, produced.tables["timeline"], produced.tables["daily"], now=produced.now
        )
        timings["fleet"] = round(time.perf_counter() - started_fleet, 6)
        record = {
            "report_id": report_id,
            "status": COMPLETE,
            "parameters": params,
            "source": source,
            "now": produced.now.isoformat(),
            "created": created,
            "started": started,
            "finished": utc_now_iso(),
            "duration_seconds": round(time.monotonic() - clock, 6),
            "rows": produced.report.height,
            "rejects": produced.rejects,
            "requested_by": requested_by,
            "files": report_files(report_id),
            "timings": timings,
            "fleet": fleet,
        }
        write_record(reports, record)
        _prune_quietly(reports, retention_days, keep=report_id)
        return record
    except Exception as exc:
        log.exception("report %s failed", report_id)
        record = failed_record(
            report_id, params=params, source=source, created=created, started=started, error=describe_error(exc)
        )
        record["duration_seconds"] = round(time.monotonic() - clock, 6)
        record["requested_by"] = requested_by
        remove_report_files(reports, report_id)
        write_record(reports, record)
        _prune_quietly(reports, retention_days, keep=report_id)
        raise


def submit_report(
    queue: Queue, settings: Settings, report_id: str, params: ReportParams, requested_by: str | None = None
) -> Job:
    """Write the report's ``Queued`` record durably, then enqueue its job.

    If the record cannot be written (``OSError``: disk full …) nothing is
    enqueued; if Redis refuses the job the record is removed again, so an id
    never handed out leaves nothing behind. Either error is raised.
    """
    spec = _job_spec(settings, report_id, params, requested_by)
    kwargs = spec["kwargs"]
    write_record(
        settings.reports_dir,
        {
            "report_id": report_id,
            "status": QUEUED,
            "parameters": kwargs["params"],
            "source": kwargs["source"],
            "created": kwargs["created"],
            "requested_by": requested_by,
            "job": spec,
            "requeued": 0,
        },
    )
    try:
        return _enqueue(queue, spec)
    except Exception:
        record_path(settings.reports_dir, report_id).unlink(missing_ok=True)
        raise


def requeue_report(queue: Queue, record: dict[str, Any], reports_dir: Path) -> Job:
    """Put the job of a ``Queued`` record that Redis lost back on ``queue`` (counted in ``requeued``)."""
    record = {**record, "requeued": int(record.get("requeued") or 0) + 1}
    write_record(reports_dir, record)
    return _enqueue(queue, record["job"])


def _job_spec(settings: Settings, report_id: str, params: ReportParams, requested_by: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "report_id": report_id,
        "params": params.to_json(),
        "source": job_source(settings),
        "reports_dir": str(settings.reports_dir),
        "created": utc_now_iso(),
        "hold_file": str(settings.hold_file) if settings.hold_file else None,
        "requested_by": requested_by,
        "retention_days": settings.retention_days,
    }
    # Over a store, unless one job was asked for, a plan job chooses the shards (webapp.shards).
    planned = settings.store is not None and params.shards != 1
    if planned:
        kwargs |= {"shard_stores": settings.shard_stores, "timeout": settings.job_timeout}
    return {"kwargs": kwargs, "timeout": settings.job_timeout, "function": "plan" if planned else "build"}


def _enqueue(queue: Queue, spec: dict[str, Any]) -> Job:
    report_id = spec["kwargs"]["report_id"]
    if spec.get("function") == "plan":
        from webapp.shards import plan_report  # webapp.shards builds on this module

        function: Any = plan_report
    else:
        function = build_report
    return queue.enqueue_call(
        function,
        kwargs=spec["kwargs"],
        job_id=report_id,
        timeout=spec["timeout"],
        result_ttl=RESULT_TTL_SECONDS,
        description=f"storemon report {report_id}",
    )


def prune_reports(
    reports_dir: Path, retention_days: int, *, keep: str | None = None, now: datetime | None = None
) -> int:
    """Delete the reports (their files and record) last written more than ``retention_days`` ago; return how many.

    Age is the record's modification time (when it was last written: the
    final record, for a finished report). Only files named like reports are
    touched; ``keep`` is never deleted.
    """
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=retention_days)).timestamp()
    pruned = 0
    for record in Path(reports_dir).glob("*.json"):
        report_id = record.stem
        if not is_report_id(report_id) or report_id == keep:
            continue
        try:
            if record.stat().st_mtime >= cutoff:
                continue
            remove_report_files(reports_dir, report_id)
            shutil.rmtree(Path(reports_dir) / ".shards" / report_id, ignore_errors=True)  # a sharded one's leftovers
            record.unlink(missing_ok=True)
        except FileNotFoundError:  # another worker pruned it first
            continue
        pruned += 1
    return pruned


def _prune_quietly(reports: Path, retention_days: int | None, keep: str) -> None:
    """:func:`prune_reports` after a job; a failure to prune never fails the report."""
    if not retention_days:
        return
    try:
        pruned = prune_reports(reports, retention_days, keep=keep)
    except OSError as exc:
        log.warning("could not prune old reports in %s: %s", reports, exc)
        return
    if pruned:
        log.info("pruned %d reports older than %d days from %s", pruned, retention_days, reports)


def failed_record(
    report_id: str,
    *,
    params: dict[str, Any] | None,
    source: dict[str, str] | None,
    created: str | None,
    started: str | None,
    error: str,
) -> dict[str, Any]:
    """The record of a report that ended without a CSV."""
    return {
        "report_id": report_id,
        "status": FAILED,
        "parameters": params,
        "source": source,
        "now": None,
        "created": created,
        "started": started,
        "finished": utc_now_iso(),
        "duration_seconds": None,
        "rows": None,
        "rejects": None,
        "error": error,
    }


def describe_error(exc: BaseException) -> str:
    """What went wrong, for a person (storemon's own messages are already that)."""
    if isinstance(exc, storemon.StoremonError):
        return str(exc)
    if isinstance(exc, JobTimeoutException):
        return "the report took longer than the job timeout (STOREMON_JOB_TIMEOUT) and was stopped"
    if isinstance(exc, OSError):
        return f"could not read or write a file: {exc}"
    return f"unexpected error ({type(exc).__name__}: {exc}); the worker log has the details"


def _set_progress(value: float) -> None:
    job = get_current_job()
    if job is None:
        return
    job.meta["progress"] = value
    try:
        job.save_meta()  # type: ignore[no-untyped-call]  # rq leaves it unannotated
    except RedisError as exc:  # progress is a courtesy; the report matters more
        log.warning("could not save progress of job %s: %s", job.id, exc)


def _wait_while_held(hold_file: str | None) -> None:
    """TEST ONLY: pause while ``hold_file`` exists (see ``STOREMON_TEST_HOLD_FILE``)."""
    while hold_file and os.path.exists(hold_file):
        time.sleep(0.05)
