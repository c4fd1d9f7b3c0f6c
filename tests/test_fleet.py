"""storemon.fleet_summary: a hand-computed fleet, and the README's example data."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

import storemon
from storemon import DAILY_SCHEMA, REPORT_SCHEMA, TIMELINE_SCHEMA

NOW = datetime(2024, 1, 3, 18, 0, tzinfo=UTC)


def _report(rows: list[tuple[str, float, float, float, float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REPORT_SCHEMA, orient="row")


def test_a_hand_computed_fleet():
    # Three stores. Hour (min): up 30+60+0 = 90 of business 60+60+0 = 120 → 75 %.
    # Day (h): up 2+10+0 = 12 of 4+10+0 = 14 → 85.714…%. Week: up 20+50+0 = 70 of 30+50+10 = 90 → 77.78 %.
    report = _report([
        ("b", 30.0, 2.0, 20.0, 30.0, 2.0, 10.0),
        ("a", 60.0, 10.0, 50.0, 0.0, 0.0, 0.0),
        ("c", 0.0, 0.0, 0.0, 0.0, 0.0, 10.0),  # 10 h down, ties with b
    ])  # fmt: skip
    t = lambda h, m=0: datetime(2024, 1, 3, h, m, tzinfo=UTC)  # noqa: E731
    timeline = pl.DataFrame(
        [
            ("a", t(17), t(18), True, "active"),
            ("b", t(17), t(17, 59), True, "active"),
            ("b", t(17, 59), t(18), True, "inactive"),  # holds now − 1 µs: down now
            ("c", t(16), t(18), False, "unknown"),  # closed: not down
            ("d", t(17), t(17, 30), True, "unknown"),  # ends before now − 1 µs
        ],
        schema=TIMELINE_SCHEMA,
        orient="row",
    )
    daily = pl.DataFrame(
        [
            ("a", date(2024, 1, 2), 8.0, 8.0, 0.0, 1.0),
            ("b", date(2024, 1, 2), 2.0, 0.0, 2.0, 0.0),
            ("a", date(2024, 1, 3), 3.0, 1.5, 1.5, 0.5),
            ("b", date(2024, 1, 1), 0.0, 0.0, 0.0, None),
        ],
        schema=DAILY_SCHEMA,
        orient="row",
    )
    summary = storemon.fleet_summary(report, timeline, daily, now=NOW, top=2)
    assert summary == {
        "stores": 3,
        "uptime_pct": {"hour": 75.0, "day": pytest.approx(12 / 14 * 100), "week": pytest.approx(70 / 90 * 100)},
        "down_now": ["b"],
        # b and c both 10 h down: tie broken by id; a (0 h) is third and cut by top=2.
        "top_downtime": [
            {"store_id": "b", "downtime_last_week": 10.0, "uptime_last_week": 20.0},
            {"store_id": "c", "downtime_last_week": 10.0, "uptime_last_week": 0.0},
        ],
        "daily": [
            {"date": "2024-01-01", "business_hours": 0.0, "uptime_hours": 0.0, "uptime_ratio": None},
            {"date": "2024-01-02", "business_hours": 10.0, "uptime_hours": 8.0, "uptime_ratio": 0.8},
            {"date": "2024-01-03", "business_hours": 3.0, "uptime_hours": 1.5, "uptime_ratio": 0.5},
        ],
    }


def test_no_business_time_gives_nulls_and_bad_top_is_refused():
    report = _report([("a", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)])
    empty_timeline = pl.DataFrame(schema=TIMELINE_SCHEMA)
    empty_daily = pl.DataFrame(schema=DAILY_SCHEMA)
    summary = storemon.fleet_summary(report, empty_timeline, empty_daily, now=NOW.replace(tzinfo=None))
    assert summary["uptime_pct"] == {"hour": None, "day": None, "week": None}
    assert summary["down_now"] == [] and summary["daily"] == []
    with pytest.raises(storemon.ConfigError, match="top"):
        storemon.fleet_summary(report, empty_timeline, empty_daily, now=NOW, top=-1)


def _special_example_views(now: datetime) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The report, timeline and daily series of examples/special at ``now``."""
    inputs = storemon.load_dir("examples/special")
    args = (inputs.polls, inputs.hours, inputs.timezones)
    return (
        storemon.compute_report(*args, now, special=inputs.special),
        storemon.timeline(*args, now, special=inputs.special),
        storemon.daily(*args, now, special=inputs.special),
    )


def test_on_the_example_data_a_store_down_at_now():
    # examples/special at now = 2024-12-27 08:00Z: the kiosk (24 h) has been inactive since 03:00Z
    # (halfway between its 00:00 active and 06:00 inactive polls), the bakery is closed (03:00 local).
    report, timeline, daily = _special_example_views(now := datetime(2024, 12, 27, 8, tzinfo=UTC))
    summary = storemon.fleet_summary(report, timeline, daily, now=now)
    assert summary["stores"] == 2 and summary["down_now"] == ["kiosk"]
    assert summary["top_downtime"][0]["store_id"] == "kiosk"
    # The daily sums are the week's business time and uptime (the daily series covers the week).
    assert sum(d["business_hours"] for d in summary["daily"]) == pytest.approx(
        float((report["uptime_last_week"] + report["downtime_last_week"]).sum())
    )
    assert summary["uptime_pct"]["week"] == pytest.approx(
        100 * report["uptime_last_week"].sum() / (report["uptime_last_week"] + report["downtime_last_week"]).sum()
    )


def test_the_sums_do_not_depend_on_how_the_frames_are_chunked():
    # A sharded report's frames are concatenations; float addition is not associative, so
    # a chunk-wise sum could differ in the last bit. 3,000 stores of figures with many digits,
    # whole and as 7 uneven chunks: the same summary, bit for bit.
    rng = random.Random(14)
    ids = [f"s{n:05d}" for n in range(3_000)]
    report = pl.DataFrame(
        {"store_id": ids, **{c: [rng.random() * 60 for _ in ids] for c in REPORT_SCHEMA if c != "store_id"}},
        schema=REPORT_SCHEMA,
    )
    daily = pl.DataFrame(
        {
            "store_id": ids * 2,
            "date": [date(2024, 10, 13)] * 3_000 + [date(2024, 10, 14)] * 3_000,
            "business_hours": [rng.random() * 24 for _ in range(6_000)],
            "uptime_hours": [rng.random() * 12 for _ in range(6_000)],
            "downtime_hours": [0.0] * 6_000,
            "uptime_ratio": [0.5] * 6_000,
        },
        schema=DAILY_SCHEMA,
    ).sort("store_id", "date")
    timeline = pl.DataFrame(schema=TIMELINE_SCHEMA)
    cuts = [0, 1, 17, 400, 1_111, 2_000, 2_999, 3_000]

    def chunked(frame: pl.DataFrame, scale: int) -> pl.DataFrame:
        pieces = [frame.slice(a * scale, (b - a) * scale) for a, b in itertools.pairwise(cuts)]
        return pl.concat(pieces, rechunk=False)

    now = datetime(2024, 10, 15, tzinfo=UTC)
    whole = storemon.fleet_summary(report.rechunk(), timeline, daily.rechunk(), now=now)
    pieces = storemon.fleet_summary(chunked(report, 1), timeline, chunked(daily, 2), now=now)
    assert chunked(report, 1).n_chunks() == 7
    assert pieces == whole


def test_lazy_timeline_and_daily_give_the_same_summary(tmp_path: Path) -> None:
    # The sharded fan-in hands over scans of files, not frames: the same figures, bit for bit,
    # on the example data (a store down at now, a week of daily rows) written to Parquet in
    # small row groups and scanned back.
    report, timeline, daily = _special_example_views(now := datetime(2024, 12, 27, 8, tzinfo=UTC))
    timeline.write_parquet(tmp_path / "timeline.parquet", row_group_size=3)
    daily.write_parquet(tmp_path / "daily.parquet", row_group_size=2)
    eager = storemon.fleet_summary(report, timeline, daily, now=now)
    lazy = storemon.fleet_summary(
        report, pl.scan_parquet(tmp_path / "timeline.parquet"), pl.scan_parquet(tmp_path / "daily.parquet"), now=now
    )
    assert lazy == eager
    assert eager["down_now"] == ["kiosk"] and len(eager["daily"]) >= 7  # both lazy parts are compared
