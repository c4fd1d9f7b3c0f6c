"""Where a report stands: the reports directory first, then RQ.

A final record (Complete, Failed) in the reports directory outlives Redis
(flushes, restarts, expired jobs). Otherwise the RQ job tells whether the
report is still queued or running. A ``Queued`` record whose job Redis no
longer knows (Redis restarted or flushed before a worker took it) is put
back on the queue once, from what the record holds; lost a second time, the
report is ``Failed`` with :data:`LOST` as the reason. Before asking, abandoned jobs (their worker stopped
heart-beating: killed, crashed, machine lost) are moved to RQ's failed
registry by :meth:`rq.registry.StartedJobRegistry.cleanup` (which also
retries an abandoned shard job that has retries left); a failure found in
RQ is then written down as a ``Failed`` record, so it too survives Redis.

A sharded report (:mod:`webapp.shards`) is ``Queued`` with a ``plan`` once
its plan job finished: it is then running while its fan-in job waits or
runs (progress: finished shards / shards), ``Failed`` when the fan-in job
is gone (killed, stopped: its shard files and pin are discarded), and lost
(re-planned once, as a lost queued job) when Redis no longer knows the
fan-in job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from webapp.jobs import failed_record, requeue_report
from webapp.records import COMPLETE, FAILED, QUEUED, RUNNING, is_final, read_record, write_record

__all__ = [
    "ReportState",
    "report_state",
    "rq_error",
    "ABANDONED",
    "HORSE_DIED",
    "NOT_SHARED",
    "LOST",
    "MAX_REQUEUES",
]

ABANDONED = (
    "the worker running this report stopped without finishing it (killed, crashed or cut off "
    "from Redis); trigger a new report"
)
HORSE_DIED = "the worker process running this report died unexpectedly (killed or out of memory); trigger a new report"
STOPPED = "the report job was stopped or cancelled before it finished; trigger a new report"
NOT_SHARED = (
    "the worker finished this report but its files are not in {dir}: the web app and the workers "
    "must share the same STOREMON_REPORTS_DIR"
)

LOST = (
    "the job queue (Redis) lost this report's job before a worker ran it, twice (Redis restarted or "
    "flushed); trigger a new report"
)

#: How often a Queued report whose job Redis lost is put back on the queue before it is Failed.
MAX_REQUEUES = 1

#: Seconds one web process holds the right to re-queue a lost job (others answer Running meanwhile).
_REQUEUE_LOCK_SECONDS = 30

_GONE = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


@dataclass(frozen=True)
class ReportState:
    """A report's status (Complete, Failed or Running) and what goes with it."""

    status: str
    record: dict[str, Any] | None = None
    progress: float | None = None
    error: str | None = None


def report_state(report_id: str, reports_dir: Path, queue: Queue) -> ReportState | None:
    """The state of ``report_id``, or ``None`` if neither the directory nor RQ knows it.

    Raises ``redis.exceptions.ConnectionError`` when the report is not finished
    and Redis cannot be reached (the caller answers 503).
    """
    record = read_record(reports_dir, report_id)
    if is_final(record):
        return _from_record(record or {})
    queue.started_job_registry.cleanup()
    try:
        job = Job.fetch(report_id, connection=queue.connection)
        status = job.get_status(refresh=True)
    except NoSuchJobError:
        status, job = None, None
    record = read_record(reports_dir, report_id)  # the job may have finished meanwhile
    if is_final(record):
        return _from_record(record or {})
    if job is None or status is None:
        if record is not None and record.get("status") == QUEUED:
            return _lost(record, reports_dir, queue)
        return None
    if status in _GONE:
        return _from_record(_record_failure(job, reports_dir, status))
    if status == JobStatus.FINISHED and record is not None and "plan" in record:
        return _plan_state(record, reports_dir, queue)
    if status == JobStatus.FINISHED:
        return ReportState(FAILED, error=NOT_SHARED.format(dir=reports_dir))
    return ReportState(RUNNING, progress=float(job.meta.get("progress", 0.0)))


def _plan_state(record: dict[str, Any], reports_dir: Path, queue: Queue) -> ReportState:
    """A planned (sharded) report whose plan job finished: follow its fan-in job and count finished shards."""
    from webapp.shards import discard_plan  # webapp.shards imports webapp.jobs, as this module does

    plan = record["plan"]
    try:
        fan_in = Job.fetch(plan["fan_in_job"], connection=queue.connection)
        fan_in_status = fan_in.get_status(refresh=True)
    except NoSuchJobError:
        fan_in, fan_in_status = None, None
    again = read_record(reports_dir, str(record["report_id"]))
    if is_final(again):
        return _from_record(again or {})
    if fan_in is None or fan_in_status is None:
        return _lost(record, reports_dir, queue)
    if fan_in_status in _GONE:
        failed = _record_failure(fan_in, reports_dir, fan_in_status, report_id=str(record["report_id"]))
        discard_plan(reports_dir, str(record["report_id"]), plan, record.get("source"))
        return _from_record(failed)
    if fan_in_status == JobStatus.FINISHED:
        return ReportState(FAILED, error=NOT_SHARED.format(dir=reports_dir))
    statuses = [
        job.get_status(refresh=False) if job is not None else None
        for job in Job.fetch_many(plan["shard_jobs"], connection=queue.connection)
    ]
    finished = sum(1 for status in statuses if status == JobStatus.FINISHED)
    return ReportState(RUNNING, progress=round(finished / int(plan["shards"]), 6))


def _lost(record: dict[str, Any], reports_dir: Path, queue: Queue) -> ReportState:
    """A Queued report whose job Redis no longer has: re-queue it, or fail it after :data:`MAX_REQUEUES`."""
    report_id = str(record["report_id"])
    if int(record.get("requeued") or 0) >= MAX_REQUEUES or "job" not in record:
        failed = failed_record(
            report_id,
            params=record.get("parameters"),
            source=record.get("source"),
            created=record.get("created"),
            started=None,
            error=LOST,
        )
        failed["requested_by"] = record.get("requested_by")
        _write_if_possible(reports_dir, failed)
        return _from_record(failed)
    # One web process re-queues; the others (and repeated polls) see it Running meanwhile.
    if queue.connection.set(f"storemon:requeue:{report_id}", "1", nx=True, ex=_REQUEUE_LOCK_SECONDS):
        requeue_report(queue, record, reports_dir)
    return ReportState(RUNNING, progress=0.0)


def _write_if_possible(reports_dir: Path, record: dict[str, Any]) -> None:
    """Persist a Failed record; when the disk is full the answer is still right, just not remembered."""
    try:
        write_record(reports_dir, record)
    except OSError:
        pass


def _from_record(record: dict[str, Any]) -> ReportState:
    if record.get("status") == COMPLETE:
        return ReportState(COMPLETE, record=record)
    return ReportState(FAILED, record=record, error=str(record.get("error") or "the report failed"))


def _record_failure(job: Job, reports_dir: Path, status: JobStatus, report_id: str | None = None) -> dict[str, Any]:
    kwargs = job.kwargs
    record = failed_record(
        report_id or job.id,
        params=kwargs.get("params"),
        source=kwargs.get("source"),
        created=kwargs.get("created"),
        started=job.started_at.isoformat() if job.started_at else None,
        error=rq_error(job, status),
    )
    record["requested_by"] = kwargs.get("requested_by")
    _write_if_possible(reports_dir, record)
    return record


def rq_error(job: Job, status: JobStatus) -> str:
    """Why RQ says ``job`` ended (``status``: failed, stopped or cancelled), for a person."""
    if status != JobStatus.FAILED:
        return STOPPED
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    if "AbandonedJobError" in text:
        return ABANDONED
    if "Work-horse terminated unexpectedly" in text:
        return HORSE_DIED
    last_line = text.strip().splitlines()[-1] if text.strip() else "no details recorded"
    return f"the report job failed: {last_line}"
