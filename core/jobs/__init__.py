"""Background jobs: start, stop, resume and watch runs that live in their own processes.

A job is `python -m core.jobs.worker RUN_DIR` in its own session (process group); its state lives
only in SQLite (pid + heartbeat decide whether it is alive). `spawn` starts, `reconcile` watches (`refresh`),
`control` stops, deletes and renames; `worker` + `job_kinds` are the job process; `quickstart` is
the first-run chain. Callers use the names below (`from core import jobs; jobs.start(...)`).
Must not import gradio or torch.
"""

from __future__ import annotations

from core.backends.local import QUIET_BARS_ENV, WORKER_ENV, format_command, worker_argv, worker_env
from core.jobs.control import delete, rename, stop
from core.jobs.reconcile import (
    ACTIVE,
    HUNG_AFTER_S,
    MAX_JOBS_ENV,
    QUEUED_KINDS,
    STALE_AFTER_S,
    is_alive,
    max_parallel_jobs,
    pid_alive,
    process_start_time,
    queue_position,
    refresh,
    refresh_all,
    require_run,
    same_process,
    wait_final,
)
from core.jobs.spawn import JOB_FILE, LOG_FILE, RESUMABLE, STOP_FILE, default_name, resume, start, start_task, training_kind

__all__ = [
    "ACTIVE",
    "HUNG_AFTER_S",
    "JOB_FILE",
    "LOG_FILE",
    "MAX_JOBS_ENV",
    "QUEUED_KINDS",
    "QUIET_BARS_ENV",
    "RESUMABLE",
    "STALE_AFTER_S",
    "STOP_FILE",
    "WORKER_ENV",
    "default_name",
    "delete",
    "format_command",
    "is_alive",
    "max_parallel_jobs",
    "pid_alive",
    "process_start_time",
    "queue_position",
    "refresh",
    "refresh_all",
    "rename",
    "require_run",
    "resume",
    "same_process",
    "start",
    "start_task",
    "stop",
    "training_kind",
    "wait_final",
    "worker_argv",
    "worker_env",
]
