"""A background task's time left, from its progress row (`step` of `total_steps`, which the worker
updates) at the pace since the job started: the ETA that `runs show` and the studio's job status
print. Pure arithmetic over a run row; must not import torch, gradio or studio.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.history import Run

# Task jobs only: a training run's steps may predate a resume, so its pace since `started` misleads.
ETA_KINDS = ("eval", "submission")


def seconds_left(run: Run, now: float | None = None) -> float | None:
    """Seconds until a running eval/submission job's progress reaches its total, at its average pace
    so far; None when it is not running, has no progress yet, or is at its total."""
    if run.kind not in ETA_KINDS or run.status != "running":
        return None
    step, total, started = run.step or 0, run.total_steps or 0, run.started
    if not started or step <= 0 or total <= step:
        return None
    elapsed = max((time.time() if now is None else now) - started, 0.0)
    return elapsed / step * (total - step)


def format_left(seconds: float) -> str:
    """1h02m, 3m05s or 12s."""
    seconds = max(int(round(seconds)), 0)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def eta_text(run: Run, now: float | None = None) -> str:
    """ "ETA 3m05s" for a job with an estimate, else ""."""
    left = seconds_left(run, now)
    return "" if left is None else f"ETA {format_left(left)}"
