"""The HTTP API: trigger a report, fetch it, check health.

=====================================  =====================================
``POST /api/trigger_report/``          202 ``{"report_id": …}`` + Location
``GET  /api/get_report/<id>/``         200 CSV | Running | Failed JSON; 404
``GET  /api/health``                   200 or 503 with each check
``POST /trigger_report``               alias (original task statement)
``GET  /get_report?report_id=<id>``    alias (original task statement)
=====================================  =====================================

The views validate, enqueue and serve files; the worker computes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, abort, jsonify, request, send_file, url_for
from redis.exceptions import RedisError
from rq import Worker

from webapp.auth import get_caller, require
from webapp.errors import client_body, json_error
from webapp.jobs import data_present, submit_report
from webapp.limits import TRIGGER_BODY_BYTES, read_limited
from webapp.params import BadParameter, parse_trigger_body
from webapp.records import COMPLETE, FAILED, csv_path, is_report_id, new_report_id
from webapp.resources import get_queue, get_redis, get_settings
from webapp.status import report_state

__all__ = ["bp"]

bp = Blueprint("api", __name__)

#: ``Retry-After`` of a 429 (queue full): about the time a worker takes for a few reports.
QUEUE_FULL_RETRY_AFTER_SECONDS = 30


@bp.post("/api/trigger_report/", strict_slashes=False)
@bp.post("/trigger_report", strict_slashes=False)
@require("write")
def trigger_report() -> tuple[Response, int, dict[str, str]]:
    """Queue a new report; answer its id at once (202) and where to fetch it.

    The report's ``Queued`` record is on disk before the 202 (a full disk:
    507, nothing queued). More than ``STOREMON_MAX_QUEUED`` reports waiting:
    429 with ``Retry-After``; the check and the enqueue are not one atomic
    step, so concurrent triggers may pass the limit by a few.
    """
    body = read_limited(TRIGGER_BODY_BYTES)
    with client_body("trigger body"):
        try:
            params = parse_trigger_body(body)
        except BadParameter as exc:
            abort(400, str(exc))
    settings = get_settings()
    queue = get_queue()
    waiting = queue.count
    if waiting >= settings.max_queued:
        response = json_error(
            429, f"{waiting} reports are already waiting (STOREMON_MAX_QUEUED={settings.max_queued}); try again later"
        )
        response.headers["Retry-After"] = str(QUEUE_FULL_RETRY_AFTER_SECONDS)
        return response, 429, {}
    report_id = new_report_id()
    caller = get_caller()
    submit_report(queue, settings, report_id, params, requested_by=caller.name if caller else None)
    location = url_for("api.get_report", report_id=report_id)
    return jsonify(report_id=report_id), 202, {"Location": location}


@bp.get("/api/get_report/<report_id>/", strict_slashes=False)
@require("read")
def get_report(report_id: str) -> Response:
    """The report's CSV when complete, else its status as JSON."""
    return _report_response(report_id)


@bp.get("/get_report")
@require("read")
def get_report_by_query() -> Response:
    """Alias of :func:`get_report` taking ``?report_id=``."""
    report_id = request.args.get("report_id")
    if report_id is None:
        abort(400, "missing query parameter 'report_id'")
    return _report_response(report_id)


@bp.get("/api/health")
def health() -> tuple[Response, int]:
    """Whether Redis answers, workers listen on the queue and the data (store or directory) is there."""
    settings = get_settings()
    checks: dict[str, object] = {"redis": False, "workers": 0, "data": data_present(settings)}
    try:
        get_redis().ping()
        checks["redis"] = True
        checks["workers"] = _live_workers(settings.worker_stale_after)
    except RedisError:
        pass
    healthy = bool(checks["redis"] and checks["workers"] and checks["data"])
    body = {"status": "ok" if healthy else "unavailable", **checks, "queue": settings.queue}
    return jsonify(body), 200 if healthy else 503


def _live_workers(stale_after: int) -> int:
    """Workers on the queue whose last heartbeat is at most ``stale_after`` seconds old.

    A worker killed outright (SIGKILL, lost machine) keeps its registration
    until its key expires, minutes later; its heartbeat stops at once.
    """
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after)
    workers = Worker.all(queue=get_queue())
    return sum(1 for worker in workers if worker.last_heartbeat is not None and worker.last_heartbeat >= cutoff)


def _report_response(report_id: str) -> Response:
    if not is_report_id(report_id):
        abort(404, f"no report {report_id!r}: a report id is 32 hexadecimal digits")
    settings = get_settings()
    state = report_state(report_id, settings.reports_dir, get_queue())
    if state is None:
        abort(404, f"no report {report_id!r}")
    if state.status == COMPLETE:
        return _csv_response(report_id, state.record or {})
    if state.status == FAILED:
        return jsonify(status=FAILED, error=state.error)
    return jsonify(status=state.status, progress=state.progress)


def _csv_response(report_id: str, record: dict[str, object]) -> Response:
    path = csv_path(get_settings().reports_dir, report_id)
    if not path.is_file():
        return json_error(500, f"report {report_id} is recorded complete but its CSV is missing")
    response = send_file(path, mimetype="text/csv", max_age=0)
    response.headers["Content-Disposition"] = f'attachment; filename="report_{report_id}.csv"'
    response.headers["X-Report-Status"] = COMPLETE
    if record.get("now"):
        response.headers["X-Report-Now"] = str(record["now"])
    return response
