"""Errors that are the user's to fix: the CLI prints them as one line, the dashboard next to the field."""
from __future__ import annotations

import errno


class UserError(ValueError):
    """A mistake in what the user asked for: the message names the field, the value and what is allowed."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class UnknownTaskError(UserError):
    pass


class TaskUnavailableError(UserError):
    """The task exists but its data cannot be loaded here; the message says why and how to fix it."""


class StorageError(UserError):
    """A file MTL Explorer reads or writes (the run store, a checkpoint, an export) cannot be used as it is;
    the message names the file and why."""

    def __init__(self, message: str, path=None, field: str | None = None):
        super().__init__(message, field=field)
        self.path = path


class StorageWriteError(StorageError):
    """A write was refused (a full disk, a read-only file or folder, a file-size limit, a failing device):
    nothing already written is damaged, and the same write succeeds once the cause is fixed."""


# OSError numbers of writes that fail because of where the file is, not what it holds.
_WRITE_REFUSED = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
                  errno.EFBIG: "the file-size limit is reached", errno.EROFS: "the file system is read-only",
                  errno.EACCES: "permission denied", errno.EPERM: "the file or its folder may not be changed",
                  errno.EIO: "the device reported an I/O error"}


def os_error_reason(exc: OSError) -> str:
    """What an OSError means for the user, e.g. 'the disk is full (No space left on device)'."""
    if exc.errno in _WRITE_REFUSED:
        return f"{_WRITE_REFUSED[exc.errno]} ({exc.strerror})"
    if exc.errno == errno.EISDIR:
        return "it is a directory, not a file"
    return exc.strerror or str(exc)


def file_error(exc: OSError, path=None, doing: str = "write") -> StorageError:
    """One line for an OSError on a file: `cannot {doing} PATH: why`. Refused writes are StorageWriteErrors."""
    where = path if path is not None else (exc.filename or "?")
    kind = StorageWriteError if exc.errno in _WRITE_REFUSED else StorageError
    return kind(f"cannot {doing} {where}: {os_error_reason(exc)}", path=where)


def write_refused(exc: BaseException) -> bool:
    """Did a write fail because of where it went (full disk, read-only, size limit), not what was written?"""
    return isinstance(exc, StorageWriteError) or (isinstance(exc, OSError) and exc.errno in _WRITE_REFUSED)
