"""A run's row brought up to date: its new events ingested (`core.events`), a worker whose process
is gone marked `lost`, a scheduled run asked of its scheduler; the pid, start-time and heartbeat
checks that decide it (`is_alive`); the training queue's order and slots. Must not import gradio or torch.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time

from core.backends import is_scheduled
from core.errors import HistoryBusy, UserError
from core.history import ACTIVE, FINAL, TRAINING, History, Run, Status
from core.liveness import last_beat

STALE_AFTER_S = 30.0  # no heartbeat for this long = lost (workers beat every 2 s)
HUNG_AFTER_S = 300.0  # same host, pid alive: only a much older heartbeat means hung (a loaded
# machine or a long C call can delay a beat; a live run must not show lost)
START_TIME_TOLERANCE_S = 0.5  # psutil create_time of one process, read twice, agrees far closer
QUEUED_KINDS = TRAINING  # these wait in the queue for a free slot
MAX_JOBS_ENV = "BABYLLAMA_MAX_JOBS"  # training slots per workspace (default 1)


def max_parallel_jobs() -> int:
    """How many training jobs may run at once in a workspace: $BABYLLAMA_MAX_JOBS, default 1."""
    try:
        return max(1, int(os.environ.get(MAX_JOBS_ENV, "1")))
    except ValueError:
        return 1


def refresh(history: History, name: str) -> Run:
    """The run row, after ingesting its new events (`core.events`: runs whose history is an event
    log) and marking it `lost` if its process is gone without a final status."""
    run = require_run(history, name)
    scheduled_run = is_scheduled(run.backend)
    if (scheduled_run or run.status in ACTIVE | {Status.LOST}) and _ingest(history, name):
        run = require_run(history, name)  # a requeued SLURM run writes events after its `stopped` too
    if scheduled_run:
        from core.backends import scheduled

        return scheduled.refresh(history, run)  # the scheduler, not a pid, says whether it lives
    if run.status in ACTIVE and not is_alive(run):
        try:
            # Conditional: a worker that wrote its final status since the read above keeps it.
            history.set_status(
                name,
                Status.LOST,
                only_from=ACTIVE,
                error="the job's process ended without reporting a final status",
                hint="resume it to continue from the last checkpoint; see run.log for its last output",
            )
        except HistoryBusy:
            return run  # a locked database: the next look marks it
        run = history.get_run(name)
    return run


def wait_final(history: History, name: str, poll_s: float = 1.0) -> Run:
    """Block until job `name` has a final status (a dead worker counts as `lost`); its row."""
    while (row := refresh(history, name)).status not in FINAL:
        time.sleep(poll_s)
    return row


def refresh_all(history: History) -> list[Run]:
    """Every run, with new events ingested and dead `queued`/`running` ones marked `lost` first
    (newest first)."""
    from core.events.ingest import ingest_all

    with contextlib.suppress(HistoryBusy):  # a locked database: the next look ingests
        ingest_all(history)
    for run in history.list_runs():
        if run.status in ACTIVE:
            refresh(history, run.name)
    return history.list_runs()


def _ingest(history: History, name: str) -> int:
    """Apply the run's new events; 0 when there are none or the database is locked (next look)."""
    from core.events.ingest import ingest_run  # here, not at the top: `import core.jobs` stays light

    try:
        return ingest_run(history, name)
    except HistoryBusy:
        return 0


def queue_position(history: History, name: str) -> int | None:
    """1 for the next queued run to start, 2 for the one after, ...; None if not queued."""
    waiting = sorted(
        (r for r in history.list_runs(status="queued") if r.kind in QUEUED_KINDS and not is_scheduled(r.backend)),
        key=lambda r: r.id,
    )
    names = [r.name for r in waiting]
    return names.index(name) + 1 if name in names else None


def is_alive(run: Run) -> bool:
    """Whether the run's worker still runs: on this host, its pid with the same process start
    time and a heartbeat (row or file, `core.liveness`) younger than HUNG_AFTER_S; from
    elsewhere, a heartbeat younger than STALE_AFTER_S."""
    # The heartbeat file is touched even while the database is locked: a worker that cannot
    # write its row's beat is still seen alive (its history writes are delayed, not lost).
    beat = last_beat(run)
    if run.host and run.host != socket.gethostname():
        return beat is not None and time.time() - beat < STALE_AFTER_S
    pid = run.pid
    if not pid:
        # Spawning is in progress (the row is written first, and a resume clears the old pid):
        # alive for a grace period from the creation or the resume.
        return time.time() - max(run.created or 0, beat or 0) < STALE_AFTER_S
    if not same_process(pid, run.pid_started):
        return False
    # A live pid with a long-stale heartbeat is a hung (or stopped) worker: it reports nothing more.
    return beat is None or time.time() - beat < HUNG_AFTER_S


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (psutil create_time), None if there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def same_process(pid: int, started: float | None) -> bool:
    """Whether `pid` is alive and is the process recorded with start time `started` (after a
    reboot or a wrap-around the pid can name a stranger). Without a start time there is no proof,
    and pids 0 and 1 are never a worker (killpg(1) is kill(-1): every process on the machine)."""
    if pid <= 1 or started is None or not pid_alive(pid):
        return False
    now = process_start_time(pid)
    return now is not None and abs(now - started) < START_TIME_TOLERANCE_S


def pid_alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie (an exited child nobody has waited for yet)."""
    import psutil

    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own exited child
    except (ChildProcessError, OSError):
        pass
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def require_run(history: History, name: str) -> Run:
    """The run row named `name`; a UserError listing some runs when there is none."""
    run = history.get_run(name)
    if run is None:
        known = ", ".join(r.name for r in history.list_runs()[:10]) or "none yet"
        raise UserError(f"no run named {name!r} (runs: {known})")
    return run
