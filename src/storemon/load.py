"""Loading and validating the three input files (interface; body being written)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl


@dataclass(frozen=True)
class Loaded:
    """One loaded file: the valid rows as a typed frame, and the rejected ones."""

    frame: pl.DataFrame
    rejects: pl.DataFrame
    file: str
    rows_read: int


@dataclass(frozen=True)
class Inputs:
    """The three typed frames of a report plus every rejected row."""

    polls: pl.DataFrame
    hours: pl.DataFrame
    timezones: pl.DataFrame
    rejects: pl.DataFrame


def load_polls(source: str | Path, *, strict: bool = False) -> Loaded:
    """Load status polls (CSV or Parquet)."""
    raise NotImplementedError


def load_hours(source: str | Path, *, strict: bool = False) -> Loaded:
    """Load weekly business hours (CSV or Parquet)."""
    raise NotImplementedError


def load_timezones(source: str | Path, *, strict: bool = False) -> Loaded:
    """Load store time zones (CSV or Parquet)."""
    raise NotImplementedError


def load_inputs(polls: str | Path, hours: str | Path, timezones: str | Path, *, strict: bool = False) -> Inputs:
    """Load the three files given explicitly."""
    raise NotImplementedError


def load_dir(path: str | Path, *, strict: bool = False) -> Inputs:
    """Find the three files in a directory by their 2024 or 2023 names and load them."""
    raise NotImplementedError
