"""Finding ingest sources: which files a path stands for and which table each holds."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from storemon._load import FILE_NAMES, OPTIONAL_FILE_NAMES
from storemon.exceptions import ConfigError, FileFormatError

__all__ = ["KINDS", "find_sources", "file_sha256"]


#: The tables, in the order a data directory's files are ingested (special hours only when present).
KINDS = ("polls", "hours", "timezones", "special")
_NAMES = {**FILE_NAMES, **OPTIONAL_FILE_NAMES}


def find_sources(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[str, Path]]:
    """``(kind, file)`` for every argument, directories expanded."""
    if not paths:
        raise ConfigError("nothing to ingest: give data directories or files")
    found: list[tuple[str, Path]] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found.extend(_files_in(path))
        elif path.exists():
            found.append((_kind_of(path), path))
        else:
            raise FileFormatError("no such file or directory", file=str(path))
    return found


def _files_in(directory: Path) -> list[tuple[str, Path]]:
    entries = sorted(entry for entry in directory.iterdir() if entry.is_file())
    found: list[tuple[str, Path]] = []
    for kind in KINDS:
        matches = [entry for entry in entries if _name_matches(entry, kind)]
        if len(matches) > 1:
            names = ", ".join(repr(m.name) for m in matches)
            raise FileFormatError(
                f"several {kind} files ({names}): keep one, or name files explicitly", file=str(directory)
            )
        found.extend((kind, match) for match in matches)
    if not found:
        wanted = ", ".join(repr(name) for names in FILE_NAMES.values() for name in names)
        raise FileFormatError(f"no input files: looked for {wanted}", file=str(directory))
    return found


def _name_matches(path: Path, kind: str) -> bool:
    return any(fnmatch.fnmatchcase(path.name.lower(), pattern.lower()) for pattern in _NAMES[kind])


def _kind_of(path: Path) -> str:
    """Which table a file holds: by its name, else by its header."""
    for kind in KINDS:
        if _name_matches(path, kind):
            return kind
    columns = {name.strip().lower() for name in _header(path)}
    if "status" in columns:
        return "polls"
    if "timezone_str" in columns:
        return "timezones"
    if "date_local" in columns:
        return "special"
    if "start_time_local" in columns:
        return "hours"
    raise FileFormatError(
        f"cannot tell which table this is (columns {sorted(columns)}): expected a 'status', "
        "'timezone_str', 'date_local' or 'start_time_local' column",
        file=str(path),
    )


def _header(path: Path) -> list[str]:
    try:
        if path.suffix.lower() == ".parquet":
            return pl.scan_parquet(path, hive_partitioning=False).collect_schema().names()
        return pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(
            f"cannot read the header: {str(exc).splitlines()[0] if str(exc) else exc}", file=str(path)
        ) from None


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, as hex (the key of idempotent ingests)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise FileFormatError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return digest.hexdigest()
