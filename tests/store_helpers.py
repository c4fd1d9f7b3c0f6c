"""Test helpers for the data store's on-disk layout (format 2: a commit log, checkpoints, key markers)."""

from __future__ import annotations

from pathlib import Path

#: Metadata: the descriptor, the commit log, checkpoints, idempotency keys, the group-commit queue, snapshot pins.
METADATA_DIRS = ("log", "checkpoints", "keys", "queue", "pins")


def data_files(root: Path) -> set[str]:
    """Every data file under the store: lock files, the descriptor and the metadata left out."""
    return {
        relative
        for path in root.rglob("*")
        if path.is_file()
        and not path.name.startswith(".")
        and (relative := path.relative_to(root).as_posix()) != "manifest.json"
        and relative.split("/", 1)[0] not in METADATA_DIRS
    }


def metadata_files(root: Path) -> list[Path]:
    """The metadata files (descriptor, log records, checkpoints, key markers)."""
    found = [root / "manifest.json"] if (root / "manifest.json").exists() else []
    for sub in METADATA_DIRS:
        found.extend(path for path in (root / sub).rglob("*") if path.is_file())
    return found


def is_store(root: Path) -> bool:
    """Whether ``root`` holds a store's descriptor."""
    return (root / "manifest.json").is_file()
