"""core.jobs under races, made deterministic with monkeypatched interleavings (no real workers).

Each test names what today's code did before the fix; each fails on that code.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from core import config, jobs
from core.backends import local
from core.config.presets import find
from core.errors import UserError
from core.history import History
from core.jobs import control, reconcile, spawn

DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


class FakeProc:
    """What `_launch` returns, without a worker: the pid of this (live) test process."""

    pid = os.getpid()


@pytest.fixture
def launches(monkeypatch):
    calls = []
    monkeypatch.setattr(spawn, "_launch", lambda run_dir, n: calls.append(run_dir) or FakeProc())
    return calls


def _running(history, name, **fields):
    history.create_run(name, "train", {}, None)
    history.set_status(name, "running", **fields)


def test_refresh_keeps_a_final_status_written_meanwhile(workspace, history, monkeypatch):
    """Before: refresh read `running`, saw no process, and set `lost` unconditionally, over the
    `finished` the worker wrote between the read and the write."""
    _running(history, "r", pid=999_999_999)

    def worker_finishes_now(run):
        with History(workspace.db_path) as other:
            other.set_status("r", "finished")
        return False

    monkeypatch.setattr(reconcile, "is_alive", worker_finishes_now)
    assert jobs.refresh(history, "r").status == "finished"


def test_reused_pid_is_not_the_worker_and_is_never_killed(history, monkeypatch):
    """Before: a live pid alone meant alive (after a reboot the run stayed `running` forever)
    and a second stop sent SIGKILL to that pid's group, a stranger."""
    me = os.getpid()
    started = jobs.process_start_time(me)
    _running(history, "stranger", pid=me, pid_started=started - 1000, heartbeat=time.time())
    _running(history, "mine", pid=me, pid_started=started, heartbeat=time.time())
    killed = []
    monkeypatch.setattr(os, "killpg", lambda pid, sig: killed.append(pid))
    assert jobs.refresh(history, "mine").status == "running"  # same pid and start time: alive
    assert jobs.refresh(history, "stranger").status == "lost"
    history.set_status("stranger", "running", only_from=("lost",))
    assert control._kill(history, history.get_run("stranger")) == "killed" and killed == []


def test_a_pid_from_another_host_or_without_a_start_time_is_never_signalled(workspace, history, monkeypatch):
    """Before: a row with pid 1 and no start time (a run recorded on a compute node) counted as
    our live worker, so a second stop, or a test's teardown, sent SIGKILL to process group 1:
    every service that init started here, the CI runner among them."""
    signalled = []
    monkeypatch.setattr(os, "killpg", lambda pid, sig: signalled.append(("group", pid)))
    monkeypatch.setattr(os, "kill", lambda pid, sig: signalled.append(("pid", pid)))
    _running(history, "remote", pid=1, host="node-7", heartbeat=time.time())
    _running(history, "legacy", pid=os.getppid(), heartbeat=time.time())  # live, but no start time
    assert not jobs.same_process(1, None) and not jobs.same_process(1, jobs.process_start_time(1))
    assert not jobs.same_process(os.getppid(), None)
    for name in ("remote", "legacy"):
        assert control._kill(history, history.get_run(name)) == "killed"
    with pytest.raises(ValueError, match="pid 1"):
        local.kill(1)
    assert signalled == []


def test_stale_heartbeat_on_this_host_means_lost(history):
    """Before: on the same host only the pid counted, so a hung worker stayed `running`."""
    me = os.getpid()
    _running(history, "hung", pid=me, pid_started=jobs.process_start_time(me), heartbeat=time.time() - jobs.HUNG_AFTER_S - 5)
    _running(
        history, "slow", pid=me, pid_started=jobs.process_start_time(me), heartbeat=time.time() - jobs.STALE_AFTER_S - 5
    )  # a delayed beat on a loaded machine
    assert jobs.refresh(history, "hung").status == "lost"
    assert jobs.refresh(history, "slow").status == "running"


def test_spawn_records_the_process_start_time(ready_workspace, history, launches):
    cfg = config.load(find("tiny"), DATA)
    run = jobs.start("train", cfg, ready_workspace, history, name="timed")
    assert run.pid == os.getpid() and run.pid_started == jobs.process_start_time(os.getpid())
    assert launches == [ready_workspace.models_dir / "timed"]


def _one_won(outcomes: list[str]) -> str:
    """The refusal, after checking that exactly one of two outcomes is a started (queued) run."""
    assert sorted(o == "queued" for o in outcomes) == [False, True], outcomes
    return next(o for o in outcomes if o != "queued")


def _stopped_run(workspace, history, name):
    run_dir = workspace.models_dir / name
    (run_dir / "checkpoint-10").mkdir(parents=True)
    (run_dir / jobs.JOB_FILE).write_text(
        json.dumps({"kind": "train", "name": name, "num_processes": 1, "workspace": str(workspace.root)})
    )
    history.create_run(name, "train", {}, run_dir)
    history.set_status(name, "stopped")
    return run_dir


def test_two_resumes_at_once_spawn_one_worker(workspace, history, launches, monkeypatch):
    """Before: both resumes read `stopped`, both set `queued` and both spawned a worker on one
    folder. The barrier holds each resume after its status check until both have made it."""
    from core.train import checkpoint as ckpt

    run_dir = _stopped_run(workspace, history, "twice")
    both_checked = threading.Barrier(2, timeout=20)
    monkeypatch.setattr(ckpt, "latest_valid", lambda folder, log=None: run_dir / "checkpoint-10")
    monkeypatch.setattr(ckpt, "verify", lambda path: both_checked.wait() and None)
    outcomes = []

    def resume():
        with History(workspace.db_path) as own:  # the CLI and the studio: two connections
            try:
                outcomes.append(jobs.resume("twice", workspace, own).status)
            except UserError as err:
                outcomes.append(str(err))

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(launches) == 1, outcomes
    refused = _one_won(outcomes)
    assert "another command resumed it first" in refused


def test_two_trains_with_one_name_at_once(ready_workspace, history, launches, monkeypatch):
    """Before: both passed the name check; the second got a misleading 'belongs to no run'
    (or a FileExistsError traceback) and could leave an orphan folder. The barrier holds both
    starts after their input checks, before the name check."""
    both_checked = threading.Barrier(2, timeout=20)
    monkeypatch.setattr(spawn, "check_trackers", lambda cfg: both_checked.wait())
    cfg = config.load(find("tiny"), DATA)
    outcomes = []

    def start():
        with History(ready_workspace.db_path) as own:
            try:
                outcomes.append(jobs.start("train", cfg, ready_workspace, own, name="same").status)
            except UserError as err:
                outcomes.append(str(err))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert "a run named 'same' already exists" in _one_won(outcomes)
    assert [p.name for p in ready_workspace.models_dir.iterdir()] == ["same"] and len(launches) == 1
    assert [r.name for r in history.list_runs()] == ["same"]


def test_read_only_database_at_start_leaves_nothing(ready_workspace, history, launches):
    """Before: the folder was made first, then the row failed with an sqlite3 traceback, and
    the folder blocked the name."""
    history.conn.execute("PRAGMA query_only=1")  # SQLite's read-only mode (root ignores chmod)
    with pytest.raises(UserError, match=f"{ready_workspace.db_path}.*cannot be written"):
        jobs.start("train", config.load(find("tiny"), DATA), ready_workspace, history, name="ro")
    assert not (ready_workspace.models_dir / "ro").exists() and launches == []


def test_failed_launch_removes_row_and_folder(ready_workspace, history, monkeypatch):
    def no_launch(run_dir, n):
        raise OSError("no more processes")

    monkeypatch.setattr(spawn, "_launch", no_launch)
    with pytest.raises(OSError):
        jobs.start("train", config.load(find("tiny"), DATA), ready_workspace, history, name="gone")
    assert history.get_run("gone") is None and not (ready_workspace.models_dir / "gone").exists()
