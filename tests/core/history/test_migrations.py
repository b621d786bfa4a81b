"""core.history.migrations: each migration is recorded once, several processes opening a fresh file
migrate it once, and a failing migration rolls back and stays pending."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from core.history import History, migrations
from core.history.migrations import apply_migrations, migration_names


def _count(h: History, table: str) -> int:
    return h.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_migrations_are_recorded_once_and_idempotent(workspace):
    with History(workspace.db_path) as first:
        rows = first.conn.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()
        assert [name for name, _ in rows] == migration_names()
        assert all(isinstance(applied_at, float) for _, applied_at in rows)
        assert apply_migrations(first.conn) == []  # nothing left to do
    with History(workspace.db_path) as again:  # reopening applies nothing twice
        assert _count(again, "_migrations") == len(migration_names())


def test_histories_opened_at_once_on_a_fresh_file_migrate_it_once(tmp_path):
    db_path, barrier, errors, opened = tmp_path / "fresh.db", threading.Barrier(4), [], []

    def open_one():
        try:
            barrier.wait()
            opened.append(History(db_path))
        except Exception as exc:  # collected and asserted below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(opened) == 4
    assert _count(opened[0], "_migrations") == len(migration_names())
    opened[0].create_run("seen-by-all", "train", {}, None)
    assert all(h.get_run("seen-by-all") for h in opened)
    for h in opened:
        h.close()


def test_a_failing_migration_rolls_back_and_stays_pending(workspace, monkeypatch):
    History(workspace.db_path).close()

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations, "_MIGRATIONS", [*migrations._MIGRATIONS, ("0099_broken", broken)])
    with pytest.raises(RuntimeError, match="boom"):
        History(workspace.db_path)
    conn = sqlite3.connect(workspace.db_path)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    applied = [row[0] for row in conn.execute("SELECT name FROM _migrations")]
    conn.close()
    assert "half_done" not in names
    assert "0099_broken" not in applied
