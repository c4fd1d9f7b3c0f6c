"""Where a report stands: the reports directory first, then RQ.

A record in the reports directory is final and outlives Redis (flushes,
restarts, expired jobs). Without one, the RQ job tells whether the report is
still queued or running. Before asking, abandoned jobs (their worker stopped
heart-beating: killed, crashed, machine lost) are moved to RQ's failed
registry by :meth:`rq.registry.StartedJobRegistry.cleanup`; a failure found in
RQ is then written down as a ``Failed`` record, so it too survives Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from webapp.jobs import failed_record
from webapp.records import COMPLETE, FAILED, RUNNING, read_record, write_record

__all__ = ["ReportState", "report_state", "ABANDONED", "HORSE_DIED", "NOT_SHARED"]

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
    if record is not None:
        return _from_record(record)
    queue.started_job_registry.cleanup()
    try:
        job = Job.fetch(report_id, connection=queue.connection)
        status = job.get_status(refresh=True)
    except NoSuchJobError:
        status, job = None, None
    record = read_record(reports_dir, report_id)  # the job may have finished meanwhile
    if record is not None:
        return _from_record(record)
    if job is None or status is None:
        return None
    if status in _GONE:
        return _from_record(_record_failure(job, reports_dir, status))
    if status == JobStatus.FINISHED:
        return ReportState(FAILED, error=NOT_SHARED.format(dir=reports_dir))
    return ReportState(RUNNING, progress=float(job.meta.get("progress", 0.0)))


def _from_record(record: dict[str, Any]) -> ReportState:
    if record.get("status") == COMPLETE:
        return ReportState(COMPLETE, record=record)
    return ReportState(FAILED, record=record, error=str(record.get("error") or "the report failed"))


def _record_failure(job: Job, reports_dir: Path, status: JobStatus) -> dict[str, Any]:
    kwargs = job.kwargs
    record = failed_record(
        job.id,
        params=kwargs.get("params"),
        source=kwargs.get("source"),
        created=kwargs.get("created"),
        started=job.started_at.isoformat() if job.started_at else None,
        error=_rq_error(job, status),
    )
    write_record(reports_dir, record)
    return record


def _rq_error(job: Job, status: JobStatus) -> str:
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
