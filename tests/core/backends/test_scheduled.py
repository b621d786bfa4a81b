"""The head's reconciliation of a SLURM run's row with the scheduler's state (states given, no cluster)."""

from __future__ import annotations

import json

import pytest

from core.backends import scheduled, state
from core.backends.config import Cluster
from core.errors import UserError
from core.history import History


@pytest.fixture
def history(workspace):
    with History(workspace.db_path) as h:
        yield h


def _run(history, workspace, status, **fields):
    history.create_run("r", "train", {}, workspace.models_dir / "r")
    history.set_status("r", status, backend="slurm", scheduler_job="7", **fields)
    return history.get_run("r")


def _scheduler_says(monkeypatch, found):
    monkeypatch.setattr(state, "query", lambda job_id: found)


def test_a_job_that_ended_before_its_worker_reported_takes_the_mapped_status(history, workspace, monkeypatch):
    run = _run(history, workspace, "running")
    _scheduler_says(monkeypatch, state.SchedulerState("7", "OUT_OF_MEMORY", "OutOfMemory"))
    run = scheduled.refresh(history, run)
    assert run.status == "failed" and "OUT_OF_MEMORY" in run.error and "runs resume r" in run.hint


def test_a_stopped_run_that_slurm_requeued_is_queued_again_but_a_user_stop_stays(history, workspace, monkeypatch):
    run = _run(history, workspace, "stopped")
    _scheduler_says(monkeypatch, state.SchedulerState("7", "RUNNING", "", restarts=0))
    assert scheduled.refresh(history, run).status == "stopped"  # not requeued (yet): the worker's status holds
    _scheduler_says(monkeypatch, state.SchedulerState("7", "PENDING", "BeginTime", restarts=1))
    run = scheduled.refresh(history, history.get_run("r"))
    assert run.status == "queued" and "requeued by SLURM" in run.hint and run.ended is None
    history.set_status("r", "stopped", stop_requested=1)
    assert scheduled.refresh(history, history.get_run("r")).status == "stopped"


def test_the_state_shown_follows_the_scheduler_and_keeps_the_times(history, workspace, monkeypatch):
    run = _run(history, workspace, "finished", started=100.0, ended=200.0)
    _scheduler_says(monkeypatch, state.SchedulerState("7", "COMPLETED"))
    run = scheduled.refresh(history, run)
    assert (run.status, run.scheduler_state, run.started, run.ended) == ("finished", "COMPLETED", 100.0, 200.0)
    _scheduler_says(monkeypatch, None)  # forgotten after MinJobAge: a final run keeps its last state
    assert scheduled.refresh(history, run).scheduler_state == "COMPLETED"


def test_a_job_the_scheduler_forgot_while_active_is_lost(history, workspace, monkeypatch):
    run = _run(history, workspace, "queued")
    _scheduler_says(monkeypatch, None)
    run = scheduled.refresh(history, run)
    assert run.status == "lost" and "no longer knows job 7" in run.error


def test_submitting_without_sbatch_names_the_fix(history, workspace, monkeypatch, tmp_path):
    run_dir = workspace.models_dir / "r"
    run_dir.mkdir(parents=True)
    (run_dir / "job.json").write_text(json.dumps({"workspace": str(workspace.root), "cluster": vars(Cluster())}))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UserError, match="no `sbatch` on PATH"):
        scheduled.submit(history, "r", run_dir)
