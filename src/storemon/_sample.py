"""The bundled sample data set (``storemon/sample``), found where the package is installed."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from storemon.exceptions import StoremonError

__all__ = ["sample_dir"]


def sample_dir() -> Path:
    """The directory of the bundled sample data set (three CSVs in the 2024 layout and a README).

    It is package data, so it is there in a checkout and in an installed wheel
    alike; :func:`storemon.load_dir` reads it as it is. Raises
    :class:`StoremonError` when storemon runs from an archive (a zip import),
    where the data has no directory of its own.
    """
    root = files("storemon") / "sample"
    if not isinstance(root, Path) or not root.is_dir():
        raise StoremonError(f"the bundled sample data set is not a directory here ({root}); is storemon zipped?")
    return root
