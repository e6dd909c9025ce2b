"""The errors of an index on disk, each saying what is wrong and the way out."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path


class IndexProblem(RuntimeError):
    """Base class for index problems a user can fix; the message says how."""


class IndexMismatchError(IndexProblem):
    """The index was built with another embedding model or chunker than the one configured."""


class IndexLockedError(IndexProblem):
    """Another process is writing to this index."""


class IndexMissingError(IndexProblem):
    """There is no index at the configured location."""


class IndexDamagedError(IndexProblem):
    """A file of the index is missing or unreadable; the message names it and the way out."""


class IndexStorageError(IndexProblem):
    """The disk refused a write (full, read-only, failing, locked); nothing of that write was stored."""

    def __init__(self, message: str, *, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def storage_error(error: BaseException, path: Path, what: str) -> IndexStorageError:
    """`error` (an OSError or SQLite error) from writing `path`, as an `IndexStorageError`."""
    full = (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)) or (
        isinstance(error, sqlite3.Error)
        and (getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error))
    )
    locked = isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
    reason = "the disk is full" if full else "another program holds it locked" if locked else \
        "the disk refused the write"
    return IndexStorageError(f"cannot write {path}: {reason} ({error}); {what}", disk_full=full)
