"""`babyllama bench cli`: how long `babyllama --help` and `babyllama runs list` take to start.

A thin wrapper over core.bench.cli; progress goes to stderr so `--json` prints one JSON object.
Must not import gradio or torch.
"""
from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    from core.bench.cli import CliBenchOptions
    from core.cli import BENCH_HELP, verb_group

    d = CliBenchOptions()
    q = verb_group(subparsers, "bench", BENCH_HELP).add_parser(
        "cli", help="start-up time of `babyllama --help` and `runs list` in fresh processes, and the packages "
                    "that cost the most to import")
    q.add_argument("--runs", type=int, default=d.runs, help=f"timed runs per command; the median is reported "
                                                            f"(default {d.runs})")
    q.add_argument("--top", type=int, default=d.top, help=f"import offenders listed per command (default {d.top})")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.set_defaults(func=_cmd_cli)


def _cmd_cli(args) -> int:
    from core.bench.cli import CliBenchOptions, format_report, run_cli_bench

    result = run_cli_bench(CliBenchOptions(runs=args.runs, top=args.top),
                           log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 0
