"""Scheduler job states (SLURM's names) read from `squeue` / `scontrol`, mapped onto our run statuses.

Accounting (`sacct`) is often off, so a job is looked up with `scontrol show job` (which knows
finished jobs for MinJobAge seconds), then in `squeue`. Must not import torch or gradio.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from core.history.runs import ACTIVE, Status

# SLURM state -> our status, for a job whose worker could not report its own end.
_STATUS = {
    "PENDING": Status.QUEUED,
    "REQUEUED": Status.QUEUED,
    "REQUEUE_HOLD": Status.QUEUED,
    "REQUEUE_FED": Status.QUEUED,
    "SUSPENDED": Status.QUEUED,
    "RESV_DEL_HOLD": Status.QUEUED,
    "CONFIGURING": Status.RUNNING,
    "RUNNING": Status.RUNNING,
    "COMPLETING": Status.RUNNING,
    "RESIZING": Status.RUNNING,
    "SIGNALING": Status.RUNNING,
    "STAGE_OUT": Status.RUNNING,
    "COMPLETED": Status.FINISHED,
    "FAILED": Status.FAILED,
    "NODE_FAIL": Status.FAILED,
    "BOOT_FAIL": Status.FAILED,
    "OUT_OF_MEMORY": Status.FAILED,
    "DEADLINE": Status.FAILED,
    "SPECIAL_EXIT": Status.FAILED,
    "TIMEOUT": Status.STOPPED,
    "PREEMPTED": Status.STOPPED,
    "CANCELLED": Status.STOPPED,
}
ACTIVE_STATES = frozenset(s for s, status in _STATUS.items() if status in ACTIVE)
QUERY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class SchedulerState:
    """One job's state as the scheduler reports it (`state` in SLURM's words, `reason` when pending)."""

    job_id: str
    state: str
    reason: str = ""
    restarts: int = 0

    @property
    def status(self) -> Status:
        """Our run status for this state (`lost` for a state we do not know)."""
        return _STATUS.get(self.state, Status.LOST)

    @property
    def active(self) -> bool:
        """Whether the job still waits or runs (a requeued job counts)."""
        return self.state in ACTIVE_STATES

    def describe(self) -> str:
        """`PENDING (Resources)`, `RUNNING`, ... as `runs list` shows it."""
        reason = self.reason if self.reason and self.reason not in ("None", "(null)") else ""
        return f"{self.state} ({reason})" if reason else self.state


def query(job_id: str) -> SchedulerState | None:
    """The job's state from `scontrol show job` (one call: state, reason, restarts), else from
    squeue; None when the scheduler no longer knows it."""
    found = parse_scontrol(job_id, _run(["scontrol", "show", "job", "-o", job_id]) or "")
    if found is not None:
        return found
    for line in (_run(["squeue", "-h", "-j", job_id, "-o", "%i|%T|%r"]) or "").splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0] == job_id:
            return SchedulerState(job_id, parts[1], parts[2])
    return None


def parse_scontrol(job_id: str, text: str) -> SchedulerState | None:
    """The state in the first line of `scontrol show job -o` (`JobState=TIMEOUT Reason=TimeLimit Restarts=1`)."""
    first = text.splitlines()[0] if text.strip() else ""
    fields = dict(tok.split("=", 1) for tok in first.split() if "=" in tok)
    if "JobState" not in fields:
        return None
    restarts = fields.get("Restarts", "0")
    return SchedulerState(job_id, fields["JobState"], fields.get("Reason", ""), int(restarts) if restarts.isdigit() else 0)


def _run(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None
