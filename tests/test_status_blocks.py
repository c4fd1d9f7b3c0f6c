"""The timeline's array passes work block by block; where the blocks are cut changes nothing.

``storemon._core.status`` decodes the sorted key, drops repeated polls, takes
the midpoints and drops empty intervals ``_BLOCK`` elements at a time, in
place (so that no full-length temporary sits next to the start and end
arrays). A midpoint pairs the last poll of one block with the first of the
next, and the in-place filters move elements across blocks, so the
property cuts random polls into blocks of 1 to 5 elements and compares with
one block.
"""

from __future__ import annotations

from unittest import mock

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import storemon._core.status as status

ONE_BLOCK = 10**9
HOUR_TICKS = 2 * 3_600_000_000  # ticks are half microseconds


@st.composite
def polls(draw: st.DrawFn) -> pl.DataFrame:
    # Few stores and instants, so that repeated (store, instant) polls and
    # touching intervals are common; instants in microseconds.
    rows = draw(st.integers(0, 25))
    return pl.DataFrame(
        {
            "code": pl.Series([draw(st.integers(0, 3)) for _ in range(rows)], dtype=pl.UInt32),
            "t": pl.Series([draw(st.integers(0, 12)) * 900_000_000 for _ in range(rows)], dtype=pl.Int64),
            "active": pl.Series([draw(st.booleans()) for _ in range(rows)], dtype=pl.Boolean),
        }
    )


def intervals(frame: pl.DataFrame, block: int, horizons: tuple[int, int], window: tuple[int, int]) -> pl.DataFrame:
    t_bounds = (0, 12 * 900_000_000)
    with mock.patch.object(status, "_BLOCK", block):
        return status.status_intervals(frame.lazy(), window, horizons, t_bounds=t_bounds, stores=4)


@settings(max_examples=150)
@given(
    polls(),
    st.integers(1, 5),
    st.sampled_from([(HOUR_TICKS, HOUR_TICKS), (HOUR_TICKS // 2, 3 * HOUR_TICKS), (2**60, 2**60)]),
    st.sampled_from([(0, 6 * HOUR_TICKS), (HOUR_TICKS, 2 * HOUR_TICKS)]),
)
def test_blocks_give_the_intervals_of_one_block(
    frame: pl.DataFrame, block: int, horizons: tuple[int, int], window: tuple[int, int]
) -> None:
    assert_frame_equal(intervals(frame, block, horizons, window), intervals(frame, ONE_BLOCK, horizons, window))


def test_a_midpoint_across_two_blocks() -> None:
    # One store polled at 0 h (active) and 1 h (inactive), blocks of one poll:
    # the midpoint 0:30 (tick 2 · 1_800_000_000 = 3_600_000_000) pairs the
    # first block's poll with the second's. Horizon 1 h = 7_200_000_000 ticks,
    # window [0, 6 h): active [0, 0:30), inactive [0:30, 1 h + 1 h).
    frame = pl.DataFrame(
        {
            "code": pl.Series([0, 0], dtype=pl.UInt32),
            "t": [0, 3_600_000_000],
            "active": [True, False],
        }
    )
    got = intervals(frame, 1, (HOUR_TICKS, HOUR_TICKS), (0, 6 * HOUR_TICKS))
    assert got.rows() == [(0, 0, 3_600_000_000, True), (0, 3_600_000_000, 2 * HOUR_TICKS, False)]
