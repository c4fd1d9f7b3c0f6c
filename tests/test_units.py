"""Ticks → minutes and hours: correctly rounded, so a store's figures never depend on the other stores.

Polars computes ``column / scalar`` through the scalar's reciprocal, one unit
in the last place off for about one value in ten; these tests pin that
``storemon._core.units.in_units`` rounds like Python's ``int / int`` (the
correctly rounded quotient) and that a report over some of the stores equals
the full report's rows for them, bit for bit — what sharded reports rely on.
"""

from __future__ import annotations

import random
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from storemon import load_dir, report_views
from storemon._core.units import TICKS_PER_HOUR, TICKS_PER_MINUTE, in_units
from storemon._generate import generate_dataset

TICK_COUNTS = st.lists(st.integers(min_value=0, max_value=2 * 3_600_000_000 * 24 * 400), max_size=300)


def divided(ticks: list[int | None], unit: int) -> list[float | None]:
    return pl.DataFrame({"t": ticks}, schema={"t": pl.Int64}).select(in_units(pl.col("t"), unit))["t"].to_list()


def test_hand_computed_units():
    # 90 min = 90 · 60 s · 2,000,000 ticks/s = 10,800,000,000 ticks: 90.0 minutes, 1.5 hours.
    # 1 tick is half a microsecond: 1 / 7,200,000,000 h; a null stays null.
    assert TICKS_PER_MINUTE == 120_000_000 and TICKS_PER_HOUR == 7_200_000_000
    assert divided([10_800_000_000, 0, None], TICKS_PER_MINUTE) == [90.0, 0.0, None]
    assert divided([10_800_000_000, 1], TICKS_PER_HOUR) == [1.5, 1 / 7_200_000_000]


@given(TICK_COUNTS, st.sampled_from([TICKS_PER_MINUTE, TICKS_PER_HOUR]))
def test_in_units_is_the_correctly_rounded_quotient(ticks, unit):
    # Python's int / int is the quotient rounded once to the nearest float.
    assert divided(ticks, unit) == [t / unit for t in ticks]


def test_a_long_column_is_divided_exactly():
    # 200,000 values: plain Polars division differs from the correctly rounded one for
    # thousands of them (checked below, so this test shows what it guards against).
    rng = random.Random(20261202)
    ticks = [rng.randrange(0, 2_419_200_000_000) for _ in range(200_000)]
    exact = [t / TICKS_PER_HOUR for t in ticks]
    plain = pl.Series(ticks, dtype=pl.Int64) / TICKS_PER_HOUR
    assert sum(a != b for a, b in zip(plain.to_list(), exact, strict=True)) > 0
    assert divided(ticks, TICKS_PER_HOUR) == exact


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    data = tmp_path_factory.mktemp("units-data")
    generate_dataset(data, stores=300, days=9, seed=7)
    return load_dir(data)


@pytest.mark.parametrize(("first", "keep_every"), [(0, 2), (1, 3), (5, 7), (11, 1_000)])
def test_figures_of_some_stores_equal_the_full_reports_rows(inputs, first, keep_every):
    # A subset of stores (as a shard would have; the last case keeps one store): every row of every view equals the
    # full computation's row for that store, exactly (check_exact; no tolerance).
    now = inputs.polls["timestamp_utc"].max() - timedelta(minutes=17)
    ids = sorted(inputs.polls["store_id"].unique().to_list())[first::keep_every]
    some = pl.col("store_id").is_in(pl.Series(ids).implode())
    full = report_views(inputs.polls, inputs.hours, inputs.timezones, now, special=inputs.special, days=8)
    part = report_views(
        inputs.polls.filter(some),
        inputs.hours.filter(some),
        inputs.timezones.filter(some),
        now,
        special=inputs.special.filter(some),
        days=8,
    )
    for name in ("report", "timeline", "incidents", "daily"):
        expected = getattr(full, name).filter(some)
        assert expected.height > 0, name
        assert_frame_equal(getattr(part, name), expected, check_exact=True)
