"""What the tabs share: the workspace, and a way to open the history. Passed in, never global.

A `StudioContext` is immutable; it holds no job state (that lives in SQLite), so any number of
browser sessions can share it safely. Must not hold Gradio components.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from core.history import History
from core.workspace import Workspace


@dataclass(frozen=True)
class StudioContext:
    """The workspace the studio serves."""

    workspace: Workspace

    @contextmanager
    def history(self) -> Iterator[History]:
        """A short-lived connection: each handler call opens its own (cheap; WAL readers never block)."""
        h = History(self.workspace.db_path)
        try:
            yield h
        finally:
            h.close()
