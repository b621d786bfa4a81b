"""The head's side of scheduled (SLURM) runs: submit and record, refresh the row from the
scheduler's state, stop; an eval or export job gets a snapshot of the history it reads (`core.events.snapshot`).

`core.jobs` calls these for runs whose `backend` column is not `local`. Must not import torch,
gradio or submitit (`core.backends.slurm` imports it only when submitting).
"""

from __future__ import annotations

import json
from pathlib import Path

from core.backends import slurm, state
from core.backends.config import Cluster
from core.errors import HistoryBusy
from core.events import snapshot
from core.history import ACTIVE, History, Run

HINT_RESUME = "`babyllama runs resume {name}` submits a new job that continues from the last checkpoint"


def submit(history: History, name: str, run_dir: Path) -> str:
    """Submit the run whose job.json names its cluster; records the job id on the row."""
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    cluster = Cluster(**job["cluster"])
    slurm.check_ready(cluster, Path(job["workspace"]))  # a resume from a machine without sbatch: said plainly
    snapshot.write(history, run_dir, job)  # an eval/export job's reads of other runs, fresh at each submit
    job_id = slurm.submit(run_dir, cluster, job_name=name)
    record(history, name, job_id)
    return job_id


def submit_array(
    history: History, names: list[str], run_dirs: list[Path], cluster: Cluster, folder: Path, *, job_name: str
) -> list[str]:
    """Submit held runs as one job array (at most `cluster.array_parallelism` at once); their job ids.
    A refused submission fails every run, with the scheduler's message."""
    try:
        ids = slurm.submit_array(run_dirs, cluster, folder, job_name=job_name)
    except Exception as err:
        for name in names:
            history.set_status(
                name,
                "failed",
                only_from=("queued",),
                error=f"sbatch refused the array: {err}"[:2000],
                hint="fix the cluster settings in backends.yaml (see the error), then run the sweep again",
            )
        raise
    for name, job_id in zip(names, ids):
        record(history, name, job_id)
    return ids


def record(history: History, name: str, job_id: str) -> None:
    """Write the scheduler job id of a queued run (a locked database: the next refresh fills the state)."""
    try:
        history.set_status(name, "queued", only_from=("queued",), scheduler_job=job_id, scheduler_state="PENDING")
    except HistoryBusy:
        pass


def refresh(history: History, run: Run) -> Run:
    """The row after reconciling it with the scheduler: the state shown, a job that ended
    without its worker's final status, a job SLURM requeued after its worker stopped. The caller
    (`jobs.refresh`) has ingested the run's event log first."""
    name, job_id = run.name, run.scheduler_job
    if not job_id:
        return run  # submission in progress (the row comes first)
    found = state.query(job_id)
    try:
        _reconcile(history, run, found)
    except HistoryBusy:
        return run
    return history.get_run(name)


def _reconcile(history: History, run: Run, found: state.SchedulerState | None) -> None:
    name, status = run.name, run.status
    if found is None:
        if status in ACTIVE:
            history.set_status(
                name,
                "lost",
                only_from=ACTIVE,
                scheduler_state="UNKNOWN",
                error=f"SLURM no longer knows job {run.scheduler_job}",
                hint=HINT_RESUME.format(name=name),
            )
        return
    shown = found.describe()
    if status in ACTIVE and not found.active:
        ended = found.status if found.status != "finished" else "lost"  # exit 0 without a final status
        history.set_status(
            name,
            ended,
            only_from=ACTIVE,
            scheduler_state=shown,
            error=f"the SLURM job ended {shown} before the worker reported",
            hint=HINT_RESUME.format(name=name),
        )
    elif status == "stopped" and not run.stop_requested and found.active and found.restarts > 0:
        # The time-limit warning (or a pre-emption): the worker checkpointed, SLURM requeued the job.
        history.set_status(
            name,
            found.status,
            only_from=("stopped",),
            scheduler_state=shown,
            ended=None,
            started=run.started,
            hint=f"requeued by SLURM ({found.restarts}x): continues from its last checkpoint",
        )
    elif shown != run.scheduler_state:  # the state shown only: start and end times stay
        history.set_status(name, status, only_from=(status,), scheduler_state=shown, started=run.started, ended=run.ended)


def stop(history: History, run: Run, *, hard: bool) -> str:
    """`runs stop` of a scheduled run: a pending job leaves the queue (`stopped`); a running one
    gets SIGTERM (checkpoint, `stopped`); `hard` cancels it at once."""
    job_id = run.scheduler_job
    if not job_id:
        return "requested"
    found = state.query(job_id)
    if hard or found is None or found.status == "queued":
        slurm.cancel(job_id)
        why = "killed after a second stop request" if hard else None
        history.set_status(
            run.name,
            "stopped",
            only_from=ACTIVE,
            error=why,
            scheduler_state="CANCELLED",
            hint="stopped while queued" if not hard else HINT_RESUME.format(name=run.name),
        )
        return "killed" if hard else "requested"
    slurm.signal_stop(job_id)
    return "requested"
