"""`babyllama bench studio`: the same run from the CLI and from the studio with a browser polling
its plot; tokens/s of both, their ratio, and the latency from a logged row to the plot.

A thin wrapper over core.bench.studio; progress goes to stderr so `--json` prints one JSON object.
Must not import gradio; torch and Playwright are imported only when the bench runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.workspace import Workspace


def register(subparsers) -> None:
    from core.bench.page import REFRESH_LABELS
    from core.cli import BENCH_HELP, add_workspace_arg, verb_group
    from core.cli.lazy import defaults_formatter

    # Defaults shown from StudioBenchOptions, whose module imports the history and jobs: unset
    # flags parse as None.
    q = verb_group(subparsers, "bench", BENCH_HELP).add_parser(
        "studio",
        help="tokens/s of one run started from the CLI and one from the studio with a browser "
        "polling the plot, their ratio, and the latency from a logged row to the plot",
        formatter_class=defaults_formatter("core.bench.studio:StudioBenchOptions"),
    )
    q.add_argument("--preset", default=None, help="model preset, e.g. tiny or llama-10M (default %(default)s)")
    q.add_argument("--steps", type=int, default=None, help="training.max_steps of every run (default %(default)s)")
    q.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="CLI + studio run pairs, in the order CLI, studio, studio, CLI, ... (default %(default)s)",
    )
    q.add_argument(
        "--refresh",
        type=float,
        default=None,
        choices=tuple(REFRESH_LABELS),
        help="the Train tab's plot refresh in seconds during the studio run (default 1, its default)",
    )
    q.add_argument("--keep", action="store_true", help="keep the bench workspace (runs, logs, screenshot)")
    q.add_argument("--screenshot", metavar="PNG", default=None, help="save the page at the end of the studio run")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_studio)


def _cmd_studio(args) -> int:
    from core.bench.studio import StudioBenchOptions, format_report, run_studio_bench
    from core.cli.lazy import given

    opts = StudioBenchOptions(
        keep=args.keep,
        screenshot=Path(args.screenshot).resolve() if args.screenshot else None,
        **given(args, ("preset", "steps", "rounds", "refresh")),
    )
    result = run_studio_bench(opts, Workspace.resolve(args.workspace))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 0
