"""The report API's contract, through Flask's test client and an in-process RQ worker.

Every test runs against a real redis-server started by the suite (see
conftest.py); jobs run with ``SimpleWorker(...).work(burst=True)``. Expected
CSVs come straight from the library (``compute_report`` +
``write_report``) on the same data.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker

import storemon
from conftest import SERVICE_DATA_END, TOKENS, TOKENS_ENV, RedisServer, run_jobs
from storemon import write_report
from webapp import create_app
from webapp.records import REPORT_FILES
from webapp.resources import get_queue

pytestmark = pytest.mark.service

ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def app_config(app_config: dict[str, object], service_data_dir: Path) -> dict[str, object]:
    """Apps reading the service's tiny data directory."""
    return {**app_config, "STOREMON_DATA_DIR": str(service_data_dir)}


@pytest.fixture
def client(app):
    return app.test_client(token=TOKENS["write"])


def expected_csv(tmp_path: Path, data_dir: Path, now: datetime | None = None, horizon_hours: float = 192) -> bytes:
    """The CSV the library writes for this data, ``now`` and horizon."""
    inputs = storemon.load_dir(data_dir)
    report = storemon.compute_report(
        inputs.polls, inputs.hours, inputs.timezones, now, horizon=timedelta(hours=horizon_hours)
    )
    return write_report(report, tmp_path / f"expected-{now}-{horizon_hours}.csv").read_bytes()


def trigger(client, path: str = "/api/trigger_report/", **kwargs) -> str:
    response = client.post(path, **kwargs)
    assert response.status_code == 202, response.get_data(as_text=True)
    return response.get_json()["report_id"]


# --- trigger and fetch ------------------------------------------------------------


def test_first_trigger_on_a_fresh_service_completes(app, client, service_data_dir, reports_dir, tmp_path):
    response = client.post("/api/trigger_report/")

    assert response.status_code == 202
    report_id = response.get_json()["report_id"]
    assert ID.fullmatch(report_id)
    assert response.headers["Location"] == f"/api/get_report/{report_id}/"

    running = client.get(f"/api/get_report/{report_id}/")
    assert running.status_code == 200
    assert running.get_json() == {"status": "Running", "progress": 0.0}

    run_jobs(app)
    done = client.get(response.headers["Location"])

    assert done.status_code == 200
    assert done.mimetype == "text/csv"
    assert done.headers["Content-Disposition"] == f'attachment; filename="report_{report_id}.csv"'
    assert done.headers["X-Report-Status"] == "Complete"
    assert done.data == expected_csv(tmp_path, service_data_dir)
    assert done.data.decode().splitlines()[0] == "store_id," + ",".join(storemon.REPORT_COLUMNS)


def test_complete_record_describes_the_run(app, client, service_data_dir, reports_dir):
    report_id = trigger(client)
    run_jobs(app)

    record = json.loads((reports_dir / f"{report_id}.json").read_text())
    inputs = storemon.load_dir(service_data_dir)
    latest_poll = inputs.polls["timestamp_utc"].max()

    assert record["report_id"] == report_id
    assert record["status"] == "Complete"
    assert record["parameters"] == {
        "now": None,
        "horizon_hours": 192.0,
        "horizon_active_hours": None,
        "horizon_inactive_hours": None,
        "shards": None,
    }
    assert record["source"] == {"data_dir": str(service_data_dir)}
    assert datetime.fromisoformat(record["now"]) == latest_poll
    assert record["rows"] == 4
    assert record["rejects"] == 2 == inputs.rejects.height
    stamps = [datetime.fromisoformat(record[key]) for key in ("created", "started", "finished")]
    assert stamps == sorted(stamps)
    assert record["duration_seconds"] >= 0
    files = {kind: f"{report_id}{suffix}" for kind, suffix in REPORT_FILES.items()}
    assert record["files"] == files
    assert sorted(p.name for p in reports_dir.iterdir()) == sorted([*files.values(), f"{report_id}.json"])
    assert {"load", "report", "timeline", "incidents", "daily", "write_csv", "fleet"} <= set(record["timings"])
    assert record["fleet"]["stores"] == 4


def test_compatibility_paths_behave_the_same(app, client):
    old_style = trigger(client, "/trigger_report")
    no_slash = trigger(client, "/api/trigger_report")
    assert old_style != no_slash

    assert client.get(f"/get_report?report_id={old_style}").get_json() == {"status": "Running", "progress": 0.0}
    run_jobs(app)

    for report_id in (old_style, no_slash):
        by_query = client.get(f"/get_report?report_id={report_id}")
        by_path = client.get(f"/api/get_report/{report_id}")
        assert by_query.status_code == by_path.status_code == 200
        assert by_query.headers["X-Report-Status"] == "Complete"
        assert by_query.headers["Content-Disposition"] == f'attachment; filename="report_{report_id}.csv"'
        assert by_query.data == by_path.data
    assert client.get(f"/get_report?report_id={old_style}").data == client.get(f"/get_report?report_id={no_slash}").data


def test_now_and_horizon_change_the_figures_exactly_as_the_library_says(app, client, service_data_dir, tmp_path):
    now = SERVICE_DATA_END - timedelta(days=2, minutes=47)
    default_id = trigger(client)
    custom_id = trigger(client, json={"now": now.isoformat(), "horizon_hours": 24})
    run_jobs(app)

    custom = client.get(f"/api/get_report/{custom_id}/")
    assert custom.status_code == 200
    assert custom.data == expected_csv(tmp_path, service_data_dir, now, horizon_hours=24)
    assert custom.data != client.get(f"/api/get_report/{default_id}/").data
    assert datetime.fromisoformat(custom.headers["X-Report-Now"]) == now


def test_now_without_zone_is_utc_and_offsets_are_honoured(app, client):
    naive = trigger(client, json={"now": "2024-10-12T12:13:00"})
    zulu = trigger(client, json={"now": "2024-10-12T12:13:00Z"})
    offset = trigger(client, json={"now": "2024-10-12T07:13:00-05:00"})
    null = trigger(client, json={"now": None})
    run_jobs(app)

    bodies = [client.get(f"/api/get_report/{i}/").data for i in (naive, zulu, offset)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0] != client.get(f"/api/get_report/{null}/").data


@pytest.mark.parametrize(
    ("body", "content_type", "names"),
    [
        (b"{not json", "application/json", "JSON"),
        (b"[1, 2]", "application/json", "object"),
        (b'{"nowx": "2024-10-12T00:00:00Z"}', "application/json", "'nowx'"),
        (b'{"now": "yesterday"}', "application/json", "'now'"),
        (b'{"now": 1728000000}', "application/json", "'now'"),
        (b'{"horizon_hours": -1}', "application/json", "'horizon_hours'"),
        (b'{"horizon_hours": "8d"}', "application/json", "'horizon_hours'"),
        (b'{"horizon_hours": true}', "application/json", "'horizon_hours'"),
        (b'{"horizon_hours": null}', "application/json", "'horizon_hours'"),
        (b'{"horizon_hours": NaN}', "application/json", "'horizon_hours'"),
        (b'{"horizon_hours": 1e300}', "application/json", "'horizon_hours'"),
        (b"now=2024-10-12", "application/x-www-form-urlencoded", "JSON"),
    ],
)
def test_bad_trigger_bodies_are_400_naming_the_field(app, client, body, content_type, names):
    response = client.post("/api/trigger_report/", data=body, content_type=content_type)

    assert response.status_code == 400
    assert response.is_json
    assert names in response.get_json()["error"]
    with app.app_context():
        assert get_queue().count == 0


# --- ids, errors, failures ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/get_report/0123456789abcdef0123456789abcdef/",  # well-formed, unknown
        "/api/get_report/nonsense/",
        "/api/get_report/0123456789ABCDEF0123456789ABCDEF/",
        "/api/get_report/0123456789abcdef0123456789abcdef0/",
        "/get_report?report_id=0123456789abcdef0123456789abcdef",
        "/get_report?report_id=../x",
        "/get_report?report_id=",
    ],
)
def test_unknown_or_malformed_ids_are_404_json(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.is_json
    assert "no report" in response.get_json()["error"]


def test_get_report_without_an_id_is_400(client):
    response = client.get("/get_report")

    assert response.status_code == 400
    assert response.get_json() == {"error": "missing query parameter 'report_id'"}


def test_a_report_that_cannot_be_computed_is_failed_with_a_reason(make_app, service_data_dir, reports_dir):
    (service_data_dir / "menu_hours.csv").unlink()
    app = make_app()
    client = app.test_client(token=TOKENS["write"])
    report_id = trigger(client)
    run_jobs(app)

    response = client.get(f"/api/get_report/{report_id}/")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "Failed"
    assert "menu_hours" in body["error"]
    assert not (reports_dir / f"{report_id}.csv").exists()
    assert json.loads((reports_dir / f"{report_id}.json").read_text())["status"] == "Failed"


def test_a_job_over_its_timeout_is_failed(make_app, tmp_path, reports_dir):
    hold = tmp_path / "hold"
    hold.touch()  # the job waits on it, so it runs past its one-second timeout
    app = make_app(STOREMON_JOB_TIMEOUT="1", STOREMON_TEST_HOLD_FILE=str(hold))
    client = app.test_client(token=TOKENS["write"])
    report_id = trigger(client)
    run_jobs(app)

    body = client.get(f"/api/get_report/{report_id}/").get_json()

    assert body["status"] == "Failed"
    assert "timeout" in body["error"]
    assert not (reports_dir / f"{report_id}.csv").exists()


def test_errors_are_json(app, client):
    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("secret internals")

    not_allowed = client.get("/api/trigger_report/")
    assert not_allowed.status_code == 405
    assert not_allowed.is_json and "error" in not_allowed.get_json()
    assert "POST" in not_allowed.headers["Allow"]

    for path in ("/no/such/page", "/api/get_report/..%2F..%2Fetc%2Fpasswd/"):
        missing = client.get(path)
        assert missing.status_code == 404 and missing.is_json and missing.get_json()["error"]

    too_large = client.post("/api/trigger_report/", data=b" " * (1024 * 1024), content_type="application/json")
    assert too_large.status_code == 413 and too_large.is_json

    crashed = client.get("/test-only/boom")
    assert crashed.status_code == 500 and crashed.is_json
    assert "secret" not in crashed.get_data(as_text=True)


# --- Redis: flushed, down, back ----------------------------------------------------------


def test_a_finished_report_survives_a_redis_flush(app, client, redis_server: RedisServer):
    report_id = trigger(client)
    run_jobs(app)
    before = client.get(f"/api/get_report/{report_id}/")

    redis_server.client().flushall()
    after = client.get(f"/api/get_report/{report_id}/")

    assert after.status_code == 200
    assert after.headers["X-Report-Status"] == "Complete"
    assert after.data == before.data


def test_redis_down_is_503_then_the_app_recovers(make_app, private_redis: RedisServer, tmp_path, service_data_dir):
    app = make_app(REDIS_URL=private_redis.url)
    client = app.test_client(token=TOKENS["write"])
    finished = trigger(client)
    run_jobs(app)
    pending = trigger(client)

    private_redis.stop()

    refused = client.post("/api/trigger_report/")
    assert refused.status_code == 503
    assert "Redis" in refused.get_json()["error"]
    assert refused.headers["Retry-After"].isdigit()
    assert client.get(f"/api/get_report/{pending}/").status_code == 503
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["redis"] is False
    served = client.get(f"/api/get_report/{finished}/")  # finished reports need no Redis
    assert served.status_code == 200 and served.data == expected_csv(tmp_path, service_data_dir)

    private_redis.start()  # same port, empty: the pending job is gone with the old data

    requeued = client.get(f"/api/get_report/{pending}/")  # its Queued record puts it back on the queue
    assert requeued.status_code == 200 and requeued.get_json() == {"status": "Running", "progress": 0.0}
    again = trigger(client)
    run_jobs(app)
    assert client.get(f"/api/get_report/{again}/").data == served.data
    assert client.get(f"/api/get_report/{pending}/").data == served.data


# --- health ------------------------------------------------------------------------------


def test_health_needs_redis_a_worker_and_data(make_app, app, client, tmp_path):
    without_worker = client.get("/api/health")
    assert without_worker.status_code == 503
    assert without_worker.get_json()["workers"] == 0

    with app.app_context():
        queue = get_queue()
        worker = SimpleWorker([queue], connection=queue.connection)
    worker.register_birth()
    try:
        healthy = client.get("/api/health")
        vanishing = tmp_path / "vanishing"
        vanishing.mkdir()
        no_data_app = make_app(STOREMON_DATA_DIR=str(vanishing))  # a missing one stops the app at start-up
        vanishing.rmdir()
        no_data = no_data_app.test_client(token=TOKENS["write"]).get("/api/health")
    finally:
        worker.register_death()

    assert healthy.status_code == 200
    assert healthy.get_json() == {"status": "ok", "redis": True, "workers": 1, "data": True, "queue": "storemon"}
    assert no_data.status_code == 503 and no_data.get_json()["data"] is False


def test_settings_come_from_the_environment(monkeypatch, redis_url, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("STOREMON_TOKENS", TOKENS_ENV)
    monkeypatch.setenv("STOREMON_QUEUE", "other-queue")
    monkeypatch.setenv("STOREMON_REPORTS_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("STOREMON_DATA_DIR", str(storemon.sample_dir()))
    monkeypatch.delenv("STOREMON_STORE", raising=False)
    app = create_app()

    with app.app_context():
        assert get_queue().name == "other-queue"
    report_id = trigger(app.test_client(token=TOKENS["write"]))
    assert app.test_client(token=TOKENS["write"]).get(f"/api/get_report/{report_id}/").get_json()["status"] == "Running"
    run_jobs(app)
    assert (tmp_path / "elsewhere" / f"{report_id}.csv").is_file()


def test_iso_stamps_are_utc(app, client, reports_dir):
    report_id = trigger(client)
    run_jobs(app)
    record = json.loads((reports_dir / f"{report_id}.json").read_text())

    for key in ("created", "started", "finished", "now"):
        assert datetime.fromisoformat(record[key]).utcoffset() == UTC.utcoffset(None)
