"""Live intake into the data store through the API: POST /api/polls, PUT /api/hours, PUT /api/timezones.

Runs through Flask's test client against the suite's real redis-server, with
reports computed by an in-process RQ worker (``SimpleWorker``) reading the
store. Every expected report comes straight from the library:
``compute_report`` on the same rows, written with ``write_report``.
"""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import storemon
from conftest import SERVICE_DATA_END, TOKENS, TOKENS_ENV, if_match, run_jobs
from storemon import ConfigError, write_report
from storemon._load import parse_polls
from storemon.store import check_store, read_polls
from webapp import create_app
from webapp.config import Settings
from webapp.intake import NO_STORE

pytestmark = pytest.mark.service

POLLS_HEADER = "store_id,timestamp_utc,status"


@pytest.fixture
def app_config(app_config: dict[str, object], store: Path, tmp_path: Path) -> dict[str, object]:
    """Apps serving ``store``; the data directory does not exist, so the store must be what reports read."""
    return {**app_config, "STOREMON_STORE": str(store), "STOREMON_DATA_DIR": str(tmp_path / "no-data-dir")}


def report_csv(app, client, **trigger_json) -> bytes:
    """Trigger a report, run it, return the CSV served."""
    response = client.post("/api/trigger_report/", json=trigger_json or None)
    assert response.status_code == 202, response.get_data(as_text=True)
    report_id = response.get_json()["report_id"]
    run_jobs(app)
    done = client.get(f"/api/get_report/{report_id}/")
    assert done.headers.get("X-Report-Status") == "Complete", done.get_data(as_text=True)
    return done.data


def library_csv(tmp_path: Path, polls: pl.DataFrame, hours: pl.DataFrame, zones: pl.DataFrame, now=None) -> bytes:
    """The CSV the library writes for these frames."""
    report = storemon.compute_report(polls, hours, zones, now)
    path = tmp_path / f"expected-{len(list(tmp_path.glob('expected-*')))}.csv"
    return write_report(report, path).read_bytes()


def post_csv(client, path: str, body: bytes, method: str = "post"):
    """Send a CSV body; a PUT names the current version (If-Match), as it must."""
    headers = if_match(client, path) if method == "put" else {}
    return getattr(client, method)(path, data=body, content_type="text/csv", headers=headers)


def ingest_service_data(client, data_dir: Path) -> dict[str, dict]:
    """Send the three service-data files through the API as CSV; return the three answers."""
    answers = {}
    for path, file, method in [
        ("/api/polls", "store_status.csv", "post"),
        ("/api/hours", "menu_hours.csv", "put"),
        ("/api/timezones", "timezones.csv", "put"),
    ]:
        response = post_csv(client, path, (data_dir / file).read_bytes(), method)
        assert response.status_code == 201, response.get_data(as_text=True)
        answers[file] = response.get_json()
    return answers


def poll_items(data_dir: Path) -> list[dict[str, str]]:
    """The service polls as JSON items, every value a string as in the file."""
    return pl.read_csv(data_dir / "store_status.csv", infer_schema=False).to_dicts()


# --- CSV, JSON, JSON lines ---------------------------------------------------------------


def test_csv_intake_then_the_report_equals_compute_report(app, client, service_data_dir, store, tmp_path):
    answers = ingest_service_data(client, service_data_dir)

    polls = answers["store_status.csv"]
    inputs = storemon.load_dir(service_data_dir)
    assert polls["table"] == "polls" and polls["format"] == "CSV"
    assert polls["ingest_id"] and polls["duplicate_of"] is None
    assert (polls["rows"], polls["accepted"], polls["rejected"]) == (inputs.polls.height + 1, inputs.polls.height, 1)
    assert polls["rejects"] == [{"line": 9, "column": "status", "value": "maybe", "reason": "unknown status"}]
    zones = answers["timezones.csv"]
    assert (zones["rows"], zones["accepted"], zones["rejected"]) == (3, 2, 1)
    assert zones["rejects"] == [
        {"line": 4, "column": "timezone_str", "value": "Mars/Base", "reason": "unknown time zone"}
    ]
    assert answers["menu_hours.csv"]["accepted"] == 12 and answers["menu_hours.csv"]["rejects"] == []

    served = report_csv(app, client)

    assert served == library_csv(tmp_path, inputs.polls, inputs.hours, inputs.timezones)
    record = json.loads(next(p for p in (tmp_path / "reports").glob("*.json")).read_text())
    assert record["source"] == {"store": str(store)}
    assert datetime.fromisoformat(record["now"]) == inputs.polls["timestamp_utc"].max()
    assert record["rejects"] == 2  # the bad status and the unknown zone


def test_json_array_and_json_lines_store_exactly_what_csv_stores(make_app, service_data_dir, tmp_path):
    items = poll_items(service_data_dir)
    bodies = {
        "text/csv": (service_data_dir / "store_status.csv").read_bytes(),
        "application/json": json.dumps(items).encode(),
        "application/x-ndjson": "".join(json.dumps(item) + "\n" for item in items).encode(),
    }
    stored, answers = {}, {}
    for content_type, body in bodies.items():
        location = tmp_path / content_type.replace("/", "-")
        client = make_app(STOREMON_STORE=str(location)).test_client(token=TOKENS["admin"])
        response = client.post("/api/polls", data=body, content_type=content_type)
        assert response.status_code == 201, response.get_data(as_text=True)
        answers[content_type], stored[content_type] = response.get_json(), read_polls(location)

    assert stored["application/json"].equals(stored["text/csv"])
    assert stored["application/x-ndjson"].equals(stored["text/csv"])
    assert stored["text/csv"].height == storemon.load_dir(service_data_dir).polls.height
    # JSON counts items from 1; the CSV counts its header as line 1.
    assert answers["application/json"]["rejects"] == [
        {"index": 8, "column": "status", "value": "maybe", "reason": "unknown status"}
    ]
    assert answers["application/x-ndjson"]["rejects"] == answers["application/json"]["rejects"]
    assert answers["text/csv"]["rejects"][0]["line"] == 9
    assert {a["format"] for a in answers.values()} == {"CSV", "JSON", "JSON lines"}


def test_json_partial_rejects_give_each_item_index_and_reason(client, store):
    items = [
        {"store_id": "1", "timestamp_utc": "2024-10-14T11:00:00Z", "status": "active"},
        {"store_id": "", "timestamp_utc": "2024-10-14T11:00:00Z", "status": "active"},
        {"store_id": 8419537941919820732, "timestamp_utc": "2024-10-14 11:30:00.5 UTC", "status": " INACTIVE "},
        {"store_id": "2", "timestamp_utc": "yesterday", "status": "open"},
        {"store_id": "3", "status": "active", "note": {"ignored": True}},
        {},
        {"store_id": "4", "timestamp_utc": "2024-10-14T12:00:00+02:00", "status": None},
    ]

    response = client.post("/api/polls", json=items)

    assert response.status_code == 201
    body = response.get_json()
    assert (body["rows"], body["accepted"], body["rejected"]) == (7, 2, 5)
    assert [(r["index"], r["column"], r["reason"]) for r in body["rejects"]] == [
        (2, "store_id", "empty store id"),
        (4, "timestamp_utc", "unparsable timestamp"),
        (4, "status", "unknown status"),
        (5, "timestamp_utc", "unparsable timestamp"),
        (6, "store_id", "blank line"),
        (7, "status", "unknown status"),
    ]
    assert read_polls(store).select("store_id", "status").rows() == [
        ("1", "active"),
        ("8419537941919820732", "inactive"),
    ]


def test_json_lines_count_lines_and_reject_blank_ones(client):
    body = (
        b'{"store_id": "1", "timestamp_utc": "2024-10-14T11:00:00Z", "status": "active"}\n'
        b"\n"
        b'{"store_id": "2", "timestamp_utc": "2024-10-14T11:00:00Z", "status": "inactive"}\r\n'
        b'{"store_id": "3", "timestamp_utc": "2024-10-14T11:00:00Z", "status": "closed"}'  # no final newline
    )

    response = client.post("/api/polls", data=body, content_type="application/x-ndjson")

    assert response.status_code == 201
    answer = response.get_json()
    assert (answer["rows"], answer["accepted"], answer["rejected"]) == (4, 2, 2)
    assert [(r["index"], r["reason"]) for r in answer["rejects"]] == [(2, "blank line"), (4, "unknown status")]


# --- errors: 400, 413, 415, 503 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/csv", f"{POLLS_HEADER}\n1,never,active\n,,\n2,2024-10-14 11:00:00 UTC,up\n".encode()),
        ("application/json", json.dumps([{"store_id": "", "timestamp_utc": "x", "status": "active"}]).encode()),
        ("application/x-ndjson", b'{"store_id": "1", "timestamp_utc": "2024-10-14T11:00:00Z", "status": 1}\n'),
    ],
)
def test_an_all_invalid_body_is_400_with_its_rejects_and_stores_nothing(client, store, content_type, body):
    before = check_store(store)

    response = client.post("/api/polls", data=body, content_type=content_type)

    assert response.status_code == 400
    answer = response.get_json()
    assert "no valid row" in answer["error"]
    assert answer["accepted"] == 0 and answer["rejected"] == answer["rows"] > 0
    assert answer["rejects"] and all(r["reason"] for r in answer["rejects"])
    assert check_store(store).generation == before.generation
    assert read_polls(store).is_empty()


@pytest.mark.parametrize(
    ("content_type", "body", "says"),
    [
        ("text/csv", b"", "empty file"),
        ("text/csv", f"{POLLS_HEADER}\n".encode(), "no rows"),
        ("application/json", b"[]", "no rows"),
        ("text/csv", b"store_id,status\n1,active\n", "missing required column 'timestamp_utc'"),
        ("text/csv", f"{POLLS_HEADER}\n\xff,x,y\n".encode("latin-1"), "not UTF-8"),
        ("application/json", b'[{"store_id": "1",', "not valid JSON"),
        ("application/json", b'{"store_id": "1"}', "expected a JSON array"),
        ("application/json", b'[{"store_id": "1", "timestamp_utc": "t", "status": "active"}, 5]', "item 2 is a number"),
        (
            "application/json",
            b'[{"store_id": ["1"], "timestamp_utc": "t", "status": "active"}]',
            "item 1: field 'store_id' is an array",
        ),
        (
            "application/json",
            b'[{"store_id": "1", "timestamp_utc": "t", "status": true}]',
            "field 'status' is a boolean",
        ),
        ("application/json", b'[{"store_id": "1", "timestamp_utc": NaN, "status": "active"}]', "NaN is not valid JSON"),
        ("application/json", b'[{"store_id": "1", "status": "active"}]', "no item has the field 'timestamp_utc'"),
        ("application/x-ndjson", b'{"store_id": "1"}\n{"store_id": "2"},\n', "line 2 is not valid JSON"),
        ("application/x-ndjson", b'[{"store_id": "1"}]\n', "item 1 is an array"),
        ("application/json", b"[" * 100_000, "nested too deeply"),
        ("application/x-ndjson", b"{}\n" + b"[" * 100_000, "line 2: JSON nested too deeply"),
    ],
)
def test_unreadable_bodies_are_400_saying_why(client, store, content_type, body, says):
    response = client.post("/api/polls", data=body, content_type=content_type)

    assert response.status_code == 400
    assert response.is_json
    assert says in response.get_json()["error"]
    assert "POST /api/polls" in response.get_json()["error"] or says == "no rows"
    assert read_polls(store).is_empty()


def test_a_body_over_the_intake_limit_is_413_and_the_limit_is_exact(make_app, store):
    row = "1,2024-10-14 11:00:00 UTC,active\n"
    body = (POLLS_HEADER + "\n" + row * 40).encode()
    client = make_app(STOREMON_MAX_INTAKE_BYTES=str(len(body))).test_client(token=TOKENS["admin"])

    too_large = client.post("/api/polls", data=body + b"\n", content_type="text/csv")
    assert too_large.status_code == 413
    assert too_large.is_json and "STOREMON_MAX_INTAKE_BYTES" in too_large.get_json()["error"]
    assert read_polls(store).is_empty()

    at_limit = client.post("/api/polls", data=body, content_type="text/csv")
    assert at_limit.status_code == 201 and at_limit.get_json()["accepted"] == 40


def test_the_intake_limit_is_separate_from_the_trigger_limit(client, store):
    rows = "".join(f"{i},2024-10-14 11:00:00 UTC,active\n" for i in range(4000))
    body = (POLLS_HEADER + "\n" + rows).encode()
    assert len(body) > 64 * 1024  # over the trigger body limit

    response = client.post("/api/polls", data=body, content_type="text/csv")

    assert response.status_code == 201 and response.get_json()["accepted"] == 4000
    assert client.post("/api/trigger_report/", data=body, content_type="application/json").status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x", None])
def test_other_content_types_are_415_listing_the_accepted_ones(client, content_type):
    response = client.post("/api/polls", data=b"store_id\n1\n", content_type=content_type)

    assert response.status_code == 415
    assert "text/csv" in response.get_json()["error"] and "application/x-ndjson" in response.get_json()["error"]


def test_content_type_parameters_and_case_are_accepted(client):
    body = f"{POLLS_HEADER}\n1,2024-10-14 11:00:00 UTC,active\n".encode()

    response = client.post("/api/polls", data=body, content_type="Text/CSV; charset=utf-8")

    assert response.status_code == 201


def test_without_a_store_intake_is_503_and_reports_read_the_data_dir(make_app, service_data_dir, tmp_path):
    app = make_app(STOREMON_STORE="", STOREMON_DATA_DIR=str(service_data_dir))
    client = app.test_client(token=TOKENS["admin"])

    for method, path in [("post", "/api/polls"), ("put", "/api/hours"), ("put", "/api/timezones")]:
        response = getattr(client, method)(path, data=b"x", content_type="text/csv")
        assert response.status_code == 503 and response.get_json() == {"error": NO_STORE}

    inputs = storemon.load_dir(service_data_dir)
    assert report_csv(app, client) == library_csv(tmp_path, inputs.polls, inputs.hours, inputs.timezones)


def test_methods_other_than_the_documented_ones_are_405(client):
    assert client.get("/api/polls").status_code == 405
    assert client.put("/api/polls", data=b"", content_type="text/csv").status_code == 405
    assert client.post("/api/hours", data=b"", content_type="text/csv").status_code == 405


# --- hours and time zones -------------------------------------------------------------------


def test_put_hours_and_timezones_change_the_next_report_exactly(app, client, service_data_dir, tmp_path):
    ingest_service_data(client, service_data_dir)
    inputs = storemon.load_dir(service_data_dir)
    before = report_csv(app, client)

    hours = [
        {"store_id": "1001", "dayOfWeek": 0, "start_time_local": "09:00", "end_time_local": "12:00"},
        {"store_id": "1001", "dayOfWeek": "6", "start_time_local": "20:00", "end_time_local": "23:59:59"},
        {"store_id": "2002", "dayOfWeek": 9, "start_time_local": "09:00", "end_time_local": "17:00"},
    ]
    zones = "store_id,timezone_str\n1001,Asia/Kolkata\n3003,Europe/Berlin\n3003,Asia/Tokyo\n"
    put_hours = client.put("/api/hours", json=hours, headers=if_match(client, "/api/hours"))
    put_zones = post_csv(client, "/api/timezones", zones.encode(), "put")

    assert put_hours.status_code == 201 and put_zones.status_code == 201
    assert [(r["index"], r["reason"]) for r in put_hours.get_json()["rejects"]] == [(3, "day of week outside 0-6")]
    assert [(r["line"], r["reason"]) for r in put_zones.get_json()["rejects"]] == [(4, "conflicting time zone")]
    new_hours = storemon._load.parse_hours(pl.DataFrame(hours).cast(pl.String), "h").frame
    new_zones = storemon.load_timezones(zones.encode()).frame
    after = report_csv(app, client)

    assert after == library_csv(tmp_path, inputs.polls, new_hours, new_zones)
    assert after != before


def test_put_replaces_the_whole_table_rather_than_merging(app, client, service_data_dir, tmp_path):
    ingest_service_data(client, service_data_dir)
    only_3003 = "store_id,dayOfWeek,start_time_local,end_time_local\n3003,2,10:00,11:00\n"

    assert post_csv(client, "/api/hours", only_3003.encode(), "put").status_code == 201

    inputs = storemon.load_dir(service_data_dir)
    hours = storemon.load_hours(only_3003.encode()).frame  # 2002 is open 24/7 again
    assert report_csv(app, client) == library_csv(tmp_path, inputs.polls, hours, inputs.timezones)


# --- durability, new polls, idempotence, concurrency ----------------------------------------


def test_accepted_rows_survive_a_restart_of_the_app(make_app, service_data_dir, store, tmp_path):
    first = make_app()
    ingest_service_data(first.test_client(token=TOKENS["admin"]), service_data_dir)
    del first

    restarted = make_app()  # a new create_app on the same store
    client = restarted.test_client(token=TOKENS["admin"])

    inputs = storemon.load_dir(service_data_dir)
    assert read_polls(store).height == inputs.polls.height
    check_store(store)
    assert report_csv(restarted, client) == library_csv(tmp_path, inputs.polls, inputs.hours, inputs.timezones)


def test_a_report_after_intake_includes_the_new_polls(app, client, service_data_dir, tmp_path, reports_dir):
    ingest_service_data(client, service_data_dir)
    inputs = storemon.load_dir(service_data_dir)
    base = report_csv(app, client)
    start = SERVICE_DATA_END + timedelta(minutes=5)
    new_rows = [
        {"store_id": store_id, "timestamp_utc": (start + timedelta(minutes=20 * i)).isoformat(), "status": "inactive"}
        for i in range(6)
        for store_id in ("1001", "3003", "9999")  # 9999: a store never seen before
    ]

    response = client.post("/api/polls", json=new_rows)
    served = report_csv(app, client)

    assert response.status_code == 201 and response.get_json()["accepted"] == 18
    new_polls = parse_polls(pl.DataFrame(new_rows), "new").frame
    polls = pl.concat([inputs.polls, new_polls])
    assert served == library_csv(tmp_path, polls, inputs.hours, inputs.timezones)
    assert served != base
    assert "\n9999," in served.decode()
    latest = max(datetime.fromisoformat(json.loads(p.read_text())["now"]) for p in reports_dir.glob("*.json"))
    assert latest == start + timedelta(minutes=100)  # the default now moved to the newest poll


def test_a_trigger_with_an_explicit_now_matches_the_library(app, client, service_data_dir, tmp_path):
    ingest_service_data(client, service_data_dir)
    inputs = storemon.load_dir(service_data_dir)
    now = SERVICE_DATA_END - timedelta(days=3, minutes=13)

    served = report_csv(app, client, now=now.isoformat(), horizon_hours=30)

    report = storemon.compute_report(inputs.polls, inputs.hours, inputs.timezones, now, horizon=timedelta(hours=30))
    assert served == write_report(report, tmp_path / "explicit.csv").read_bytes()


def test_the_same_body_twice_changes_no_figure(app, client, service_data_dir, store):
    answers = ingest_service_data(client, service_data_dir)
    once = report_csv(app, client)
    polls_once = read_polls(store)

    again = {}
    for path, file, method in [
        ("/api/polls", "store_status.csv", "post"),
        ("/api/hours", "menu_hours.csv", "put"),
        ("/api/timezones", "timezones.csv", "put"),
    ]:
        response = post_csv(client, path, (service_data_dir / file).read_bytes(), method)
        assert response.status_code == 200, response.get_data(as_text=True)
        again[file] = response.get_json()
    overlapping = client.post("/api/polls", json=poll_items(service_data_dir)[:100])  # same rows, other bytes

    for file, answer in again.items():
        assert answer["ingest_id"] is None
        assert answer["duplicate_of"] == answers[file]["ingest_id"]
        assert answer["accepted"] == answers[file]["accepted"]
    assert overlapping.status_code == 201 and overlapping.get_json()["accepted"] == 99  # item 8: bad status
    assert read_polls(store).height == polls_once.height + 99
    assert report_csv(app, client) == once


def test_a_chunked_json_lines_stream_of_many_polls_is_one_ingest(client, store):
    """A streaming client: application/x-ndjson sent chunked (no Content-Length), 5,000 polls in one body."""

    def line(i: int) -> bytes:
        moment = f"2024-10-14T{i // 600:02d}:{i // 10 % 60:02d}:{i % 10 * 5:02d}Z"
        poll = {"store_id": f"s{i % 50}", "timestamp_utc": moment, "status": "active" if i % 3 else "inactive"}
        return json.dumps(poll).encode() + b"\n"

    body = b"".join(line(i) for i in range(5_000))
    # As gunicorn passes a chunked body: no CONTENT_LENGTH, the input marked terminated.
    chunked = {"wsgi.input_terminated": True}
    response = client.post(
        "/api/polls",
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/x-ndjson"},
        environ_overrides=chunked,
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["accepted"] == 5_000
    assert read_polls(store).height == 5_000
    manifest = check_store(store)
    assert len(manifest.ingests) == 1 and manifest.parts  # a batch this size is a Parquet part, not inline
    again = client.post(
        "/api/polls",
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/x-ndjson"},
        environ_overrides=chunked,
    )
    assert again.status_code == 200 and again.get_json()["duplicate_of"] == response.get_json()["ingest_id"]


def test_concurrent_posts_all_land(app, store):
    results: list[int] = []

    def post(n: int) -> None:
        rows = "".join(f"{n}-{i},2024-10-14 1{i}:00:00 UTC,active\n" for i in range(5))
        response = app.test_client(token=TOKENS["admin"]).post(
            "/api/polls", data=(POLLS_HEADER + "\n" + rows).encode(), content_type="text/csv"
        )
        results.append(response.status_code)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert results == [201] * 8
    assert read_polls(store).height == 40
    assert len(check_store(store).ingests) == 8


# --- the store as configured ------------------------------------------------------------------


def test_the_app_creates_a_missing_store_and_health_checks_it(make_app, store):
    assert not store.exists()
    app = make_app()

    assert (store / "manifest.json").is_file()
    health = app.test_client(token=TOKENS["admin"]).get("/api/health").get_json()
    assert health["data"] is True  # no worker here, so the status itself is 503

    (store / "manifest.json").unlink()
    assert app.test_client(token=TOKENS["admin"]).get("/api/health").get_json()["data"] is False


def test_a_report_from_a_store_without_polls_fails_saying_so(app, client):
    response = client.post("/api/trigger_report/")
    report_id = response.get_json()["report_id"]
    run_jobs(app)

    body = client.get(f"/api/get_report/{report_id}/").get_json()

    assert body["status"] == "Failed"
    assert "holds no polls yet" in body["error"]


def test_store_settings_are_validated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")

    settings = Settings.from_env({"STOREMON_STORE": "var/store", "STOREMON_MAX_INTAKE_BYTES": " 1024 "})
    assert settings.store == tmp_path.resolve() / "var" / "store"
    assert settings.max_intake_bytes == 1024
    defaults = Settings.from_env({"STOREMON_DATA_DIR": str(tmp_path)})
    assert defaults.store is None and defaults.max_intake_bytes == 16 * 1024 * 1024

    for name, value in [
        ("STOREMON_STORE", "s3://bucket/store"),
        ("STOREMON_STORE", "a-file"),
        ("STOREMON_MAX_INTAKE_BYTES", "0"),
        ("STOREMON_MAX_INTAKE_BYTES", "16M"),
    ]:
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({name: value})
        assert name in str(caught.value) and value in str(caught.value)


def test_a_store_that_cannot_be_created_stops_the_app_with_a_config_error(tmp_path, redis_url):
    (tmp_path / "a-file").write_text("x")

    with pytest.raises(ConfigError, match="STOREMON_STORE"):
        create_app(
            {
                "REDIS_URL": redis_url,
                "STOREMON_TOKENS": TOKENS_ENV,
                "STOREMON_STORE": str(tmp_path / "a-file" / "store"),
            }
        )


def test_a_directory_of_other_files_is_not_turned_into_a_store(tmp_path, redis_url, service_data_dir):
    with pytest.raises(ConfigError, match="other files and no data store"):
        create_app({"REDIS_URL": redis_url, "STOREMON_TOKENS": TOKENS_ENV, "STOREMON_STORE": str(service_data_dir)})

    assert sorted(p.name for p in service_data_dir.iterdir()) == ["menu_hours.csv", "store_status.csv", "timezones.csv"]
