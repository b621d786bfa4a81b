"""SLURM states as scontrol reports them, mapped onto our run statuses."""

from __future__ import annotations

from core.backends.state import SchedulerState, parse_scontrol


def test_scontrol_lines_give_state_reason_and_restarts():
    line = (
        "JobId=42 JobName=s3 UserId=root(0) JobState=PENDING Reason=BeginTime Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1"
    )
    found = parse_scontrol("42", line)
    assert found == SchedulerState("42", "PENDING", "BeginTime", 2)
    assert found.status == "queued" and found.active and found.describe() == "PENDING (BeginTime)"
    assert parse_scontrol("42", "slurm_load_jobs error: Invalid job id specified") is None


def test_every_state_the_issue_names_maps_onto_a_status():
    expected = {
        "PENDING": "queued",
        "RUNNING": "running",
        "COMPLETED": "finished",
        "FAILED": "failed",
        "TIMEOUT": "stopped",
        "PREEMPTED": "stopped",
        "CANCELLED": "stopped",
        "REQUEUED": "queued",
        "OUT_OF_MEMORY": "failed",
        "NODE_FAIL": "failed",
    }
    assert {s: SchedulerState("1", s).status for s in expected} == expected
    assert SchedulerState("1", "SOMETHING_NEW").status == "lost"
    assert not SchedulerState("1", "COMPLETED").active and SchedulerState("1", "RUNNING").active
    assert SchedulerState("1", "RUNNING", "None").describe() == "RUNNING"


def test_an_array_answer_is_read_from_its_first_line():
    text = (
        "JobId=7 ArrayJobId=5 ArrayTaskId=2 JobState=PENDING Reason=JobArrayTaskLimit Restarts=0\n"
        "JobId=8 ArrayJobId=5 ArrayTaskId=3 JobState=RUNNING Reason=None Restarts=0\n"
    )
    assert parse_scontrol("5_2", text) == SchedulerState("5_2", "PENDING", "JobArrayTaskLimit", 0)
