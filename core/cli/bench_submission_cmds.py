"""`babyllama bench submission`: the strict-small evaluation of an N-checkpoint run, the pipeline's
way (exact zero-shot, official reading and AoA loops) against ours (fast and batched).

A thin wrapper over core.bench.submission; progress goes to stderr so `--json` prints one JSON
object. Must not import gradio; torch is imported only when the bench runs.
"""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    from core.bench.submission import SubmissionBenchOptions
    from core.cli import BENCH_HELP, add_workspace_arg, verb_group

    d = SubmissionBenchOptions()
    q = verb_group(subparsers, "bench", BENCH_HELP).add_parser(
        "submission",
        help="the strict-small evaluation of an N-checkpoint run: the pipeline's loops vs ours, "
        "per part and in total, with a ratio only when the outputs agree",
    )
    q.add_argument("--preset", default=d.preset, help=f"model preset of the random model (default {d.preset})")
    q.add_argument(
        "--checkpoints",
        type=int,
        default=d.checkpoints,
        help=f"checkpoints evaluated, the same weights for each (default {d.checkpoints})",
    )
    q.add_argument(
        "--items", type=int, default=d.items, help=f"items per task file of the synthetic fast_eval, 6 files (default {d.items})"
    )
    q.add_argument("--reading-rows", type=int, default=d.reading_rows, help=f"reading rows (default {d.reading_rows})")
    q.add_argument(
        "--aoa-contexts", type=int, default=d.aoa_contexts, help=f"AoA (context, word) items (default {d.aoa_contexts})"
    )
    q.add_argument("--batch-size", type=int, default=d.batch_size, help=f"our side's batch (default {d.batch_size})")
    q.add_argument("--device", choices=("cpu", "cuda"), default="", help="default: cuda when available")
    q.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice, all cores)")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_submission)


def _cmd_submission(args) -> int:
    from core.bench.submission import SubmissionBenchOptions, format_report, run_submission_bench
    from core.workspace import Workspace

    opts = SubmissionBenchOptions(
        preset=args.preset,
        checkpoints=args.checkpoints,
        items=args.items,
        reading_rows=args.reading_rows,
        aoa_contexts=args.aoa_contexts,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
    )
    result = run_submission_bench(opts, Workspace.resolve(args.workspace), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 0 if result["ratio"] is not None else 1  # no ratio: a script must notice
