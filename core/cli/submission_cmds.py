"""`babyllama submission RUN --track strict-small|strict --babylm-data DIR`: every part a BabyLM
track needs, made as ordinary jobs one at a time, then collated (core.submission). `--status`
prints the part x revision table; `--collate-only` only checks and collates; `--scores` prints what
the pipeline's calculate_results_from_pred.py computes from the collated file. Must not import
gradio; nothing heavy is imported before a command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from core.workspace import Workspace

COLOURS = {"done": "32", "running": "36", "queued": "36", "missing": "33", "short": "31", "failed": "31", "unavailable": "31"}


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser(
        "submission",
        help="a BabyLM submission: fast suite on every chck_* checkpoint, full suite, AoA, GLUE, "
        "export, collated as the official pipeline hands it in",
        description="Parts are ordinary eval/export jobs with --output under <run>/submission/parts/, started one "
        "at a time; done parts are never redone. The hand-in tree and "
        "all_full_preds_and_fast_scores_causal.json go to <run>/submission/results/<run>/.",
    )
    p.add_argument("run", help="the training run (its chck_* checkpoints and final model)")
    p.add_argument(
        "--track",
        required=True,
        choices=("strict-small", "strict"),
        help="strict-small: chck_1M ... chck_100M (19), 100M words seen; strict: ... chck_1000M (28), 1B",
    )
    p.add_argument(
        "--babylm-data",
        required=True,
        metavar="DIR",
        help="the official evaluation_data/ folder (full_eval/ and fast_eval/ inside)",
    )
    p.add_argument(
        "--word-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="rehearsal on a small run: the track's mark of N words is the run's checkpoint at N*X words "
        "(e.g. 0.0001: chck_100 stands for chck_1M) and item counts come from the data folder "
        "(default 1: a real submission, the pipeline's counts)",
    )
    p.add_argument("--status", action="store_true", help="print the part x revision table (done/running/missing) and exit")
    p.add_argument("--collate-only", action="store_true", help="start nothing: check every part and collate")
    p.add_argument(
        "--scores",
        action="store_true",
        help="print the table the pipeline's calculate_results_from_pred.py computes from the collated file, and exit",
    )
    p.add_argument("--detach", action="store_true", help="run as a background job; print its name and return")
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_submission)


def _cmd_submission(args) -> int:
    from core.history import open_history
    from core.submission.run import SubmissionOptions, plan_for, run_submission, start_detached

    ws = Workspace.resolve(args.workspace).ensure()
    data = str(Path(args.babylm_data).expanduser().resolve())
    opts = SubmissionOptions(args.run, args.track, data, args.word_scale, args.collate_only)
    with open_history(ws) as history:
        if args.status:
            print(format_table(plan_for(opts, ws, history), colour=sys.stdout.isatty()))
            return 0
        if args.scores:
            print(_hand_in_table(plan_for(opts, ws, history)))
            return 0
        if args.detach:
            row = start_detached(opts, ws, history)
            print(f"submission job {row.name} started (log: {Path(row.run_dir) / 'run.log'})", flush=True)
            print(row.name)
            return 0
        _, out = run_submission(opts, ws, history, log=lambda m: print(m, flush=True))
    print(f"collated: {out}")
    return 0


def _hand_in_table(plan) -> str:
    from core.errors import UserError
    from core.submission.collate import output_path
    from core.submission.hand_in import format_table as scores_table
    from core.submission.hand_in import hand_in_scores

    path = output_path(plan)
    if not path.is_file():
        raise UserError(f"{plan.run}: not collated yet (no {path}); run the same command without --scores first")
    return scores_table(hand_in_scores(path, Path(plan.data)))


def format_table(plan, colour: bool = False) -> str:
    """The part x revision table, then the track's checks."""
    rows = [("part", "revision", "status", "job", "note")] + [
        (r["part"], r["revision"], r["status"], r["job"], r["note"]) for r in plan.table()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [f"{plan.run}, track {plan.track}" + (f", word scale {plan.word_scale:g}" if plan.word_scale != 1 else "")]
    for i, row in enumerate(rows):
        status = row[2].ljust(widths[2])
        if colour and i:
            status = f"\033[{COLOURS.get(row[2], '0')}m{status}\033[0m"
        lines.append(
            "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), status, row[3].ljust(widths[3]), row[4]]).rstrip()
        )
    counts = plan.counts()
    lines.append(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    lines += [f"missing checkpoint: {note}" for note in plan.schedule]
    if plan.budget:
        lines.append(f"over budget: {plan.budget}")
    return "\n".join(lines)
