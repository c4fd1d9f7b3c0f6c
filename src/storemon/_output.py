"""Writing report and reject tables to files: CSV, Parquet or JSON lines.

Every writer goes through :class:`storemon._fileio.atomic_path`, so a reader
never sees a partial file under the final name and a device, FIFO or
symlink is written into, not replaced. The format comes from ``format=`` or
the file's extension (``.parquet``, ``.jsonl``/``.ndjson``; anything else is
CSV) — a CSV is never written under a ``.parquet`` name.

CSV is for people and spreadsheets: the report's figures are rounded for
display, and a text cell that a spreadsheet would run as a formula (one
beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
prefixed with ``'``. Instants (the timeline's and incidents' ``start`` and
``end``) are written as ISO 8601 UTC with ``Z`` and a fraction only when
there is one (3, 6 or 9 digits: nanoseconds only when needed). Parquet and
JSON lines keep the library's exact values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Literal

import polars as pl

from storemon._fileio import atomic_path
from storemon.exceptions import ConfigError
from storemon.schema import REPORT_COLUMNS

__all__ = [
    "FORMATS",
    "OutputFormat",
    "output_format",
    "display_report",
    "display_table",
    "csv_ready",
    "table_csv",
    "write_table",
    "write_report",
]

OutputFormat = Literal["csv", "parquet", "jsonl"]
#: The output formats, by name.
FORMATS: tuple[OutputFormat, ...] = ("csv", "parquet", "jsonl")

_EXTENSIONS: dict[str, OutputFormat] = {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_FORMULA_START = r"^[=+\-@\t\r]"


def output_format(path: str | os.PathLike[str] | None, format: str | None = None) -> OutputFormat:
    """The format to write ``path`` in: ``format`` when given, else by extension, else CSV."""
    if format is not None:
        name = format.lower()
        for known in FORMATS:
            if name == known:
                return known
        raise ConfigError(f"unknown output format {format!r} (expected one of: {', '.join(FORMATS)})")
    suffix = Path(path).suffix.lower() if path is not None else ""
    return _EXTENSIONS.get(suffix, "csv")


def display_report(report: pl.DataFrame, decimals: int = 2) -> pl.DataFrame:
    """The report rounded for display (the library's own figures stay unrounded)."""
    return report.with_columns(pl.col(list(REPORT_COLUMNS)).round(decimals))


def display_table(frame: pl.DataFrame, decimals: int = 2) -> pl.DataFrame:
    """Any result rounded for display: floats to ``decimals``, a ``…_ratio`` column to ``decimals + 2``."""
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    return frame.with_columns(
        pl.col(name).round(decimals + 2 if name.endswith("_ratio") else decimals) for name in floats
    )


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as a CSV writes it: instants as ISO 8601 UTC text, spreadsheet-safe text cells."""
    instants = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
    if instants:
        frame = frame.with_columns(_iso_utc(pl.col(name)).alias(name) for name in instants)
    return _spreadsheet_safe(frame)


def table_csv(frame: pl.DataFrame) -> str:
    """``frame`` as CSV text, exactly as :func:`write_table` writes it (no rounding: see :func:`display_report`)."""
    return csv_ready(frame).write_csv()


def _iso_utc(column: pl.Expr) -> pl.Expr:
    """``2024-01-03T15:00:00Z``, ``…:00.5Z`` → chrono's ``%.f``: 0, 3, 6 or 9 fraction digits as needed."""
    return column.dt.convert_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")


def write_table(frame: pl.DataFrame, path: str | os.PathLike[str], format: str | None = None) -> Path:
    """Write ``frame`` to ``path`` (format from ``format`` or the extension), atomically."""
    kind = output_format(path, format)
    writer = atomic_path(path)
    with writer as destination:
        if writer.tmp is None:
            # Written in place (a device, a FIFO): open it once ourselves. Polars opens a path
            # twice, and a FIFO's reader sees end-of-file between the two opens.
            with open(destination, "wb") as fh:
                _write(frame, fh, kind)
        else:
            _write(frame, destination, kind)
    return Path(path)


def _write(frame: pl.DataFrame, destination: Path | BinaryIO, kind: OutputFormat) -> None:
    if kind == "parquet":
        frame.write_parquet(destination)
    elif kind == "jsonl":
        frame.write_ndjson(destination)
    else:
        csv_ready(frame).write_csv(destination)


def write_report(
    report: pl.DataFrame, path: str | os.PathLike[str], format: str | None = None, *, decimals: int = 2
) -> Path:
    """Write a report: CSV rounded to ``decimals`` for display, Parquet and JSON lines exact."""
    kind = output_format(path, format)
    return write_table(display_report(report, decimals) if kind == "csv" else report, path, kind)


def _spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells a spreadsheet would execute, prefixed with ``'`` (OWASP's CSV-injection advice)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(_FORMULA_START)).then("'" + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name in text
    )
