"""Exceptions raised by storemon.

The hierarchy is small and flat::

    StoremonError                 base class of everything storemon raises
    ├── InputError                input data that cannot be used
    │   ├── FileFormatError       a whole file is unusable: missing, empty,
    │   │                         not CSV/Parquet, or lacks a required column
    │   └── InvalidRowError       strict mode: the first invalid row
    ├── ConfigError               a bad parameter (``now``, ``horizon``, zone …)
    └── StoreError                the on-disk data store is unusable
        └── StaleVersionError     a table replace was conditional on a version that
                                  is no longer current (someone else replaced it)

``InputError`` carries ``file``, ``line``, ``column`` and ``value`` where they
are known (``None`` otherwise) so that callers can show them to a person.
"""

from __future__ import annotations

__all__ = [
    "StoremonError",
    "InputError",
    "FileFormatError",
    "InvalidRowError",
    "ConfigError",
    "StoreError",
    "StaleVersionError",
]


class StoremonError(Exception):
    """Base class of every error storemon raises on purpose."""


class InputError(StoremonError):
    """Input data that cannot be used; says where, when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.value = value

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class FileFormatError(InputError):
    """A whole file is unusable (missing, empty, not CSV/Parquet, no such column)."""


class InvalidRowError(InputError):
    """In strict mode, the first invalid row of a file."""


class ConfigError(StoremonError):
    """A parameter that cannot be used (bad ``now``, negative horizon, unknown zone)."""


class StoreError(StoremonError):
    """The on-disk data store is missing, damaged or cannot be written."""


class StaleVersionError(StoreError):
    """A conditional replace of a table found another current version; nothing was changed.

    ``expected`` is the version the caller named, ``current`` the store's.
    """

    def __init__(self, table: str, expected: str, current: str) -> None:
        super().__init__(f"{table}: the current version is {current}, not {expected}; nothing was changed")
        self.table, self.expected, self.current = table, expected, current
