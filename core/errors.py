"""Errors a user can fix: bad config, bad input files, taken names.

They carry a message that names the field or file and the fix; the CLI prints them without a
traceback and exits with status 2. Must not import anything heavier than the standard library.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass


class UserError(Exception):
    """Bad input from the user: the message says what is wrong and how to fix it."""

    exit_code = 2


@dataclass(frozen=True)
class Issue:
    """One problem found while validating: where (a dotted field path or a file), what, and the fix."""

    where: str
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.problem}"
        return f"{text} (fix: {self.fix})" if self.fix else text


class ConfigError(UserError):
    """Every problem found in a config, raised once so the user can fix them all in one go."""

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        count = len(self.issues)
        lines = [f"{count} problem{'s' if count != 1 else ''} in the config:"]
        lines += [f"  - {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


class HistoryBusy(UserError):
    """The history database stayed write-locked by another process past the busy timeout.

    Nothing was changed: the caller may retry (the worker's writers do, with backoff; the CLI and
    the studio say so to the user)."""


class DiskFull(Exception):
    """No space left on the disk while writing `path` (a checkpoint, a log, the database)."""

    def __init__(self, path: str, detail: str = ""):
        self.path = str(path)
        super().__init__(f"disk full: no space left on the device writing {self.path}" + (f" ({detail})" if detail else ""))


def find_disk_full(err: BaseException | None, default_path: str = "") -> DiskFull | None:
    """The DiskFull behind `err`, looking through its causes: an OSError ENOSPC/EDQUOT (its file,
    else `default_path`) or SQLite's "database or disk is full" (the error's `path`); else None."""
    seen = 0
    while err is not None and seen < 20:
        if isinstance(err, DiskFull):
            return err
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return DiskFull(err.filename or default_path, err.strerror or "")
        if "disk is full" in str(err).lower() or "no space left" in str(err).lower():
            return DiskFull(getattr(err, "path", "") or default_path, "the history database")
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None
