"""The HTTP API: trigger a report, fetch it, check health.

=====================================  =====================================
``POST /api/trigger_report/``          202 ``{"report_id": …}`` + Location
``GET  /api/get_report/<id>/``         200 CSV | Running | Failed JSON; 404
``GET  /api/get_report/<id>/incidents``  a complete report's incidents (JSON page or CSV)
``GET  /api/get_report/<id>/daily``      … its daily series (30 days)
``GET  /api/get_report/<id>/timeline``   … its timeline (the week)
``GET  /api/get_report/<id>/report.parquet``  the exact report (Parquet)
``GET  /api/get_report/<id>/report.jsonl``    the exact report (JSON lines)
``GET  /api/health``                   200 or 503 with each check
``POST /trigger_report``               alias (original task statement)
``GET  /get_report?report_id=<id>``    alias (original task statement)
=====================================  =====================================

The views validate, enqueue and serve files; the worker computes (every
figure served here was written by the report job: :mod:`webapp.jobs`).

The three views take ``?store_id=`` (repeatable: those stores only),
``offset`` (default 0) and ``limit`` (1 to :data:`MAX_LIMIT`, default
:data:`DEFAULT_LIMIT`) and answer ``{"rows": […], "total": N, "offset": o,
"limit": l}`` — ``total`` counts the rows that match the filter — or, with
``?format=csv`` or ``Accept: text/csv``, the same page as CSV (``X-Total-Count``
header). Instants are ISO 8601 UTC (``2024-01-03T16:44:30Z``, a fraction only
when there is one), dates ``YYYY-MM-DD``. 404 for an unknown or not (yet)
complete report, 400 for a bad parameter.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from flask import Blueprint, Response, abort, jsonify, request, send_file, url_for
from redis.exceptions import RedisError
from rq import Worker

import storemon
from webapp.auth import get_caller, require
from webapp.errors import client_body, json_error
from webapp.jobs import data_present, submit_report
from webapp.limits import TRIGGER_BODY_BYTES, read_limited
from webapp.params import BadParameter, parse_trigger_body
from webapp.records import COMPLETE, FAILED, csv_path, is_report_id, new_report_id, read_record, report_file
from webapp.resources import get_queue, get_redis, get_settings
from webapp.status import report_state

__all__ = ["bp"]

bp = Blueprint("api", __name__)

#: ``Retry-After`` of a 429 (queue full): about the time a worker takes for a few reports.
QUEUE_FULL_RETRY_AFTER_SECONDS = 30

#: Paging of the report views: the largest and the default ``limit``.
MAX_LIMIT, DEFAULT_LIMIT = 10_000, 1_000
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


@bp.post("/api/trigger_report/", strict_slashes=False)
@bp.post("/trigger_report", strict_slashes=False)
@require("write")
def trigger_report() -> tuple[Response, int, dict[str, str]]:
    """Queue a new report; answer its id at once (202) and where to fetch it.

    The report's ``Queued`` record is on disk before the 202 (a full disk:
    507, nothing queued). More than ``STOREMON_MAX_QUEUED`` reports waiting:
    429 with ``Retry-After``; the check and the enqueue are not one atomic
    step, so concurrent triggers may pass the limit by a few. ``shards`` above
    1 needs a data store (400 over a data directory: it cannot be read by shard).
    """
    body = read_limited(TRIGGER_BODY_BYTES)
    with client_body("trigger body"):
        try:
            params = parse_trigger_body(body)
        except BadParameter as exc:
            abort(400, str(exc))
    settings = get_settings()
    if params.shards is not None and params.shards > 1 and settings.store is None:
        abort(
            400,
            f"field 'shards' ({params.shards}) needs a data store (STOREMON_STORE): a report over the data "
            "directory is computed in one job; leave 'shards' out or send 1",
        )
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


@bp.get("/api/get_report/<report_id>/incidents")
@require("read")
def get_report_incidents(report_id: str) -> Response:
    """The week's incidents of a complete report (module docstring: filter, paging, formats)."""
    return _view(report_id, "incidents")


@bp.get("/api/get_report/<report_id>/daily")
@require("read")
def get_report_daily(report_id: str) -> Response:
    """The 30 days' daily series of a complete report."""
    return _view(report_id, "daily")


@bp.get("/api/get_report/<report_id>/timeline")
@require("read")
def get_report_timeline(report_id: str) -> Response:
    """The week's timeline of a complete report."""
    return _view(report_id, "timeline")


@bp.get("/api/get_report/<report_id>/report.parquet")
@require("read")
def get_report_parquet(report_id: str) -> Response:
    """The exact report (unrounded figures, ``REPORT_SCHEMA``) as Parquet."""
    response = send_file(_complete_file(report_id, "parquet"), mimetype="application/vnd.apache.parquet", max_age=0)
    response.headers["Content-Disposition"] = f'attachment; filename="report_{report_id}.parquet"'
    return response


@bp.get("/api/get_report/<report_id>/report.jsonl")
@require("read")
def get_report_jsonl(report_id: str) -> Response:
    """The exact report as JSON lines, one store per line."""
    buffer = io.BytesIO()
    pl.read_parquet(_complete_file(report_id, "parquet")).write_ndjson(buffer)
    response = Response(buffer.getvalue(), mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = f'attachment; filename="report_{report_id}.jsonl"'
    return response


def _complete_file(report_id: str, kind: str) -> Path:
    """The file of ``kind`` of a complete report, or 404."""
    if not is_report_id(report_id):
        abort(404, f"no report {report_id!r}: a report id is 32 hexadecimal digits")
    reports = get_settings().reports_dir
    record = read_record(reports, report_id)
    if record is None or record.get("status") != COMPLETE:
        abort(404, f"no complete report {report_id!r}: GET /api/get_report/{report_id}/ says how it is going")
    path = report_file(reports, report_id, kind)
    if kind not in (record.get("files") or {}) or not path.is_file():
        abort(404, f"report {report_id} has no {kind} file (it was made by an older version)")
    return path


def _view(report_id: str, kind: str) -> Response:
    offset = _whole_number("offset", 0)
    limit = _whole_number("limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        abort(400, f"query parameter 'limit' must be between 1 and {MAX_LIMIT}, not {limit}")
    as_csv = _wants_csv()
    path = _complete_file(report_id, kind)
    scan = pl.scan_parquet(path)
    stores = request.args.getlist("store_id")
    if stores:
        wanted = pl.col("store_id") == stores[0] if len(stores) == 1 else pl.col("store_id").is_in(stores)
        scan = scan.filter(wanted)
    total = int(scan.select(pl.len()).collect().item())
    page = scan.slice(offset, limit).collect()
    if as_csv:
        response = Response(storemon.table_csv(page), mimetype="text/csv")
        response.headers["X-Total-Count"] = str(total)
        response.headers["Content-Disposition"] = f'attachment; filename="{kind}_{report_id}.csv"'
        return response
    return jsonify(rows=_json_rows(page), total=total, offset=offset, limit=limit)


def _whole_number(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(text):
        abort(400, f"query parameter {name!r} must be a whole number ≥ 0, not {text!r}")
    return int(text)


def _wants_csv() -> bool:
    fmt = request.args.get("format")
    if fmt is None:
        return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"
    if fmt not in ("csv", "json"):
        abort(400, f"query parameter 'format' must be csv or json, not {fmt!r}")
    return fmt == "csv"


def _json_rows(frame: pl.DataFrame) -> list[dict[str, object]]:
    """Rows as JSON objects: instants as ISO 8601 UTC text (as the CSV writes them), dates as ``YYYY-MM-DD``."""
    text = frame.with_columns(
        [
            pl.col(name).dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")
            for name, dtype in frame.schema.items()
            if isinstance(dtype, pl.Datetime)
        ]
        + [pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype == pl.Date]
        + [pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if isinstance(dtype, pl.Enum)]
    )
    return text.to_dicts()


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
