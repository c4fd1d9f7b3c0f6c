"""Live intake: new polls, business hours and time zones into the data store.

=====================================  ==========================================
``POST /api/polls``                    append polls; 201 with what was accepted
``PUT  /api/hours``                    replace the business hours (a new version)
``PUT  /api/timezones``                replace the time zones (a new version)
``PUT  /api/special_hours``            replace the special hours (a new version)
``PATCH /api/hours``, ``/api/timezones``, ``/api/special_hours``  upsert per store (a new version)
``GET  /api/tables/<hours|timezones|special_hours>``  the current version, with its ``ETag``
``GET  /api/tables/<name>/versions``   every version, newest first (admin)
``POST /api/tables/<name>/versions/<v>/restore``  make ``v`` current again (admin)
=====================================  ==========================================

Tables are versioned (:func:`storemon.current_table`). ``PUT`` (role admin)
needs ``If-Match: "<version>"`` with the current version's ``ETag``: **428**
without it, **412** when another version has become current meanwhile (the
check is made under the store's commit lock, so two admins cannot overwrite
each other unknowingly). ``PATCH`` (role write) replaces, for each store that
has a valid row in the body, that store's rows by exactly the body's rows,
and leaves every other store untouched; a store that appears only in rejected
rows is untouched too. It reads the current version and replaces it
conditionally, retrying when another write came in between; with
``If-Match`` it is conditional on that version instead (412, no retry).
Every table answer carries the new current version as ``version`` and
``ETag``.

Each takes CSV or JSON (:mod:`webapp.bodies`), validates it with the
library's loaders and hands the valid rows to :func:`storemon.append_polls`,
:func:`storemon.replace_hours`, :func:`storemon.replace_timezones` or
:func:`storemon.replace_special_hours` (the store's table ``special``), which
return only once the rows are fsync'd and committed. The answer::

    {"table": "polls", "format": "CSV", "ingest_id": "…", "duplicate_of": null,
     "rows": 4, "accepted": 3, "rejected": 1,
     "rejects": [{"line": 3, "column": "status", "value": "maybe", "reason": "unknown status"}]}

**201** when something was committed; **200** with ``duplicate_of`` when the
same body was already ingested (polls: ever; hours and time zones: it is the
current version), so a retried request changes nothing. One entry in
``rejects`` per bad value (a row with two bad values appears twice;
``rejected`` counts rows). ``line`` counts a CSV body's header as line 1; for
JSON it is the item's 1-based position and the key is ``index`` instead.
Polls dated more than :data:`FUTURE_TOLERANCE` (15 minutes) after the request
arrived are rejected per row as ``timestamp in the future`` (docs/rules.md).
**400** when the body cannot be read or has no valid row (the body then also
carries the counts and rejects), **413** over ``STOREMON_MAX_INTAKE_BYTES``,
**415** for another ``Content-Type``, **503** when no store is configured or
it cannot be written, **507** when the disk is full.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

import storemon
from storemon import IngestResult, Loaded
from webapp.auth import require
from webapp.bodies import CSV, MEDIA_TYPES, body_format, read_body
from webapp.config import Settings
from webapp.errors import DISK_FULL, client_body, is_disk_full, json_error
from webapp.limits import read_limited
from webapp.resources import get_settings

__all__ = ["bp", "init_app", "NO_STORE"]

NO_STORE = "live intake needs a data store: start the service with STOREMON_STORE set to a directory"
STORE_FAILED = "the data store could not be written; nothing was stored (the service log has the details)"

bp = Blueprint("intake", __name__)

_Write = Callable[..., IngestResult]


def init_app(app: Flask, settings: Settings) -> None:
    """Create the configured data store if it is missing, and register the intake endpoints.

    A directory that exists, is not empty and holds no store is refused
    rather than filled with a store's files (a mistyped path, the data
    directory itself …).
    """
    if settings.store is not None:
        _prepare_store(settings.store)
    app.register_blueprint(bp)


def _prepare_store(path: Path) -> None:
    try:
        storemon.open_store(path, create=True)
    except storemon.StoreError as exc:
        raise storemon.ConfigError(f"STOREMON_STORE={path}: {exc}") from None


@bp.post("/api/polls", strict_slashes=False)
@require("write")
def post_polls() -> tuple[Response, int]:
    """Append polls to the store."""
    return _intake("polls", storemon.append_polls)


@bp.put("/api/hours", strict_slashes=False)
@require("admin")
def put_hours() -> tuple[Response, int]:
    """Replace the store's business hours (If-Match required)."""
    return _intake("hours", storemon.replace_hours, REPLACE)


@bp.put("/api/timezones", strict_slashes=False)
@require("admin")
def put_timezones() -> tuple[Response, int]:
    """Replace the store's time zones (If-Match required)."""
    return _intake("timezones", storemon.replace_timezones, REPLACE)


@bp.patch("/api/hours", strict_slashes=False)
@require("write")
def patch_hours() -> tuple[Response, int]:
    """Upsert business hours per store."""
    return _intake("hours", storemon.replace_hours, UPSERT)


@bp.patch("/api/timezones", strict_slashes=False)
@require("write")
def patch_timezones() -> tuple[Response, int]:
    """Upsert time zones per store."""
    return _intake("timezones", storemon.replace_timezones, UPSERT)


@bp.put("/api/special_hours", strict_slashes=False)
@require("admin")
def put_special_hours() -> tuple[Response, int]:
    """Replace the store's special hours (If-Match required)."""
    return _intake("special_hours", storemon.replace_special_hours, REPLACE)


@bp.patch("/api/special_hours", strict_slashes=False)
@require("write")
def patch_special_hours() -> tuple[Response, int]:
    """Upsert special hours per store (a store's rows are replaced by the body's, every date)."""
    return _intake("special_hours", storemon.replace_special_hours, UPSERT)


@bp.get("/api/tables/<name>", strict_slashes=False)
@require("read")
def get_table(name: str) -> Response:
    """The current version of a table as JSON rows, with its version as ``ETag``."""
    store = _store()
    frame, version = storemon.current_table(store, _known_table(name))
    rows = [{key: _text(value) for key, value in row.items()} for row in frame.to_dicts()]
    response = jsonify(table=name, version=version, rows=rows)
    response.headers["ETag"] = _etag(version)
    return response


@bp.get("/api/tables/<name>/versions", strict_slashes=False)
@require("admin")
def get_table_versions(name: str) -> Response:
    """Every version of a table, newest first."""
    store = _store()
    return jsonify(table=name, versions=storemon.table_versions(store, _known_table(name)))


@bp.post("/api/tables/<name>/versions/<version>/restore", strict_slashes=False)
@require("admin")
def restore_table_version(name: str, version: str) -> tuple[Response, int]:
    """Make an earlier version current again (as a new version); If-Match optional."""
    store = _store()
    table = _known_table(name)
    known = {v["version"]: v for v in storemon.table_versions(store, table)}
    if version not in known:
        abort(404, f"no {name} version {version!r}: GET /api/tables/{name}/versions lists them")
    if not known[version]["restorable"]:
        abort(409, f"{name} version {version} was written before versions were kept and is gone")
    try:
        result = storemon.restore_table(store, table, version, if_version=_if_match())
    except storemon.StaleVersionError as exc:
        return _stale(name, exc)
    except (storemon.StoreError, OSError) as exc:
        return _store_failed(store, exc)
    new = result.ingest_id or result.duplicate_of or storemon.current_table(store, table)[1]
    response = jsonify(table=name, restored=version, version=new, duplicate_of=result.duplicate_of)
    response.headers["ETag"] = _etag(new)
    return response, 200 if result.skipped else 201


def _known_table(name: str) -> str:
    """The store's name of the versioned table the API calls ``name``, or 404."""
    if name not in VERSIONED:
        abort(404, f"no table {name!r}: the versioned tables are {', '.join(VERSIONED)}")
    return VERSIONED[name]


APPEND, REPLACE, UPSERT = "append", "replace", "upsert"

#: The tables that are versioned (replaced as a whole, upserted per store): the API's name → the store's.
VERSIONED = {"hours": "hours", "timezones": "timezones", "special_hours": "special"}

#: How far after its arrival a live poll may be dated (docs/rules.md, "The inputs").
FUTURE_TOLERANCE = dt.timedelta(minutes=15)

#: How often a PATCH re-reads and retries when another write replaced the table meanwhile.
UPSERT_ATTEMPTS = 5


def _store() -> Path:
    store = get_settings().store
    if store is None:
        abort(503, NO_STORE)
    return store


def _intake(table: str, write: _Write, mode: str = APPEND) -> tuple[Response, int]:
    """Validate the body as rows of ``table``, commit the valid ones with ``write``, answer (module docstring)."""
    store = _store()
    fmt = body_format(request.mimetype)
    if fmt is None:
        sent = request.mimetype or "none"
        abort(415, f"unsupported Content-Type {sent!r}: send one of {', '.join(MEDIA_TYPES)}")
    received = dt.datetime.now(dt.UTC)
    if_match = _if_match()
    if mode == REPLACE and if_match is None:
        abort(
            428,
            f"replacing {table} needs If-Match with the current version's ETag "
            f"(GET /api/tables/{table}); PATCH /api/{table} upserts per store without one",
        )
    body = read_limited(get_settings().max_intake_bytes, " (STOREMON_MAX_INTAKE_BYTES); send it in parts")
    name = f"{request.method} {request.path} ({fmt})"
    with client_body(name):
        try:
            not_after = received + FUTURE_TOLERANCE if table == "polls" else None
            loaded = read_body(table, fmt, body, name, not_after=not_after)
        except storemon.InputError as exc:
            abort(400, str(exc))
    if loaded.frame.is_empty():
        return _nothing_valid(table, fmt, loaded)
    try:
        if mode == UPSERT:
            result = _upsert(store, table, write, loaded, name, if_match)
        else:
            extra = {"if_version": if_match} if mode == REPLACE else {}
            result = write(
                store,
                loaded.frame,
                source=name,
                sha256=hashlib.sha256(body).hexdigest(),
                rows_read=loaded.rows_read,
                rejects=loaded.rejects,
                **extra,
            )
    except storemon.StaleVersionError as exc:
        return _stale(table, exc)
    except (storemon.StoreError, OSError) as exc:
        return _store_failed(store, exc)
    answer = _summary(table, fmt, result)
    if mode == APPEND:
        return jsonify(answer), 200 if result.skipped else 201
    version = result.ingest_id or result.duplicate_of or storemon.current_table(store, VERSIONED[table])[1]
    response = jsonify({**answer, "version": version})
    response.headers["ETag"] = _etag(version)
    return response, 200 if result.skipped else 201


def _stale(table: str, exc: storemon.StaleVersionError) -> tuple[Response, int]:
    response = json_error(
        412,
        f"{table} has changed: the current version is {exc.current}, not {exc.expected}; "
        f"GET /api/tables/{table} and try again",
    )
    response.headers["ETag"] = _etag(exc.current)
    return response, 412


def _store_failed(store: Path, exc: Exception) -> tuple[Response, int]:
    if is_disk_full(exc):
        current_app.logger.error("writing to %s failed, the disk is full: %s", store, exc)
        return json_error(507, DISK_FULL), 507
    current_app.logger.exception("writing to %s failed", store)
    return json_error(503, STORE_FAILED), 503


def _upsert(store: Path, table: str, write: _Write, loaded: Loaded, name: str, if_match: str | None) -> IngestResult:
    """Replace the rows of the body's stores in the current version; retry if it changes meanwhile."""
    stores = loaded.frame["store_id"].unique()
    for attempt in range(1, UPSERT_ATTEMPTS + 1):
        current, version = storemon.current_table(store, VERSIONED[table])
        if if_match is not None and version != if_match:
            raise storemon.StaleVersionError(VERSIONED[table], if_match, version)
        kept = current.filter(~pl.col("store_id").is_in(stores.implode()))
        merged = pl.concat([kept, loaded.frame]).sort("store_id", maintain_order=True)
        if merged.sort(merged.columns).equals(current.sort(current.columns)):
            return _unchanged(table, name, loaded, version)
        try:
            return write(
                store,
                merged,
                source=name,
                rows_read=loaded.rows_read,
                rejects=loaded.rejects,
                if_version=version,
            )
        except storemon.StaleVersionError:
            if if_match is not None or attempt == UPSERT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _unchanged(table: str, name: str, loaded: Loaded, version: str) -> IngestResult:
    """The answer of a PATCH whose rows are already the current ones: nothing is written."""
    return IngestResult(
        source=name,
        kind=table,
        sha256="",
        rows_read=loaded.rows_read,
        rows_accepted=loaded.frame.height,
        rows_rejected=loaded.rows_rejected,
        rejects=loaded.rejects,
        duplicate_of=version,
    )


def _if_match() -> str | None:
    """The version an ``If-Match`` header names (quotes removed), or None without one."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tag = header.strip()
    if tag.startswith('"') and tag.endswith('"') and len(tag) >= 2:
        tag = tag[1:-1]
    return tag


def _etag(version: str) -> str:
    return f'"{version}"'


def _text(value: object) -> object:
    """A table value as the files write it (times as HH:MM:SS[.ffffff], dates YYYY-MM-DD); others as they are."""
    if isinstance(value, (dt.time, dt.date)):
        return value.isoformat()
    return value


def _nothing_valid(table: str, fmt: str, loaded: Loaded) -> tuple[Response, int]:
    rows = loaded.rows_read
    message = "the body has no rows" if rows == 0 else f"no valid row: all {rows} rows were rejected"
    body = {
        "error": message,
        "table": table,
        "format": fmt,
        "rows": rows,
        "accepted": 0,
        "rejected": loaded.rows_rejected,
        "rejects": _rejects(loaded.rejects, fmt),
    }
    return jsonify(body), 400


def _summary(table: str, fmt: str, result: IngestResult) -> dict[str, Any]:
    return {
        "table": table,
        "format": fmt,
        "ingest_id": result.ingest_id,
        "duplicate_of": result.duplicate_of,
        "rows": result.rows_read,
        "accepted": result.rows_accepted,
        "rejected": result.rows_rejected,
        "rejects": _rejects(result.rejects, fmt),
    }


def _rejects(rejects: pl.DataFrame, fmt: str) -> list[dict[str, Any]]:
    """The rejects frame as JSON objects: ``line`` for CSV, ``index`` (the item's position) for JSON."""
    if rejects.is_empty():
        return []
    position = "line" if fmt == CSV else "index"
    return rejects.select(pl.col("line").alias(position), "column", "value", "reason").to_dicts()
