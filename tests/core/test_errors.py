"""core.errors: `find_disk_full` finds a full disk behind an error's causes and names the path;
`HistoryBusy` is a UserError (the CLI and the studio show it as a message, not a traceback)."""

from __future__ import annotations

import errno
import sqlite3

from core.errors import DiskFull, HistoryBusy, UserError, find_disk_full
from core.history.schema import busy, unwritable


def test_disk_full_is_found_through_causes_with_its_path():
    direct = OSError(errno.ENOSPC, "No space left on device", "/runs/r/model.safetensors")
    assert find_disk_full(direct).path == "/runs/r/model.safetensors"
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("while logging")  # the implicit context chain is what is tested
    except RuntimeError as wrapped:
        found = find_disk_full(wrapped, default_path="/runs/r (run.log)")
    assert found.path == "/runs/r (run.log)" and "disk full" in str(found)
    db_full = unwritable("/ws/studio.db", sqlite3.OperationalError("database or disk is full"))
    assert find_disk_full(db_full).path == "/ws/studio.db"
    assert isinstance(find_disk_full(DiskFull("/x/checkpoint-20")), DiskFull)
    assert find_disk_full(OSError(errno.EACCES, "Permission denied", "/x")) is None
    assert find_disk_full(ValueError("bad")) is None


def test_a_locked_database_is_history_busy_other_errors_are_not():
    err = busy("/ws/studio.db", sqlite3.OperationalError("database is locked"))
    assert isinstance(err, HistoryBusy) and isinstance(err, UserError)
    assert "/ws/studio.db is busy" in str(err) and "retry" in str(err)
    assert busy("/ws/studio.db", sqlite3.OperationalError("no such table: runs")) is None
