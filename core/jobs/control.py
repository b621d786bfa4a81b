"""Ending and tidying runs: `stop` (the STOP file and the row's flag, then a kill of the worker's
group on a second request or after `kill_after`; a scheduled run through its scheduler), and
`delete` / `rename` of a final run with its folder. Must not import gradio or torch.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

from core.backends import is_scheduled, local
from core.errors import HistoryBusy, UserError
from core.history import FINAL, History, Run
from core.jobs.reconcile import refresh, same_process
from core.jobs.spawn import JOB_FILE, STOP_FILE, write_job
from core.workspace import check_name


def stop(name: str, history: History, *, kill_after: float | None = None) -> str:
    """Ask a run to checkpoint and stop; a second request (or `kill_after` s) kills its group.

    Returns what happened: "requested", "killed" or the final status it already had.
    """
    run = refresh(history, name)
    if run.status in FINAL:
        return run.status
    # A stop whose database flag a lock refused still left the file: a second click kills.
    second = bool(run.stop_requested) or bool(run.run_dir) and _stop_file(run).exists()
    if run.run_dir:
        _stop_file(run).touch()  # first: the worker watches the file, which no database lock delays
    try:
        history.request_stop(name)
    except HistoryBusy:
        if not run.run_dir:
            raise  # nothing else tells the worker
    if is_scheduled(run.backend):
        return _stop_scheduled(history, run, hard=second or kill_after == 0, kill_after=kill_after)
    if second or kill_after == 0:
        return _kill(history, run)
    if kill_after:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            if refresh(history, name).status in FINAL:
                return "requested"
            time.sleep(0.2)
        return _kill(history, run)
    return "requested"


def _stop_scheduled(history: History, run: Run, *, hard: bool, kill_after: float | None) -> str:
    from core.backends import scheduled

    outcome = scheduled.stop(history, run, hard=hard)
    if kill_after and outcome == "requested":
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            if refresh(history, run.name).status in FINAL:
                return "requested"
            time.sleep(0.5)
        return scheduled.stop(history, history.get_run(run.name), hard=True)
    return outcome


def _stop_file(run: Run) -> Path:
    return Path(run.run_dir) / STOP_FILE


def delete(history: History, name: str) -> Path | None:
    """Delete a final run: its history rows and its own folder. Returns the folder removed."""
    run = _final(history, name, "delete")
    folder = _own_folder(run)
    history.delete_run(name)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    return folder


def rename(history: History, old: str, new: str) -> Run:
    """Rename a final run, moving its folder beside the old one; a taken name is refused."""
    check_name(new, "new run name")
    run = _final(history, old, "rename")
    if history.get_run(new) is not None:
        raise UserError(f"a run named {new!r} already exists: try {history.free_name(new)!r}")
    folder = _own_folder(run)
    target = folder.parent / new if folder else None
    if target is not None and target.exists():
        raise UserError(f"{target} already exists: choose another name")
    if folder is not None:
        os.rename(folder, target)
    try:
        history.rename_run(old, new, run_dir=target)
    except BaseException:
        if folder is not None:
            os.rename(target, folder)  # keep the folder where the history says it is
        raise
    if target is not None and (target / JOB_FILE).is_file():
        # The worker reads its name and checkpoint from job.json: a resumed run must follow.
        job = json.loads((target / JOB_FILE).read_text(encoding="utf-8"))
        job["name"] = new
        if job.get("resume_from") and str(job["resume_from"]).startswith(str(folder)):
            job["resume_from"] = str(target) + str(job["resume_from"])[len(str(folder)) :]
        write_job(target, **job)
    return history.get_run(new)


def _final(history: History, name: str, verb: str) -> Run:
    run = refresh(history, name)
    if run.status not in FINAL:
        raise UserError(f"run {name!r} is {run.status}: stop it first, then {verb} it")
    return run


def _own_folder(run: Run) -> Path | None:
    """The run's folder if it exists and is named after the run (never a parent by mistake)."""
    folder = Path(run.run_dir) if run.run_dir else None
    return folder if folder is not None and folder.is_dir() and folder.name == run.name else None


def _kill(history: History, run: Run) -> str:
    pid = run.pid
    # Never signal a group whose leader is not the run's worker: a pid recorded on another host,
    # or a reused pid here, names a stranger.
    here = run.host in (None, socket.gethostname())
    if pid and here and same_process(pid, run.pid_started):
        local.kill(pid)  # the worker leads its own group: children go too
    history.set_status(
        run.name, "stopped", error="killed after a second stop request", hint="resume it to continue from the last checkpoint"
    )
    return "killed"
