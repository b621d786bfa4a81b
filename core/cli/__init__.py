"""`babyllama <verb>`: the command line over core's public functions.

Each submodule registers one group of verbs (`register(subparsers)`) and keeps one small function
per verb; this module only assembles them and turns `UserError` into a message and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from core.errors import UserError

# One module per verb group; each defines register(subparsers). Order = order in --help.
_GROUPS = (
    "quickstart_cmds",
    "studio_cmds",
    "config_cmds",
    "data_cmds",
    "tokenizer_cmds",
    "train_cmds",
    "distill_cmds",
    "sweep_cmds",
    "doctor_cmds",
    "eval_cmds",
    "submission_cmds",
    "export_cmds",
    "serve_cmds",
    "bench_cmds",
    "bench_studio_cmds",
    "bench_submission_cmds",
    "recipe_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    """The full `babyllama` parser (also used by tests to check every verb has help)."""
    parser = argparse.ArgumentParser(
        prog="babyllama",
        description="Train small language models from scratch: data, tokenizer, model, train, evaluate.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for group in _GROUPS:
        import_module(f"core.cli.{group}").register(subparsers)
    return parser


def add_workspace_arg(parser: argparse.ArgumentParser) -> None:
    """`--workspace DIR` on every verb (default: $BABYLLAMA_WORKSPACE, else ./workspace)."""
    parser.add_argument(
        "--workspace",
        metavar="DIR",
        default=None,
        help="workspace folder (default: $BABYLLAMA_WORKSPACE, else ./workspace)",
    )


def at_least_one(text: str) -> int:
    """argparse type of a count that must be >= 1 when given (`--num-processes`, `--seq-length`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def verb_group(subparsers, name: str, help: str):
    """The verb parsers of group `name` (`babyllama bench train|eval`), created on first use, so
    several modules can add verbs to one group."""
    group = subparsers.choices.get(name)
    if group is None:
        group = subparsers.add_parser(name, help=help)
    for action in group._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return group.add_subparsers(dest=f"{name}_verb", metavar="VERB", required=True)


BENCH_HELP = (
    "measure speed: bench train (our loop vs transformers.Trainer), bench eval (batched scoring), "
    "bench generate (our sampler vs transformers generate), bench studio (CLI vs studio run, plot latency), "
    "bench submission (the strict-small evaluation, the pipeline's way vs ours)"
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `babyllama` console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "accepts_overrides", False):
        args.overrides = list(getattr(args, "overrides", []) or []) + extra
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler below, not at exit
        return code
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `babyllama runs list | head -1`: the reader left, as with every Unix tool that is no
        # error. Python's own flush at exit would fail again, so stdout goes to devnull first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the pipe


if __name__ == "__main__":  # pragma: no cover - `python -m core.cli`
    sys.exit(main())
