"""The API described as an OpenAPI 3.1 document, served at ``GET /api/openapi.json``.

The document is public (no token): it describes the API, it holds no data,
and clients need it before they have a token. It is a plain dict built here
(no framework generates it); ``tests/test_openapi.py`` runs schemathesis
against the app with it, so a response the document does not describe fails
the suite.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from storemon import REPORT_COLUMNS
from webapp.limits import TRIGGER_BODY_BYTES
from webapp.params import MAX_SHARDS

__all__ = ["bp", "document", "init_app"]

bp = Blueprint("openapi", __name__)

_JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {_JSON: {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return _json(_ERROR, description, headers)


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_WWW_AUTHENTICATE = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}

_UNAUTHORIZED = _error("no token, or not a configured one", _WWW_AUTHENTICATE)
_FORBIDDEN = _error("the token's role is too low for this operation", _WWW_AUTHENTICATE)
_REDIS_DOWN = _error("the job queue (Redis) is unreachable", _RETRY_AFTER)
_DISK_FULL = _error("the service's disk is full; nothing was stored")
_INTERNAL = _error("unexpected error (details in the service log)")


def _trigger(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": (
            "Queues a report and answers its id at once. The report's record is on disk before the 202, "
            f"so the id is never unknown later. Role: write. Body at most {TRIGGER_BODY_BYTES} bytes."
        ),
        "security": [{"bearer": ["write"]}],
        "requestBody": {
            "required": False,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/TriggerBody"}}},
        },
        "responses": {
            "202": _json(
                {"$ref": "#/components/schemas/Queued"},
                "queued",
                {"Location": {"description": "where to fetch the report", "schema": {"type": "string"}}},
            ),
            "400": _error(
                "the body is not a JSON object of the known fields, or a field is bad (named), or shards > 1 "
                "without a data store"
            ),
            "401": _UNAUTHORIZED,
            "403": _FORBIDDEN,
            "413": _error(f"the body is larger than {TRIGGER_BODY_BYTES} bytes"),
            "429": _error("too many reports are waiting (STOREMON_MAX_QUEUED)", _RETRY_AFTER),
            "500": _INTERNAL,
            "503": _REDIS_DOWN,
            "507": _DISK_FULL,
        },
    }


_REPORT_RESPONSES: dict[str, Any] = {
    "200": {
        "description": (
            "complete: the CSV (columns store_id, " + ", ".join(REPORT_COLUMNS) + "; 2 decimals); "
            "queued or running, or failed: the status as JSON"
        ),
        "headers": {
            "X-Report-Status": {"description": "Complete, with the CSV", "schema": {"type": "string"}},
            "X-Report-Now": {"description": "the instant the figures are for", "schema": {"type": "string"}},
            "Content-Disposition": {"description": "attachment; filename=…", "schema": {"type": "string"}},
        },
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            _JSON: {"schema": {"$ref": "#/components/schemas/ReportStatus"}},
        },
    },
    "401": _UNAUTHORIZED,
    "403": _FORBIDDEN,
    "404": _error("no such report (or not a report id: 32 lowercase hex digits)"),
    "500": _INTERNAL,
    "503": _REDIS_DOWN,
}


_ETAG = {"ETag": {"description": "the table's new current version", "schema": {"type": "string"}}}

_REPORT_ID = {"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}}
_NOT_COMPLETE = _error("no such report, or not (yet) complete, or made without this file")
_INSTANT = {"type": "string", "description": "ISO 8601 UTC, e.g. 2024-01-03T16:44:30Z"}
_VIEW_ROWS: dict[str, dict[str, Any]] = {
    "incidents": {
        "store_id": {"type": "string"},
        "start": _INSTANT,
        "end": _INSTANT,
        "minutes": {"type": "number"},
        "inactive_minutes": {"type": "number"},
        "unknown_minutes": {"type": "number"},
    },
    "daily": {
        "store_id": {"type": "string"},
        "date": {"type": "string", "description": "local date YYYY-MM-DD"},
        "business_hours": {"type": "number"},
        "uptime_hours": {"type": "number"},
        "downtime_hours": {"type": "number"},
        "uptime_ratio": {"type": ["number", "null"]},
    },
    "timeline": {
        "store_id": {"type": "string"},
        "start": _INSTANT,
        "end": _INSTANT,
        "business": {"type": "boolean"},
        "status": {"type": "string", "enum": ["active", "inactive", "unknown"]},
    },
}
_VIEW_SUMMARIES = {
    "incidents": "A complete report's incidents over its week",
    "daily": "A complete report's daily series over the 30 days before its now",
    "timeline": "A complete report's status timeline over its week",
}


def _view(kind: str) -> dict[str, Any]:
    row = {"type": "object", "required": list(_VIEW_ROWS[kind]), "properties": _VIEW_ROWS[kind]}
    page = {
        "type": "object",
        "required": ["rows", "total", "offset", "limit"],
        "properties": {
            "rows": {"type": "array", "items": row},
            "total": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 10_000},
        },
    }
    query = [
        {
            "name": "store_id",
            "in": "query",
            "required": False,
            "description": "only these stores (repeatable)",
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
        },
        {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
            "description": "default 1000",
        },
        {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "csv"]}},
    ]
    return {
        "get": {
            "operationId": f"getReport{kind.capitalize()}",
            "summary": _VIEW_SUMMARIES[kind],
            "description": "JSON page, or CSV with ?format=csv or Accept: text/csv (the same page). Role: read.",
            "security": [{"bearer": ["read"]}],
            "parameters": [_REPORT_ID, *query],
            "responses": {
                "200": {
                    "description": "one page of rows (total: the rows that match the filter)",
                    "headers": {
                        "X-Total-Count": {"description": "CSV: the rows that match", "schema": {"type": "string"}},
                        "Content-Disposition": {"description": "CSV: attachment", "schema": {"type": "string"}},
                    },
                    "content": {_JSON: {"schema": page}, "text/csv": {"schema": {"type": "string"}}},
                },
                "400": _error("a bad offset, limit or format"),
                "401": _UNAUTHORIZED,
                "403": _FORBIDDEN,
                "404": _NOT_COMPLETE,
                "500": _INTERNAL,
            },
        }
    }


def _download(kind: str, media_type: str, summary: str) -> dict[str, Any]:
    return {
        "get": {
            "operationId": f"getReport{kind}",
            "summary": summary,
            "security": [{"bearer": ["read"]}],
            "parameters": [_REPORT_ID],
            "responses": {
                "200": {
                    "description": "the exact report (unrounded figures)",
                    "headers": {"Content-Disposition": {"description": "attachment", "schema": {"type": "string"}}},
                    "content": {media_type: {"schema": {"type": "string"}}},
                },
                "401": _UNAUTHORIZED,
                "403": _FORBIDDEN,
                "404": _NOT_COMPLETE,
                "500": _INTERNAL,
            },
        }
    }


def _intake(operation_id: str, summary: str, table: str, role: str, mode: str = "append") -> dict[str, Any]:
    row = {"$ref": f"#/components/schemas/{table}Row"}
    versioned = mode != "append"
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": (
            "CSV (the files' columns), a JSON array of objects, or one JSON object per line (the items of "
            "the array schema, each on a line). 201 once the "
            "valid rows are durably in the data store; 200 when this exact body was already ingested. "
            f"Role: {role}. Body at most STOREMON_MAX_INTAKE_BYTES (16 MiB by default)."
        ),
        "security": [{"bearer": [role]}],
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                _JSON: {"schema": {"type": "array", "items": row}},
                "application/x-ndjson": {"schema": {"type": "array", "items": row}},
            },
        },
        "responses": {
            "200": _json(
                {"$ref": "#/components/schemas/IntakeResult"},
                "already ingested: nothing changed",
                _ETAG if versioned else None,
            ),
            "201": _json({"$ref": "#/components/schemas/IntakeResult"}, "stored", _ETAG if versioned else None),
            "400": _json(
                {"anyOf": [{"$ref": "#/components/schemas/IntakeRejected"}, _ERROR]},
                "unreadable body, or no valid row (then with the counts and every reject)",
            ),
            "401": _UNAUTHORIZED,
            "403": _FORBIDDEN,
            "413": _error("the body is larger than STOREMON_MAX_INTAKE_BYTES"),
            "415": _error("another Content-Type"),
            "500": _INTERNAL,
            "503": _error("no data store is configured, or it cannot be written"),
            "507": _DISK_FULL,
        },
    }
    if versioned:
        operation["parameters"] = [
            {
                "name": "If-Match",
                "in": "header",
                "required": mode == "replace",
                "description": "the ETag of the version to replace (GET /api/tables/{name})",
                "schema": {"type": "string"},
            }
        ]
        operation["responses"]["412"] = _error("the table has another current version (its ETag is sent)", _ETAG)
        if mode == "replace":
            operation["responses"]["428"] = _error("If-Match is missing")
    return operation


_SCALAR = {"type": ["string", "number", "null"]}
_REJECT = {
    "type": "object",
    "required": ["column", "value", "reason"],
    "properties": {
        "line": {"type": "integer", "description": "CSV: the line, the header being line 1"},
        "index": {"type": "integer", "description": "JSON: the item's position, from 1"},
        "column": {"type": "string"},
        "value": {"type": ["string", "null"]},
        "reason": {"type": "string"},
    },
}
_COUNTS = {
    "table": {"type": "string", "enum": ["polls", "hours", "timezones", "special_hours"]},
    "format": {"type": "string", "enum": ["CSV", "JSON", "JSON lines"]},
    "rows": {"type": "integer", "minimum": 0},
    "accepted": {"type": "integer", "minimum": 0},
    "rejected": {"type": "integer", "minimum": 0},
    "rejects": {"type": "array", "items": _REJECT},
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the whole API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "storemon report service",
            "version": "1",
            "description": (
                "Store-uptime reports over business hours: trigger a report, fetch it, send new data. "
                "Every operation except the health check and this document needs Authorization: Bearer "
                '<token>; roles read < write < admin. Errors are JSON {"error": …}.'
            ),
        },
        "paths": {
            "/api/trigger_report/": {"post": _trigger("triggerReport", "Queue a report")},
            "/trigger_report": {"post": _trigger("triggerReportCompat", "Queue a report (original task path)")},
            "/api/get_report/{report_id}/": {
                "get": {
                    "operationId": "getReport",
                    "summary": "A report: its CSV, or its status",
                    "security": [{"bearer": ["read"]}],
                    "parameters": [{"name": "report_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": _REPORT_RESPONSES,
                }
            },
            "/get_report": {
                "get": {
                    "operationId": "getReportCompat",
                    "summary": "A report by ?report_id= (original task path)",
                    "security": [{"bearer": ["read"]}],
                    "parameters": [
                        {"name": "report_id", "in": "query", "required": False, "schema": {"type": "string"}}
                    ],
                    "responses": {**_REPORT_RESPONSES, "400": _error("the report_id parameter is missing")},
                }
            },
            "/api/polls": {"post": _intake("postPolls", "Append status polls", "Poll", "write")},
            "/api/hours": {
                "put": _intake("putHours", "Replace the business hours", "Hours", "admin", "replace"),
                "patch": _intake("patchHours", "Upsert business hours per store", "Hours", "write", "upsert"),
            },
            "/api/timezones": {
                "put": _intake("putTimezones", "Replace the time zones", "Timezone", "admin", "replace"),
                "patch": _intake("patchTimezones", "Upsert time zones per store", "Timezone", "write", "upsert"),
            },
            "/api/special_hours": {
                "put": _intake("putSpecialHours", "Replace the special hours", "SpecialHours", "admin", "replace"),
                "patch": _intake(
                    "patchSpecialHours", "Upsert special hours per store", "SpecialHours", "write", "upsert"
                ),
            },
            "/api/get_report/{report_id}/incidents": _view("incidents"),
            "/api/get_report/{report_id}/daily": _view("daily"),
            "/api/get_report/{report_id}/timeline": _view("timeline"),
            "/api/get_report/{report_id}/report.parquet": _download(
                "Parquet", "application/vnd.apache.parquet", "The exact report as Parquet"
            ),
            "/api/get_report/{report_id}/report.jsonl": _download(
                "JsonLines", "application/x-ndjson", "The exact report as JSON lines"
            ),
            "/api/tables/{name}/versions": {
                "get": {
                    "operationId": "getTableVersions",
                    "summary": "Every version of a table, newest first",
                    "security": [{"bearer": ["admin"]}],
                    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/TableVersions"}, "the versions"),
                        "401": _UNAUTHORIZED,
                        "403": _FORBIDDEN,
                        "404": _error("no such table"),
                        "500": _INTERNAL,
                        "503": _error("no data store is configured"),
                    },
                }
            },
            "/api/tables/{name}/versions/{version}/restore": {
                "post": {
                    "operationId": "restoreTableVersion",
                    "summary": "Make an earlier version current again (as a new version)",
                    "security": [{"bearer": ["admin"]}],
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Restored"}, "already the current content", _ETAG),
                        "201": _json({"$ref": "#/components/schemas/Restored"}, "restored", _ETAG),
                        "401": _UNAUTHORIZED,
                        "403": _FORBIDDEN,
                        "404": _error("no such table or version"),
                        "409": _error("the version is gone (written before versions were kept)"),
                        "412": _error("If-Match names another version than the current one", _ETAG),
                        "500": _INTERNAL,
                        "503": _error("no data store is configured, or it cannot be written"),
                        "507": _DISK_FULL,
                    },
                }
            },
            "/api/tables/{name}": {
                "get": {
                    "operationId": "getTable",
                    "summary": "The current version of a table (hours, timezones, special_hours) and its ETag",
                    "security": [{"bearer": ["read"]}],
                    "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Table"}, "the current version", _ETAG),
                        "401": _UNAUTHORIZED,
                        "403": _FORBIDDEN,
                        "404": _error("no such table"),
                        "500": _INTERNAL,
                        "503": _error("no data store is configured"),
                    },
                }
            },
            "/api/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Whether Redis, a live worker and the data are there (public)",
                    "security": [],
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Health"}, "healthy"),
                        "503": _json({"$ref": "#/components/schemas/Health"}, "a check failed"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document (public)",
                    "security": [],
                    "responses": {"200": _json({"type": "object"}, "the OpenAPI document")},
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "TriggerBody": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "now": {
                            "type": ["string", "null"],
                            "description": "an instant in [1970-01-01, 2200-01-01) UTC, e.g. 2024-10-14T12:00:00Z "
                            "or 2024-10-14 12:00:00 UTC; null or absent: the latest poll",
                        },
                        "horizon_hours": {"type": "number", "minimum": 0, "description": "default 192"},
                        "horizon_active_hours": {
                            "type": ["number", "null"],
                            "minimum": 0,
                            "description": "the horizon of an active poll; null or absent: horizon_hours",
                        },
                        "horizon_inactive_hours": {
                            "type": ["number", "null"],
                            "minimum": 0,
                            "description": "the horizon of an inactive poll; null or absent: horizon_hours",
                        },
                        "shards": {
                            "type": ["integer", "null"],
                            "minimum": 1,
                            "maximum": MAX_SHARDS,
                            "description": "shard jobs the report runs as (a data store only, above 1); null or "
                            "absent: ceil(stores / STOREMON_SHARD_STORES); 1: one job. The result is the same",
                        },
                    },
                },
                "Queued": {
                    "type": "object",
                    "required": ["report_id"],
                    "properties": {"report_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
                },
                "ReportStatus": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["status", "progress"],
                            "properties": {
                                "status": {"const": "Running"},
                                "progress": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                            },
                        },
                        {
                            "type": "object",
                            "required": ["status", "error"],
                            "properties": {"status": {"const": "Failed"}, "error": {"type": ["string", "null"]}},
                        },
                    ]
                },
                "PollRow": {
                    "type": "object",
                    "required": ["store_id", "timestamp_utc", "status"],
                    "properties": {"store_id": _SCALAR, "timestamp_utc": _SCALAR, "status": _SCALAR},
                },
                "HoursRow": {
                    "type": "object",
                    "required": ["store_id", "dayOfWeek", "start_time_local", "end_time_local"],
                    "properties": {
                        "store_id": _SCALAR,
                        "dayOfWeek": _SCALAR,
                        "start_time_local": _SCALAR,
                        "end_time_local": _SCALAR,
                    },
                },
                "SpecialHoursRow": {
                    "type": "object",
                    "required": ["store_id", "date_local", "start_time_local", "end_time_local"],
                    "properties": {
                        "store_id": _SCALAR,
                        "date_local": _SCALAR,
                        "start_time_local": _SCALAR,
                        "end_time_local": _SCALAR,
                    },
                },
                "TimezoneRow": {
                    "type": "object",
                    "required": ["store_id", "timezone_str"],
                    "properties": {"store_id": _SCALAR, "timezone_str": _SCALAR},
                },
                "IntakeResult": {
                    "type": "object",
                    "required": ["table", "format", "ingest_id", "duplicate_of", "rows", "accepted", "rejected"],
                    "properties": {
                        **_COUNTS,
                        "ingest_id": {"type": ["string", "null"]},
                        "duplicate_of": {"type": ["string", "null"]},
                    },
                },
                "IntakeRejected": {
                    "type": "object",
                    "required": ["error", "table", "format", "rows", "accepted", "rejected", "rejects"],
                    "properties": {"error": {"type": "string"}, **_COUNTS},
                },
                "Table": {
                    "type": "object",
                    "required": ["table", "version", "rows"],
                    "properties": {
                        "table": {"type": "string", "enum": ["hours", "timezones", "special_hours"]},
                        "version": {"type": "string"},
                        "rows": {"type": "array", "items": {"type": "object"}},
                    },
                },
                "TableVersions": {
                    "type": "object",
                    "required": ["table", "versions"],
                    "properties": {
                        "table": {"type": "string"},
                        "versions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["version", "committed_at", "source", "rows", "current", "restorable"],
                                "properties": {
                                    "version": {"type": "string"},
                                    "committed_at": {"type": "string"},
                                    "source": {"type": "string"},
                                    "rows": {"type": "integer", "minimum": 0},
                                    "current": {"type": "boolean"},
                                    "restorable": {"type": "boolean"},
                                },
                            },
                        },
                    },
                },
                "Restored": {
                    "type": "object",
                    "required": ["table", "restored", "version"],
                    "properties": {
                        "table": {"type": "string"},
                        "restored": {"type": "string"},
                        "version": {"type": "string"},
                        "duplicate_of": {"type": ["string", "null"]},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "redis", "workers", "data", "queue"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "unavailable"]},
                        "redis": {"type": "boolean"},
                        "workers": {"type": "integer", "minimum": 0},
                        "data": {"type": "boolean"},
                        "queue": {"type": "string"},
                    },
                },
            },
        },
    }


def init_app(app: Flask) -> None:
    """Serve the document at ``GET /api/openapi.json``."""
    app.register_blueprint(bp)


@bp.get("/api/openapi.json")
def openapi() -> Response:
    """The OpenAPI document (public: it describes the API and holds no data)."""
    return jsonify(document())
