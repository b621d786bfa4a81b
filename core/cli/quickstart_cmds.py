"""`babyllama quickstart`: a sample corpus, a tokenizer and a tiny run in one command (core.jobs.quickstart).

Starts the one `quickstart` background job, then follows its log and the run's; `--detach` returns
at once. Imports core lazily so `--help` stays fast. Must not import gradio or studio.
"""

from __future__ import annotations

from core.workspace import Workspace

# From the click to the first loss point: one phrase in the README, the studio and `--help`
# (tests/core/cli/test_quickstart_cmds.py checks all three; kept here, not in
# core.jobs.quickstart, so `--help` imports no history). Measured on the shared 2-core dev VM at load
# average 9-10: 55.5 s and 64.9 s (`babyllama quickstart --detach`, then polling the history for
# the run's first `loss` row; docs/performance.md).
FIRST_CURVE = "about a minute on 2 CPU cores"


def register(subparsers) -> None:
    from core.bounds import MAX_STEPS, MAX_SYNTH_WORDS, MAX_VOCAB, bounded
    from core.cli import add_workspace_arg

    p = subparsers.add_parser(
        "quickstart",
        help="first run: a sample corpus, a tokenizer and a tiny run, chained "
        f"as background jobs (first loss point {FIRST_CURVE})",
    )
    p.add_argument(
        "--words",
        type=bounded(int, 1, MAX_SYNTH_WORDS),
        default=None,
        metavar="W",
        help="size of the synthetic sample corpus in words (default 200000)",
    )
    p.add_argument(
        "--vocab-size",
        type=bounded(int, 1, MAX_VOCAB),
        default=None,
        metavar="V",
        help="tokenizer vocabulary size (default 2000)",
    )
    p.add_argument(
        "--max-steps",
        type=bounded(int, 1, MAX_STEPS),
        default=None,
        metavar="S",
        help="training steps of the tiny run (default 200)",
    )
    p.add_argument("--detach", action="store_true", help="start the chain in the background, print its job name, return")
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_quickstart)


def _cmd_quickstart(args) -> int:
    from core.cli.train_cmds import follow
    from core.history import open_history
    from core.jobs import quickstart

    ws = Workspace.resolve(args.workspace).ensure()
    with open_history(ws) as history:
        job = quickstart.start(ws, history, words=args.words, vocab_size=args.vocab_size, max_steps=args.max_steps)
        params = job.config  # the planned names, stored as the job's config
        print(f"quickstart job {job.name} started: {quickstart.describe_plan(params)}", flush=True)
        if args.detach:
            print(job.name)
            return 0
        code = follow(history, job.name)
        if code or history.get_run(params["run"]) is None:
            return code or 1
        return follow(history, params["run"])
