"""Errors a user can fix: bad config, bad input files, taken names.

They carry a message that names the field or file and the fix; the CLI prints them without a
traceback and exits with status 2. Must not import anything heavier than the standard library.
"""
from __future__ import annotations

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
