"""Bearer tokens and roles: every endpoint × {no token, bad token, too low a role, the right role}.

Runs through Flask's test client against the suite's real redis-server (see
conftest.py), with a data store so that the intake endpoints are live.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

import storemon
from conftest import TOKENS, TOKENS_ENV, run_jobs
from storemon import ConfigError
from webapp import auth, create_app
from webapp.config import Settings, token_name

pytestmark = pytest.mark.service

REPORT_ID = "0123456789abcdef0123456789abcdef"
POLLS_CSV = b"store_id,timestamp_utc,status\n1001,2024-10-14 12:00:00 UTC,active\n"
HOURS_CSV = b"store_id,dayOfWeek,start_time_local,end_time_local\n1001,0,09:00:00,17:00:00\n"
ZONES_CSV = b"store_id,timezone_str\n1001,America/New_York\n"
SPECIAL_CSV = b"store_id,date_local,start_time_local,end_time_local\n1001,2024-12-25,,\n"

#: method, path, body, the weakest role allowed.
ENDPOINTS = [
    ("POST", "/api/trigger_report/", None, "write"),
    ("POST", "/trigger_report", None, "write"),
    ("GET", f"/api/get_report/{REPORT_ID}/", None, "read"),
    ("GET", f"/get_report?report_id={REPORT_ID}", None, "read"),
    ("GET", f"/api/get_report/{REPORT_ID}/incidents", None, "read"),
    ("GET", f"/api/get_report/{REPORT_ID}/daily", None, "read"),
    ("GET", f"/api/get_report/{REPORT_ID}/timeline", None, "read"),
    ("GET", f"/api/get_report/{REPORT_ID}/report.parquet", None, "read"),
    ("GET", f"/api/get_report/{REPORT_ID}/report.jsonl", None, "read"),
    ("POST", "/api/polls", POLLS_CSV, "write"),
    ("PUT", "/api/hours", HOURS_CSV, "admin"),
    ("PUT", "/api/timezones", ZONES_CSV, "admin"),
    ("PATCH", "/api/hours", HOURS_CSV, "write"),
    ("PATCH", "/api/timezones", ZONES_CSV, "write"),
    ("PUT", "/api/special_hours", SPECIAL_CSV, "admin"),
    ("PATCH", "/api/special_hours", SPECIAL_CSV, "write"),
    ("GET", "/api/tables/special_hours", None, "read"),
    ("GET", "/api/tables/hours", None, "read"),
    ("GET", "/api/tables/timezones", None, "read"),
    ("GET", "/api/tables/hours/versions", None, "admin"),
    ("POST", "/api/tables/timezones/versions/no-such-version/restore", None, "admin"),
]
ROLES = ("read", "write", "admin")
IDS = [f"{method} {path}" for method, path, _, _ in ENDPOINTS]


@pytest.fixture
def app_config(app_config, store, tmp_path):
    """Apps serving a data store (no data directory): every endpoint, the store's included, is reachable."""
    return {**app_config, "STOREMON_STORE": str(store), "STOREMON_DATA_DIR": str(tmp_path / "no-data-dir")}


def call(app, method: str, path: str, body: bytes | None, authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    if method == "PUT":  # the version it replaces, so that only authorization can stop it
        current = app.test_client(token=TOKENS["admin"]).get(f"/api/tables/{path.rsplit('/', 1)[-1]}")
        headers["If-Match"] = current.headers["ETag"]
    kwargs = {"data": body, "content_type": "text/csv"} if body is not None else {}
    return app.test_client().open(path, method=method, headers=headers, **kwargs)


def assert_refused(response, status: int) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.get_json()["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS, ids=IDS)
def test_without_a_token_is_401(app, method, path, body, role):
    assert_refused(call(app, method, path, body, None), 401)


@pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-configured-token-at-all",
        f"Bearer {TOKENS['admin']}x",
        f"Bearer {TOKENS['admin'][:-1]}",
        f"Basic {TOKENS['admin']}",
        f"{TOKENS['admin']}",
        "Bearer ",
        "Bearer",
    ],
    ids=["unknown", "longer", "shorter", "other-scheme", "no-scheme", "empty", "bare-scheme"],
)
def test_a_bad_token_is_401(app, method, path, body, role, authorization):
    assert_refused(call(app, method, path, body, authorization), 401)


# Endpoints that need more than the lowest role (for a read endpoint no weaker token exists).
ABOVE_READ = [(endpoint, name) for endpoint, name in zip(ENDPOINTS, IDS, strict=True) if endpoint[3] != ROLES[0]]


@pytest.mark.parametrize(("method", "path", "body", "role"), [e for e, _ in ABOVE_READ], ids=[n for _, n in ABOVE_READ])
def test_a_role_too_low_is_403(app, method, path, body, role):
    lower = ROLES[: ROLES.index(role)]
    assert lower
    for weaker in lower:
        response = call(app, method, path, body, f"Bearer {TOKENS[weaker]}")
        assert_refused(response, 403)
        assert weaker in response.get_json()["error"]


@pytest.mark.parametrize(("method", "path", "body", "role"), ENDPOINTS, ids=IDS)
def test_the_right_role_and_every_stronger_one_get_through(make_app, method, path, body, role):
    for strong_enough in ROLES[ROLES.index(role) :]:
        app = make_app()  # a fresh store each time is not needed: repeated intake bodies answer 200
        response = call(app, method, path, body, f"Bearer {TOKENS[strong_enough]}")
        assert response.status_code not in (401, 403), (strong_enough, response.get_data(as_text=True))
        assert response.status_code in (200, 201, 202, 404), response.get_data(as_text=True)
        if path.startswith(("/api/get_report", "/get_report")):
            assert response.status_code == 404  # known caller, unknown report
        if path.startswith("/api/tables/") and not path.endswith(("/versions", "/restore")):
            assert response.status_code == 200 and response.headers["ETag"]
        assert "WWW-Authenticate" not in response.headers


def test_health_needs_no_token(app):
    response = app.test_client().get("/api/health")
    assert response.status_code in (200, 503)
    assert "WWW-Authenticate" not in response.headers


def test_a_refused_request_reads_no_body_and_stores_nothing(app, tmp_path):
    response = call(app, "POST", "/api/polls", POLLS_CSV, f"Bearer {TOKENS['read']}")
    assert response.status_code == 403
    ok = call(app, "POST", "/api/polls", POLLS_CSV, f"Bearer {TOKENS['write']}")
    assert ok.status_code == 201  # the first accepted copy: nothing was stored before


def test_without_tokens_the_app_refuses_to_start(make_app):
    with pytest.raises(ConfigError, match="STOREMON_TOKENS") as caught:
        make_app(STOREMON_TOKENS="")
    assert "STOREMON_AUTH=off" in str(caught.value)


def test_auth_off_must_be_explicit_and_warns_at_every_start(make_app, caplog):
    with caplog.at_level(logging.WARNING):
        first = make_app(STOREMON_TOKENS="", STOREMON_AUTH="off")
        make_app(STOREMON_TOKENS="", STOREMON_AUTH="off")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "STOREMON_AUTH=off" in r.getMessage()]
    assert len(warnings) == 2

    for method, path, body, _ in ENDPOINTS:
        assert call(first, method, path, body, None).status_code not in (401, 403), path


DATA = {"STOREMON_DATA_DIR": str(storemon.sample_dir())}


def test_token_settings_are_validated():
    for value, says in [
        ("reader:" + "x" * 20, "role"),
        ("read" + "x" * 20, "role:token"),
        ("read:short", "16 characters"),
        ("read:" + "x" * 20 + " y", "16 characters"),
        (f"read:{'x' * 20},admin:{'x' * 20}", "twice"),
    ]:
        with pytest.raises(ConfigError, match=says):
            Settings.from_env({"STOREMON_TOKENS": value, **DATA})
    with pytest.raises(ConfigError, match="STOREMON_AUTH"):
        Settings.from_env({"STOREMON_AUTH": "maybe", **DATA})

    settings = Settings.from_env({"STOREMON_TOKENS": f" read:{'r' * 16} , admin:{'a' * 20}", **DATA})
    assert [(t.role, t.secret) for t in settings.tokens] == [("read", "r" * 16), ("admin", "a" * 20)]
    assert "r" * 16 not in repr(settings) and "r" * 16 not in repr(settings.tokens)


def test_a_token_is_named_by_role_and_a_fingerprint():
    name = token_name("write", TOKENS["write"])
    assert name == "write:" + hashlib.sha256(TOKENS["write"].encode()).hexdigest()[:8]
    assert TOKENS["write"] not in name


def test_every_configured_token_is_compared_in_constant_time(app, monkeypatch):
    compared, compare = [], hmac.compare_digest

    def counting(a, b):
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    response = call(app, "GET", f"/api/get_report/{REPORT_ID}/", None, f"Bearer {TOKENS['read']}")  # the first one

    assert response.status_code == 404
    assert len(compared) == len(TOKENS)  # no early exit on the match


def test_the_record_names_the_caller_but_never_the_token(app, tmp_path, service_data_dir):
    app = create_app(
        {
            "TESTING": True,
            "REDIS_URL": app.config["REDIS_URL"],
            "STOREMON_DATA_DIR": str(service_data_dir),
            "STOREMON_REPORTS_DIR": str(tmp_path / "reports-2"),
            "STOREMON_TOKENS": TOKENS_ENV,
        }
    )
    response = call(app, "POST", "/api/trigger_report/", None, f"Bearer {TOKENS['write']}")
    report_id = response.get_json()["report_id"]
    run_jobs(app)

    text = (tmp_path / "reports-2" / f"{report_id}.json").read_text()
    assert json.loads(text)["requested_by"] == token_name("write", TOKENS["write"])
    assert all(token not in text for token in TOKENS.values())
