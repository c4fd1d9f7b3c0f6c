"""Low-level file primitives: atomic, durable writes that respect what a path is.

Both the report writers (:mod:`storemon._output`) and the data store use
these, so "a reader never sees half a file" means the same everywhere:

* a **regular file** (or a path that does not exist yet) is written to a
  temporary file in the same directory, fsync'd and renamed into place, then
  the directory is fsync'd;
* a **symlink** is followed: its target is written, atomically when the
  target is (or will be) a regular file — the link itself stays;
* anything else that exists — a character device such as ``/dev/null``, a
  FIFO, ``/dev/stdout`` — is written *into*, never replaced: we run as root
  and must not swap a device node or a pipe for a regular file.

Errors name the path the caller gave, not a temporary file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["atomic_path", "temp_pattern", "fsync_dir", "fsync_path", "FILE_MODE"]

#: mkstemp creates 0600 files; finished outputs are ordinary readable files.
FILE_MODE = 0o644


def temp_pattern(name: str) -> str:
    """The glob pattern of :class:`atomic_path`'s temporary files for a target called ``name``."""
    return f".{name}.*.tmp"


class atomic_path:
    """Context manager yielding the path to write; on success it becomes ``path``.

    For a regular (or new) file that is a temporary file renamed over the
    target when the block ends without an exception (removed otherwise, the
    target untouched). For a device or FIFO it is the path itself.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.tmp: Path | None = None
        self.target = self.path

    def __enter__(self) -> Path:
        try:
            if _is_special(self.path):
                return self.path
            # A symlink (possibly dangling) is written through: its target is replaced.
            self.target = Path(os.path.realpath(self.path)) if self.path.is_symlink() else self.path
            self.target.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp", dir=self.target.parent)
        except OSError as exc:
            raise _naming(exc, self.path) from None
        os.close(fd)
        self.tmp = Path(name)
        return self.tmp

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tmp is None:  # written in place (device, FIFO)
            if isinstance(exc, OSError):
                raise _naming(exc, self.path) from None
            return
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _naming(exc, self.path) from None
            return
        try:
            os.chmod(self.tmp, FILE_MODE)
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.target)
            fsync_dir(self.target.parent)
        except OSError as error:
            self.tmp.unlink(missing_ok=True)
            raise _naming(error, self.path) from None
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new entry in ``directory`` durable."""
    fsync_path(directory)


def fsync_path(path: Path) -> None:
    """fsync a file or directory by its path (for files written and closed earlier)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_special(path: Path) -> bool:
    """Whether ``path`` (followed through links) exists and is not a regular file or directory."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` with the caller's path as its file name (not a temporary file's)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))
