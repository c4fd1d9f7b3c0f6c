"""Versioned tables over the API: GET /api/tables/<name> with its ETag, PUT needs If-Match
(428 without, 412 when stale), PATCH upserts per store (others untouched), concurrent PATCHes
all land. Through Flask's test client on the suite's real redis-server and a data store."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import storemon
from conftest import TOKENS, if_match
from storemon.store import current_table

pytestmark = pytest.mark.service

HEADER = "store_id,dayOfWeek,start_time_local,end_time_local\n"


@pytest.fixture
def app_config(app_config, store):
    """Apps serving a data store only."""
    return {**app_config, "STOREMON_STORE": str(store)}


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


# --- special hours -------------------------------------------------------------------------

SPECIAL = "store_id,date_local,start_time_local,end_time_local\n"


def special_rows(store) -> list[tuple]:
    frame, _ = current_table(store, "special")
    return sorted(frame.with_columns(pl.col(pl.Time, pl.Date).cast(pl.String)).rows(), key=str)


def test_special_hours_put_needs_if_match_and_patch_upserts_per_store(app, admin, store):
    body = (SPECIAL + "1,2024-12-25,,\n1,2024-12-24,09:00,13:00\n2,2024-12-25,,\n").encode()
    assert admin.put("/api/special_hours", data=body, content_type="text/csv").status_code == 428
    put = admin.put("/api/special_hours", data=body, content_type="text/csv",
                    headers=if_match(admin, "/api/special_hours"))  # fmt: skip
    assert put.status_code == 201, put.get_json()
    assert put.get_json()["table"] == "special_hours" and put.headers["ETag"] == f'"{put.get_json()["version"]}"'
    assert special_rows(store) == sorted(
        [("1", "2024-12-25", None, None), ("1", "2024-12-24", "09:00:00", "13:00:00"), ("2", "2024-12-25", None, None)],
        key=str,
    )
    served = admin.get("/api/tables/special_hours")
    assert served.status_code == 200 and served.headers["ETag"] == put.headers["ETag"]
    assert {"store_id": "2", "date_local": "2024-12-25", "start_time_local": None, "end_time_local": None} in (
        served.get_json()["rows"]
    )

    # PATCH (role write) replaces store 1's rows by the body's, keeps store 2's; a half-empty row is rejected.
    writer = app.test_client(token=TOKENS["write"])
    patch = writer.patch("/api/special_hours", json=[
        {"store_id": "1", "date_local": "2024-12-31", "start_time_local": "10:00", "end_time_local": "14:00"},
        {"store_id": "3", "date_local": "2024-12-31", "start_time_local": "10:00", "end_time_local": None},
    ])  # fmt: skip
    assert patch.status_code == 201, patch.get_json()
    assert patch.get_json()["rejects"] == [
        {"index": 2, "column": "end_time_local", "value": "", "reason": "one of the two times empty"}
    ]
    assert special_rows(store) == sorted(
        [("1", "2024-12-31", "10:00:00", "14:00:00"), ("2", "2024-12-25", None, None)], key=str
    )
    assert writer.put("/api/special_hours", data=body, content_type="text/csv").status_code == 403
    versions = admin.get("/api/tables/special_hours/versions").get_json()["versions"]
    assert len(versions) == 2
    restored = admin.post(f"/api/tables/special_hours/versions/{versions[1]['version']}/restore")
    assert restored.status_code == 201
    assert len(special_rows(store)) == 3


def test_a_poll_dated_over_15_minutes_ahead_is_rejected_per_row(app, store):
    writer = app.test_client(token=TOKENS["write"])
    now = datetime.now(UTC)
    soon, late = now + timedelta(minutes=10), now + timedelta(minutes=20)
    body = [
        {"store_id": "1", "timestamp_utc": soon.isoformat(), "status": "active"},
        {"store_id": "1", "timestamp_utc": late.isoformat(), "status": "active"},
    ]
    answer = writer.post("/api/polls", json=body)
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in answer.get_json()["rejects"]] == [(2, "timestamp in the future")]
    as_csv = f"store_id,timestamp_utc,status\n2,{late.isoformat()},active\n".encode()
    refused = writer.post("/api/polls", data=as_csv, content_type="text/csv")
    assert refused.status_code == 400 and refused.get_json()["rejects"][0]["reason"] == "timestamp in the future"
    assert storemon.read_polls(store)["store_id"].to_list() == ["1"]
