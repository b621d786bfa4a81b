"""The job process: `python -m core.jobs.worker RUN_DIR`.

Reads the run's saved config and job file, waits for its turn in the queue, wires the heartbeat
and signals, runs the job kind (`core.jobs.job_kinds`), and always writes a final status with the
error and a hint. Must not import gradio.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sys
import time
import traceback
from functools import partial
from pathlib import Path

from core import jobs
from core.errors import HistoryBusy, UserError, find_disk_full
from core.events.sink import EventHistory, uses_events
from core.history import TRAINING, History
from core.jobs.job_kinds import KINDS
from core.liveness import Heartbeat, retry_busy, say
from core.train.callbacks import SignalStop, StopOnSignal
from core.workspace import Workspace

FINAL_WRITE_PATIENCE_S = 600.0  # how long the end of a run waits for a locked database before giving up

HINT_OOM = (
    "out of memory: lower training.batch_size and raise training.gradient_accumulation_steps by the "
    "same factor (the effective batch stays the same), or shorten data.seq_length"
)

HINT_NAN = (
    "the loss became NaN/inf: lower training.lr (e.g. 3-10x), keep gradient clipping on "
    "(training.max_grad_norm: 1.0), add warm-up steps, and train in float32 (fp16: false)"
)


def hint_for(err: BaseException) -> str:
    """A fix to try for a failure (shown in the studio and `runs show`)."""
    text = str(err).lower()
    # By name, not isinstance: importing the loop (torch) would slow every failing task by seconds.
    if type(err).__name__ == "TrainingDiverged" or "nan" in text and "loss" in text:
        return HINT_NAN
    if type(err).__name__ == "OutOfMemoryError" or "out of memory" in text:
        return HINT_OOM
    if isinstance(err, UserError):
        return ""
    return "see run.log for the full traceback"


def wait_for_turn(history: History, ws: Workspace, name: str, stop_file: Path):
    """Block while other jobs hold every slot or are ahead in the queue; None if stopped meanwhile.

    A slot is an flock on `<workspace>/.train.lock.<i>`: the OS releases it when the process
    ends, however it ends, so a crashed job never keeps the queue blocked.
    """
    slots = jobs.max_parallel_jobs()
    while True:
        if stop_file.exists() or history.stop_requested(name):
            return None
        jobs.refresh_all(history)  # a dead job ahead of us must not block the queue forever
        # (a locked database only delays the next beat: refresh never marks a live pid lost)
        position = jobs.queue_position(history, name)
        if position is None or position <= slots:
            for i in range(slots):
                lock = open(ws.root / f".train.lock.{i}", "w")
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return lock
                except BlockingIOError:
                    lock.close()
        try:
            history.heartbeat(name)
        except HistoryBusy:
            pass  # the next turn of the loop tries again
        time.sleep(0.5)


def run_job(run_dir: Path) -> int:
    """Run the job in `run_dir` to a final status; returns the process exit code."""
    job = json.loads((run_dir / jobs.JOB_FILE).read_text(encoding="utf-8"))
    ws, name = Workspace(Path(job["workspace"])), job["name"]
    is_main = int(os.environ.get("RANK", "0")) == 0  # under accelerate launch, rank 0 reports
    # "history": "events" (a compute node of a cluster): the run's history goes to
    # <run>/events.jsonl, which the studio/CLI ingests; SQLite is never opened here.
    events = uses_events(job)
    history = EventHistory(run_dir, job) if events else History(ws.db_path)
    heartbeat = Heartbeat(ws.db_path, name, run_dir, opener=(lambda: history) if events else None) if is_main else None
    stop_file = run_dir / jobs.STOP_FILE
    signals = StopOnSignal()  # SIGTERM / SIGINT: stop as `runs stop` does
    signals.install()
    try:
        if is_main:
            heartbeat.start()  # from the first moment: a queued job behind a locked database lives too
        if is_main and job["kind"] in jobs.QUEUED_KINDS and not events:  # a scheduler queues events runs (SLURM's among them)
            # Held (not just taken) until this process ends: dropping the file object would
            # release the slot at once.
            slot = wait_for_turn(history, ws, name, stop_file)
            if slot is None:
                _final_status(history, name, run_dir, "stopped", error=None, hint="stopped while queued")
                return 0
        if is_main:
            retry_busy(lambda: _mark_running(history, name, job), "the run's start")
        run_kind = KINDS[job["kind"]]
        if job["kind"] in TRAINING:
            run_kind = partial(run_kind, signals=signals, heartbeat=heartbeat)
        status = run_kind(job, ws, history, run_dir, is_main)
        if is_main:
            hint = None
            if signals.received is not None and status == "stopped":
                hint = f"stopped by {signal.Signals(signals.received).name}; `babyllama runs resume {name}` continues it"
            return 0 if _final_status(history, name, run_dir, status, error=None, hint=hint, **_progress(heartbeat)) else 1
        return 0
    except SignalStop as err:  # before training began: nothing to checkpoint
        say(f"{err} before training began: nothing to save")
        if is_main:
            _final_status(history, name, run_dir, "stopped", error=None, hint=f"{err} before training began")
        return 0
    except BaseException as err:  # every failure ends as a status: never `running` forever
        full = find_disk_full(err, default_path=f"{run_dir} (run.log or another file there)")
        if full is not None:
            return _disk_full(history, name, run_dir, full, heartbeat, is_main)
        _print_traceback()
        if is_main:
            message = str(err) or type(err).__name__
            _final_status(
                history,
                name,
                run_dir,
                "failed",
                error=f"{type(err).__name__}: {message}"[:2000],
                hint=hint_for(err),
                **_progress(heartbeat),
            )
        return 1
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        history.close()


def _mark_running(history: History, name: str, job: dict) -> None:
    row = history.get_run(name)
    # Under accelerate launch the launcher (the group leader) stays the run's process.
    single = job.get("num_processes", 1) == 1
    pid = os.getpid() if single else row.pid
    # A resumed run keeps its first start time, so durations cover the whole run.
    history.set_status(
        name,
        "running",
        pid=pid,
        pid_started=jobs.process_start_time(pid) if pid else None,
        host=socket.gethostname(),
        started=row.started or time.time(),
        heartbeat=time.time(),
    )


def _progress(heartbeat: Heartbeat | None) -> dict:
    """The last step the loop reported, for the final row (the heartbeat writes it only every 2 s)."""
    if heartbeat is None or heartbeat.progress is None:
        return {}
    step, total = heartbeat.progress
    return {"step": step} if total is None else {"step": step, "total_steps": total}


def _print_traceback() -> None:
    try:
        traceback.print_exc()
    except OSError:
        pass  # run.log's disk is full: the status still says what happened


def _disk_full(history: History, name: str, run_dir: Path, full, heartbeat, is_main: bool) -> int:
    """One clear line in run.log and a `failed` status naming the path: no chain of tracebacks.

    `failed`, not `stopped`: nobody asked the run to stop, and scripts read `stopped` as intended.
    Like any failed run it resumes from its last good checkpoint once there is space again."""
    last = _last_checkpoint(run_dir)
    kept = f"the last good checkpoint {last} is kept" if last else "no checkpoint was saved yet"
    say(f"error: {full}; training stopped, {kept}; free some space, then `babyllama runs resume {name}`")
    if is_main:
        _final_status(
            history,
            name,
            run_dir,
            "failed",
            error=str(full)[:2000],
            hint=f"free space on that disk; {kept}" + (f"; `babyllama runs resume {name}` continues from it" if last else ""),
            **_progress(heartbeat),
        )
    return 1


def _last_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder (one with its manifest), without importing torch."""
    from core.model.folders import list_checkpoints

    done = [p for p in list_checkpoints(run_dir) if (p / "checkpoint.json").is_file()]
    return done[-1] if done else None


def _final_status(history: History, name: str, run_dir: Path, status: str, **fields) -> bool:
    """Record the final `status`, waiting out a locked database for up to FINAL_WRITE_PATIENCE_S;
    when the database cannot be written, say so in run.log (stdout), with where the run's files
    are, since the row will end up `lost`. Returns whether the status was recorded."""
    try:
        retry_busy(lambda: history.set_status(name, status, **fields), "the run's final status", patience=FINAL_WRITE_PATIENCE_S)
        return True
    except Exception as err:
        say(
            f"error: could not record the end of run {name!r} in {history.db_path}: {err}\n"
            f"error: the run ended {status}" + (f" with: {fields['error']}" if fields.get("error") else "") + "\n"
            f"error: its folder and checkpoints are in {run_dir}; once the database is writable, "
            f"`babyllama runs resume {name}` continues it"
        )
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m core.jobs.worker RUN_DIR", file=sys.stderr)
        return 2
    return run_job(Path(argv[0]).resolve())


if __name__ == "__main__":
    sys.exit(main())
