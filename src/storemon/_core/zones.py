"""Local wall-clock time → UTC, with the ``fold=0`` rule of PEP 495.

Polars converts one zone per call, so the conversion is partitioned by zone:
one vectorized ``replace_time_zone`` per distinct zone, never per row or store.

The rule (docs/rules.md, "Business hours → UTC intervals"):

* an **ambiguous** wall time (clocks went back) takes its first occurrence —
  Polars' ``ambiguous="earliest"``;
* a **non-existent** wall time (clocks went forward) is read with the offset
  in force before the change. Polars can only return null there, so for those
  rows the offset is taken from the same wall time one day earlier, which lies
  before the transition (no zone has two transitions within a day).
"""

from __future__ import annotations

import polars as pl

__all__ = ["local_to_utc_us"]

_DAY_US = 86_400 * 1_000_000


def local_to_utc_us(frame: pl.DataFrame, columns: dict[str, str], zone: str) -> pl.DataFrame:
    """Add, for each ``local → out`` in ``columns``, the UTC epoch microseconds of ``local`` in ``zone``.

    Each ``local`` column is Int64 microseconds of a naive wall-clock datetime
    (as if it were UTC); ``zone`` holds IANA names. Every distinct (wall time,
    zone) pair over all the columns is converted once. Row order is kept.
    """
    pairs = pl.concat([frame.select(pl.col(local).alias("wall"), zone) for local in columns]).unique()
    converted = [
        _convert_one_zone(part, zone_name) for (zone_name,), part in pairs.partition_by(zone, as_dict=True).items()
    ]
    table = pl.concat(converted) if converted else pairs.with_columns(pl.lit(None, pl.Int64).alias("utc"))
    for local, out in columns.items():
        lookup = table.rename({"wall": local, "utc": out})
        frame = frame.join(lookup, on=[local, zone], how="left", maintain_order="left")
    return frame


def _convert_one_zone(part: pl.DataFrame, zone_name: str) -> pl.DataFrame:
    def to_utc(us: pl.Expr) -> pl.Expr:
        return (
            us.cast(pl.Datetime("us"))
            .dt.replace_time_zone(zone_name, ambiguous="earliest", non_existent="null")
            .cast(pl.Int64)
        )

    wall = pl.col("wall")
    day_before = wall - _DAY_US
    offset_before = day_before - to_utc(day_before)
    return part.with_columns(pl.coalesce(to_utc(wall), wall - offset_before).alias("utc"))
