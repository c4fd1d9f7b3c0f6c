"""Staying up: queue admission (429), a 202'd report is never 404, health counts live workers
only, old reports are pruned, and a full disk is a clean 507.

Through Flask's test client and in-process RQ workers, on the suite's real redis-server
(private ones where Redis is stopped). The disk-full cases make the writer raise
``OSError(ENOSPC)``; the real disk is never filled.
"""

from __future__ import annotations

import errno
import json
import os
import time
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from rq import SimpleWorker

import storemon
import webapp.jobs
from conftest import TOKENS, RedisServer, if_match, run_jobs
from storemon.store import check_store, read_polls
from webapp.errors import DISK_FULL
from webapp.jobs import prune_reports
from webapp.records import new_report_id, record_path, report_files, write_record
from webapp.resources import get_queue
from webapp.status import LOST

pytestmark = pytest.mark.service

POLLS = b"store_id,timestamp_utc,status\n1001,2024-10-14 12:00:00 UTC,active\n"


@pytest.fixture
def app_config(app_config, service_data_dir):
    """Apps reading the service's tiny data directory."""
    return {**app_config, "STOREMON_DATA_DIR": str(service_data_dir)}


def trigger(client) -> str:
    response = client.post("/api/trigger_report/")
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["report_id"]


# --- queue admission ------------------------------------------------------------------------


def test_more_than_max_queued_waiting_reports_is_429_with_retry_after(make_app, reports_dir):
    app = make_app(STOREMON_MAX_QUEUED="3")
    client = app.test_client(token=TOKENS["write"])
    admitted = [trigger(client) for _ in range(3)]

    refused = client.post("/api/trigger_report/")

    assert refused.status_code == 429 and refused.is_json
    assert "STOREMON_MAX_QUEUED=3" in refused.get_json()["error"]
    assert int(refused.headers["Retry-After"]) > 0
    assert sorted(p.stem for p in reports_dir.glob("*.json")) == sorted(admitted)  # no record for the refused one
    run_jobs(app)
    assert client.post("/api/trigger_report/").status_code == 202  # room again


def test_max_queued_is_a_positive_setting(make_app):
    from storemon import ConfigError

    with pytest.raises(ConfigError, match="STOREMON_MAX_QUEUED"):
        make_app(STOREMON_MAX_QUEUED="0")


# --- a report id answered 202 is never later 404 ----------------------------------------------


def test_the_queued_record_is_on_disk_before_the_job_is_enqueued(app, client, reports_dir, monkeypatch):
    seen = []
    enqueue = webapp.jobs._enqueue

    def checking(queue, spec):
        report_id = spec["kwargs"]["report_id"]
        seen.append(json.loads(record_path(reports_dir, report_id).read_text())["status"])
        return enqueue(queue, spec)

    monkeypatch.setattr(webapp.jobs, "_enqueue", checking)
    report_id = trigger(client)

    assert seen == ["Queued"]
    record = json.loads(record_path(reports_dir, report_id).read_text())
    assert record["status"] == "Queued" and record["requested_by"].startswith("admin:")
    assert client.get(f"/api/get_report/{report_id}/").get_json() == {"status": "Running", "progress": 0.0}


def test_a_job_lost_in_a_flush_is_requeued_once_then_failed(app, client, redis_server: RedisServer, reports_dir):
    report_id = trigger(client)
    redis_server.client().flushall()

    again = client.get(f"/api/get_report/{report_id}/")
    assert again.get_json() == {"status": "Running", "progress": 0.0}
    assert json.loads(record_path(reports_dir, report_id).read_text())["requeued"] == 1
    with app.app_context():
        assert get_queue().job_ids == [report_id]

    redis_server.client().flushall()  # lost a second time
    failed = client.get(f"/api/get_report/{report_id}/")

    assert failed.status_code == 200 and failed.get_json() == {"status": "Failed", "error": LOST}
    assert json.loads(record_path(reports_dir, report_id).read_text())["status"] == "Failed"


def test_a_requeued_job_after_a_flush_completes(app, client, redis_server: RedisServer, tmp_path, service_data_dir):
    lost = trigger(client)
    redis_server.client().flushall()
    assert client.get(f"/api/get_report/{lost}/").get_json()["status"] == "Running"
    assert client.get(f"/api/get_report/{lost}/").get_json()["status"] == "Running"  # re-queued once, not twice
    with app.app_context():
        assert get_queue().count == 1

    run_jobs(app)
    done = client.get(f"/api/get_report/{lost}/")

    assert done.headers["X-Report-Status"] == "Complete"


def test_when_redis_refuses_the_job_no_record_is_left(make_app, private_redis: RedisServer, reports_dir):
    app = make_app(REDIS_URL=private_redis.url)
    client = app.test_client(token=TOKENS["write"])
    private_redis.stop()

    refused = client.post("/api/trigger_report/")

    assert refused.status_code == 503
    assert list(reports_dir.glob("*.json")) == []


# --- health counts live workers only ------------------------------------------------------------


def test_health_ignores_a_worker_whose_heartbeat_is_stale(app, client):
    with app.app_context():
        queue = get_queue()
        worker = SimpleWorker([queue], connection=queue.connection)
    worker.register_birth()
    try:
        assert client.get("/api/health").get_json()["workers"] == 1
        stale = datetime.now(UTC) - timedelta(seconds=31)
        queue.connection.hset(worker.key, "last_heartbeat", stale.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        health = client.get("/api/health")
    finally:
        worker.register_death()

    assert health.status_code == 503 and health.get_json()["workers"] == 0


def test_an_idle_worker_heartbeats_every_heartbeat_interval(redis_url):
    from webapp.config import Settings
    from webapp.worker import make_worker

    data = {"STOREMON_DATA_DIR": str(storemon.sample_dir())}
    settings = Settings.from_env({"REDIS_URL": redis_url, "STOREMON_WORKER_HEARTBEAT": "4", **data})
    worker = make_worker(settings)

    assert worker.dequeue_timeout == 4  # RQ heart-beats once per blocking dequeue
    assert settings.worker_stale_after == 13 < 30
    assert Settings.from_env(data).worker_stale_after == 25  # default heartbeat 10 s


# --- retention ----------------------------------------------------------------------------------


def _old_report(reports_dir, days: float) -> str:
    report_id = new_report_id()
    write_record(reports_dir, {"report_id": report_id, "status": "Complete"})
    (reports_dir / f"{report_id}.csv").write_text("store_id\n")
    moment = time.time() - days * 86400
    for path in (reports_dir / f"{report_id}.json", reports_dir / f"{report_id}.csv"):
        os.utime(path, (moment, moment))
    return report_id


def test_prune_deletes_only_reports_older_than_the_retention(tmp_path):
    old, recent = _old_report(tmp_path, 31), _old_report(tmp_path, 29)
    (tmp_path / "notes.json").write_text("{}")  # not a report: never touched
    os.utime(tmp_path / "notes.json", (0, 0))

    assert prune_reports(tmp_path, 30) == 1

    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{recent}.json", f"{recent}.csv", "notes.json"}
    assert old not in "".join(names)


def test_the_worker_prunes_old_reports_after_each_job(make_app, reports_dir):
    app = make_app(STOREMON_REPORT_RETENTION_DAYS="7")
    reports_dir.mkdir(parents=True)
    old, kept = _old_report(reports_dir, 8), _old_report(reports_dir, 6)
    client = app.test_client(token=TOKENS["write"])
    fresh = trigger(client)
    assert (reports_dir / f"{old}.json").exists()  # nothing pruned until a job has run

    run_jobs(app)

    assert not (reports_dir / f"{old}.json").exists() and not (reports_dir / f"{old}.csv").exists()
    assert (reports_dir / f"{kept}.json").exists()
    assert client.get(f"/api/get_report/{fresh}/").headers["X-Report-Status"] == "Complete"
    assert client.get(f"/api/get_report/{old}/").status_code == 404


# --- a full disk: 507, nothing half-written, downloads keep working ------------------------------


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_intake_on_a_full_disk_is_507_and_stores_nothing(make_app, tmp_path, monkeypatch):
    store = tmp_path / "store"
    app = make_app(STOREMON_STORE=str(store))
    client = app.test_client(token=TOKENS["admin"])
    assert client.post("/api/polls", data=POLLS, content_type="text/csv").status_code == 201
    before = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
    polls_before = read_polls(store)

    write_parquet = pl.DataFrame.write_parquet

    def half_then_full(self, file, *args, **kwargs):
        write_parquet(self.head(1), file, *args, **kwargs)  # something reaches the temp file …
        _disk_full()  # … then the disk is full

    monkeypatch.setattr(pl.DataFrame, "write_parquet", half_then_full)
    # A small batch writes no Parquet file: its polls go into the commit record
    # (store format 2), whose write then meets the full disk in the same way.
    write = os.write

    def record_half_then_full(fd, data):
        write(fd, bytes(data[:1]))
        _disk_full()

    monkeypatch.setattr(os, "write", record_half_then_full)
    more = POLLS.replace(b"12:00:00", b"12:30:00")
    for method, path, body in [
        ("post", "/api/polls", more),
        ("put", "/api/hours", b"store_id,dayOfWeek,start_time_local,end_time_local\n1001,0,09:00,17:00\n"),
    ]:
        headers = if_match(client, path) if method == "put" else {}
        response = getattr(client, method)(path, data=body, content_type="text/csv", headers=headers)
        assert response.status_code == 507, response.get_data(as_text=True)
        assert response.get_json() == {"error": DISK_FULL}
    monkeypatch.undo()

    after = sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())
    assert after == before  # no temp file, no orphan part, no commit record (torn or whole)
    assert read_polls(store).equals(polls_before)
    check_store(store)


def test_a_trigger_on_a_full_disk_is_507_and_queues_nothing_while_downloads_still_work(
    app, client, reports_dir, monkeypatch
):
    done = trigger(client)
    run_jobs(app)
    csv = client.get(f"/api/get_report/{done}/").data

    monkeypatch.setattr(webapp.jobs, "write_record", _disk_full)
    refused = client.post("/api/trigger_report/")
    served = client.get(f"/api/get_report/{done}/")

    assert refused.status_code == 507 and refused.get_json() == {"error": DISK_FULL}
    with app.app_context():
        assert get_queue().count == 0
    assert served.status_code == 200 and served.data == csv
    assert sorted(p.name for p in reports_dir.iterdir()) == sorted([*report_files(done).values(), f"{done}.json"])
