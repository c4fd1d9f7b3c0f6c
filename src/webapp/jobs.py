"""The report job: what an RQ worker runs for each triggered report.

The web app enqueues :func:`build_report` with plain, JSON-like arguments (the
job carries everything it needs, so any worker sharing the data and reports
directories can run it). The job reads its inputs — the data store
(``STOREMON_STORE``) through :func:`storemon.report_from_store`, or else the
data directory through :func:`storemon.load_dir` and
:func:`storemon.compute_report` — writes ``<id>.csv`` and then ``<id>.json``
(the record, see :mod:`webapp.records`), then deletes the reports older than
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
from storemon import resolve_now, rows_rejected, utc_instant, write_report
from webapp.config import Settings
from webapp.params import ReportParams
from webapp.records import (
    COMPLETE,
    FAILED,
    QUEUED,
    csv_path,
    is_report_id,
    record_path,
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
    "failed_record",
    "describe_error",
]

log = logging.getLogger(__name__)

#: How long RQ keeps a finished job; the record in the reports directory is what lasts.
RESULT_TTL_SECONDS = 3600

#: Progress reported while a job runs (``GET /api/get_report/<id>/`` shows it).
PROGRESS_STARTED, PROGRESS_LOADED, PROGRESS_COMPUTED = 0.05, 0.4, 0.9


@dataclass(frozen=True)
class Produced:
    """A computed report, the instant it is for, and how many input rows were rejected."""

    report: pl.DataFrame
    now: datetime
    rejects: int


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
    """Compute the report ``params`` ask for, from ``source`` (see :func:`job_source`).

    ``rejects`` counts the rejected input rows behind the report: for a
    store, those of every polls ingest and of the current hours and time-zone
    versions.
    """
    if "store" in source:
        return _produce_from_store(params, source["store"])
    inputs = storemon.load_dir(source["data_dir"])
    _set_progress(PROGRESS_LOADED)
    now = resolve_now(inputs.polls, params.now)
    report = storemon.compute_report(inputs.polls, inputs.hours, inputs.timezones, now, horizon=params.horizon)
    return Produced(report=report, now=now, rejects=inputs.rows_rejected)


def _produce_from_store(params: ReportParams, location: str) -> Produced:
    store = storemon.open_store(location)
    now = params.now or storemon.latest_poll(store)
    if now is None:
        raise storemon.ConfigError(
            f"the data store {location} holds no polls yet: send some to POST /api/polls, "
            'or trigger with an explicit "now"'
        )
    now = utc_instant(now)
    rejects = rows_rejected(store)
    _set_progress(PROGRESS_LOADED)
    report = storemon.report_from_store(store, now, horizon=params.horizon)
    return Produced(report=report, now=now, rejects=rejects)


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
    """Run one report (on an RQ worker): write its CSV and record; return the record.

    ``params`` is :meth:`ReportParams.to_json`; ``created`` the trigger time
    (ISO); ``requested_by`` names the token that asked (role and fingerprint,
    :mod:`webapp.auth`); with ``retention_days``, older reports are pruned
    afterwards (:func:`prune_reports`). ``hold_file`` is TEST ONLY (``STOREMON_TEST_HOLD_FILE``): while that
    file exists the job waits just before writing its CSV.
    """
    reports = Path(reports_dir)
    started, clock = utc_now_iso(), time.monotonic()
    _set_progress(PROGRESS_STARTED)
    try:
        produced = produce_report(ReportParams.from_json(params), source)
        _set_progress(PROGRESS_COMPUTED)
        _wait_while_held(hold_file)
        write_report(produced.report, csv_path(reports, report_id))
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
        csv_path(reports, report_id).unlink(missing_ok=True)
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
    return {
        "kwargs": {
            "report_id": report_id,
            "params": params.to_json(),
            "source": job_source(settings),
            "reports_dir": str(settings.reports_dir),
            "created": utc_now_iso(),
            "hold_file": str(settings.hold_file) if settings.hold_file else None,
            "requested_by": requested_by,
            "retention_days": settings.retention_days,
        },
        "timeout": settings.job_timeout,
    }


def _enqueue(queue: Queue, spec: dict[str, Any]) -> Job:
    report_id = spec["kwargs"]["report_id"]
    return queue.enqueue_call(
        build_report,
        kwargs=spec["kwargs"],
        job_id=report_id,
        timeout=spec["timeout"],
        result_ttl=RESULT_TTL_SECONDS,
        description=f"storemon report {report_id}",
    )


def prune_reports(
    reports_dir: Path, retention_days: int, *, keep: str | None = None, now: datetime | None = None
) -> int:
    """Delete the reports (CSV and record) last written more than ``retention_days`` ago; return how many.

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
            csv_path(reports_dir, report_id).unlink(missing_ok=True)
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
