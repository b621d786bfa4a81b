"""Background jobs: start, stop, resume and watch runs that live in their own processes.

A job is `python -m core.worker RUN_DIR` in its own session (process group), output to
`RUN_DIR/run.log`. Its row is written before the process starts; its state lives only in SQLite
(pid + heartbeat decide whether it is alive). Must not import gradio or torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from core.backends import BackendChoice, is_scheduled, local
from core.backends.local import QUIET_BARS_ENV, WORKER_ENV, format_command, worker_argv, worker_env  # noqa: F401
from core.config import RunConfig
from core.config.resolve import pin_paths, resolve_data, run_parent
from core.errors import HistoryBusy, UserError
from core.history import FINAL_STATUSES, History
from core.liveness import last_beat
from core.train.probes import load_babylm, load_pairs
from core.train.trackers import check_trackers
from core.workspace import Workspace, check_name

JOB_FILE = "job.json"
STOP_FILE = "STOP"
LOG_FILE = "run.log"
STALE_AFTER_S = 30.0  # no heartbeat for this long = lost (workers beat every 2 s)
HUNG_AFTER_S = 300.0  # same host, pid alive: only a much older heartbeat means hung (a loaded
# machine or a long C call can delay a beat; a live run must not show lost)
START_TIME_TOLERANCE_S = 0.5  # psutil create_time of one process, read twice, agrees far closer
ACTIVE = ("queued", "running")
RESUMABLE = ("stopped", "failed", "lost")
QUEUED_KINDS = ("train", "distill")  # these wait in the queue for a free slot
MAX_JOBS_ENV = "BABYLLAMA_MAX_JOBS"  # training slots per workspace (default 1)


def max_parallel_jobs() -> int:
    """How many training jobs may run at once in a workspace: $BABYLLAMA_MAX_JOBS, default 1."""
    try:
        return max(1, int(os.environ.get(MAX_JOBS_ENV, "1")))
    except ValueError:
        return 1


def default_name(cfg: RunConfig) -> str:
    """The run name from the config: model.name, else '<type>-run'."""
    return cfg.model.name or f"{cfg.model.type.lower()}-run"


def training_kind(cfg: RunConfig) -> str:
    """`distill` when the config names teacher models, else `train`."""
    return "distill" if cfg.distillation.teachers else "train"


def start(
    kind: str,
    cfg: RunConfig,
    ws: Workspace,
    history: History,
    *,
    name: str | None = None,
    command: str = "",
    num_processes: int = 1,
    resume_from: Path | None = None,
    parent: str | None = None,
    backend: BackendChoice | None = None,
    history_sink: str = "sqlite",
) -> dict:
    """Check inputs, write the run folder and row (`queued`), then spawn the worker (or submit
    its job: `backend`); returns the row. `history_sink` "events": the worker appends to
    `<run>/events.jsonl` (`core.events`) instead of writing studio.db, as on a cluster's nodes."""
    name = check_name(name or default_name(cfg), "run name")
    if kind in ("train", "distill"):
        resolve_data(cfg, ws, require=True)  # a missing corpus or tokenizer fails before anything is written
        cfg = pin_paths(cfg, ws)  # the worker runs in the run folder: ./x must keep meaning ./x
        check_trackers(cfg)  # --wandb / --tensorboard without the package: said now, not after data prep
        if cfg.eval.pairs_every:
            load_pairs(cfg, ws)  # a malformed pairs file is reported with its line, before the run
        if cfg.eval.babylm_fast_dir:
            load_babylm(cfg, ws)  # the same for the BabyLM fast suite
    if kind == "distill":
        from core.train.distill import check_teachers  # imports torch: distillation runs only

        check_teachers(cfg, ws)  # every teacher exists and shares the student's tokenizer
    if history.get_run(name):
        raise UserError(f"a run named {name!r} already exists; pick another --model_name, e.g. {history.free_name(name)!r}")
    run_dir = run_parent(cfg, ws) / name

    def write_files() -> None:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
        _write_job(
            run_dir,
            kind=kind,
            name=name,
            workspace=str(ws.root),
            num_processes=num_processes,
            resume_from=str(resume_from) if resume_from else None,
            **{**_backend_fields(backend), **({"history": history_sink} if history_sink != "sqlite" else {})},
        )

    history.create_run(name, kind, cfg.to_dict(), run_dir, command=command, parent=parent)
    return _make_and_spawn(history, name, run_dir, num_processes, write_files, field="logging.output_dir", backend=backend)


def _backend_fields(backend: BackendChoice | None) -> dict:
    if backend is None or not is_scheduled(backend.kind):
        return {}
    from core.backends import slurm

    return slurm.job_fields(backend.cluster)


def _make_and_spawn(
    history: History, name: str, run_dir: Path, num_processes: int, write_files, field: str, backend: BackendChoice | None = None
) -> dict:
    """Make the folder of a run whose row was just created, write its files, spawn its worker.

    The row comes first: `create_run` is the one atomic claim of a name (UNIQUE), so of two
    starts with one name the second is told the name is taken and never makes a folder. If
    anything fails before the worker exists, the row and the folder made here are removed, so
    nothing half-written blocks the name.
    """
    made = False
    try:
        try:
            run_dir.mkdir(parents=True)
            made = True
        except FileExistsError:
            raise UserError(
                f"{run_dir} already exists and belongs to no run; pick another name or move that folder away"
            ) from None
        except OSError as err:
            raise UserError(f"{field}: cannot create {run_dir} ({err.strerror}); pick a writable {field}") from None
        write_files()
        if backend is not None and is_scheduled(backend.kind):
            history.set_status(name, "queued", only_from=("queued",), backend=backend.label)
            from core.backends import scheduled

            if not backend.hold:
                scheduled.submit(history, name, run_dir)  # records the job id
            return history.get_run(name)
        proc = _launch(run_dir, num_processes)
    except BaseException:
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
        history.delete_run(name)
        raise
    _record_pid(history, name, proc)
    return history.get_run(name)


def start_task(
    kind: str,
    params: dict,
    ws: Workspace,
    history: History,
    *,
    name: str,
    command: str = "",
    backend: BackendChoice | None = None,
) -> dict:
    """Start a non-training job (`tokenize`, `prepare`, `eval`...) whose folder is `<workspace>/jobs/<name>/`;
    `backend`: submitted as a SLURM job (its history as events, `core.backends.scheduled`)."""
    check_name(name, "job name")
    if history.get_run(name):
        raise UserError(f"a job named {name!r} already exists; pick another name, e.g. {history.free_name(name)!r}")
    run_dir = ws.root / "jobs" / name
    history.create_run(name, kind, params, run_dir, command=command)
    return _make_and_spawn(
        history,
        name,
        run_dir,
        1,
        field="workspace",
        write_files=lambda: _write_job(
            run_dir, kind=kind, name=name, workspace=str(ws.root), num_processes=1, params=params, **_backend_fields(backend)
        ),
        backend=backend,
    )


def resume(name: str, ws: Workspace, history: History, *, checkpoint: Path | None = None) -> dict:
    """Continue a stopped, failed or lost run from its newest intact checkpoint (or `checkpoint`)."""
    from core.train import checkpoint as ckpt  # torch: only when resuming

    run = _get(history, name)
    if run["status"] not in RESUMABLE:
        raise UserError(f"run {name!r} is {run['status']}; only stopped, failed or lost runs can be resumed")
    run_dir = Path(run["run_dir"])
    messages: list[str] = []
    chosen = Path(checkpoint) if checkpoint else ckpt.latest_valid(run_dir, log=messages.append)
    if chosen is None:
        raise UserError(
            f"run {name!r} has no intact checkpoint to resume from"
            + (f" ({'; '.join(messages)})" if messages else "")
            + "; start a new run instead"
        )
    problem = ckpt.verify(chosen)
    if problem:
        raise UserError(f"checkpoint {chosen} cannot be resumed: {problem}; nothing was changed")
    job = json.loads((run_dir / JOB_FILE).read_text())
    # One conditional UPDATE claims the run: of two resumes at once (a double click, the CLI and
    # the studio together) only the first spawns a worker on the folder. The old pid is cleared
    # and the heartbeat set, so `refresh` gives the new worker its start-up grace period.
    claimed = history.set_status(
        name,
        "queued",
        only_from=RESUMABLE,
        stop_requested=0,
        error=None,
        hint=None,
        ended=None,
        pid=None,
        pid_started=None,
        heartbeat=time.time(),
    )
    if not claimed:
        now = history.get_run(name)["status"]
        raise UserError(
            f"run {name!r} is {now} now: another command resumed it first; follow it with `babyllama runs logs -f {name}`"
        )
    try:
        job["resume_from"] = str(chosen)
        _write_job(run_dir, **job)
        (run_dir / STOP_FILE).unlink(missing_ok=True)
        if is_scheduled(run.get("backend")):
            from core.backends import scheduled

            scheduled.submit(history, name, run_dir)  # a new job continues from the checkpoint
            return history.get_run(name)
        proc = _launch(run_dir, job.get("num_processes", 1))
    except BaseException as err:
        history.set_status(name, run["status"], error=f"resume failed: {type(err).__name__}: {err}", hint=run["hint"])
        raise
    _record_pid(history, name, proc)
    return history.get_run(name)


def stop(name: str, history: History, *, kill_after: float | None = None) -> str:
    """Ask a run to checkpoint and stop; a second request (or `kill_after` s) kills its group.

    Returns what happened: "requested", "killed" or the final status it already had.
    """
    run = refresh(history, name)
    if run["status"] in FINAL_STATUSES:
        return run["status"]
    # A stop whose database flag a lock refused still left the file: a second click kills.
    second = bool(run["stop_requested"]) or bool(run["run_dir"]) and _stop_file(run).exists()
    if run["run_dir"]:
        _stop_file(run).touch()  # first: the worker watches the file, which no database lock delays
    try:
        history.request_stop(name)
    except HistoryBusy:
        if not run["run_dir"]:
            raise  # nothing else tells the worker
    if is_scheduled(run.get("backend")):
        return _stop_scheduled(history, run, hard=second or kill_after == 0, kill_after=kill_after)
    if second or kill_after == 0:
        return _kill(history, run)
    if kill_after:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            if refresh(history, name)["status"] in FINAL_STATUSES:
                return "requested"
            time.sleep(0.2)
        return _kill(history, run)
    return "requested"


def _stop_scheduled(history: History, run: dict, *, hard: bool, kill_after: float | None) -> str:
    from core.backends import scheduled

    outcome = scheduled.stop(history, run, hard=hard)
    if kill_after and outcome == "requested":
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            if refresh(history, run["name"])["status"] in FINAL_STATUSES:
                return "requested"
            time.sleep(0.5)
        return scheduled.stop(history, history.get_run(run["name"]), hard=True)
    return outcome


def _stop_file(run: dict) -> Path:
    return Path(run["run_dir"]) / STOP_FILE


def delete(history: History, name: str) -> Path | None:
    """Delete a final run: its history rows and its own folder. Returns the folder removed."""
    run = _final(history, name, "delete")
    folder = _own_folder(run)
    history.delete_run(name)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    return folder


def rename(history: History, old: str, new: str) -> dict:
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
        _write_job(target, **job)
    return history.get_run(new)


def _final(history: History, name: str, verb: str) -> dict:
    run = refresh(history, name)
    if run["status"] not in FINAL_STATUSES:
        raise UserError(f"run {name!r} is {run['status']}: stop it first, then {verb} it")
    return run


def _own_folder(run: dict) -> Path | None:
    """The run's folder if it exists and is named after the run (never a parent by mistake)."""
    folder = Path(run["run_dir"]) if run.get("run_dir") else None
    return folder if folder is not None and folder.is_dir() and folder.name == run["name"] else None


def refresh(history: History, name: str) -> dict:
    """The run row, after ingesting its new events (`core.events`: runs whose history is an event
    log) and marking it `lost` if its process is gone without a final status."""
    run = _get(history, name)
    scheduled_run = is_scheduled(run.get("backend"))
    if (scheduled_run or run["status"] in (*ACTIVE, "lost")) and _ingest(history, name):
        run = _get(history, name)  # a requeued SLURM run writes events after its `stopped` too
    if scheduled_run:
        from core.backends import scheduled

        return scheduled.refresh(history, run)  # the scheduler, not a pid, says whether it lives
    if run["status"] in ACTIVE and not is_alive(run):
        try:
            # Conditional: a worker that wrote its final status since the read above keeps it.
            history.set_status(
                name,
                "lost",
                only_from=ACTIVE,
                error="the job's process ended without reporting a final status",
                hint="resume it to continue from the last checkpoint; see run.log for its last output",
            )
        except HistoryBusy:
            return run  # a locked database: the next look marks it
        run = history.get_run(name)
    return run


def wait_final(history: History, name: str, poll_s: float = 1.0) -> dict:
    """Block until job `name` has a final status (a dead worker counts as `lost`); its row."""
    while (row := refresh(history, name))["status"] not in FINAL_STATUSES:
        time.sleep(poll_s)
    return row


def refresh_all(history: History) -> list[dict]:
    """Every run, with new events ingested and dead `queued`/`running` ones marked `lost` first
    (newest first)."""
    from core.events.ingest import ingest_all

    with contextlib.suppress(HistoryBusy):  # a locked database: the next look ingests
        ingest_all(history)
    for run in history.list_runs():
        if run["status"] in ("queued", "running"):
            refresh(history, run["name"])
    return history.list_runs()


def _ingest(history: History, name: str) -> int:
    """Apply the run's new events; 0 when there are none or the database is locked (next look)."""
    from core.events.ingest import ingest_run  # here, not at the top: `import core.jobs` stays as light

    try:
        return ingest_run(history, name)
    except HistoryBusy:
        return 0


def queue_position(history: History, name: str) -> int | None:
    """1 for the next queued run to start, 2 for the one after, ...; None if not queued."""
    waiting = sorted(
        (r for r in history.list_runs(status="queued") if r["kind"] in QUEUED_KINDS and not is_scheduled(r.get("backend"))),
        key=lambda r: r["id"],
    )
    names = [r["name"] for r in waiting]
    return names.index(name) + 1 if name in names else None


def is_alive(run: dict) -> bool:
    """Whether the run's worker still runs: on this host, its pid with the same process start
    time and a heartbeat (row or file, `core.liveness`) younger than HUNG_AFTER_S; from
    elsewhere, a heartbeat younger than STALE_AFTER_S."""
    # The heartbeat file is touched even while the database is locked: a worker that cannot
    # write its row's beat is still seen alive (its history writes are delayed, not lost).
    beat = last_beat(run)
    if run.get("host") and run["host"] != socket.gethostname():
        return beat is not None and time.time() - beat < STALE_AFTER_S
    pid = run.get("pid")
    if not pid:
        # Spawning is in progress (the row is written first, and a resume clears the old pid):
        # alive for a grace period from the creation or the resume.
        return time.time() - max(run.get("created") or 0, beat or 0) < STALE_AFTER_S
    if not same_process(pid, run.get("pid_started")):
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
    and pids 0 and 1 (init, whose process group holds the machine's own services) are never a worker."""
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


def _launch(run_dir: Path, num_processes: int):
    return local.launch(run_dir, num_processes)


def _record_pid(history: History, name: str, proc: subprocess.Popen) -> None:
    # Only while still queued: a worker that already wrote `running` (or its end) has its own pid.
    # A locked database skips it: the worker writes its pid when it starts, and its heartbeat file
    # keeps the row alive meanwhile (the start succeeded; saying otherwise would be wrong).
    with contextlib.suppress(HistoryBusy):
        history.set_status(
            name,
            "queued",
            only_from=("queued",),
            pid=proc.pid,
            pid_started=process_start_time(proc.pid),
            host=socket.gethostname(),
            heartbeat=time.time(),
        )


def _kill(history: History, run: dict) -> str:
    pid = run.get("pid")
    # Never signal a group whose leader is not the run's worker: a pid recorded on another host,
    # or a reused pid here, names a stranger.
    here = run.get("host") in (None, socket.gethostname())
    if pid and here and same_process(pid, run.get("pid_started")):
        local.kill(pid)  # the worker leads its own group: children go too
    history.set_status(
        run["name"], "stopped", error="killed after a second stop request", hint="resume it to continue from the last checkpoint"
    )
    return "killed"


def _write_job(run_dir: Path, **job) -> None:
    tmp = run_dir / f".{JOB_FILE}.tmp"
    tmp.write_text(json.dumps(job, indent=1), encoding="utf-8")
    os.replace(tmp, run_dir / JOB_FILE)


def _get(history: History, name: str) -> dict:
    run = history.get_run(name)
    if run is None:
        known = ", ".join(r["name"] for r in history.list_runs()[:10]) or "none yet"
        raise UserError(f"no run named {name!r} (runs: {known})")
    return run
