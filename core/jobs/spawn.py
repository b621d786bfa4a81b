"""Starting jobs: check the inputs, write the run row (`queued`) and folder (config.yaml, job.json),
then spawn the worker (`python -m core.jobs.worker RUN_DIR`, own session, output to `RUN_DIR/run.log`)
or submit it (`core.backends.scheduled`); `resume` claims a final run and spawns it again.
Must not import gradio or torch (torch only inside `resume`, distillation's teacher check).
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
from core.config import RunConfig
from core.config.resolve import pin_paths, resolve_data, run_parent
from core.errors import HistoryBusy, UserError
from core.history import TRAINING, History, Run, Status
from core.jobs.reconcile import process_start_time, require_run
from core.train.probes import load_babylm, load_pairs
from core.train.trackers import check_trackers
from core.workspace import Workspace, check_name

JOB_FILE = "job.json"
STOP_FILE = "STOP"
LOG_FILE = "run.log"
RESUMABLE = frozenset({Status.STOPPED, Status.FAILED, Status.LOST})


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
    if kind in TRAINING:
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
        write_job(
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
) -> Run:
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
        write_files=lambda: write_job(
            run_dir, kind=kind, name=name, workspace=str(ws.root), num_processes=1, params=params, **_backend_fields(backend)
        ),
        backend=backend,
    )


def resume(name: str, ws: Workspace, history: History, *, checkpoint: Path | None = None) -> Run:
    """Continue a stopped, failed or lost run from its newest intact checkpoint (or `checkpoint`)."""
    from core.train import checkpoint as ckpt  # torch: only when resuming

    run = require_run(history, name)
    if run.status not in RESUMABLE:
        raise UserError(f"run {name!r} is {run.status}; only stopped, failed or lost runs can be resumed")
    run_dir = Path(run.run_dir)
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
        now = history.get_run(name).status
        raise UserError(
            f"run {name!r} is {now} now: another command resumed it first; follow it with `babyllama runs logs -f {name}`"
        )
    try:
        job["resume_from"] = str(chosen)
        write_job(run_dir, **job)
        (run_dir / STOP_FILE).unlink(missing_ok=True)
        if is_scheduled(run.backend):
            from core.backends import scheduled

            scheduled.submit(history, name, run_dir)  # a new job continues from the checkpoint
            return history.get_run(name)
        proc = _launch(run_dir, job.get("num_processes", 1))
    except BaseException as err:
        history.set_status(name, run.status, error=f"resume failed: {type(err).__name__}: {err}", hint=run.hint)
        raise
    _record_pid(history, name, proc)
    return history.get_run(name)


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


def write_job(run_dir: Path, **job) -> None:
    tmp = run_dir / f".{JOB_FILE}.tmp"
    tmp.write_text(json.dumps(job, indent=1), encoding="utf-8")
    os.replace(tmp, run_dir / JOB_FILE)
