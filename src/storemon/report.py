"""compute_report (interface; body being written)."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from storemon.defaults import DEFAULT_HORIZON, DEFAULT_TIMEZONE


def compute_report(
    polls: pl.DataFrame | pl.LazyFrame,
    hours: pl.DataFrame | pl.LazyFrame,
    tz: pl.DataFrame | pl.LazyFrame,
    now: datetime | None = None,
    *,
    horizon: timedelta | None = DEFAULT_HORIZON,
    default_timezone: str = DEFAULT_TIMEZONE,
) -> pl.DataFrame:
    """Uptime/downtime per store over business hours (SPEC.md)."""
    raise NotImplementedError
