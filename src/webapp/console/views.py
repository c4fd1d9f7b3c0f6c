"""The console's pages: fleet, report table, store detail, API docs; login and logout.

Linear views: check, read the files, render. A page needs a logged-in session
(else a redirect to ``/login``) of role read; triggering needs write (403
otherwise). Figures come from the files and the record the job wrote.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import flask_swagger_ui
import plotly
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    send_from_directory,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from webapp.auth import _ANONYMOUS, SESSION_KEY, Caller, has_role, session_caller, verify_token
from webapp.console import charts
from webapp.console.data import (
    FIGURES,
    FILE_KINDS,
    PERCENTAGES,
    SORTABLE,
    complete_record,
    json_lines,
    list_records,
    report_file,
    report_page,
    store_detail,
)
from webapp.errors import client_body
from webapp.jobs import submit_report
from webapp.params import BadParameter, ReportParams, parse_trigger_body
from webapp.records import COMPLETE, new_report_id
from webapp.resources import get_queue, get_settings

__all__ = ["bp", "csrf"]

bp = Blueprint(
    "console", __name__, template_folder="templates", static_folder="static", static_url_path="/console/static"
)
csrf = CSRFProtect()

_F = TypeVar("_F", bound=Callable[..., Any])

#: Rows per page of the report table (``?per=`` may pick another of these).
PER_PAGE_CHOICES = (25, 50, 100, 200)
RECENT_REPORTS = 20
#: The trigger form's number fields: the horizons the API's trigger body takes (each ``…_hours``).
TRIGGER_HOURS = tuple(f.name for f in dataclasses.fields(ReportParams) if f.name.endswith("_hours"))
_PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"
_SWAGGER_DIR = Path(flask_swagger_ui.__file__).parent / "dist"
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def current_caller() -> Caller | None:
    """Who is logged in to the console (everyone, as admin, when authentication is off)."""
    if not get_settings().auth:
        return _ANONYMOUS
    return session_caller()


def page(role: str) -> Callable[[_F], _F]:
    """Decorator: a console view for ``role`` (not logged in: redirect to the login form; too weak: 403)."""

    def decorate(view: _F) -> _F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            caller = current_caller()
            if caller is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if not has_role(caller, role):
                abort(403, f"your role ({caller.role}) may not do this; log in with a {role} token")
            return view(*args, **kwargs)

        return cast(_F, guarded)

    return decorate


@bp.before_request
def _check_csrf() -> None:
    if request.method == "POST":
        csrf.protect()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def _globals() -> dict[str, Any]:
    return {"caller": current_caller(), "auth_on": get_settings().auth}


def _html_error(exc: HTTPException) -> tuple[str, int]:
    return render_template("console/error.html", code=exc.code, name=exc.name, message=exc.description), exc.code or 500


bp.register_error_handler(HTTPException, _html_error)


# --- login and logout -----------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only."""
    if not target:
        return url_for("console.fleet")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("console.fleet")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | WerkzeugResponse | tuple[str, int]:
    """The login form: paste an API token; its role is kept in the session cookie."""
    target = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/login.html", next=target)
    token = request.form.get("token", "").strip()
    caller = verify_token(token) if token else None
    if caller is None:
        return render_template("console/login.html", next=target, error="That token is not valid."), 401
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = {"role": caller.role, "name": caller.name}
    return redirect(target)


@bp.post("/logout")
def logout() -> WerkzeugResponse:
    """Forget the session."""
    session.clear()
    flash("Logged out.")
    return redirect(url_for("console.login"))


# --- the fleet ----------------------------------------------------------------------


@bp.get("/")
@page("read")
def fleet() -> str:
    """The latest complete report's fleet summary, the trigger form, recent reports."""
    settings = get_settings()
    records = list_records(settings.reports_dir)
    complete = [r for r in records if r.get("status") == COMPLETE]
    latest = max(complete, key=lambda r: str(r.get("finished") or ""), default=None)
    summary = latest.get("fleet") if latest else None
    chart = None
    if isinstance(summary, dict) and summary.get("daily"):
        chart = charts.fleet_daily_figure(summary["daily"])
    watch = request.args.get("watch")
    watching = watch if watch and any(r.get("report_id") == watch for r in records) else None
    return render_template(
        "console/fleet.html",
        latest=latest,
        fleet=summary if isinstance(summary, dict) else None,
        fleet_chart=chart,
        recent=records[:RECENT_REPORTS],
        trigger_hours=TRIGGER_HOURS,
        watching=watching,
    )


@bp.post("/reports")
@page("write")
def trigger() -> WerkzeugResponse:
    """Queue a report from the form, through the API's own parser and :func:`webapp.jobs.submit_report`."""
    body: dict[str, Any] = {}
    now = request.form.get("now", "").strip()
    if now:
        body["now"] = now
    for field in TRIGGER_HOURS:
        value = request.form.get(field, "").strip()
        if value:
            try:
                body[field] = float(value)
            except ValueError:
                flash(f"{field}: {value!r} is not a number", "error")
                return redirect(url_for("console.fleet"))
    with client_body("trigger form"):
        try:
            params = parse_trigger_body(json.dumps(body).encode())
        except BadParameter as exc:
            flash(str(exc), "error")
            return redirect(url_for("console.fleet"))
    settings = get_settings()
    queue = get_queue()
    if queue.count >= settings.max_queued:
        flash(f"{queue.count} reports are already waiting; try again later", "error")
        return redirect(url_for("console.fleet"))
    report_id = new_report_id()
    caller = current_caller()
    submit_report(queue, settings, report_id, params, requested_by=caller.name if caller else None)
    return redirect(url_for("console.fleet", watch=report_id))


# --- one report -----------------------------------------------------------------------


def _record_or_404(report_id: str) -> dict[str, Any]:
    record = complete_record(get_settings().reports_dir, report_id)
    if record is None:
        abort(404, f"no complete report {report_id!r}")
    return record


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        abort(400, f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


@bp.get("/reports/<report_id>")
@page("read")
def report(report_id: str) -> str:
    """All stores of a report: sortable, searchable, paged; downloads and the record."""
    record = _record_or_404(report_id)
    settings = get_settings()
    sort = request.args.get("sort", "store_id")
    order = request.args.get("order", "asc")
    if sort not in SORTABLE:
        abort(400, f"cannot sort by {sort!r} (one of: {', '.join(SORTABLE)})")
    if order not in ("asc", "desc"):
        abort(400, "order must be asc or desc")
    per_page = _int_arg("per", 50)
    if per_page not in PER_PAGE_CHOICES:
        abort(400, f"per must be one of {', '.join(map(str, PER_PAGE_CHOICES))}")
    number = _int_arg("page", 1)
    if number < 1:
        abort(400, "page starts at 1")
    search = request.args.get("q", "")[:256]
    path = report_file(settings.reports_dir, record, "parquet")
    table = None
    if path is not None:
        table = report_page(path, search=search, sort=sort, descending=order == "desc", page=number, per_page=per_page)
        if number > table.pages:
            abort(404, f"page {number} is past the last page ({table.pages})")
    downloads = {kind: report_file(settings.reports_dir, record, kind) is not None for kind in FILE_KINDS}
    return render_template(
        "console/report.html",
        record=record,
        table=table,
        sort=sort,
        order=order,
        search=search,
        per_page=per_page,
        per_page_choices=PER_PAGE_CHOICES,
        figures=FIGURES,
        percentages=PERCENTAGES,
        downloads=downloads,
        params=record.get("params") or record.get("parameters") or {},
    )


@bp.get("/reports/<report_id>/files/<kind>")
@page("read")
def download(report_id: str, kind: str) -> Response:
    """One of the report's files, as the job wrote it."""
    record = _record_or_404(report_id)
    path = report_file(get_settings().reports_dir, record, kind)
    if path is None:
        abort(404, f"report {report_id} has no {kind} file")
    suffix = ".csv" if kind == "csv" else (".parquet" if kind == "parquet" else f".{kind}.parquet")
    return send_file(
        path, mimetype=FILE_KINDS[kind], as_attachment=True, download_name=f"report_{report_id}{suffix}", max_age=0
    )


@bp.get("/reports/<report_id>/report.jsonl")
@page("read")
def download_jsonl(report_id: str) -> Response:
    """The report as JSON lines (the Parquet file, one store per line)."""
    record = _record_or_404(report_id)
    path = report_file(get_settings().reports_dir, record, "parquet")
    if path is None:
        abort(404, f"report {report_id} has no Parquet file")
    response = Response(json_lines(path), mimetype="application/x-ndjson")
    response.headers["Content-Disposition"] = f'attachment; filename="report_{report_id}.jsonl"'
    return response


# --- one store ------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _local(moment: datetime | None, zone: ZoneInfo | None) -> str:
    if moment is None:
        return ""
    if zone is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


@bp.get("/reports/<report_id>/stores/<path:store_id>")
@page("read")
def store(report_id: str, store_id: str) -> str:
    """One store: zone and hours, the week's timeline, 30 daily bars, incidents."""
    record = _record_or_404(report_id)
    detail = store_detail(get_settings().reports_dir, record, store_id)
    if detail is None:
        abort(404, f"report {report_id} has no store {store_id!r}")
    zone = _zone(detail.zone)
    now = datetime.fromisoformat(str(record["now"]))
    timeline_chart = (
        charts.timeline_figure(detail.timeline, detail.polls, now, zone)
        if detail.timeline is not None and not detail.timeline.is_empty()
        else None
    )
    daily_chart = (
        charts.daily_figure(detail.daily) if detail.daily is not None and not detail.daily.is_empty() else None
    )
    incidents = [
        {
            **row,
            "start_local": _local(row["start"], zone),
            "end_local": _local(row["end"], zone),
            "start_utc": row["start"].strftime("%Y-%m-%d %H:%M:%S.%f UTC"),
            "end_utc": row["end"].strftime("%Y-%m-%d %H:%M:%S.%f UTC"),
        }
        for row in (detail.incidents.iter_rows(named=True) if detail.incidents is not None else [])
    ]
    return render_template(
        "console/store.html",
        record=record,
        detail=detail,
        zone=detail.zone,
        now_local=_local(now, zone),
        timeline_chart=timeline_chart,
        daily_chart=daily_chart,
        incidents=incidents,
        figures=FIGURES,
        percentages=PERCENTAGES,
        days=("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    )


# --- API docs and vendored files ------------------------------------------------------


@bp.get("/api/docs")
def api_docs() -> str:
    """The API's OpenAPI document in Swagger UI (public, like the document itself)."""
    return render_template("console/api_docs.html")


@bp.get("/console/vendor/plotly.min.js")
def plotly_js() -> Response:
    """Plotly's own bundle, from the installed ``plotly`` package."""
    return send_from_directory(_PLOTLY_DIR, "plotly.min.js", mimetype="text/javascript", max_age=86400)


@bp.get("/console/vendor/swagger/<name>")
def swagger_file(name: str) -> Response:
    """Swagger UI's files, from the installed ``flask-swagger-ui`` package."""
    return send_from_directory(_SWAGGER_DIR, name, max_age=86400)
