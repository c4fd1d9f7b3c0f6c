"""The web console through Flask's test client: every page, every role, CSRF, paging, 404s.

Reports come from :func:`console_reports.write_console_report` (the files the job
writes) on the bundled sample (50 stores); triggering goes through Redis and an
in-process RQ worker (:func:`conftest.run_jobs`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

import storemon
from conftest import TOKENS, TOKENS_ENV, run_jobs
from console_reports import write_console_report
from webapp import create_app
from webapp.console import DISABLED

pytestmark = pytest.mark.service

SECRET = "s" * 40


@pytest.fixture(scope="module")
def sample_inputs() -> storemon.Inputs:
    return storemon.load_dir(storemon.sample_dir())


@pytest.fixture
def record(reports_dir: Path, sample_inputs: storemon.Inputs) -> dict:
    return write_console_report(reports_dir, sample_inputs)


@pytest.fixture
def app_config(app_config: dict[str, object], service_data_dir: Path) -> dict[str, object]:
    """Apps reading the service's tiny data directory, with a fixed session key."""
    return {**app_config, "STOREMON_DATA_DIR": str(service_data_dir), "STOREMON_SECRET_KEY": SECRET}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def login(client, role: str) -> None:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"token": TOKENS[role], "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def page_csrf(client) -> str:
    return csrf_of(client.get("/").get_data(as_text=True))


def pages(record: dict) -> list[str]:
    rid = record["report_id"]
    sid = record["fleet"]["top_downtime"][0]["store_id"]
    return [
        "/",
        f"/reports/{rid}",
        f"/reports/{rid}?sort=downtime_last_week&order=desc&page=2&per=25",
        f"/reports/{rid}/stores/{sid}",
        f"/reports/{rid}/files/csv",
        f"/reports/{rid}/files/parquet",
        f"/reports/{rid}/files/incidents",
        f"/reports/{rid}/report.jsonl",
    ]


def test_pages_redirect_to_login_when_logged_out(app, record) -> None:
    client = app.test_client()
    for path in pages(record):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=/"), path


def test_status_json_needs_a_session_or_a_token(app, record) -> None:
    client = app.test_client()
    status = f"/api/get_report/{record['report_id']}/"
    response = client.get(status)
    assert response.status_code == 401 and response.is_json
    login(client, "read")
    response = client.get(status)
    assert response.status_code == 200 and response.headers["X-Report-Status"] == "Complete"


@pytest.mark.parametrize("role", ["read", "write", "admin"])
def test_every_role_can_view_every_page(app, record, role: str) -> None:
    client = app.test_client()
    login(client, role)
    for path in pages(record):
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:500])
    fleet = client.get("/").get_data(as_text=True)
    assert record["now"] in fleet and 'id="top-downtime"' in fleet and 'id="fleet-daily"' in fleet
    assert ('id="trigger-form"' in fleet) == (role != "read")
    assert ('name="horizon_hours"' in fleet) == (role != "read")  # one field per horizon the API takes


def test_pages_render_the_files(app, record, sample_inputs) -> None:
    client = app.test_client()
    login(client, "read")
    rid = record["report_id"]
    html = client.get(f"/reports/{rid}?per=100").get_data(as_text=True)
    report = pl.read_parquet(Path(app.config["STOREMON_REPORTS_DIR"]) / record["files"]["parquet"])
    assert html.count('class="store-id"') == report.height == 50
    for sid in report["store_id"]:
        assert f"/reports/{rid}/stores/{sid}" in html
    sid = record["fleet"]["top_downtime"][0]["store_id"]
    store = client.get(f"/reports/{rid}/stores/{sid}").get_data(as_text=True)
    now = storemon.resolve_now(sample_inputs.polls, None)
    expected = storemon.incidents(
        sample_inputs.polls,
        sample_inputs.hours,
        sample_inputs.timezones,
        now,
        stores=[sid],
        special=sample_inputs.special,
    )
    assert store.count('<tr class="incident">') == expected.height > 0
    for minutes in expected["minutes"]:
        assert f'<td class="n minutes">{minutes:.2f}</td>' in store
    assert 'id="timeline-chart"' in store and 'id="daily-chart"' in store


def test_sorting_searching_and_paging(app, record) -> None:
    client = app.test_client()
    login(client, "read")
    rid = record["report_id"]
    report = pl.read_parquet(Path(app.config["STOREMON_REPORTS_DIR"]) / record["files"]["parquet"])

    def ids(query: str) -> list[str]:
        response = client.get(f"/reports/{rid}?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)
        return re.findall(r'class="store-id"><a href="[^"]+">([^<]+)</a>', response.get_data(as_text=True))

    desc = report.sort(["downtime_last_week", "store_id"], descending=[True, False])["store_id"].to_list()
    assert ids("sort=downtime_last_week&order=desc&per=25") == desc[:25]
    assert ids("sort=downtime_last_week&order=desc&per=25&page=2") == desc[25:50]
    assert ids("") == sorted(report["store_id"].to_list())[:50]
    needle = desc[3][2:8]
    assert ids(f"q={needle}") == sorted(s for s in report["store_id"] if needle in s)
    assert ids("q=no-such-store-anywhere") == []
    pct = ids("sort=uptime_pct_week&order=asc&per=200")
    assert len(pct) == 50
    assert client.get(f"/reports/{rid}?page=3&per=25").status_code == 404
    for bad in ("page=0", "page=abc", "page=-1", "per=7", "sort=nope", "order=sideways"):
        assert client.get(f"/reports/{rid}?{bad}").status_code == 400, bad
    assert client.get(f"/reports/{rid}?q=no-such-store-anywhere&page=1").status_code == 200


def test_unknown_report_and_store_are_404_pages(app, record) -> None:
    client = app.test_client()
    login(client, "read")
    rid = record["report_id"]
    for path in (
        "/reports/" + "0" * 32,
        "/reports/not-an-id",
        f"/reports/{rid}/stores/no-such-store",
        f"/reports/{rid}/files/secrets",
        "/reports/" + "0" * 32 + "/stores/x",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html" and "404" in response.get_data(as_text=True)


def test_read_cannot_trigger_write_can(app, reports_dir: Path) -> None:
    reader = app.test_client()
    login(reader, "read")
    assert reader.post("/reports", data={"csrf_token": page_csrf(reader)}).status_code == 403
    assert not list(reports_dir.glob("*.json")) if reports_dir.exists() else True

    writer = app.test_client()
    login(writer, "write")
    response = writer.post(
        "/reports", data={"csrf_token": page_csrf(writer), "now": "2024-10-14T11:00:00Z", "horizon_hours": "48"}
    )
    assert response.status_code == 302
    report_id = response.headers["Location"].split("watch=")[1]
    queued = json.loads((reports_dir / f"{report_id}.json").read_text())
    assert queued["status"] == "Queued" and queued["parameters"]["horizon_hours"] == 48.0
    assert queued["requested_by"].startswith("write:")
    fleet = writer.get(response.headers["Location"]).get_data(as_text=True)
    assert f'data-status-url="/api/get_report/{report_id}/"' in fleet
    assert writer.get(f"/api/get_report/{report_id}/").get_json()["status"] in ("Queued", "Running")
    run_jobs(app)
    done = writer.get(f"/api/get_report/{report_id}/")
    assert done.headers["X-Report-Status"] == "Complete"
    assert json.loads((reports_dir / f"{report_id}.json").read_text())["now"].startswith("2024-10-14T11:00:00")


def test_bad_trigger_parameters_are_flashed(app, reports_dir: Path) -> None:
    client = app.test_client()
    login(client, "write")
    for form in ({"now": "yesterday"}, {"horizon_hours": "-1"}, {"horizon_hours": "lots"}):
        response = client.post("/reports", data={"csrf_token": page_csrf(client), **form}, follow_redirects=True)
        assert response.status_code == 200
        assert 'class="flash flash-error"' in response.get_data(as_text=True), form
    assert not reports_dir.exists() or not list(reports_dir.glob("*.json"))


def test_forms_without_csrf_token_are_refused(app) -> None:
    client = app.test_client()
    refused = client.post("/login", data={"token": TOKENS["write"]})
    assert refused.status_code == 400 and refused.mimetype == "text/html" and "CSRF" in refused.get_data(as_text=True)
    login(client, "write")
    assert client.post("/reports", data={}).status_code == 400
    assert client.post("/reports", data={"csrf_token": "forged"}).status_code == 400
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still logged in


def test_session_cookie_does_not_authorise_api_writes(app) -> None:
    client = app.test_client()
    login(client, "admin")
    assert client.post("/api/trigger_report/").status_code == 401


def test_session_cookie_carries_its_role_to_api_reads(app) -> None:
    """A read session may GET what a read token may, and no more (403, as for a token)."""
    client = app.test_client()
    login(client, "read")
    assert client.get("/api/tables/hours").status_code == 503  # let in: no store configured (not 401/403)
    refused = client.get("/api/tables/hours/versions")
    assert refused.status_code == 403 and "read" in refused.get_json()["error"]
    admin = app.test_client()
    login(admin, "admin")
    assert admin.get("/api/tables/hours/versions").status_code == 503


def test_bad_token_and_logout(app, record) -> None:
    client = app.test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"token": "x" * 30, "csrf_token": token})
    assert response.status_code == 401 and 'id="login-error"' in response.get_data(as_text=True)
    login(client, "read")
    cookie = client.get_cookie("storemon_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert TOKENS["read"] not in cookie.value
    response = client.post("/logout", data={"csrf_token": page_csrf(client)})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_login_goes_back_only_to_this_site(app) -> None:
    client = app.test_client()
    for target, expected in (("/reports/x", "/reports/x"), ("//evil.example/", "/"), ("https://evil.example/", "/")):
        token = csrf_of(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"token": TOKENS["read"], "csrf_token": token, "next": target})
        assert response.headers["Location"] == expected, target


def test_revoked_token_ends_its_sessions(app, redis_url, reports_dir, service_data_dir) -> None:
    client = app.test_client()
    login(client, "read")
    cookie = client.get_cookie("storemon_session")
    assert cookie is not None
    other = create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_url,
            "STOREMON_DATA_DIR": str(service_data_dir),
            "STOREMON_REPORTS_DIR": str(reports_dir),
            "STOREMON_TOKENS": f"write:{TOKENS['write']}",
            "STOREMON_SECRET_KEY": SECRET,
        }
    )
    fresh = other.test_client()
    fresh.set_cookie("storemon_session", cookie.value)
    assert fresh.get("/").status_code == 302


def test_api_docs_and_vendored_files_are_local(app) -> None:
    client = app.test_client()
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    assert "/console/vendor/swagger/swagger-ui-bundle.js" in html and "/api/openapi.json" in html
    assert "http://" not in html and "https://" not in html
    for path in (
        "/console/vendor/swagger/swagger-ui-bundle.js",
        "/console/vendor/swagger/swagger-ui.css",
        "/console/vendor/plotly.min.js",
        "/console/static/console.js",
        "/console/static/console.css",
    ):
        assert client.get(path).status_code == 200, path
    assert client.get("/console/vendor/swagger/../../__init__.py").status_code == 404


def test_console_is_off_without_a_secret_key(redis_url, service_data_dir, tmp_path) -> None:
    app = create_app(
        {
            "REDIS_URL": redis_url,
            "STOREMON_DATA_DIR": str(service_data_dir),
            "STOREMON_REPORTS_DIR": str(tmp_path / "r"),
            "STOREMON_TOKENS": TOKENS_ENV,
        }
    )
    client = app.test_client()
    for path in ("/", "/login", "/api/docs", "/reports/" + "0" * 32):
        response = client.get(path)
        assert response.status_code == 503 and DISABLED in response.get_data(as_text=True)
    assert client.get("/api/health").status_code in (200, 503)  # the API is served
    with pytest.raises(storemon.ConfigError, match="STOREMON_SECRET_KEY"):
        create_app(
            {"STOREMON_DATA_DIR": str(service_data_dir), "STOREMON_SECRET_KEY": "short", "STOREMON_TOKENS": TOKENS_ENV}
        )


def test_pages_carry_a_strict_content_security_policy(app, record) -> None:
    client = app.test_client()
    login(client, "read")
    response = client.get(f"/reports/{record['report_id']}")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
