"""Status polls → the time each store is known *active* and known *inactive*, in ticks.

Rule (docs/rules.md, "Status timeline"): polls at or before ``now``; polls with the
same store and instant are one poll, inactive if any of them is; poll *i*
holds its status over ``[max(tᵢ − hᵢ, mᵢ₋₁), min(tᵢ + hᵢ, mᵢ))`` with ``mᵢ``
the midpoint to the next poll and ``hᵢ`` the horizon of poll *i*'s status
(``horizon_active`` or ``horizon_inactive``). Time covered by no poll has no
known status: it is simply absent from the result (the gaps are "unknown").
Midpoints fall on half microseconds, so instants here are *ticks* of half a
microsecond: ``2·t`` and ``tᵢ + tᵢ₊₁`` are exact.

Only polls in ``[window start − max(horizons), now]`` can reach the window;
the caller filters to that range first (dropping an earlier poll can only
move a boundary that lies before the window).
"""

from __future__ import annotations

import polars as pl

from storemon._instants import TICKS_PER_US

__all__ = ["status_intervals"]


def status_intervals(
    polls: pl.LazyFrame,
    window: tuple[int, int],
    horizons: tuple[int, int],
    *,
    t_bounds: tuple[int, int],
    stores: int,
) -> pl.DataFrame:
    """Maximal runs of known status per store, clipped to ``window``.

    ``polls`` has ``code`` (UInt32, below ``stores``), ``t`` (Int64
    microseconds, within ``t_bounds`` inclusive) and ``active`` (Boolean), any
    order, duplicates allowed; ``horizons`` is ``(active, inactive)`` in
    ticks. Returns ``code``, ``start``, ``end`` (Int64 ticks) and ``active``
    (Boolean): disjoint, non-empty intervals sorted by store and time, two
    touching intervals of a store always of different status.
    """
    lo, hi = window
    horizon_active, horizon_inactive = horizons
    code, t = pl.col("code"), pl.col("t")
    # Sorting puts inactive (False) first, so the first row of an instant
    # carries "inactive if any of them is".
    unique = _sorted(polls, t_bounds, stores).filter(~((code == code.shift(1)) & (t == t.shift(1))).fill_null(False))
    same_prev = (code == code.shift(1)).fill_null(False)
    same_next = (code == code.shift(-1)).fill_null(False)
    ticks = t * TICKS_PER_US
    if horizon_active == horizon_inactive:
        horizon: pl.Expr = pl.lit(horizon_active, pl.Int64)
    else:
        horizon = pl.when(pl.col("active")).then(horizon_active).otherwise(horizon_inactive).cast(pl.Int64)
    start = pl.when(same_prev).then(pl.max_horizontal(ticks - horizon, t.shift(1) + t))
    end = pl.when(same_next).then(pl.min_horizontal(ticks + horizon, t + t.shift(-1)))
    held = unique.select(
        "code",
        start.otherwise(ticks - horizon).clip(lo, hi).alias("start"),
        end.otherwise(ticks + horizon).clip(lo, hi).alias("end"),
        "active",
    )
    return _merge_touching(held.filter(pl.col("end") > pl.col("start")))


def _sorted(polls: pl.LazyFrame, t_bounds: tuple[int, int], stores: int) -> pl.DataFrame:
    """``polls`` collected and sorted by (code, t, active).

    When the three fit in one Int64 (as they do for any realistic window and
    store count) the query yields only that packed key, which is sorted alone
    and decoded: several times faster than sorting a frame by three columns.
    """
    t_lo, t_hi = t_bounds
    span = 2 * (t_hi - t_lo + 1)
    if t_hi < t_lo or max(stores, 1) * span >= 2**63:
        return polls.collect().sort("code", "t", "active")
    key = pl.col("code").cast(pl.Int64) * span + (pl.col("t") - t_lo) * 2 + pl.col("active").cast(pl.Int64)
    packed = polls.select(key.alias("key")).collect().to_series().sort()
    return packed.to_frame().select(
        (pl.col("key") // span).cast(pl.UInt32).alias("code"),
        (pl.col("key") % span // 2 + t_lo).alias("t"),
        (pl.col("key") % 2 == 1).alias("active"),
    )


def _merge_touching(intervals: pl.DataFrame) -> pl.DataFrame:
    """Join consecutive intervals of a store that touch (end == next start) and share a status.

    ``intervals`` are sorted by (code, start) and disjoint; the measure of
    each status is unchanged, only the row count shrinks (a run of active
    polls becomes one interval).
    """
    code, start, end, active = pl.col("code"), pl.col("start"), pl.col("end"), pl.col("active")
    continues = (code == code.shift(1)) & (start == end.shift(1)) & (active == active.shift(1))
    continued = (code == code.shift(-1)) & (end == start.shift(-1)) & (active == active.shift(-1))
    marked = intervals.with_columns(
        (~continues.fill_null(False)).alias("opens"), (~continued.fill_null(False)).alias("closes")
    )
    starts = marked.filter("opens").select("code", "start", "active")
    ends = marked.filter("closes").select("end")
    return pl.concat([starts, ends], how="horizontal").select("code", "start", "end", "active")
