"""One hand-computed case per rule of docs/rules.md.

Every expected figure is worked out in the comment above it. Each case is run
through the fast implementation (``storemon.compute_report``) and the slow
reference (``tests/reference.py``); both must give the hand-computed numbers.

Figures are written in report order and units::

    (uptime_hour [min], uptime_day [h], uptime_week [h],
     downtime_hour [min], downtime_day [h], downtime_week [h])

Dates used: 2024-07-08 is a Monday (dayOfWeek 0), 07-10 a Wednesday (2),
07-12 a Friday (4), 07-13 a Saturday (5); 2024-03-10 and 2024-11-03 are the US
DST Sundays (6); 2024-04-07 and 2024-10-06 the Lord Howe ones.
"""

from __future__ import annotations

from datetime import time, timedelta

import polars as pl
import pytest

from reference import reference_daily, reference_incidents, reference_report, reference_timeline
from storemon import ConfigError, compute_report, daily, incidents, timeline
from storemon._core import business_hours
from storemon._core.report import reaching_polls
from strategies import hours_frame, polls_frame, report_rows, special_frame, tz_frame, utc

Figures = tuple[float, float, float, float, float, float]

H = timedelta(hours=1)
MIN = timedelta(minutes=1)
ALL_UP: Figures = (60, 24, 168, 0, 0, 0)
ALL_DOWN: Figures = (0, 0, 0, 60, 24, 168)


def check(expected: dict[str, Figures], polls=(), hours=(), tz=(), special=None, **options) -> None:
    """Assert that reference and fast reports both equal ``expected`` (every store, in order)."""
    frames = polls_frame(polls), hours_frame(hours), tz_frame(tz)
    if special is not None:
        options["special"] = special_frame(special)
    for name, implementation in (("reference", reference_report), ("fast", compute_report)):
        report = implementation(*frames, **options)
        assert report["store_id"].to_list() == sorted(expected), name
        got = report_rows(report)
        for store, figures in expected.items():
            assert got[store] == pytest.approx(figures, abs=1e-9), f"{name}: store {store!r}"


def test_example_nine_to_twelve_with_a_status_change_at_the_midpoint():
    # Open Wednesdays 09:00-12:00 New York (EDT = UTC-4). Polls: 10:14 active,
    # 11:15 inactive, so the status changes at the midpoint 10:44:30.
    # now = Wed 11:30 EDT.
    #   hour [10:30, 11:30): open 60 min; up 10:30-10:44:30 = 14.5; down 45.5.
    #   day  [Tue 11:30, Wed 11:30): open Wed 09:00-11:30 = 2.5 h;
    #        up 09:00-10:44:30 = 104.5 min = 104.5/60 h; down 45.5/60 h.
    #   week [Wed 07-03 11:30, now): also 07-03 11:30-12:00 (0.5 h), active
    #        (the 10:14 poll reaches back 8 days, to 07-02 10:14):
    #        up 104.5/60 + 0.5 = 134.5/60 h; down 45.5/60 h.
    check(
        {"s": (14.5, 104.5 / 60, 134.5 / 60, 45.5, 45.5 / 60, 45.5 / 60)},
        polls=[("s", utc(2024, 7, 10, 14, 14), "active"), ("s", utc(2024, 7, 10, 15, 15), "inactive")],
        hours=[("s", 2, time(9), time(12))],
        tz=[("s", "America/New_York")],
        now=utc(2024, 7, 10, 15, 30),
    )


@pytest.mark.parametrize(
    ("zone", "now", "open_hours"),
    [
        # 2024-03-10 New York: 00:00 EST = 05:00Z .. 04:00 EDT = 08:00Z -> 3 h.
        ("America/New_York", utc(2024, 3, 10, 20), 3.0),
        # 2024-11-03 New York: 00:00 EDT = 04:00Z .. 04:00 EST = 09:00Z -> 5 h.
        ("America/New_York", utc(2024, 11, 3, 20), 5.0),
        # 2024-04-07 Lord Howe, 02:00 +11 -> 01:30 +10:30:
        # 00:00 +11 = 04-06 13:00Z .. 04:00 +10:30 = 04-06 17:30Z -> 4.5 h.
        ("Australia/Lord_Howe", utc(2024, 4, 7, 0), 4.5),
        # 2024-10-06 Lord Howe, 02:00 +10:30 -> 02:30 +11:
        # 00:00 +10:30 = 10-05 13:30Z .. 04:00 +11 = 10-05 17:00Z -> 3.5 h.
        ("Australia/Lord_Howe", utc(2024, 10, 6, 0), 3.5),
    ],
)
def test_business_time_is_elapsed_time_across_dst(zone, now, open_hours):
    # Open Sundays 00:00-04:00. now is later that Sunday (UTC), so the day and
    # the week windows hold that Sunday's hours and nothing else (the Sunday
    # before ended more than 168 h ago). The hour window is closed.
    # One active poll an hour before now covers everything (8-day horizon).
    check(
        {"s": (0, open_hours, open_hours, 0, 0, 0)},
        polls=[("s", now - H, "active")],
        hours=[("s", 6, time(0), time(4))],
        tz=[("s", zone)],
        now=now,
    )


def test_non_existent_time_uses_the_offset_before_the_change():
    # 2024-03-10 New York skips 02:00-03:00 EST->EDT. No polls: all downtime.
    # "gap": 02:30 read with EST (-5) = 07:30Z; 05:00 EDT = 09:00Z -> 1.5 h.
    #        (read as EDT it would be 06:30Z and 2.5 h; wall clock says 2.5 h.)
    # "empty": 02:30 -> 07:30Z, 03:15 EDT = 07:15Z: end <= start, so empty.
    now = utc(2024, 3, 10, 20)
    check(
        {"empty": (0, 0, 0, 0, 0, 0), "gap": (0, 0, 0, 0, 1.5, 1.5)},
        hours=[("gap", 6, time(2, 30), time(5)), ("empty", 6, time(2, 30), time(3, 15))],
        tz=[("gap", "America/New_York"), ("empty", "America/New_York")],
        now=now,
    )


def test_ambiguous_time_takes_its_first_occurrence():
    # 2024-11-03 New York repeats 01:00-02:00 (EDT, then EST). No polls.
    # "start": 01:30 first = EDT = 05:30Z .. 03:00 EST = 08:00Z -> 2.5 h
    #          (the second occurrence would give 06:30Z and 1.5 h).
    # "end":   00:00 EDT = 04:00Z .. 01:30 first = 05:30Z -> 1.5 h (not 2.5 h).
    check(
        {"end": (0, 0, 0, 0, 1.5, 1.5), "start": (0, 0, 0, 0, 2.5, 2.5)},
        hours=[("start", 6, time(1, 30), time(3)), ("end", 6, time(0), time(1, 30))],
        tz=[("start", "America/New_York"), ("end", "America/New_York")],
        now=utc(2024, 11, 3, 20),
    )


def test_overnight_hours_run_into_the_next_day():
    # UTC, open Fridays 22:00 -> Saturday 02:00. now = Sat 07-13 01:00. No polls.
    #   hour [00:00, 01:00): open 60 min.
    #   day  [Fri 01:00, Sat 01:00): Fri 22:00-Sat 01:00 = 3 h.
    #   week [Sat 07-06 01:00, now): the previous Friday's night still open
    #        07-06 01:00-02:00 = 1 h, plus 3 h = 4 h.
    check(
        {"s": (0, 0, 0, 60, 3, 4)},
        hours=[("s", 4, time(22), time(2))],
        tz=[("s", "UTC")],
        now=utc(2024, 7, 13, 1),
    )


def test_day_split_overnight_hours_leave_no_hole_at_midnight():
    # UTC, rows Fri 18:00-23:59:59 (= 24:00) and Sat 00:00-02:00: one stretch
    # Fri 18:00 - Sat 02:00 = 8 h. now = Sat 02:00; an active poll Fri 20:00.
    #   hour 60 min up; day [Fri 02:00, Sat 02:00) 8 h up (not 8 h - 1 s);
    #   week: last Saturday's 00:00-02:00 ends exactly at the window start -> 8 h.
    check(
        {"s": (60, 8, 8, 0, 0, 0)},
        polls=[("s", utc(2024, 7, 12, 20), "active")],
        hours=[("s", 4, time(18), time(23, 59, 59)), ("s", 5, time(0), time(2))],
        tz=[("s", "UTC")],
        now=utc(2024, 7, 13, 2),
    )


def test_end_equal_to_start_means_24_hours():
    # UTC, Monday 09:00-09:00 = Mon 09:00 -> Tue 09:00. Polls: Mon 06:00
    # active, Tue 06:00 inactive -> change at Mon 18:00. now = Tue 07-09 12:00.
    #   hour [11:00, 12:00): closed.
    #   day  [Mon 12:00, Tue 12:00): open 21 h; up 12:00-18:00 = 6 h; down 15 h.
    #   week: open 24 h (07-01's 24 h ended 07-02 09:00, before the window);
    #         up 09:00-18:00 = 9 h; down 15 h.
    check(
        {"s": (0, 6, 9, 0, 15, 15)},
        polls=[("s", utc(2024, 7, 8, 6), "active"), ("s", utc(2024, 7, 9, 6), "inactive")],
        hours=[("s", 0, time(9), time(9))],
        tz=[("s", "UTC")],
        now=utc(2024, 7, 9, 12),
    )


def test_ends_from_23_59_mean_midnight():
    # UTC, Monday 20:00-<end>, now = Tue 07-09 00:00, no polls (all downtime).
    # Any end >= 23:59:00 is 24:00: hour 23:00-24:00 = 60 min, day and week 4 h
    # (07-01's hours end at 07-02 00:00, exactly the week window's start).
    # 23:58:59 is read literally: hour 58 min 59 s; day/week 4 h - 61 s.
    ends = {
        "a-23:59": time(23, 59),
        "b-23:59:30": time(23, 59, 30),
        "c-23:59:59": time(23, 59, 59),
        "d-23:59:59.999999": time(23, 59, 59, 999999),
        "e-23:58:59": time(23, 58, 59),
    }
    midnight: Figures = (0, 0, 0, 60, 4, 4)
    literal: Figures = (0, 0, 0, 58 + 59 / 60, 4 - 61 / 3600, 4 - 61 / 3600)
    check(
        {store: literal if store.startswith("e") else midnight for store in ends},
        hours=[(store, 0, time(20), end) for store, end in ends.items()],
        tz=[(store, "UTC") for store in ends],
        now=utc(2024, 7, 9),
    )


def test_overlapping_rows_count_once():
    # UTC rows: Mon 09-12, Mon 10-14, Mon 11:00-11:30, Sun 22:00-10:00
    # (overnight into Monday), Sun 23:00-23:59 (= 24:00). Their union is one
    # stretch Sun 22:00 - Mon 14:00. now = Mon 07-08 13:00, no polls.
    #   hour [12:00, 13:00): 60 min.
    #   day  [Sun 13:00, Mon 13:00): Sun 22:00 - Mon 13:00 = 15 h.
    #   week [Mon 07-01 13:00, now): 07-01 13:00-14:00 = 1 h, plus 15 h = 16 h.
    # (Summing the rows instead would give far more.)
    check(
        {"s": (0, 0, 0, 60, 15, 16)},
        hours=[
            ("s", 0, time(9), time(12)),
            ("s", 0, time(10), time(14)),
            ("s", 0, time(11), time(11, 30)),
            ("s", 6, time(22), time(10)),
            ("s", 6, time(23), time(23, 59)),
        ],
        tz=[("s", "UTC")],
        now=utc(2024, 7, 8, 13),
    )


def test_no_hours_rows_means_open_around_the_clock():
    # No hours: 24/7. Polls: now-30 h active, now-6 h inactive -> change at now-18 h.
    #   hour: inactive, 60 min down.
    #   day  [now-24 h, now): up 6 h (to now-18 h), down 18 h.
    #   week: the active poll reaches back 8 days, past the window: up 150 h, down 18 h.
    now = utc(2024, 7, 10, 12)
    check(
        {"s": (0, 6, 150, 60, 18, 18)},
        polls=[("s", now - 30 * H, "active"), ("s", now - 6 * H, "inactive")],
        tz=[("s", "UTC")],
        now=now,
    )


# Hours Monday 09:00-10:00 and now = Mon 07-08 14:00Z tell three zones apart:
#   America/Chicago (CDT, -5): 14:00-15:00Z -> hour 0, day 0 (not yet),
#       week 1 h (07-01 14:00-15:00Z, the window starts at 07-01 14:00Z);
#   America/New_York (EDT, -4): 13:00-14:00Z -> hour 60 min, day 1 h, week 1 h;
#   UTC: 09:00-10:00Z -> hour 0, day 1 h, week 1 h.
# No polls, so all of it is downtime.
MONDAY_NOW = utc(2024, 7, 8, 14)
CHICAGO: Figures = (0, 0, 0, 0, 0, 1)
NEW_YORK: Figures = (0, 0, 0, 60, 1, 1)
IN_UTC: Figures = (0, 0, 0, 0, 1, 1)


def test_store_without_zone_uses_the_default_zone():
    hours = [("nozone", 0, time(9), time(10)), ("utc", 0, time(9), time(10))]
    tz = [("utc", "UTC")]
    check({"nozone": CHICAGO, "utc": IN_UTC}, hours=hours, tz=tz, now=MONDAY_NOW)
    check(
        {"nozone": NEW_YORK, "utc": IN_UTC},
        hours=hours,
        tz=tz,
        now=MONDAY_NOW,
        default_timezone="America/New_York",
    )


def test_unknown_zone_rows_are_ignored():
    # Unknown names never count; the first known zone in frame order wins.
    tz = [
        ("bad", "Mars/Olympus_Mons"),
        ("empty", ""),
        ("bad-then-ny", "Mars/Olympus_Mons"),
        ("bad-then-ny", "America/New_York"),
        ("utc-then-ny", "UTC"),
        ("utc-then-ny", "America/New_York"),
    ]
    stores = ["bad", "empty", "bad-then-ny", "utc-then-ny"]
    check(
        {"bad": CHICAGO, "empty": CHICAGO, "bad-then-ny": NEW_YORK, "utc-then-ny": IN_UTC},
        hours=[(store, 0, time(9), time(10)) for store in stores],
        tz=tz,
        now=MONDAY_NOW,
    )


def test_a_store_known_only_from_an_invalid_zone_row_is_not_listed():
    # docs/rules.md: the report lists stores from *valid* rows; an unknown zone makes the row invalid.
    polls, hours = polls_frame([]), hours_frame([])
    tz = tz_frame([("ghost", "Mars/Olympus_Mons"), ("real", "UTC")])
    for report in (compute_report(polls, hours, tz, MONDAY_NOW), reference_report(polls, hours, tz, MONDAY_NOW)):
        assert report["store_id"].to_list() == ["real"]


def test_stale_store_is_down_beyond_the_horizon():
    # 24/7, one active poll 240 h (10 days) before now; default horizon 8 days
    # = 192 h, so the status is known until now-48 h and unknown after.
    #   hour: 60 min down; day: 24 h down;
    #   week [now-168 h, now): up now-168..now-48 = 120 h, down 48 h.
    now = utc(2024, 7, 10, 12)
    check({"s": (0, 0, 120, 60, 24, 48)}, polls=[("s", now - 240 * H, "active")], tz=[("s", "UTC")], now=now)


def test_polls_after_now_are_ignored_and_a_poll_at_now_counts():
    # 24/7 UTC, now given.
    # "later": active now-2 h, inactive now+10 min (ignored) -> all up. Were it
    #          counted, the hour would have only 5 min up.
    # "at-now": active now-2 h, inactive exactly at now (kept: t <= now) ->
    #          change at now-1 h: hour 60 down; day 23 up 1 down; week 167 up 1 down.
    now = utc(2024, 7, 10, 12)
    check(
        {"at-now": (0, 23, 167, 60, 1, 1), "later": ALL_UP},
        polls=[
            ("later", now - 2 * H, "active"),
            ("later", now + 10 * MIN, "inactive"),
            ("at-now", now - 2 * H, "active"),
            ("at-now", now, "inactive"),
        ],
        tz=[("later", "UTC"), ("at-now", "UTC")],
        now=now,
    )


def test_conflicting_polls_at_one_instant_are_inactive():
    # 24/7 UTC. Polls now-90 min active; at now-30 min active, inactive, active
    # -> one inactive poll. Change at now-60 min.
    #   hour: 60 min down; day: 23 h up, 1 h down; week: 167 h up, 1 h down.
    # "agree": the same with the duplicates all active -> all up.
    now = utc(2024, 7, 10, 12)
    polls = [("conflict", now - 90 * MIN, "active")]
    polls += [("conflict", now - 30 * MIN, status) for status in ("active", "inactive", "active")]
    polls += [("agree", now - 90 * MIN, "active")]
    polls += [("agree", now - 30 * MIN, "active")] * 2
    check(
        {"agree": ALL_UP, "conflict": (0, 23, 167, 60, 1, 1)},
        polls=polls,
        tz=[("conflict", "UTC"), ("agree", "UTC")],
        now=now,
    )


def test_a_store_in_one_file_only_is_reported():
    # now = Wed 07-10 12:00Z.
    # "only-tz": 24/7 and no polls -> all down.
    # "only-hours": Wed 09:00-10:00 Chicago (CDT) = 14:00-15:00Z: today's is
    #   still ahead, last Wednesday's (07-03) is inside the week -> 1 h down.
    # "only-polls": 24/7 in Chicago, active poll an hour ago -> all up.
    now = utc(2024, 7, 10, 12)
    check(
        {"only-hours": (0, 0, 0, 0, 0, 1), "only-polls": ALL_UP, "only-tz": ALL_DOWN},
        polls=[("only-polls", now - H, "active")],
        hours=[("only-hours", 2, time(9), time(10))],
        tz=[("only-tz", "UTC")],
        now=now,
    )


def test_time_farther_than_the_horizon_from_every_poll_is_down():
    # 24/7 UTC, horizon 2 h. Active polls at now-10 h and now-30 min; midpoint
    # now-5 h 15 min. Poll 1 holds [now-12 h, min(now-8 h, now-5.25 h)) = 4 h,
    # poll 2 holds [max(now-2.5 h, now-5.25 h), now) = 2.5 h; the rest is unknown.
    #   hour 60 up; day 6.5 up, 17.5 down; week 6.5 up, 161.5 down.
    # With an infinite horizon everything is up.
    now = utc(2024, 7, 10, 12)
    polls = [("s", now - 10 * H, "active"), ("s", now - 30 * MIN, "active")]
    check({"s": (60, 6.5, 6.5, 0, 17.5, 161.5)}, polls=polls, tz=[("s", "UTC")], now=now, horizon=2 * H)
    check({"s": ALL_UP}, polls=polls, tz=[("s", "UTC")], now=now, horizon=None)


def test_default_now_is_the_latest_poll_of_any_store():
    # "a": 24/7 UTC, active 10:00, inactive 11:00 (change 10:30). "b": active
    # 12:00, the latest poll -> now = 12:00 for every store.
    #   a: hour [11:00, 12:00) 60 down; day [07-09 12:00, 12:00): up 22.5 h to
    #      10:30, down 1.5 h; week: up 166.5 h, down 1.5 h.
    #   b: all up.
    polls = [
        ("a", utc(2024, 7, 10, 10), "active"),
        ("a", utc(2024, 7, 10, 11), "inactive"),
        ("b", utc(2024, 7, 10, 12), "active"),
    ]
    expected = {"a": (0, 22.5, 166.5, 60, 1.5, 1.5), "b": ALL_UP}
    check(expected, polls=polls, tz=[("a", "UTC"), ("b", "UTC")])
    check(expected, polls=polls, tz=[("a", "UTC"), ("b", "UTC")], now=utc(2024, 7, 10, 12))


def test_invalid_rows_handed_to_compute_report_are_left_out():
    # The loaders never produce these, but a library caller may: docs/rules.md leaves invalid rows out.
    # Store "s": open Monday 13:00-14:00 UTC (= now), a valid active poll at 13:30 and an invalid
    # "maybe" at 13:50; read as inactive it would cut uptime to 40 min, left out it is 60 min.
    now = MONDAY_NOW
    polls = pl.DataFrame(
        {
            "store_id": ["s", "s", None],
            "timestamp_utc": [now - timedelta(minutes=30), now - timedelta(minutes=10), now],
            "status": ["active", "maybe", "inactive"],
        },
        schema_overrides={"timestamp_utc": pl.Datetime("us", "UTC")},
    )
    bad_day = hours_frame([("x", 0, time(13), time(14))]).with_columns(pl.lit(9, pl.Int8).alias("dayOfWeek"))
    hours = pl.concat([hours_frame([("s", 0, time(13), time(14))]), bad_day])
    tz = tz_frame([("s", "UTC"), ("", "UTC")])
    report = compute_report(polls, hours, tz, now)
    # "x" only had a row with day 9 (invalid) and "" is an empty id: neither is listed.
    assert report["store_id"].to_list() == ["s"]
    assert report.row(0)[1] == 60.0
    clean = compute_report(polls.head(1), hours.head(1), tz.head(1), now)
    assert report.equals(clean)


# --- special hours -------------------------------------------------------------

EVERY_DAY_9_TO_17 = [("s", day, time(9), time(17)) for day in range(7)]


def test_a_closed_special_date_is_a_holiday():
    # UTC, open 09:00-17:00 every day; closed on Wednesday 2024-07-10.
    # now = Mon 07-15 00:00; one active poll, unlimited horizon: all business time is up.
    #   hour [23:00, 24:00): closed. day = Sunday 07-14: 8 h.
    #   week [Mon 07-08, Mon 07-15): 7 days x 8 h - Wednesday's 8 h = 48 h.
    check(
        {"s": (0, 8, 48, 0, 0, 0)},
        polls=[("s", utc(2024, 7, 12, 12), "active")],
        hours=EVERY_DAY_9_TO_17,
        tz=[("s", "UTC")],
        special=[("s", utc(2024, 7, 10).date(), None, None)],
        now=utc(2024, 7, 15),
        horizon=None,
    )


def test_a_shortened_special_day_replaces_the_weekly_hours_of_that_date():
    # As above, but Sunday 07-14 is open 10:00-14:00 only (4 h instead of 8 h),
    # and a closed row for the same date adds nothing next to the open one.
    #   day = Sunday: 4 h. week: 6 x 8 h + 4 h = 52 h.
    check(
        {"s": (0, 4, 52, 0, 0, 0)},
        polls=[("s", utc(2024, 7, 12, 12), "active")],
        hours=EVERY_DAY_9_TO_17,
        tz=[("s", "UTC")],
        special=[("s", utc(2024, 7, 14).date(), time(10), time(14)), ("s", utc(2024, 7, 14).date(), None, None)],
        now=utc(2024, 7, 15),
        horizon=None,
    )


def test_the_previous_days_overnight_row_still_reaches_into_a_special_date():
    # UTC, special Saturday 07-13 12:00-13:00; now = Sat 14:00, no polls (all down).
    # "night": Friday 22:00-02:00 is anchored at Friday, so it still runs to
    #   Sat 02:00: day [Fri 14:00, Sat 14:00) = 4 h + 1 h = 5 h; the week adds
    #   nothing (Fri 07-05's night ended 07-06 02:00, before 07-06 14:00).
    # "split": Fri 18:00-23:59:59 (= 24:00) and Sat 00:00-02:00. The Saturday
    #   row is anchored at Saturday, so the special date replaces it:
    #   day = Fri 18:00-24:00 = 6 h + 1 h = 7 h.
    saturday = utc(2024, 7, 13).date()
    check(
        {"night": (0, 0, 0, 0, 5, 5), "split": (0, 0, 0, 0, 7, 7)},
        hours=[
            ("night", 4, time(22), time(2)),
            ("split", 4, time(18), time(23, 59, 59)),
            ("split", 5, time(0), time(2)),
        ],
        tz=[("night", "UTC"), ("split", "UTC")],
        special=[("night", saturday, time(12), time(13)), ("split", saturday, time(12), time(13))],
        now=utc(2024, 7, 13, 14),
    )


def test_special_hours_of_a_store_without_weekly_rows():
    # New York, no weekly rows: open 24/7 except on its special dates.
    # Special: Sun 07-14 closed; Mon 07-15 09:00-12:00 EDT (13:00-16:00Z);
    # "only" appears in special rows alone and is reported too.
    # now = Mon 07-15 15:00Z = 11:00 EDT, no polls.
    #   hour [14:00Z, 15:00Z) = 10:00-11:00 EDT, open: 60 min.
    #   day  [Sun 15:00Z, Mon 15:00Z): Sunday closed; Monday 09:00-11:00 = 2 h.
    #   week [Mon 07-08 15:00Z, now): Mon 07-08 11:00 EDT .. Sun 07-14 00:00 EDT
    #        = 13 h + 5 x 24 h = 133 h, plus Monday's 2 h = 135 h.
    check(
        {"only": (0, 0, 0, 60, 2, 135), "s": (0, 0, 0, 60, 2, 135)},
        tz=[("s", "America/New_York"), ("only", "America/New_York")],
        special=[
            (store, day, start, end)
            for store in ("s", "only")
            for day, start, end in ((utc(2024, 7, 14).date(), None, None), (utc(2024, 7, 15).date(), time(9), time(12)))
        ],
        now=utc(2024, 7, 15, 15),
    )


def test_a_24_hour_row_two_local_days_before_the_window_start_still_counts():
    # Los Angeles (PDT = UTC-7), Saturday 23:30-23:30 (24 hours), no polls.
    # now = 2024-07-15 03:00Z = Sun 07-14 20:00 PDT; week from Sun 07-07 20:00 PDT.
    #   Sat 07-06 23:30 -> Sun 07-07 23:30: 20:00-23:30 in the week = 3.5 h,
    #   Sat 07-13 23:30 -> Sun 07-14 23:30: 23:30 Sat .. 20:00 Sun = 20.5 h; 24 h in all.
    #   day [Sat 20:00, Sun 20:00 PDT): 20.5 h; hour 19:00-20:00: 60 min.
    # The first row is anchored on 07-06, two days before the window's UTC
    # date 07-08: expanding only one day back would give 20.5 h for the week.
    assert business_hours._DATES_BEFORE >= 2
    check(
        {"s": (0, 0, 0, 60, 20.5, 24)},
        hours=[("s", 5, time(23, 30), time(23, 30))],
        tz=[("s", "America/Los_Angeles")],
        now=utc(2024, 7, 15, 3),
    )


def test_the_known_gap_is_caught_when_dates_are_expanded_one_day_back(monkeypatch):
    # The same case with _DATES_BEFORE = 1 (the old bug) gives 20.5 h, not 24 h.
    monkeypatch.setattr(business_hours, "_DATES_BEFORE", 1)
    report = compute_report(
        polls_frame([]),
        hours_frame([("s", 5, time(23, 30), time(23, 30))]),
        tz_frame([("s", "America/Los_Angeles")]),
        utc(2024, 7, 15, 3),
    )
    assert report["downtime_last_week"].item() == 20.5


# --- per-status horizons ----------------------------------------------------------


def test_an_active_status_expires_after_its_own_horizon():
    # UTC, open 24/7. Active poll at t = 07-10 00:00, inactive at t + 10 h;
    # horizon_active = 2 h, horizon_inactive = 8 days (the default). The
    # midpoint is t + 5 h: active holds [t - 2 h, t + 2 h), inactive
    # [t + 5 h, now), and [t + 2 h, t + 5 h) is unknown. now = t + 12 h.
    #   hour: inactive, 60 min down. day [07-09 12:00, now): up 4 h, down 20 h.
    #   week: up 4 h, down 164 h.
    t = utc(2024, 7, 10)
    polls = [("s", t, "active"), ("s", t + 10 * H, "inactive")]
    options = {"now": t + 12 * H, "horizon_active": 2 * H}
    check({"s": (0, 4, 4, 60, 20, 164)}, polls=polls, tz=[("s", "UTC")], **options)
    expected = [
        ("s", t + 12 * H - 168 * H, t - 2 * H, True, "unknown"),
        ("s", t - 2 * H, t + 2 * H, True, "active"),
        ("s", t + 2 * H, t + 5 * H, True, "unknown"),
        ("s", t + 5 * H, t + 12 * H, True, "inactive"),
    ]
    frames = polls_frame(polls), hours_frame([]), tz_frame([("s", "UTC")])
    assert timeline(*frames, **options).rows() == expected
    as_ns = [(s, _ns(a), _ns(b), business, status) for s, a, b, business, status in expected]
    assert reference_timeline(*frames, **options) == as_ns


def _ns(moment) -> int:
    return (moment - utc(1970, 1, 1)) // timedelta(microseconds=1) * 1000


# --- incidents ---------------------------------------------------------------------


def test_incidents_are_split_by_closed_time_and_joined_across_touching_pieces():
    # UTC, Monday 07-08; one inactive poll at 10:00 per store, horizon_inactive
    # = 2 h: inactive 08:00-12:00, unknown after. now = 18:00; the default
    # range is the week before, which holds only this Monday's hours.
    # "split": open 09-12 and 13-17 -> two incidents, cut by the closed hour:
    #   09:00-12:00 = 180 min inactive; 13:00-17:00 = 240 min unknown.
    # "joined": open 09-12 and 12-15, rows that touch -> one incident
    #   09:00-15:00 = 360 min: 180 inactive (to 12:00), 180 unknown.
    monday = utc(2024, 7, 8)
    polls = [("split", monday + 10 * H, "inactive"), ("joined", monday + 10 * H, "inactive")]
    hours = [
        ("split", 0, time(9), time(12)),
        ("split", 0, time(13), time(17)),
        ("joined", 0, time(9), time(12)),
        ("joined", 0, time(12), time(15)),
    ]
    frames = polls_frame(polls), hours_frame(hours), tz_frame([("split", "UTC"), ("joined", "UTC")])
    options = {"now": monday + 18 * H, "horizon_inactive": 2 * H}
    expected = [
        ("joined", monday + 9 * H, monday + 15 * H, 360.0, 180.0, 180.0),
        ("split", monday + 9 * H, monday + 12 * H, 180.0, 180.0, 0.0),
        ("split", monday + 13 * H, monday + 17 * H, 240.0, 0.0, 240.0),
    ]
    assert incidents(*frames, **options).rows() == expected
    as_ns = [(s, _ns(a), _ns(b), *minutes) for s, a, b, *minutes in expected]
    assert reference_incidents(*frames, **options) == as_ns
    # min_minutes keeps the incidents at least that long.
    assert incidents(*frames, **options, min_minutes=200).rows() == [expected[0], expected[2]]


# --- daily series --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "long_day", "hours_that_day"),
    [
        # 2024-03-10 New York: 00:00 EST (05:00Z) .. 03-11 00:00 EDT (04:00Z) = 23 h.
        (utc(2024, 3, 9, 17), utc(2024, 3, 10).date(), 23.0),
        # 2024-11-03 New York: 00:00 EDT (04:00Z) .. 11-04 00:00 EST (05:00Z) = 25 h.
        (utc(2024, 11, 2, 16), utc(2024, 11, 3).date(), 25.0),
    ],
)
def test_daily_follows_local_calendar_days_of_23_and_25_hours(start, long_day, hours_that_day):
    # Range: 12:00 local on the day before the change .. 12:00 local on the day
    # after (start + 12 h + the long day + 12 h). "s" is open 24/7; active
    # poll at the start, inactive 24 h later, unlimited horizon: the change
    # is 12 h after the start, at local midnight beginning the long day.
    #   day before: 12 h, all up; the long day: 23 or 25 h, down; day after: 12 h down.
    # "closed" is open on Tuesdays only: 0 business hours and a null ratio each day.
    end = start + (24 + hours_that_day) * H
    polls = [("s", start, "active"), ("s", start + 24 * H, "inactive")]
    frames = (
        polls_frame(polls),
        hours_frame([("closed", 1, time(9), time(10))]),
        tz_frame([("s", "America/New_York"), ("closed", "America/New_York")]),
    )
    options = {"now": end, "start": start, "end": end, "horizon": None}
    before, after = long_day - timedelta(days=1), long_day + timedelta(days=1)
    expected = [
        ("closed", before, 0.0, 0.0, 0.0, None),
        ("closed", long_day, 0.0, 0.0, 0.0, None),
        ("closed", after, 0.0, 0.0, 0.0, None),
        ("s", before, 12.0, 12.0, 0.0, 1.0),
        ("s", long_day, hours_that_day, 0.0, hours_that_day, 0.0),
        ("s", after, 12.0, 0.0, 12.0, 0.0),
    ]
    assert daily(*frames, **options).rows() == expected
    assert reference_daily(*frames, **options) == expected


def test_invalid_store_ids_and_out_of_range_polls_handed_to_compute_report_are_left_out():
    # UTC 24/7 store "s": active poll at 12:00 (the latest valid one, so the default now).
    # "=cmd" (a formula), "-1" and a 257-character id are invalid ids, so they are not
    # listed and their later polls do not move the default now; a poll dated 2200 is out
    # of range and left out too. now = 12:00, 8-day horizon: "s" is up all week.
    noon = utc(2024, 7, 10, 12)
    polls = polls_frame(
        [
            ("s", noon, "active"),
            ("=cmd", noon + H, "active"),
            ("-1", noon + 2 * H, "inactive"),
            ("x" * 257, noon + 3 * H, "active"),
            ("s", utc(2200, 1, 1), "inactive"),
        ]
    )
    hours = hours_frame([("@sum", 0, time(9), time(17))])
    report = compute_report(polls, hours, tz_frame([("+1", "UTC"), ("s", "UTC")]))
    assert report_rows(report) == {"s": ALL_UP}
    assert report.equals(compute_report(polls.head(1), hours_frame([]), tz_frame([("s", "UTC")]), noon))


# --- parameters of the range views --------------------------------------------------


def test_range_parameters_are_checked():
    # start < end <= now is required; min_minutes is a number >= 0; stores is an iterable of ids.
    now = utc(2024, 7, 10, 12)
    frames = polls_frame([("s", now, "active")]), hours_frame([]), tz_frame([])
    for start, end in ((now - H, now - H), (now, now - H), (now - H, now + MIN), (utc(1969, 12, 31), now)):
        with pytest.raises(ConfigError):
            timeline(*frames, now, start=start, end=end)
    with pytest.raises(ConfigError):
        incidents(*frames, now, min_minutes=-1)
    with pytest.raises(ConfigError):
        daily(*frames, now, stores="s")
    with pytest.raises(ConfigError, match="horizon_active"):
        timeline(*frames, now, horizon_active=-H)
    # A range ending before now: polls after its end but not after now still place the last change.
    # Active at 10:00, inactive at 12:00 -> change at 11:00; range [09:00, 11:30).
    two = polls_frame([("s", now - 2 * H, "active"), ("s", now, "inactive")]), hours_frame([]), tz_frame([])
    got = timeline(*two, now, start=now - 3 * H, end=now - 30 * MIN, stores=["s", "nobody"]).rows()
    assert got == [("s", now - 3 * H, now - H, True, "active"), ("s", now - H, now - 30 * MIN, True, "inactive")]


def test_the_polls_read_reach_back_by_the_longer_horizon():
    # [now - 7 d - max(horizon_active, horizon_inactive), now] in epoch microseconds.
    now = utc(2024, 7, 10, 12)
    us = timedelta(microseconds=1)
    epoch = utc(1970, 1, 1)
    options = {"horizon_active": 2 * H, "horizon_inactive": timedelta(days=3)}
    assert reaching_polls(now, timedelta(days=1), **options) == (
        (now - timedelta(days=10) - epoch) // us,
        (now - epoch) // us,
    )
    assert reaching_polls(now, timedelta(days=1), start=now - H)[0] == (now - H - timedelta(days=1) - epoch) // us
