"""Bounded, validated input: body limits that hold for chunked bodies, text that cannot be stored,
the trigger's ``now`` read by the one shared parser, and no 500 for anything a client sends.

Through Flask's test client on the suite's real redis-server. A chunked body is simulated as a
WSGI server presents it: no ``Content-Length``, ``wsgi.input_terminated`` set (what gunicorn does);
tests/test_service_e2e.py sends real chunked requests to gunicorn.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from conftest import TOKENS, if_match, run_jobs
from storemon.store import read_polls
from webapp.bodies import LONE_SURROGATE, NUL_CHARACTER
from webapp.limits import TRIGGER_BODY_BYTES

pytestmark = pytest.mark.service

ROW = b"1001,2024-10-14 12:05:00 UTC,active\n"
HEADER = b"store_id,timestamp_utc,status\n"


@pytest.fixture
def app_config(app_config, store, service_data_dir):
    """Apps with a data store and the service's tiny data directory."""
    return {**app_config, "STOREMON_STORE": str(store), "STOREMON_DATA_DIR": str(service_data_dir)}


def chunked(client, method: str, path: str, body: bytes, content_type: str):
    """A request whose body has no Content-Length, ended by the server (as gunicorn does for chunked)."""
    return client.open(
        path,
        method=method,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        environ_overrides={"wsgi.input_terminated": True},
    )


# --- limits hold without Content-Length -------------------------------------------------


def test_a_chunked_intake_body_over_the_limit_is_413_and_nothing_is_stored(make_app, store):
    body = HEADER + ROW * 100
    client = make_app(STOREMON_MAX_INTAKE_BYTES=str(len(body) - 1)).test_client(token=TOKENS["write"])

    response = chunked(client, "POST", "/api/polls", body, "text/csv")

    assert response.status_code == 413 and response.is_json
    assert "STOREMON_MAX_INTAKE_BYTES" in response.get_json()["error"]
    assert read_polls(store).is_empty()


def test_a_chunked_intake_body_at_the_limit_is_read_whole(make_app, store):
    body = HEADER + ROW.replace(b"1001", b"1002") + ROW * 99
    client = make_app(STOREMON_MAX_INTAKE_BYTES=str(len(body))).test_client(token=TOKENS["write"])

    response = chunked(client, "POST", "/api/polls", body, "text/csv")

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["rows"] == 100 and response.get_json()["rejected"] == 0
    assert read_polls(store)["store_id"].value_counts(sort=True).rows() == [("1001", 99), ("1002", 1)]


def test_a_chunked_trigger_body_over_64_kib_is_413_and_queues_nothing(app, client):
    response = chunked(client, "POST", "/api/trigger_report/", b" " * (1024 * 1024), "application/json")

    assert response.status_code == 413 and response.is_json
    with app.app_context():
        from webapp.resources import get_queue

        assert get_queue().count == 0


def test_a_chunked_trigger_body_under_the_limit_is_read(app, client):
    body = json.dumps({"now": "2024-10-12T12:00:00Z"}).encode() + b" " * (TRIGGER_BODY_BYTES - 40)
    assert len(body) <= TRIGGER_BODY_BYTES

    response = chunked(client, "POST", "/api/trigger_report/", body, "application/json")

    assert response.status_code == 202
    run_jobs(app)
    done = client.get(response.headers["Location"])
    assert done.headers["X-Report-Now"] == "2024-10-12T12:00:00+00:00"


# --- text that cannot be stored: per-row rejects, never 500 ------------------------------------

SURROGATE = "\\ud800"  # as the JSON text spells it
NUL = "\\u0000"


@pytest.mark.parametrize(
    ("path", "method", "items", "column", "reason"),
    [
        ("/api/polls", "post", [{"store_id": SURROGATE, "timestamp_utc": "2024-10-14T12:00:00Z", "status": "active"}],
         "store_id", LONE_SURROGATE),
        ("/api/polls", "post", [{"store_id": "7", "timestamp_utc": "2024-10-14T12:00:00Z" + SURROGATE,
                                 "status": "active"}], "timestamp_utc", LONE_SURROGATE),
        ("/api/polls", "post", [{"store_id": "a" + NUL + "b", "timestamp_utc": "2024-10-14T12:00:00Z",
                                 "status": "active"}], "store_id", NUL_CHARACTER),
        ("/api/polls", "post", [{"store_id": "7", "timestamp_utc": "2024-10-14T12:00:00Z", "status": "\\udfff"}],
         "status", LONE_SURROGATE),
        ("/api/hours", "put", [{"store_id": "7", "dayOfWeek": SURROGATE, "start_time_local": "09:00:00",
                                "end_time_local": "10:00:00"}], "dayOfWeek", LONE_SURROGATE),
        ("/api/timezones", "put", [{"store_id": "7", "timezone_str": SURROGATE}], "timezone_str", LONE_SURROGATE),
        ("/api/timezones", "put", [{"store_id": "7", "timezone_str": "America/New_York" + NUL}], "timezone_str",
         NUL_CHARACTER),
    ],
)  # fmt: skip
@pytest.mark.parametrize("fmt", ["application/json", "application/x-ndjson"])
def test_unstorable_text_rejects_its_row_and_the_other_rows_still_land(
    client, store, path, method, items, column, reason, fmt
):
    good = {key: value for key, value in items[0].items()}
    good.update({"store_id": "1001"} if "store_id" in good else {})
    for key, value in list(good.items()):
        if "\\u" in value:
            good[key] = {
                "timestamp_utc": "2024-10-14T12:00:00Z",
                "status": "active",
                "dayOfWeek": "0",
                "timezone_str": "America/New_York",
            }.get(key, "1001")
    texts = [json.dumps(good), _raw_item(items[0]), json.dumps(good).replace("1001", "1002")]
    body = ("[" + ",".join(texts) + "]" if fmt == "application/json" else "\n".join(texts) + "\n").encode()

    headers = if_match(client, path) if method == "put" else {}
    response = getattr(client, method)(path, data=body, content_type=fmt, headers=headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    answer = response.get_json()
    assert (answer["rows"], answer["accepted"], answer["rejected"]) == (3, 2, 1)
    assert answer["rejects"] == [
        {"index": 2, "column": column, "value": answer["rejects"][0]["value"], "reason": reason}
    ]
    assert "\\" in answer["rejects"][0]["value"]  # shown escaped, storable


def _raw_item(item: dict[str, str]) -> str:
    """The item as JSON text, keeping the escapes written in its values (json.dumps would double them)."""
    return "{" + ", ".join(f'"{key}": "{value}"' for key, value in item.items()) + "}"


def test_a_later_item_keeps_its_own_index_after_a_dropped_one(client):
    body = (
        b'[{"store_id": "\\ud800", "timestamp_utc": "2024-10-14T12:00:00Z", "status": "active"},'
        b' {"store_id": "1001", "timestamp_utc": "noon", "status": "active"},'
        b' {"store_id": "1001", "timestamp_utc": "2024-10-14T12:00:00Z", "status": "active"}]'
    )

    response = client.post("/api/polls", data=body, content_type="application/json")

    assert response.status_code == 201
    assert [(r["index"], r["column"]) for r in response.get_json()["rejects"]] == [
        (1, "store_id"),
        (2, "timestamp_utc"),
    ]


def test_an_all_unstorable_body_is_400_with_its_rejects(client, store):
    body = b'[{"store_id": "\\udc00", "timestamp_utc": "2024-10-14T12:00:00Z", "status": "active"}]'

    response = client.post("/api/polls", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["rejects"][0]["reason"] == LONE_SURROGATE
    assert read_polls(store).is_empty()


# --- the trigger's now: the shared parser, and its range -----------------------------------------


def test_now_accepts_the_files_own_form(app, client):
    files_form = client.post("/api/trigger_report/", json={"now": "2024-10-12 12:13:00 UTC"})
    iso_form = client.post("/api/trigger_report/", json={"now": "2024-10-12T12:13:00Z"})
    assert files_form.status_code == iso_form.status_code == 202, files_form.get_data(as_text=True)
    run_jobs(app)

    first = client.get(files_form.headers["Location"])
    assert first.headers["X-Report-Status"] == "Complete"
    assert datetime.fromisoformat(first.headers["X-Report-Now"]) == datetime(2024, 10, 12, 12, 13, tzinfo=UTC)
    assert first.data == client.get(iso_form.headers["Location"]).data


@pytest.mark.parametrize(
    "now",
    [
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00Z",
        "2250-06-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "\ud800",
        "2024-10-12\x00",
        "2024-10-12",
    ],
)
def test_a_now_out_of_range_or_unreadable_is_400_at_trigger_time(app, client, now):
    body = json.dumps({"now": now}).encode()  # json.dumps escapes the surrogate and NUL

    response = client.post("/api/trigger_report/", data=body, content_type="application/json")

    assert response.status_code == 400, response.get_data(as_text=True)
    assert "'now'" in response.get_json()["error"]
    with app.app_context():
        from webapp.resources import get_queue

        assert get_queue().count == 0


# --- no 500 for client input, but real bugs stay 500s --------------------------------------------


def test_a_parser_error_on_a_body_is_400_but_the_same_error_elsewhere_is_500(app, client, monkeypatch):
    import webapp.intake

    def unreadable(*args, **kwargs):
        "\ud800".encode("utf-8")  # raises UnicodeEncodeError, as a decoder deep down might

    monkeypatch.setattr(webapp.intake, "read_body", unreadable)
    parse = client.post("/api/polls", data=HEADER + ROW, content_type="text/csv")
    assert parse.status_code == 400 and "cannot be read" in parse.get_json()["error"]

    monkeypatch.undo()

    def buggy_store(*args, **kwargs):
        raise ValueError("a bug in the store")

    monkeypatch.setattr(webapp.intake.storemon, "append_polls", buggy_store)
    bug = client.post("/api/polls", data=HEADER + ROW, content_type="text/csv")
    assert bug.status_code == 500 and "bug" not in bug.get_data(as_text=True)
