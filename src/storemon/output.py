"""Writing report and reject tables to files, atomically.

A reader never sees a partial file under the final name: every writer here
writes to a temporary file in the destination directory, flushes and fsyncs
it, then renames it into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from storemon.schema import REPORT_COLUMNS

__all__ = ["atomic_path", "display_report", "fsync_dir", "write_csv_atomic", "write_report_csv"]

# mkstemp creates 0600 files; finished outputs are ordinary readable files.
_FILE_MODE = 0o644


class atomic_path:
    """Context manager yielding a temp path that is renamed to ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            os.chmod(self.tmp, _FILE_MODE)
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def display_report(report: pl.DataFrame, decimals: int = 2) -> pl.DataFrame:
    """The report rounded for display (the library's own figures stay unrounded)."""
    return report.with_columns(pl.col(list(REPORT_COLUMNS)).round(decimals))


def write_csv_atomic(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` as CSV to ``path`` via temp file + rename; return the path."""
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)
    return Path(path)


def write_report_csv(report: pl.DataFrame, path: str | os.PathLike[str], decimals: int = 2) -> Path:
    """Write a report as CSV, figures rounded to ``decimals``, atomically."""
    return write_csv_atomic(display_report(report, decimals), path)
