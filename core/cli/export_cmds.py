"""`babyllama export RUN --format hf|onnx|int8|babylm`: a thin wrapper over core.export.runner.

Runs in the foreground with progress lines, or with `--detach` as an `export` job (the same
function, in core.jobs.worker). Must not import gradio; torch is imported only when a command runs.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import add_workspace_arg
    from core.export import FORMATS
    from core.export.runner import ExportOptions

    d = ExportOptions(model="", format="hf")
    p = subparsers.add_parser(
        "export",
        help="export a model: transformers folder + model card, ONNX (checked), int8 ONNX, or a BabyLM submission",
        description="Output goes to <workspace>/exports/<run>-<format>/ unless --output is given; "
        "an existing non-empty folder is never overwritten.",
    )
    p.add_argument("model", help="run name, checkpoint folder or any transformers causal-LM folder")
    # No argparse `choices`: our own check names the field and the formats (exit 2 either way).
    p.add_argument(
        "--format",
        required=True,
        metavar="|".join(FORMATS),
        help="hf: safetensors + tokenizer + README.md model card; onnx: decoder with dynamic batch/sequence "
        "axes, checked against PyTorch with onnxruntime; int8: that ONNX quantized to int8, with "
        "size and perplexity before/after; babylm: the final model (main/) + one folder per chck_* checkpoint "
        "+ a README with the upload and evaluation commands (nothing is uploaded)",
    )
    p.add_argument("--output", default="", metavar="DIR", help="output folder (default <workspace>/exports/<run>-<format>/)")
    p.add_argument(
        "--data",
        default="",
        metavar="N",
        help="int8 perplexity text: corpus name (its dev split), folder or file (default: the run's dev split)",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        default=d.max_tokens,
        metavar="N",
        help=f"int8 perplexity: score at most N tokens (default {d.max_tokens:,}; 0 = the whole split)",
    )
    p.add_argument("--detach", action="store_true", help="run as a background job; print its name and return")
    from core.cli.backend_args import add_backend_args

    add_backend_args(p)  # --backend slurm: the export job goes to the cluster (implies --detach)
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_export)


def _options(args):
    from core.export.runner import ExportOptions

    # Paths become absolute: a detached job runs in its own folder.
    absolute = lambda v: str(Path(v).expanduser().resolve()) if v else ""  # noqa: E731
    data = absolute(args.data) if args.data and Path(args.data).expanduser().exists() else args.data
    return ExportOptions(
        model=args.model, format=args.format, output=absolute(args.output), data=data, max_tokens=args.max_tokens
    )


def command_for(opts) -> str:
    """The foreground command equivalent to an export job (shown by the studio and `runs show`)."""
    from core.export.runner import ExportOptions

    default, argv = ExportOptions(model=opts.model, format=opts.format), ["babyllama", "export", opts.model]
    for key, value in opts.to_dict().items():
        if key != "model" and (key == "format" or value != getattr(default, key)):
            argv += [f"--{key.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(a) for a in argv)


def _cmd_export(args) -> int:
    from core import jobs
    from core.export.runner import ExportCheckFailed, plan_output, run_export, start_export_job
    from core.history import open_history

    ws = Workspace.resolve(args.workspace).ensure()
    opts = _options(args)
    from core.cli.backend_args import one_process_backend

    backend = one_process_backend(args, ws, "export")
    with open_history(ws) as history:
        if args.detach or backend is not None:
            _, target = plan_output(opts, ws)  # bad input fails here, before a job exists
            opts.output = str(target)
            run = start_export_job(opts, ws, history, command=command_for(opts), backend=backend)
            print(f"export job {run.name} started (log: {Path(run.run_dir) / jobs.LOG_FILE}); output {target}", flush=True)
            print(run.name)
            return 0
        try:
            run_export(opts, ws, history=history, log=lambda m: print(m, flush=True))
        except ExportCheckFailed as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return 1
    return 0
