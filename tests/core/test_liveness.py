"""core.liveness: retries of a locked history, the heartbeat thread, and how readers tell a worker
that cannot write ("running (history writes delayed)") from a dead one."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time

import pytest

from core import jobs, liveness
from core.errors import HistoryBusy
from core.history import History, Kind, Run, Status, schema


@pytest.fixture
def short_busy(monkeypatch):
    """A 0.2 s busy timeout, so a held lock turns into HistoryBusy quickly."""
    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 200)


def _locked(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_held_lock_is_history_busy_and_nothing_changes(workspace, short_busy):
    with History(workspace.db_path) as h:
        h.create_run("r", "train", {}, None)
        lock = _locked(workspace.db_path)
        try:
            with pytest.raises(HistoryBusy, match="is busy.*retry in a moment"):
                h.create_run("r2", "train", {}, None)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert h.get_run("r2") is None
        h.create_run("r2", "train", {}, None)  # the retry passes once the lock is gone
        assert h.get_run("r2").status == "queued"


def test_retry_busy_waits_out_the_lock_and_gives_up_after_patience(capsys):
    tries = []

    def write():
        tries.append(time.monotonic())
        if len(tries) < 3:
            raise HistoryBusy("busy")
        return "done"

    assert liveness.retry_busy(write, "the thing") == "done" and len(tries) == 3
    out = capsys.readouterr().out
    assert "locked by another process; the thing waits" in out and "the thing written after" in out

    def never():
        raise HistoryBusy("busy")

    started = time.monotonic()
    with pytest.raises(HistoryBusy):
        liveness.retry_busy(never, "x", patience=0.6)
    assert 0.5 < time.monotonic() - started < 3


def test_heartbeat_keeps_beating_the_file_while_the_row_is_locked(workspace, short_busy, monkeypatch, capsys):
    monkeypatch.setattr(liveness, "HEARTBEAT_S", 0.1)
    run_dir = workspace.root / "models" / "hb"
    run_dir.mkdir(parents=True)
    with History(workspace.db_path) as h:
        h.create_run("hb", "train", {}, run_dir)
        beat = liveness.Heartbeat(workspace.db_path, "hb", run_dir)
        beat.report(7, 100)
        lock = _locked(workspace.db_path)
        beat.start()
        try:
            time.sleep(1.5)
            assert beat.is_alive(), "a locked database must not end the heartbeat"
            assert time.time() - (run_dir / liveness.BEAT_FILE).stat().st_mtime < 1.0
            assert beat.delayed_since is not None
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        deadline = time.monotonic() + 5
        while h.get_run("hb").step != 7 and time.monotonic() < deadline:
            time.sleep(0.05)
        row = h.get_run("hb")
        beat.halt.set()
        beat.join(5)
    assert (row.step, row.total_steps) == (7, 100) and row.heartbeat > time.time() - 5
    assert beat.delayed_since is None
    out = capsys.readouterr().out
    assert "is locked by another process" in out and "writable again" in out


def test_a_live_worker_with_a_stale_row_beat_is_delayed_not_lost(tmp_path):
    run = Run(
        "r",
        Kind.TRAIN,
        Status.RUNNING,
        run_dir=str(tmp_path),
        pid=os.getpid(),
        pid_started=jobs.process_start_time(os.getpid()),
        heartbeat=time.time() - jobs.HUNG_AFTER_S - 60,
    )
    assert not jobs.is_alive(run)  # no file beat: a live pid this silent is hung
    assert liveness.status_text(run) == "running"
    (tmp_path / liveness.BEAT_FILE).touch()
    assert jobs.is_alive(run) and liveness.writes_delayed(run)
    assert liveness.status_text(run) == "running (history writes delayed)"
    gone = dataclasses.replace(run, pid=2**22 + 12345)  # a dead pid stays dead whatever the file says
    assert not jobs.is_alive(gone)
    fresh = dataclasses.replace(run, heartbeat=time.time())
    assert jobs.is_alive(fresh) and not liveness.writes_delayed(fresh)
