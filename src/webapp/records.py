"""The reports directory: each report's files and its JSON record.

For a report id ``ID`` the directory holds ``ID.json``, the record, and,
once complete, the files of :data:`REPORT_FILES`: ``ID.csv`` (the report,
rounded), ``ID.parquet`` (the exact report), ``ID.timeline.parquet``,
``ID.incidents.parquet`` (the week before ``now``), ``ID.daily.parquet`` (the
30 days before ``now``), ``ID.polls.parquet`` (the polls of the week the
timeline used), ``ID.stores.parquet`` (``store_id``, ``zone``),
``ID.hours.parquet`` and ``ID.special.parquet`` (the rows the report used).
The job writes them in that order and the record last: a ``Complete``
record means every file is there. The web app writes a ``Queued`` record before it
answers 202, so a report id handed out is never unknown later, whatever
happens to Redis; the worker replaces it with the final record (``Complete``
or ``Failed``), written last: a final record is what makes a report
finished, whatever Redis says or has forgotten. Both files are written through
:func:`storemon.atomic_path`, so a reader never sees half of either.

A record is a JSON object::

    {"report_id": "…", "status": "Queued" | "Complete" | "Failed",
     "parameters": {"now": "<ISO>" | null, "horizon_hours": 192.0},
     "source": {"data_dir": "…"} or {"store": "…"},
     "now": "<ISO instant the figures are for>" | null,
     "created": "<ISO>", "started": "<ISO>" | null, "finished": "<ISO>",
     "duration_seconds": 0.42 | null, "rows": 50 | null, "rejects": 3 | null,
     "files": {"csv": "ID.csv", "parquet": "ID.parquet", "timeline": "ID.timeline.parquet", …} (Complete only),
     "timings": {"<stage>": seconds} (Complete only), "fleet": {…} (Complete only: storemon.fleet_summary),
     "error": "<for a person>" (Failed only),
     "requested_by": "write:1a2b3c4d" | null (the token's role and fingerprint),
     "job": {…} (Queued only: what re-queues the job if Redis loses it), "requeued": 0,
     "plan": {…} (Queued only, a sharded report once planned: pin token, now, shards, job ids; webapp.shards),
     "shards": {"count": N, "snapshot_seq": …, "per_shard": [{"index", "rows", "seconds", "worker",
                "bytes_read", "peak_rss_mib", "timings"}, …], "inputs": {…}} (a sharded report only)}
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storemon import atomic_path

__all__ = [
    "COMPLETE",
    "FAILED",
    "RUNNING",
    "QUEUED",
    "is_final",
    "new_report_id",
    "is_report_id",
    "csv_path",
    "REPORT_FILES",
    "report_file",
    "report_files",
    "record_path",
    "read_record",
    "write_record",
    "utc_now_iso",
]

COMPLETE = "Complete"
FAILED = "Failed"
RUNNING = "Running"
QUEUED = "Queued"

_REPORT_ID = re.compile(r"[0-9a-f]{32}")


def new_report_id() -> str:
    """A fresh, unguessable report id: 32 lowercase hex digits (uuid4)."""
    return uuid.uuid4().hex


def is_report_id(text: str) -> bool:
    """Whether ``text`` has the exact shape of a report id (so it is safe in a path)."""
    return bool(_REPORT_ID.fullmatch(text))


def csv_path(reports_dir: Path, report_id: str) -> Path:
    """Where the report's CSV lives."""
    return Path(reports_dir) / f"{_checked(report_id)}.csv"


#: The files of a complete report, in the order the job writes them: kind → name suffix after the id.
REPORT_FILES: dict[str, str] = {
    "csv": ".csv",
    "parquet": ".parquet",
    "timeline": ".timeline.parquet",
    "incidents": ".incidents.parquet",
    "daily": ".daily.parquet",
    "polls": ".polls.parquet",
    "stores": ".stores.parquet",
    "hours": ".hours.parquet",
    "special": ".special.parquet",
}


def report_file(reports_dir: Path, report_id: str, kind: str) -> Path:
    """Where the report's file of ``kind`` (a key of :data:`REPORT_FILES`) lives."""
    return Path(reports_dir) / f"{_checked(report_id)}{REPORT_FILES[kind]}"


def report_files(report_id: str) -> dict[str, str]:
    """The record's ``files``: each kind's file name, relative to the reports directory."""
    return {kind: f"{_checked(report_id)}{suffix}" for kind, suffix in REPORT_FILES.items()}


def record_path(reports_dir: Path, report_id: str) -> Path:
    """Where the report's JSON record lives."""
    return Path(reports_dir) / f"{_checked(report_id)}.json"


def read_record(reports_dir: Path, report_id: str) -> dict[str, Any] | None:
    """The report's record, or ``None`` when it has not finished (or never existed)."""
    try:
        text = record_path(reports_dir, report_id).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError(f"report record {report_id} is not a JSON object")
    return record


def write_record(reports_dir: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` as ``<report_id>.json`` atomically; return its path."""
    path = record_path(reports_dir, record["report_id"])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def is_final(record: dict[str, Any] | None) -> bool:
    """Whether ``record`` is a finished report's (Complete or Failed), not a Queued one's."""
    return record is not None and record.get("status") in (COMPLETE, FAILED)


def utc_now_iso() -> str:
    """The wall-clock time as an ISO 8601 UTC string (for created/finished stamps)."""
    return datetime.now(UTC).isoformat()


def _checked(report_id: str) -> str:
    if not is_report_id(report_id):
        raise ValueError(f"not a report id: {report_id!r}")
    return report_id
