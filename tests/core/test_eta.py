"""core.eta: a running eval/submission job's time left from its progress row, at its pace so far;
nothing for training runs, finished jobs or jobs without progress."""

from __future__ import annotations

import pytest

from core.eta import eta_text, format_left, seconds_left
from core.history import Run


def _row(**kw) -> Run:
    return Run.from_row(
        {"name": "e", "kind": "eval", "status": "running", "step": 25, "total_steps": 100, "started": 1000.0, **kw}
    )


def test_time_left_at_the_pace_so_far():
    # 25 of 100 steps in 50 s: 75 more take 150 s.
    assert seconds_left(_row(), now=1050.0) == pytest.approx(150.0)
    assert eta_text(_row(), now=1050.0) == "ETA 2m30s"
    assert eta_text(_row(kind="submission", step=1, total_steps=3), now=1100.0) == "ETA 3m20s"


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "train"},
        {"kind": "distill"},
        {"status": "finished"},
        {"status": "queued"},
        {"step": 0},
        {"step": 100},
        {"total_steps": None},
        {"started": None},
    ],
)
def test_no_estimate_without_a_running_task_with_progress(change):
    assert seconds_left(_row(**change), now=1050.0) is None and eta_text(_row(**change), now=1050.0) == ""


def test_format_left():
    assert [format_left(s) for s in (0, 12.4, 60, 185, 3599, 3600, 3720, 90061)] == [
        "0s",
        "12s",
        "1m00s",
        "3m05s",
        "59m59s",
        "1h00m",
        "1h02m",
        "25h01m",
    ]
