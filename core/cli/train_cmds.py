"""`babyllama train` and `babyllama runs list|show|stop|resume|logs|delete`.

Training always runs as a background job (the same one the studio starts); the foreground mode
follows its log and turns Ctrl-C into a stop with a checkpoint. Must not import gradio or torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import UserError
from core.workspace import Workspace

if TYPE_CHECKING:
    from core.history import Run

# core.jobs and core.history and core.config (yaml) are imported in the commands
# that use them: building the parser for `--help` must stay light (see core.cli.lazy).


def register(subparsers) -> None:
    from core.bounds import MAX_PROCESSES, bounded
    from core.cli import add_workspace_arg
    from core.cli.backend_args import add_backend_args
    from core.cli.config_cmds import keys_help

    p = subparsers.add_parser(
        "train",
        help="train a model from a config (the guide's train.py)",
        allow_abbrev=False,
        epilog=keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="YAML file or preset name (presets/llama-10M.yaml, tiny)")
    p.add_argument("overrides", nargs="*", help="section.key=value, or the guide's flags (--lr 5e-4 --fp16)")
    p.add_argument("--detach", action="store_true", help="start in the background, print the run name, return")
    p.add_argument(
        "--resume_from_checkpoint",
        "--resume-from-checkpoint",
        metavar="PATH",
        default=None,
        help="continue from a checkpoint-<step> folder (its run, if known; else a new run from it)",
    )
    p.add_argument(
        "--num-processes",
        "--num_processes",
        type=bounded(int, 1, MAX_PROCESSES),
        default=1,
        help="data-parallel processes through accelerate launch (GPUs, or gloo on CPU)",
    )
    add_backend_args(p)
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_train, accepts_overrides=True)

    p = subparsers.add_parser("runs", help="list, inspect, stop, resume, follow or delete runs")
    verbs = p.add_subparsers(dest="runs_verb", metavar="VERB", required=True)
    specs = [
        ("list", "every run with status, step and last loss", _cmd_list, False),
        ("show", "one run: status, pid, step, config, last value of each metric", _cmd_show, True),
        ("stop", "ask a run to checkpoint and stop (twice: kill it)", _cmd_stop, True),
        ("resume", "continue a stopped/failed/lost run from its last intact checkpoint", _cmd_resume, True),
        ("logs", "print a run's log (-f: follow until it ends)", _cmd_logs, True),
        ("delete", "delete a run's history and folder (asks first)", _cmd_delete, True),
    ]
    for verb, text, func, takes_run in specs:
        q = verbs.add_parser(verb, help=text)
        if takes_run:
            q.add_argument("run", help="run name")
        if verb in ("list", "show"):
            q.add_argument("--json", action="store_true", help="print JSON")
        if verb in ("logs",):
            q.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
        if verb == "resume":
            q.add_argument("--detach", action="store_true", help="return at once instead of following")
        if verb == "delete":
            q.add_argument("--yes", action="store_true", help="do not ask")
        add_workspace_arg(q)
        q.set_defaults(func=func)


def _cmd_train(args) -> int:
    from core import config as config_mod
    from core import jobs
    from core.cli.backend_args import choose_backend
    from core.config import presets
    from core.config.resolve import data_checker
    from core.history import open_history

    ws = Workspace.resolve(args.workspace).ensure()
    backend = choose_backend(args, ws)
    path = presets.resolve_config_path(args.config, ws)
    cfg = config_mod.load(path, args.overrides, checks=[data_checker(ws, require=True)])
    command = "babyllama train " + " ".join(shlex.quote(a) for a in ["--config", str(args.config), *args.overrides])
    with open_history(ws) as history:
        resume = Path(args.resume_from_checkpoint).resolve() if args.resume_from_checkpoint else None
        owner = _run_owning(history, resume) if resume else None
        if owner is not None:
            run = jobs.resume(owner.name, ws, history, checkpoint=resume)
            _print_fallback(run, args.detach)
        else:
            if resume is not None and not resume.is_dir():
                raise UserError(f"--resume_from_checkpoint: no checkpoint folder at {resume}")
            run = jobs.start(
                jobs.training_kind(cfg),
                cfg,
                ws,
                history,
                command=command,
                num_processes=args.num_processes,
                resume_from=resume,
                backend=backend,
            )
        print(f"run {run.name} started ({run.run_dir})", flush=True)
        if args.detach:
            print(run.name)
            return 0
        return follow(history, run.name)


def _run_owning(history, checkpoint: Path) -> Run | None:
    for run in history.list_runs():
        if run.run_dir and Path(run.run_dir).resolve() == checkpoint.parent:
            return run
    return None


def follow(history, name: str, out=None) -> int:
    """Print the run's log as it grows until it ends; Ctrl-C asks for a stop (twice: kill)."""
    from core import jobs
    from core.history import FINAL

    out = out or sys.stdout  # looked up now: a default bound at import would outlive a redirected stdout
    run = history.get_run(name)
    log_path = Path(run.run_dir) / jobs.LOG_FILE
    offset = 0
    while True:
        try:
            offset = _print_new(log_path, offset, out)
            run = jobs.refresh(history, name)
            if run.status in FINAL:
                _print_new(log_path, offset, out)
                return _report_end(run, out)
            time.sleep(0.3)
        except KeyboardInterrupt:
            outcome = jobs.stop(name, history)
            message = (
                "stop requested: writing a checkpoint (Ctrl-C again to kill)" if outcome == "requested" else f"run {outcome}"
            )
            print(f"\n{message}", file=out, flush=True)


def _print_new(path: Path, offset: int, out) -> int:
    if not path.is_file():
        return offset
    with open(path, "rb") as fh:
        fh.seek(offset)
        chunk = fh.read()
    if chunk:
        out.write(chunk.decode("utf-8", errors="replace"))
        out.flush()
    return offset + len(chunk)


def _report_end(run, out) -> int:
    from core.history import Status

    print(f"run {run.name}: {run.status} at step {run.step or 0}", file=out)
    if run.status in (Status.FAILED, Status.LOST):
        print(f"error: {run.error}", file=out)
        if run.hint:
            print(f"hint: {run.hint}", file=out)
        return 1
    return 0


def _cmd_list(args) -> int:
    from core import jobs
    from core.history import open_history
    from core.liveness import writes_delayed

    with open_history(Workspace.resolve(args.workspace)) as history:
        runs = jobs.refresh_all(history)
        rows = [
            {
                "name": r.name,
                "kind": r.kind,
                "status": r.status,
                "step": r.step,
                "total_steps": r.total_steps,
                "loss": history.last_metric(r.name, "loss"),
                "queue_position": jobs.queue_position(history, r.name),
                "backend": r.backend,
                "scheduler_job": r.scheduler_job,
                "scheduler_state": r.scheduler_state,
                "history_writes_delayed": writes_delayed(r),
            }
            for r in runs
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'run':<28}{'kind':<11}{'status':<10}{'step':>12}{'loss':>9}  where")
    for run, r in zip(runs, rows):
        step = f"{run.step or 0}/{run.total_steps or '?'}"
        loss = f"{r['loss']:.4f}" if r["loss"] is not None else "-"
        status = f"queued #{r['queue_position']}" if r["queue_position"] else run.status
        status += " (history writes delayed)" if r["history_writes_delayed"] else ""
        print(f"{run.name:<28}{run.kind:<11}{status:<10}{step:>12}{loss:>9}  {_where(run)}")
    return 0


def _where(run) -> str:
    """`local`, or `slurm:gpu job 1234 PENDING (Resources)`."""
    from core.backends.choice import describe

    return describe(run)


def _cmd_show(args) -> int:
    from core import jobs
    from core.backends.topology import describe as describe_topology
    from core.eta import format_left, seconds_left
    from core.history import open_history
    from core.liveness import status_text, writes_delayed
    from core.train.best import read_best
    from core.train.word_marks import list_marks

    with open_history(Workspace.resolve(args.workspace)) as history:
        row = jobs.refresh(history, args.run)
        metrics = history.last_metrics(args.run)
    run = row.to_dict()
    run["metrics"] = metrics
    run["history_writes_delayed"] = writes_delayed(row)  # alive, its rows wait on a locked database
    run["challenge_checkpoints"] = list_marks(row.run_dir) if row.run_dir else []
    run["eta_s"] = seconds_left(row)  # eval/submission jobs: at the pace since they started
    best = read_best(row.run_dir) if row.run_dir else None
    run["best"] = dataclasses.asdict(best) if best else None
    if args.json:
        print(json.dumps(run, indent=2, default=str))
        return 0
    for key in (
        "name",
        "kind",
        "status",
        "step",
        "total_steps",
        "pid",
        "backend",
        "scheduler_job",
        "scheduler_state",
        "run_dir",
        "command",
        "error",
        "hint",
    ):
        if run.get(key) not in (None, ""):
            print(f"{key:>12}: {status_text(row) if key == 'status' else run[key]}")
        if key == "total_steps" and run["eta_s"] is not None:
            print(f"{'eta':>12}: {format_left(run['eta_s'])} (at its pace since it started)")
    if topology := describe_topology((run.get("config") or {}).get("topology")):
        print(f"{'topology':>12}: {topology}")
    for metric, value in sorted(run["metrics"].items()):
        print(f"{metric:>12}: {value:.6g}")
    if best:  # training.keep_best
        print(f"{'kept model':>12}: step {best.step}, the lowest {best.metric} ({best.value:.6g}); training.keep_best")
    if run["challenge_checkpoints"]:
        print("BabyLM checkpoints (training.checkpoint_words):")
        print(f"  {'name':<12}{'step':>8}{'words seen':>16}")
        for mark in run["challenge_checkpoints"]:
            words = f"{mark['words']:,}" if mark["words"] is not None else "?"
            print(f"  {mark['name']:<12}{mark['step'] if mark['step'] is not None else '?':>8}{words:>16}")
    return 0


def _cmd_stop(args) -> int:
    from core import jobs
    from core.history import open_history

    with open_history(Workspace.resolve(args.workspace)) as history:
        outcome = jobs.stop(args.run, history)
    print(
        {
            "requested": f"stop requested for {args.run}: it checkpoints and ends (stop again to kill it)",
            "killed": f"{args.run} killed",
        }.get(outcome, f"{args.run} is already {outcome}")
    )
    return 0


def _cmd_resume(args) -> int:
    from core import jobs
    from core.history import open_history

    ws = Workspace.resolve(args.workspace)
    with open_history(ws) as history:
        run = jobs.resume(args.run, ws, history)
        print(f"run {run.name} resumed")
        _print_fallback(run, args.detach)
        return 0 if args.detach else follow(history, run.name)


def _print_fallback(run: Run, detached: bool) -> None:
    """Which newer checkpoints a resume skipped and why, and the steps redone. The worker writes
    the same lines to run.log, which a followed run prints: here only for a detached one."""
    if not detached:
        return
    from core import jobs
    from core.train.checkpoint import skipped_notes  # torch: only when resuming

    job = json.loads((Path(run.run_dir) / jobs.JOB_FILE).read_text(encoding="utf-8"))
    chosen = Path(job["resume_from"])
    for note in skipped_notes(chosen.parent, chosen):
        print(f"warning: {note}", flush=True)


def _cmd_logs(args) -> int:
    from core import jobs
    from core.history import FINAL, open_history

    with open_history(Workspace.resolve(args.workspace)) as history:
        run = jobs.refresh(history, args.run)
        if args.follow and run.status not in FINAL:
            return follow(history, args.run)
    path = Path(run.run_dir) / jobs.LOG_FILE
    print(path.read_text(encoding="utf-8", errors="replace") if path.is_file() else "(no log yet)", end="")
    return 0


def _cmd_delete(args) -> int:
    from core import jobs
    from core.history import FINAL, open_history

    with open_history(Workspace.resolve(args.workspace)) as history:
        run = jobs.refresh(history, args.run)
        if run.status not in FINAL:
            raise UserError(f"run {args.run!r} is {run.status}: stop it first (`babyllama runs stop {args.run}`)")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UserError("delete asks for confirmation: run it in a terminal, or pass --yes")
            if input(f"delete run {args.run} and {run.run_dir}? [y/N] ").strip().lower() != "y":
                print("nothing deleted")
                return 1
        jobs.delete(history, args.run)
    print(f"deleted {args.run}")
    return 0
