"""Ticks → minutes and hours, correctly rounded whatever the frame.

Every figure is a whole number of ticks (half-microseconds) divided by the
ticks of its unit (docs/rules.md, "Units"). The quotient is rounded once, to
the nearest Float64 (IEEE 754 division), so a store's figure depends only on
that store's ticks: not on how many other stores share its frame, nor on how
a frame is split into shards or chunks.

Polars does not give that for ``column / scalar``: it multiplies by the
reciprocal of the scalar, which is off by one unit in the last place for
about one value in ten and is not used on every path alike (a sharded report
was a few ULP away from the unsharded one). So the division is done by NumPy,
whose ``/`` is the correctly rounded IEEE division, on the whole column at
once (vectorized; elementwise, so the streaming engine may split it).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from storemon._instants import TICKS_PER_US

__all__ = ["TICKS_PER_MINUTE", "TICKS_PER_HOUR", "in_units"]

#: Ticks in a minute and in an hour.
TICKS_PER_MINUTE = 60 * 1_000_000 * TICKS_PER_US
TICKS_PER_HOUR = 60 * TICKS_PER_MINUTE


def in_units(ticks: pl.Expr, unit: int) -> pl.Expr:
    """``ticks / unit`` as Float64, correctly rounded (null stays null)."""

    def divide(column: pl.Series) -> pl.Series:
        values = column.cast(pl.Float64).to_numpy()  # a null becomes NaN: no tick count is NaN
        return pl.Series(column.name, np.divide(values, float(unit)), dtype=pl.Float64, nan_to_null=True)

    return ticks.map_batches(divide, return_dtype=pl.Float64, is_elementwise=True)
