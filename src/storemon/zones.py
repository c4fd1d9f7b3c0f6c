"""Local wall-clock time → UTC, with the ``fold=0`` rule of PEP 495.

Polars converts one zone per call, so the conversion is partitioned by zone:
one vectorized ``replace_time_zone`` per distinct zone, never per row or store.

The rule (SPEC.md, "Business hours → UTC intervals"):

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


def local_to_utc_us(frame: pl.DataFrame, local: str, zone: str, out: str) -> pl.DataFrame:
    """Add column ``out``: the UTC epoch microseconds of naive ``local`` in ``zone``.

    ``local`` is Int64 microseconds of a naive wall-clock datetime (as if it were
    UTC); ``zone`` holds IANA names. Row order of ``frame`` is kept.
    """
    pairs = frame.select(local, zone).unique()
    converted = [
        _convert_one_zone(part, local, zone_name, out)
        for (zone_name,), part in pairs.partition_by(zone, as_dict=True).items()
    ]
    if not converted:
        return frame.with_columns(pl.lit(None, pl.Int64).alias(out))
    table = pl.concat(converted)
    return frame.join(table, on=[local, zone], how="left", maintain_order="left")


def _convert_one_zone(part: pl.DataFrame, local: str, zone_name: str, out: str) -> pl.DataFrame:
    def to_utc(us: pl.Expr) -> pl.Expr:
        return (
            us.cast(pl.Datetime("us"))
            .dt.replace_time_zone(zone_name, ambiguous="earliest", non_existent="null")
            .cast(pl.Int64)
        )

    wall = pl.col(local)
    day_before = wall - _DAY_US
    offset_before = day_before - to_utc(day_before)
    return part.with_columns(pl.coalesce(to_utc(wall), wall - offset_before).alias(out))
