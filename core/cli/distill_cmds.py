"""`babyllama distill`: ensemble distillation with the guide's flags (`--config distillation.yaml
--teacher-models A,B --student-config llama-58M.yaml`).

A distillation run is a training run of kind `distill`: the same job, queue, stop, resume, history
and live plots as `babyllama train`. Must not import gradio; torch only through the teacher check.
"""

from __future__ import annotations

import argparse
import shlex

from core.cli.train_cmds import follow
from core.errors import UserError
from core.workspace import Workspace


def register(subparsers) -> None:
    from core.bounds import MAX_PROCESSES, bounded
    from core.cli import add_workspace_arg
    from core.cli.config_cmds import keys_help

    p = subparsers.add_parser(
        "distill",
        allow_abbrev=False,
        epilog=keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help="train a student on the labels and the averaged predictions of teacher models",
        description="loss = alpha x CE(labels) + (1 - alpha) x T^2 x KL(teachers' average || student), "
        "CE and KL logged apart. Teachers must use the student's tokenizer.",
    )
    p.add_argument(
        "--config",
        default="distillation",
        help="YAML file or preset name with data, training and distillation (default: distillation)",
    )
    p.add_argument(
        "--teacher-models",
        "--teacher_models",
        dest="teachers",
        default=None,
        metavar="RUN_OR_PATH,...",
        help="comma-separated teacher runs or model folders (else distillation.teacher_models)",
    )
    p.add_argument(
        "--student-config",
        "--student_config",
        dest="student",
        default=None,
        metavar="YAML",
        help="model preset or YAML of the student (its `model:` section; else the config's)",
    )
    p.add_argument("overrides", nargs="*", help="section.key=value, or the guide's flags (--lr 5e-4 --alpha 0.7)")
    p.add_argument("--detach", action="store_true", help="start in the background, print the run name, return")
    p.add_argument(
        "--num-processes",
        "--num_processes",
        type=bounded(int, 1, MAX_PROCESSES),
        default=1,
        help="data-parallel processes through accelerate launch (GPUs, or gloo on CPU)",
    )
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_distill, accepts_overrides=True)


def _cmd_distill(args) -> int:
    from core import config as config_mod
    from core import jobs
    from core.config import presets
    from core.config.resolve import data_checker
    from core.history import open_history

    ws = Workspace.resolve(args.workspace).ensure()
    path = presets.resolve_config_path(args.config, ws)
    student = presets.resolve_config_path(args.student, ws) if args.student else None
    overrides = list(args.overrides) + ([f"distillation.teacher_models={args.teachers}"] if args.teachers else [])
    cfg = config_mod.load_distillation(path, student, overrides, checks=[data_checker(ws, require=True)])
    if not cfg.distillation.teachers:
        raise UserError(
            "--teacher-models: no teachers given; pass --teacher-models RUN_OR_PATH,RUN_OR_PATH "
            "(finished runs of `babyllama runs list`, or model folders)"
        )
    argv = ["babyllama", "distill", "--config", str(args.config)]
    argv += ["--teacher-models", args.teachers] if args.teachers else []
    argv += ["--student-config", str(args.student)] if args.student else []
    command = " ".join(shlex.quote(a) for a in argv + list(args.overrides))
    with open_history(ws) as history:
        run = jobs.start("distill", cfg, ws, history, command=command, num_processes=args.num_processes)
        print(f"run {run.name} started ({run.run_dir}): distilling from {', '.join(cfg.distillation.teachers)}", flush=True)
        if args.detach:
            print(run.name)
            return 0
        return follow(history, run.name)
