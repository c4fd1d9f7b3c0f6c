"""Table versions in the store: current_table names the current version; replace_hours and
replace_timezones with ``if_version`` replace only that version (checked under the commit lock);
every version is kept (table_versions) and can be made current again (restore_table)."""

from __future__ import annotations

import polars as pl
import pytest

from storemon import HOURS_SCHEMA, TIMEZONES_SCHEMA, ConfigError, StaleVersionError, StoreError
from storemon.store import (
    check_store,
    compact,
    current_table,
    open_store,
    replace_hours,
    replace_timezones,
    restore_table,
    table_versions,
)


def hours(*rows: tuple[str, int, str, str]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=["store_id", "dayOfWeek", "start_time_local", "end_time_local"], orient="row")
    return frame.with_columns(pl.col("start_time_local", "end_time_local").str.to_time("%H:%M")).cast(HOURS_SCHEMA)


def zones(*rows: tuple[str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["store_id", "timezone_str"], orient="row").cast(TIMEZONES_SCHEMA)


def files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_a_table_without_versions_is_empty_and_named_none(tmp_path):
    open_store(tmp_path / "s", create=True)
    frame, version = current_table(tmp_path / "s", "hours")
    assert frame.is_empty() and frame.schema == pl.Schema(HOURS_SCHEMA) and version == "none"
    with pytest.raises(ConfigError, match="unknown table"):
        current_table(tmp_path / "s", "polls")


def test_each_replace_is_a_new_version_named_by_its_ingest(tmp_path):
    store = tmp_path / "s"
    first = replace_timezones(store, zones(("1", "America/New_York")), source="a")
    frame, version = current_table(store, "timezones")
    assert version == first.ingest_id and frame.rows() == [("1", "America/New_York")]

    second = replace_timezones(store, zones(("1", "Europe/Berlin")), source="b", if_version=version)
    assert current_table(store, "timezones")[1] == second.ingest_id != version


def test_a_stale_version_changes_nothing(tmp_path):
    store = tmp_path / "s"
    replace_hours(store, hours(("1", 0, "09:00", "17:00")), source="a")
    _, seen = current_table(store, "hours")
    replace_hours(store, hours(("1", 1, "10:00", "12:00")), source="someone else")
    before_files, before = files(store), current_table(store, "hours")

    with pytest.raises(StaleVersionError) as caught:
        replace_hours(store, hours(("2", 2, "08:00", "09:00")), source="late", if_version=seen)

    assert caught.value.expected == seen and caught.value.current == before[1]
    assert files(store) == before_files  # the staged file was removed, the manifest untouched
    assert current_table(store, "hours")[0].equals(before[0])
    check_store(store)


def test_the_first_version_can_be_conditional_on_none(tmp_path):
    store = tmp_path / "s"
    replace_hours(store, hours(("1", 0, "09:00", "17:00")), source="a", if_version="none")
    with pytest.raises(StaleVersionError):
        replace_hours(store, hours(("1", 0, "09:00", "18:00")), source="b", if_version="none")


def test_versions_are_listed_newest_first_and_survive_compaction(tmp_path):
    store = tmp_path / "s"
    a = replace_hours(store, hours(("1", 0, "09:00", "17:00")), source="a").ingest_id
    b = replace_hours(store, hours(("1", 0, "10:00", "18:00"), ("2", 1, "08:00", "09:00")), source="b").ingest_id
    compact(store)

    versions = table_versions(store, "hours")

    assert [(v["version"], v["source"], v["rows"], v["current"], v["restorable"]) for v in versions] == [
        (b, "b", 2, True, True),
        (a, "a", 1, False, True),
    ]
    assert table_versions(store, "timezones") == []


def test_restore_makes_an_old_version_current_as_a_new_one(tmp_path):
    store = tmp_path / "s"
    old = replace_hours(store, hours(("1", 0, "09:00", "17:00")), source="a").ingest_id
    old_rows = current_table(store, "hours")[0]
    newer = replace_hours(store, hours(("1", 0, "10:00", "18:00")), source="b").ingest_id

    restored = restore_table(store, "hours", old, if_version=newer)

    frame, version = current_table(store, "hours")
    assert frame.equals(old_rows) and version == restored.ingest_id not in (old, newer)
    assert restore_table(store, "hours", old).skipped  # already the current content
    with pytest.raises(StaleVersionError):
        restore_table(store, "hours", newer, if_version=newer)
    with pytest.raises(StoreError, match="no restorable"):
        restore_table(store, "hours", "nope")
    check_store(store)
