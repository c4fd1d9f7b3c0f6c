"""TEST FIXTURE: write a complete report's files the way the report job will.

The console renders what the job writes (``X.json`` with ``files``,
``timings`` and ``fleet``, and the Parquet files, sorted by store id with small
row groups). Until the job writes them itself, :func:`write_console_report`
produces the same layout with the library's own functions, so the console's
tests and benchmark have something real to render. It is a stand-in for the
job, not part of the service: the service computes nothing of this.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

import storemon

WEEK = timedelta(days=7)
MONTH = timedelta(days=30)
ROW_GROUP = 1000


def _write(frame: pl.DataFrame, path: Path) -> None:
    frame.sort("store_id", maintain_order=True).write_parquet(path, row_group_size=ROW_GROUP, statistics=True)


def write_console_report(
    reports_dir: Path,
    inputs: storemon.Inputs,
    now: datetime | None = None,
    *,
    report_id: str | None = None,
    horizon: timedelta = storemon.DEFAULT_HORIZON,
) -> dict[str, Any]:
    """Compute a report of ``inputs`` at ``now`` (default: latest poll); write its files + record; return the record."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    report_id = report_id or uuid.uuid4().hex
    now = storemon.resolve_now(inputs.polls, now)
    args = (inputs.polls, inputs.hours, inputs.timezones, now)
    common: dict[str, Any] = {"horizon": horizon, "special": inputs.special}
    timings: dict[str, float] = {}

    def timed(stage: str, fn: Any, *a: Any, **k: Any) -> pl.DataFrame:
        clock = time.perf_counter()
        result = fn(*a, **k)
        timings[stage] = round(time.perf_counter() - clock, 6)
        return result  # type: ignore[no-any-return]

    report = timed("report", storemon.compute_report, *args, **common)
    timeline = timed("timeline", storemon.timeline, *args, **common)
    incidents = timed("incidents", storemon.incidents, *args, **common)
    daily = timed("daily", storemon.daily, *args, start=now - MONTH, end=now, **common)
    polls = inputs.polls.filter((pl.col("timestamp_utc") >= now - WEEK) & (pl.col("timestamp_utc") <= now))
    zones = inputs.timezones.unique("store_id", keep="first").select("store_id", pl.col("timezone_str").alias("zone"))
    stores = (
        report.select("store_id")
        .join(zones, on="store_id", how="left")
        .with_columns(pl.col("zone").fill_null(storemon.DEFAULT_TIMEZONE))
    )
    files = {
        "csv": f"{report_id}.csv",
        "parquet": f"{report_id}.parquet",
        "timeline": f"{report_id}.timeline.parquet",
        "incidents": f"{report_id}.incidents.parquet",
        "daily": f"{report_id}.daily.parquet",
        "polls": f"{report_id}.polls.parquet",
        "stores": f"{report_id}.stores.parquet",
        "hours": f"{report_id}.hours.parquet",
        "special": f"{report_id}.special.parquet",
    }
    storemon.write_report(report, reports_dir / files["csv"])
    frames = {
        "parquet": report,
        "timeline": timeline,
        "incidents": incidents,
        "daily": daily,
        "polls": polls,
        "stores": stores,
        "hours": inputs.hours,
        "special": inputs.special,
    }
    for kind, frame in frames.items():
        _write(frame, reports_dir / files[kind])
    record = {
        "report_id": report_id,
        "status": "Complete",
        "params": {"now": now.isoformat(), "horizon_hours": horizon / timedelta(hours=1)},
        "now": now.isoformat(),
        "created": datetime.now(UTC).isoformat(),
        "started": datetime.now(UTC).isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "duration_s": round(sum(timings.values()), 6),
        "rows": report.height,
        "rejects": inputs.rejects.unique(["file", "line"]).height,
        "requested_by": "fixture",
        "files": files,
        "timings": timings,
        "fleet": _fleet(report, timeline, daily, now),
    }
    (reports_dir / f"{report_id}.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def _fleet(report: pl.DataFrame, timeline: pl.DataFrame, daily: pl.DataFrame, now: datetime) -> dict[str, Any]:
    def pct(window: str) -> float | None:
        up, down = report[f"uptime_last_{window}"].sum(), report[f"downtime_last_{window}"].sum()
        return None if up + down == 0 else 100 * up / (up + down)

    at_now = timeline.filter(pl.col("end") == now)
    down_now = at_now.filter(pl.col("business") & (pl.col("status") != "active"))["store_id"].to_list()
    top = report.sort(["downtime_last_week", "store_id"], descending=[True, False]).head(20)
    days = (
        daily.group_by("date")
        .agg(pl.col("business_hours").sum(), pl.col("uptime_hours").sum())
        .sort("date")
        .with_columns(
            pl.when(pl.col("business_hours") > 0)
            .then(pl.col("uptime_hours") / pl.col("business_hours"))
            .otherwise(None)
            .alias("uptime_ratio")
        )
    )
    return {
        "stores": report.height,
        "uptime_pct": {"hour": pct("hour"), "day": pct("day"), "week": pct("week")},
        "down_now": sorted(down_now),
        "top_downtime": top.select("store_id", "downtime_last_week", "uptime_last_week").to_dicts(),
        "daily": [{**d, "date": d["date"].isoformat()} for d in days.to_dicts()],
    }
