"""What the console reads: report records and the files a complete report comes with.

Nothing here computes a figure: the job wrote them (:mod:`webapp.jobs`). This
module lists records, finds a report's files by the names its record gives
(``record["files"]``), and reads one page of the report table or one store's
rows, lazily, with Polars (``scan_parquet`` + filter/sort/slice, so a
37,000-store report is never read whole). The uptime percentages next to the
figures are display formatting of two columns of the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from storemon import REPORT_COLUMNS
from webapp.records import COMPLETE, csv_path, is_report_id, read_record

__all__ = [
    "FIGURES",
    "PERCENTAGES",
    "SORTABLE",
    "FILE_KINDS",
    "Page",
    "StoreDetail",
    "list_records",
    "complete_record",
    "report_file",
    "report_page",
    "store_detail",
    "json_lines",
]

#: The six figures of a report, as the Parquet file names them.
FIGURES: tuple[str, ...] = REPORT_COLUMNS

#: Display columns: uptime / (uptime + downtime) per window, in percent.
PERCENTAGES: dict[str, tuple[str, str]] = {
    "uptime_pct_hour": ("uptime_last_hour", "downtime_last_hour"),
    "uptime_pct_day": ("uptime_last_day", "downtime_last_day"),
    "uptime_pct_week": ("uptime_last_week", "downtime_last_week"),
}

#: Columns the report table may be sorted by.
SORTABLE: tuple[str, ...] = ("store_id", *FIGURES, *PERCENTAGES)

#: The files of a complete report (keys of ``record["files"]``) and their media types.
FILE_KINDS: dict[str, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "timeline": "application/vnd.apache.parquet",
    "incidents": "application/vnd.apache.parquet",
    "daily": "application/vnd.apache.parquet",
    "polls": "application/vnd.apache.parquet",
    "stores": "application/vnd.apache.parquet",
    "hours": "application/vnd.apache.parquet",
    "special": "application/vnd.apache.parquet",
}


def list_records(reports_dir: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Every report record in ``reports_dir``, newest (``created``) first; unreadable ones are left out."""
    records: list[dict[str, Any]] = []
    for path in Path(reports_dir).glob("*.json"):
        if not is_report_id(path.stem):
            continue
        try:
            record = read_record(reports_dir, path.stem)
        except (OSError, ValueError):  # pruned or being replaced meanwhile
            continue
        if record is not None:
            records.append(record)
    records.sort(key=lambda r: str(r.get("created") or ""), reverse=True)
    return records[:limit] if limit is not None else records


def complete_record(reports_dir: Path, report_id: str) -> dict[str, Any] | None:
    """The record of ``report_id`` if it is a complete report, else ``None``."""
    if not is_report_id(report_id):
        return None
    try:
        record = read_record(reports_dir, report_id)
    except (OSError, ValueError):
        return None
    if record is None or record.get("status") != COMPLETE:
        return None
    return record


def report_file(reports_dir: Path, record: dict[str, Any], kind: str) -> Path | None:
    """The file of ``kind`` (:data:`FILE_KINDS`) the record names, if it is there.

    Only plain names inside ``reports_dir`` are followed; a record without
    ``files`` (written before reports had them) still has its CSV.
    """
    files = record.get("files")
    name = files.get(kind) if isinstance(files, dict) else None
    if kind not in FILE_KINDS:
        return None
    if name is None:
        path = csv_path(reports_dir, str(record["report_id"])) if kind == "csv" else None
    elif not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        return None
    else:
        path = Path(reports_dir) / name
    return path if path is not None and path.is_file() else None


@dataclass(frozen=True)
class Page:
    """One page of the report table."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    per_page: int


def _with_percentages(frame: pl.LazyFrame) -> pl.LazyFrame:
    columns = []
    for name, (up, down) in PERCENTAGES.items():
        business = pl.col(up) + pl.col(down)
        columns.append(pl.when(business > 0).then(pl.col(up) / business * 100).otherwise(None).alias(name))
    return frame.with_columns(columns)


def report_page(
    path: Path, *, search: str = "", sort: str = "store_id", descending: bool = False, page: int = 1, per_page: int = 50
) -> Page:
    """Rows ``(page-1)*per_page …`` of the report in ``path``, sorted and filtered by store-id substring.

    ``page`` beyond the last one gives no rows (the caller answers 404);
    ties and empty percentages (no business time) sort by store id, empty last.
    """
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}")
    frame = pl.scan_parquet(path)
    if search:
        frame = frame.filter(pl.col("store_id").str.contains(search, literal=True))
    total = int(frame.select(pl.len()).collect().item())
    pages = max(1, math.ceil(total / per_page))
    by = [sort] if sort == "store_id" else [sort, "store_id"]
    rows = (
        _with_percentages(frame)
        .sort(by, descending=[descending, False][: len(by)], nulls_last=True)
        .slice((page - 1) * per_page, per_page)
        .collect()
        .to_dicts()
    )
    return Page(rows=rows, total=total, page=page, pages=pages, per_page=per_page)


@dataclass(frozen=True)
class StoreDetail:
    """One store's rows of every file of a report (``None``: the report has no such file)."""

    store_id: str
    figures: dict[str, Any]
    zone: str | None
    hours: pl.DataFrame | None
    special: pl.DataFrame | None
    timeline: pl.DataFrame | None
    polls: pl.DataFrame | None
    incidents: pl.DataFrame | None
    daily: pl.DataFrame | None


def _store_rows(path: Path | None, store_id: str) -> pl.DataFrame | None:
    if path is None:
        return None
    return pl.scan_parquet(path).filter(pl.col("store_id") == store_id).collect()


def store_detail(reports_dir: Path, record: dict[str, Any], store_id: str) -> StoreDetail | None:
    """``store_id``'s figures and rows in the report of ``record``, or ``None`` if the report has no such store."""
    report = report_file(reports_dir, record, "parquet")
    if report is None:
        return None
    figures = _with_percentages(pl.scan_parquet(report).filter(pl.col("store_id") == store_id)).collect()
    if figures.is_empty():
        return None

    def rows(kind: str) -> pl.DataFrame | None:
        return _store_rows(report_file(reports_dir, record, kind), store_id)

    stores = rows("stores")
    zone = str(stores["zone"][0]) if stores is not None and not stores.is_empty() and stores["zone"][0] else None
    hours = rows("hours")
    if hours is not None:
        hours = hours.sort("dayOfWeek", "start_time_local")
    special = rows("special")
    if special is not None:
        special = special.sort("date_local", "start_time_local", nulls_last=True)
    return StoreDetail(
        store_id=store_id,
        figures=figures.row(0, named=True),
        zone=zone,
        hours=hours,
        special=special,
        timeline=_sorted(rows("timeline"), "start"),
        polls=_sorted(rows("polls"), "timestamp_utc"),
        incidents=_sorted(rows("incidents"), "start"),
        daily=_sorted(rows("daily"), "date"),
    )


def _sorted(frame: pl.DataFrame | None, column: str) -> pl.DataFrame | None:
    return frame.sort(column) if frame is not None else None


def json_lines(path: Path) -> str:
    """The report in ``path`` (Parquet) as JSON lines, one store per line."""
    return pl.read_parquet(path).write_ndjson()
