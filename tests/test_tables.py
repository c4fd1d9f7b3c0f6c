"""Versioned tables over the API: GET /api/tables/<name> with its ETag, PUT needs If-Match
(428 without, 412 when stale), PATCH upserts per store (others untouched), concurrent PATCHes
all land. Through Flask's test client on the suite's real redis-server and a data store."""

from __future__ import annotations

import threading

import polars as pl
import pytest

import storemon
from conftest import TOKENS, TOKENS_ENV, if_match
from storemon.store import current_table
from webapp import create_app

pytestmark = pytest.mark.service

HEADER = "store_id,dayOfWeek,start_time_local,end_time_local\n"


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


@pytest.fixture
def app(redis_url, store, tmp_path):
    return create_app(
        {
            "TESTING": True,
            "REDIS_URL": redis_url,
            "STOREMON_STORE": str(store),
            "STOREMON_REPORTS_DIR": str(tmp_path / "reports"),
            "STOREMON_TOKENS": TOKENS_ENV,
        }
    )


@pytest.fixture
def admin(app):
    return app.test_client(token=TOKENS["admin"])


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


def hours_rows(store) -> list[tuple]:
    frame, _ = current_table(store, "hours")
    return sorted(frame.with_columns(pl.col(pl.Time).cast(pl.String)).rows())


def test_a_table_is_served_with_its_version_as_etag(admin, store):
    empty = admin.get("/api/tables/hours")
    assert empty.status_code == 200 and empty.headers["ETag"] == '"none"'
    assert empty.get_json() == {"table": "hours", "version": "none", "rows": []}

    put = admin.put(
        "/api/hours", data=csv("1,0,09:00,17:00:00.5"), content_type="text/csv", headers=if_match(admin, "/api/hours")
    )
    served = admin.get("/api/tables/hours")

    assert put.status_code == 201 and put.headers["ETag"] == served.headers["ETag"] == f'"{put.get_json()["version"]}"'
    assert served.get_json()["rows"] == [
        {"store_id": "1", "dayOfWeek": 0, "start_time_local": "09:00:00", "end_time_local": "17:00:00.500000"}
    ]
    assert admin.get("/api/tables/polls").status_code == 404


def test_put_without_if_match_is_428_and_changes_nothing(admin, store):
    response = admin.put("/api/hours", data=csv("1,0,09:00,17:00"), content_type="text/csv")

    assert response.status_code == 428 and "If-Match" in response.get_json()["error"]
    assert current_table(store, "hours")[1] == "none"


def test_put_with_a_stale_version_is_412_and_changes_nothing(admin, store):
    first = if_match(admin, "/api/hours")
    assert (
        admin.put("/api/hours", data=csv("1,0,09:00,17:00"), content_type="text/csv", headers=first).status_code == 201
    )
    current = hours_rows(store)

    stale = admin.put("/api/hours", data=csv("2,0,09:00,17:00"), content_type="text/csv", headers=first)

    assert stale.status_code == 412 and "has changed" in stale.get_json()["error"]
    assert stale.headers["ETag"] == admin.get("/api/tables/hours").headers["ETag"]
    assert hours_rows(store) == current
    unquoted = {"If-Match": stale.headers["ETag"].strip('"')}
    assert (
        admin.put("/api/hours", data=csv("2,0,09:00,17:00"), content_type="text/csv", headers=unquoted).status_code
        == 201
    )


def test_patch_upserts_per_store_and_leaves_the_others_untouched(app, admin, store):
    base = csv("A,0,09:00,17:00", "A,1,09:00,17:00", "B,0,08:00,12:00", "B,2,08:00,12:00")
    admin.put("/api/hours", data=base, content_type="text/csv", headers=if_match(admin, "/api/hours"))
    writer = app.test_client(token=TOKENS["write"])

    patched = writer.patch(
        "/api/hours", data=csv("B,4,10:00,11:00", "C,5,00:00,23:59:59", "D,9,10:00,11:00"), content_type="text/csv"
    )

    assert patched.status_code == 201, patched.get_data(as_text=True)
    assert patched.get_json()["rejected"] == 1  # D's only row: D stays as it was (absent)
    assert hours_rows(store) == [
        ("A", 0, "09:00:00", "17:00:00"),
        ("A", 1, "09:00:00", "17:00:00"),
        ("B", 4, "10:00:00", "11:00:00"),
        ("C", 5, "00:00:00", "23:59:59"),
    ]
    assert patched.headers["ETag"] == admin.get("/api/tables/hours").headers["ETag"]
    again = writer.patch("/api/hours", data=csv("B,4,10:00,11:00"), content_type="text/csv")
    assert again.status_code == 200 and again.get_json()["ingest_id"] is None  # nothing changed


def test_patch_timezones_and_the_report_reads_the_merged_table(app, admin, store):
    admin.put(
        "/api/timezones",
        json=[{"store_id": "A", "timezone_str": "Asia/Tokyo"}, {"store_id": "B", "timezone_str": "UTC"}],
        headers=if_match(admin, "/api/timezones"),
    )
    patched = admin.patch("/api/timezones", json=[{"store_id": "B", "timezone_str": "Europe/Berlin"}])

    assert patched.status_code == 201
    frame, _ = storemon.current_table(store, "timezones")
    assert sorted(frame.rows()) == [("A", "Asia/Tokyo"), ("B", "Europe/Berlin")]


def test_patch_with_a_stale_if_match_is_412(admin, store):
    old = if_match(admin, "/api/hours")
    admin.put("/api/hours", data=csv("A,0,09:00,17:00"), content_type="text/csv", headers=old)

    response = admin.patch("/api/hours", data=csv("B,0,09:00,17:00"), content_type="text/csv", headers=old)

    assert response.status_code == 412
    assert hours_rows(store) == [("A", 0, "09:00:00", "17:00:00")]


def test_concurrent_patches_of_different_stores_all_land(app, store):
    errors: list[str] = []

    def patch_stores(prefix: str) -> None:
        client = app.test_client(token=TOKENS["write"])
        for i in range(5):
            response = client.patch("/api/hours", data=csv(f"{prefix}{i},0,09:00,17:00"), content_type="text/csv")
            if response.status_code != 201:
                errors.append(response.get_data(as_text=True))

    threads = [threading.Thread(target=patch_stores, args=(prefix,)) for prefix in "xy"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(row[0] for row in hours_rows(store)) == [f"{p}{i}" for p in "xy" for i in range(5)]


def test_versions_are_listed_and_an_old_one_can_be_restored(app, admin, store):
    first = admin.put(
        "/api/hours", data=csv("A,0,09:00,17:00"), content_type="text/csv", headers=if_match(admin, "/api/hours")
    )
    admin.patch("/api/hours", data=csv("B,1,10:00,11:00"), content_type="text/csv")
    v1 = first.get_json()["version"]

    listed = admin.get("/api/tables/hours/versions")

    assert listed.status_code == 200
    versions = listed.get_json()["versions"]
    assert [v["current"] for v in versions] == [True, False] and versions[1]["version"] == v1
    assert all(v["restorable"] for v in versions)
    stale = admin.post(f"/api/tables/hours/versions/{v1}/restore", headers={"If-Match": '"not-the-current"'})
    assert stale.status_code == 412

    restored = admin.post(f"/api/tables/hours/versions/{v1}/restore")

    assert restored.status_code == 201, restored.get_data(as_text=True)
    assert restored.headers["ETag"] == admin.get("/api/tables/hours").headers["ETag"]
    assert hours_rows(store) == [("A", 0, "09:00:00", "17:00:00")]
    assert admin.post(f"/api/tables/hours/versions/{v1}/restore").status_code == 200  # already current
    assert admin.post("/api/tables/hours/versions/nope/restore").status_code == 404
    assert admin.get("/api/tables/polls/versions").status_code == 404
    assert len(admin.get("/api/tables/hours/versions").get_json()["versions"]) == 3
    writer = app.test_client(token=TOKENS["write"])
    assert writer.get("/api/tables/hours/versions").status_code == 403
    assert writer.post(f"/api/tables/hours/versions/{v1}/restore").status_code == 403
