"""A report's views in the service: the files the job writes, the record, and the endpoints serving them.

A real redis-server and an in-process RQ worker (``run_jobs``); the data is
``examples/special`` (the README's data set: a bakery down 15:00-19:00 UTC on
2024-12-26, a kiosk down 03:00-09:00 UTC on 2024-12-27, now = the latest poll,
2024-12-27 20:00 UTC), so the expected figures are the README's.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import storemon
from conftest import TOKENS, TOKENS_ENV, run_jobs
from webapp import create_app
from webapp.api import MAX_LIMIT
from webapp.records import REPORT_FILES

pytestmark = pytest.mark.service

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "special"
NOW = datetime(2024, 12, 27, 20, tzinfo=UTC)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / "data"))


@pytest.fixture
def app_config(app_config: dict[str, object], data_dir: Path) -> dict[str, object]:
    """Apps reading this file's data directory."""
    return {**app_config, "STOREMON_DATA_DIR": str(data_dir)}


@pytest.fixture
def client(app):
    return app.test_client(token=TOKENS["write"])


def complete_report(app, client, **body: object) -> str:
    response = client.post("/api/trigger_report/", json=body or None)
    assert response.status_code == 202, response.get_data(as_text=True)
    run_jobs(app)
    return str(response.get_json()["report_id"])


def test_the_job_writes_every_file_sorted_and_exact(app, client, data_dir: Path, reports_dir: Path):
    report_id = complete_report(app, client)
    record = json.loads((reports_dir / f"{report_id}.json").read_text())
    assert record["status"] == "Complete"
    assert record["files"] == {kind: f"{report_id}{suffix}" for kind, suffix in REPORT_FILES.items()}
    read = {kind: pl.read_parquet(reports_dir / name) for kind, name in record["files"].items() if kind != "csv"}

    inputs = storemon.load_dir(data_dir)
    args = (inputs.polls, inputs.hours, inputs.timezones, NOW)
    assert_frame_equal(read["parquet"], storemon.compute_report(*args, special=inputs.special))
    assert_frame_equal(read["timeline"], storemon.timeline(*args, special=inputs.special))
    assert_frame_equal(read["incidents"], storemon.incidents(*args, special=inputs.special))
    daily = storemon.daily(*args, special=inputs.special, start=NOW - timedelta(days=30))
    assert_frame_equal(read["daily"], daily)
    assert read["daily"]["date"].min().isoformat() == "2024-11-27"  # 30 days back, local dates
    # The README's incidents, and the week's polls (8 days × 4 per store, minus those before now − 168 h).
    assert read["incidents"].select("store_id", "minutes").rows() == [("bakery", 240.0), ("kiosk", 360.0)]
    week = inputs.polls.filter(pl.col("timestamp_utc") >= NOW - timedelta(hours=168))
    assert read["polls"].height == week.height and read["polls"].columns == ["store_id", "timestamp_utc", "status"]
    # kiosk has no zone row: the default zone.
    assert read["stores"].rows() == [("bakery", "America/New_York"), ("kiosk", "America/Chicago")]
    assert read["hours"].height == 7 and read["special"].height == 3
    for kind, frame in read.items():
        key = [c for c in ("store_id", "start", "date", "timestamp_utc") if c in frame.columns]
        assert frame.equals(frame.sort(key, maintain_order=True)), kind
    # One store's rows, as the console reads them.
    one = pl.scan_parquet(reports_dir / record["files"]["timeline"]).filter(pl.col("store_id") == "kiosk").collect()
    assert set(one["store_id"]) == {"kiosk"}

    fleet = record["fleet"]
    assert fleet["stores"] == 2 and fleet["down_now"] == []
    # Week: up 40 + 138 of business 44 + 144 hours.
    assert fleet["uptime_pct"]["week"] == pytest.approx(178 / 188 * 100)
    assert [row["store_id"] for row in fleet["top_downtime"]] == ["kiosk", "bakery"]
    christmas = next(day for day in fleet["daily"] if day["date"] == "2024-12-25")
    assert christmas["business_hours"] == 0 and christmas["uptime_ratio"] is None
    assert set(record["timings"]) >= {"load", "report", "timeline", "incidents", "daily", "fleet"} | {
        f"write_{kind}" for kind in REPORT_FILES
    }


def test_the_views_endpoints_filter_page_and_speak_csv(app, client):
    report_id = complete_report(app, client)
    base = f"/api/get_report/{report_id}"
    reader = app.test_client(token=TOKENS["read"])

    incidents = reader.get(f"{base}/incidents")
    assert incidents.status_code == 200
    assert incidents.get_json() == {
        "rows": [
            {"store_id": "bakery", "start": "2024-12-26T15:00:00Z", "end": "2024-12-26T19:00:00Z", "minutes": 240.0,
             "inactive_minutes": 240.0, "unknown_minutes": 0.0},
            {"store_id": "kiosk", "start": "2024-12-27T03:00:00Z", "end": "2024-12-27T09:00:00Z", "minutes": 360.0,
             "inactive_minutes": 360.0, "unknown_minutes": 0.0},
        ],
        "total": 2,
        "offset": 0,
        "limit": 1000,
    }  # fmt: skip
    kiosk = reader.get(f"{base}/incidents?store_id=kiosk").get_json()
    assert [row["store_id"] for row in kiosk["rows"]] == ["kiosk"] and kiosk["total"] == 1
    both = reader.get(f"{base}/incidents?store_id=kiosk&store_id=bakery&store_id=nobody").get_json()
    assert both["total"] == 2

    timeline = reader.get(f"{base}/timeline?store_id=bakery").get_json()
    page = reader.get(f"{base}/timeline?store_id=bakery&offset=2&limit=3").get_json()
    assert page["rows"] == timeline["rows"][2:5] and page["total"] == timeline["total"] and page["limit"] == 3
    assert {row["status"] for row in timeline["rows"]} <= {"active", "inactive", "unknown"}

    daily_csv = reader.get(f"{base}/daily?store_id=bakery&format=csv")
    assert daily_csv.status_code == 200 and daily_csv.mimetype == "text/csv"
    lines = daily_csv.get_data(as_text=True).splitlines()
    assert lines[0] == "store_id,date,business_hours,uptime_hours,downtime_hours,uptime_ratio"
    assert "bakery,2024-12-25,0.0,0.0,0.0," in lines and "bakery,2024-12-26,8.0,4.0,4.0,0.5" in lines
    assert daily_csv.headers["X-Total-Count"] == str(len(lines) - 1) == "31"  # local dates 11-27 … 12-27
    by_accept = reader.get(f"{base}/daily?store_id=bakery", headers={"Accept": "text/csv"})
    assert by_accept.data == daily_csv.data
    daily = reader.get(f"{base}/daily?store_id=bakery").get_json()
    assert {"date": "2024-12-25", "store_id": "bakery", "business_hours": 0.0, "uptime_hours": 0.0,
            "downtime_hours": 0.0, "uptime_ratio": None} in daily["rows"]  # fmt: skip

    for bad in ("limit=0", f"limit={MAX_LIMIT + 1}", "limit=x", "offset=-1", "offset=1.5", "format=xml"):
        answer = reader.get(f"{base}/incidents?{bad}")
        assert answer.status_code == 400, bad
        assert bad.split("=")[0] in answer.get_json()["error"]


def test_report_downloads_are_exact(app, client, data_dir: Path):
    report_id = complete_report(app, client)
    inputs = storemon.load_dir(data_dir)
    exact = storemon.compute_report(inputs.polls, inputs.hours, inputs.timezones, NOW, special=inputs.special)
    parquet = client.get(f"/api/get_report/{report_id}/report.parquet")
    assert parquet.status_code == 200
    assert_frame_equal(pl.read_parquet(io.BytesIO(parquet.data)), exact)
    jsonl = client.get(f"/api/get_report/{report_id}/report.jsonl")
    assert jsonl.mimetype == "application/x-ndjson"
    assert [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()] == exact.to_dicts()


def test_views_of_unknown_incomplete_and_failed_reports_are_404(app, client, data_dir: Path):
    for path in ("incidents", "daily", "timeline", "report.parquet", "report.jsonl"):
        assert client.get(f"/api/get_report/{'0' * 32}/{path}").status_code == 404
        assert client.get(f"/api/get_report/not-an-id/{path}").status_code == 404
    queued = client.post("/api/trigger_report/").get_json()["report_id"]
    assert client.get(f"/api/get_report/{queued}/incidents").status_code == 404  # not run yet
    run_jobs(app)
    assert client.get(f"/api/get_report/{queued}/incidents").status_code == 200
    (data_dir / "store_status.csv").unlink()
    failed = complete_report(app, client)
    assert client.get(f"/api/get_report/{failed}/").get_json()["status"] == "Failed"
    assert client.get(f"/api/get_report/{failed}/daily").status_code == 404


def test_per_status_horizons_reach_the_figures(app, client, data_dir: Path, reports_dir: Path):
    # horizon_active_hours 2: each six-hourly kiosk poll is believed 2 h either side (README).
    report_id = complete_report(app, client, horizon_active_hours=2)
    record = json.loads((reports_dir / f"{report_id}.json").read_text())
    assert record["parameters"]["horizon_active_hours"] == 2 and record["parameters"]["horizon_inactive_hours"] is None
    inputs = storemon.load_dir(data_dir)
    expected = storemon.incidents(inputs.polls, inputs.hours, inputs.timezones, NOW, special=inputs.special,
                                  horizon_active=timedelta(hours=2))  # fmt: skip
    assert_frame_equal(pl.read_parquet(reports_dir / record["files"]["incidents"]), expected)
    assert expected.height > 2
    for body, field in (({"horizon_inactive_hours": -1}, "horizon_inactive_hours"),
                        ({"horizon_active_hours": "2h"}, "horizon_active_hours"),
                        ({"horizon_active_hours": True}, "horizon_active_hours")):  # fmt: skip
        answer = client.post("/api/trigger_report/", json=body)
        assert answer.status_code == 400 and field in answer.get_json()["error"]


def test_a_store_backed_report_has_the_same_views(redis_url: str, tmp_path: Path, data_dir: Path):
    store = tmp_path / "store"
    storemon.ingest_paths(storemon.open_store(store, create=True), [str(data_dir)])
    reports = tmp_path / "store-reports"
    app = create_app({"TESTING": True, "REDIS_URL": redis_url, "STOREMON_STORE": str(store),
                      "STOREMON_REPORTS_DIR": str(reports), "STOREMON_TOKENS": TOKENS_ENV})  # fmt: skip
    client = app.test_client(token=TOKENS["write"])
    report_id = complete_report(app, client)
    record = json.loads((reports / f"{report_id}.json").read_text())
    assert record["source"] == {"store": str(store)}
    inputs = storemon.load_dir(data_dir)
    args = (inputs.polls, inputs.hours, inputs.timezones, NOW)
    for kind, compute in (("timeline", storemon.timeline), ("incidents", storemon.incidents)):
        assert_frame_equal(pl.read_parquet(reports / record["files"][kind]), compute(*args, special=inputs.special))
    assert pl.read_parquet(reports / record["files"]["special"]).height == 3
    assert pl.read_parquet(reports / record["files"]["polls"]).height == (
        inputs.polls.filter(pl.col("timestamp_utc") >= NOW - timedelta(hours=168)).height
    )


def test_a_job_failing_after_some_files_leaves_only_a_failed_record(app, client, reports_dir: Path, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("fleet summary broke")

    monkeypatch.setattr(storemon, "fleet_summary", broken)  # after every file was written
    report_id = complete_report(app, client)
    assert client.get(f"/api/get_report/{report_id}/").get_json()["status"] == "Failed"
    assert [p.name for p in reports_dir.iterdir()] == [f"{report_id}.json"]
    assert client.get(f"/api/get_report/{report_id}/timeline").status_code == 404
