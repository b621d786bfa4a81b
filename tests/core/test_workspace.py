"""core.workspace: a --workspace that is a file or cannot be created is a UserError, not a traceback."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.history import History
from core.workspace import Workspace


def test_workspace_that_is_a_file(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UserError, match="is a file, not a folder.*--workspace"):
        Workspace.resolve(blocker)


def test_workspace_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    ws = Workspace.resolve(blocker / "inside")  # does not exist yet: resolving creates nothing
    with pytest.raises(UserError, match="cannot create .*inside.*--workspace"):
        ws.ensure()
    with pytest.raises(UserError, match="history database: cannot create"):
        History(ws.db_path)
