"""`babyllama eval MODEL`, `babyllama report RUN...` and `babyllama bench eval`.

Thin wrappers over core.evaluate: `eval` runs in the foreground with progress lines, or with
`--detach` as an `eval` job (the same function, in core.jobs.worker). Must not import gradio; torch is
imported only when a command runs a model.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path

from core import bounds
from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import add_workspace_arg
    from core.evaluate import OPT_IN_SUITES, SUITES
    from core.evaluate.options import EvalOptions

    d = EvalOptions(model="")
    p = subparsers.add_parser(
        "eval",
        help="evaluate a model: perplexity, generation, cloze, minimal pairs, "
        "the BabyLM zero-shot suite, speed; GLUE fine-tuning when named",
        description="Results go to <run>/eval/<time>/ (results.json, report.html, "
        "samples.txt, evaluation_plots.png) and, for a run, to the history. "
        "--suite babylm/glue also write the official pipeline's results/ "
        "layout there.",
    )
    p.add_argument("model", help="run name, checkpoint folder or any transformers causal-LM folder")
    p.add_argument(
        "--suite",
        default=None,
        help=f"comma-separated suites (default: {','.join(SUITES)}; only when named: {','.join(OPT_IN_SUITES)})",
    )
    p.add_argument(
        "--data",
        default="",
        metavar="N",
        help="perplexity text: corpus name (its dev split), folder or file (default: the run's own dev split)",
    )
    p.add_argument(
        "--num-samples",
        "--num_samples",
        type=bounds.bounded(int, 0, bounds.MAX_ITEMS),
        default=0,
        metavar="K",
        help="at most K pairs per paradigm, K cloze items and K perplexity windows (default: all)",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="", help="default: cuda when available, else cpu")
    p.add_argument(
        "--output",
        "--output-path",
        default="",
        metavar="PATH",
        help="results folder (default <run>/eval/<time>/); a .json path also gets a copy of results.json",
    )
    p.add_argument("--custom-prompts", default="", metavar="FILE", help="extra generation prompts, one per line")
    p.add_argument(
        "--pairs-dir",
        default="",
        metavar="DIR",
        help="BLiMP-format .jsonl files, one per paradigm (default: <workspace>/blimp/ if present)",
    )
    p.add_argument(
        "--babylm-data",
        default="",
        metavar="DIR",
        help="the official BabyLM evaluation_data/ folder (or its full_eval/, fast_eval/, or one task "
        "folder; its reading/reading_data.csv is scored too); default: "
        "<workspace>/evaluation_data/ if present",
    )
    p.add_argument("--fast", action="store_true", help="babylm: score fast_eval/ (the checkpoints' set), not full_eval/")
    p.add_argument(
        "--temperatures",
        default="",
        metavar="T",
        help="babylm: 1.0 (default), a list 1,1.5,2, or MIN:MAX[:STEP] as the pipeline's "
        "--min_temperature/--max_temperature/--temperature_interval; the best is reported",
    )
    p.add_argument(
        "--revision",
        default="",
        metavar="NAME",
        help="babylm: revision folder of results/<model>/<revision>/ (default main, or the chck_ checkpoint's name)",
    )
    p.add_argument(
        "--tasks",
        default="",
        metavar="LIST",
        help="glue: comma-separated fine-tuning tasks of boolq,multirc,rte,wsc,mrpc,qqp,mnli (default: all)",
    )
    p.add_argument(
        "--pooling",
        choices=("first", "last"),
        default=d.pooling,
        help="glue: the hidden state the classifier reads: first (official: position 0) or last "
        "(the last real token; NOT the official rule, recorded as such)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=0,
        metavar="N",
        help="glue: epochs per task (default: the recipe's, 10 and WSC 30; another count is recorded as not official)",
    )
    p.add_argument(
        "--max-train-examples",
        type=int,
        default=0,
        metavar="K",
        help="glue: fine-tune on the first K training examples of each task (default: all; recorded)",
    )
    p.add_argument(
        "--max-valid-examples",
        type=int,
        default=0,
        metavar="K",
        help="glue: score the first K validation examples of each task (default: all; recorded)",
    )
    p.add_argument(
        "--exact",
        action=argparse.BooleanOptionalAction,
        default=d.exact,
        help="babylm: the official pipeline's arithmetic (its batches of 64 items in file order, "
        "float32 sums), so near-ties fall as in its files (default); --no-exact: the fast path "
        "(shared prefixes and identical candidates once, batches of one length, float64 sums)",
    )
    p.add_argument(
        "--cloze-file",
        default="",
        metavar="FILE",
        help='cloze items, JSONL: {"text": "... ___ ...", "options": [...], "answer": ..., "category": ...}',
    )
    p.add_argument(
        "--batch-size",
        type=bounds.bounded(int, 1, bounds.MAX_BATCH),
        default=d.batch_size,
        help=f"sequences per forward pass (default {d.batch_size}; perplexity: at most 16k tokens a pass)",
    )
    p.add_argument(
        "--seq-length",
        type=bounds.bounded(int, 1, bounds.MAX_SEQ),
        default=None,
        help="perplexity window in tokens, >= 1 (default: the run's seq_length)",
    )
    p.add_argument(
        "--max-new-tokens",
        type=bounds.bounded(int, 1, bounds.MAX_NEW_TOKENS),
        default=d.max_new_tokens,
        help=f"tokens per generation sample (default {d.max_new_tokens})",
    )
    p.add_argument("--seed", type=bounds.bounded(int, 0, bounds.MAX_SEED), default=0, help="sampling seed (default 0)")
    p.add_argument("--detach", action="store_true", help="run as a background job; print its name and return")
    from core.cli.backend_args import add_backend_args

    add_backend_args(p)  # --backend slurm: the eval job goes to the cluster (implies --detach)
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_eval)

    p = subparsers.add_parser("report", help="compare runs in one HTML page: curves, config diff, evals, samples, scaling")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run names")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write (default report.html)")
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_report)

    _register_bench_eval(subparsers, add_workspace_arg)


def _register_bench_eval(subparsers, add_workspace_arg) -> None:
    from core.cli import BENCH_HELP, verb_group
    from core.cli.lazy import defaults_formatter

    # Defaults shown from EvalBenchOptions, whose module imports torch: unset flags parse as None.
    q = verb_group(subparsers, "bench", BENCH_HELP).add_parser(
        "eval",
        help="minimal pairs, the BabyLM suite and AoA surprisal batched vs one at a time, and perplexity vs a bare forward loop",
        formatter_class=defaults_formatter("core.bench.eval:EvalBenchOptions"),
    )
    q.add_argument("--model", default="", help="run or model folder (default: a random model of --preset)")
    q.add_argument("--preset", default=None, help="model preset when no --model (default %(default)s)")
    q.add_argument(
        "--pairs-dir",
        default="",
        help="BLiMP .jsonl folder (default: BLiMP-like pairs generated from "
        "synthetic sentences, 4-14 words, one or two words changed)",
    )
    q.add_argument(
        "--vocab",
        type=bounds.bounded(int, 1, bounds.MAX_VOCAB),
        default=None,
        help="the random model's vocabulary when no --model (at least the tokenizer's; default %(default)s)",
    )
    q.add_argument(
        "--pairs",
        type=bounds.bounded(int, 0, bounds.MAX_ITEMS),
        default=None,
        help="pairs per paradigm (default %(default)s; 0 = all)",
    )
    q.add_argument(
        "--batch-size",
        type=bounds.bounded(int, 1, bounds.MAX_BATCH),
        default=None,
        help="batched side's batch (default %(default)s)",
    )
    q.add_argument("--device", choices=("cpu", "cuda"), default="", help="default: cuda when available")
    q.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice, all cores)")
    q.add_argument(
        "--rounds", type=int, default=None, help="rounds per side, alternating; the median counts (default %(default)s)"
    )
    q.add_argument(
        "--babylm-data",
        default="",
        metavar="DIR",
        help="BabyLM part: the official evaluation_data/ (default: the pairs read as blimp_filtered)",
    )
    q.add_argument("--fast", action="store_true", help="BabyLM part: its fast_eval/")
    q.add_argument(
        "--reading-rows",
        type=int,
        default=None,
        help="reading part: rows of reading/reading_data.csv (without --babylm-data: rows made from "
        "the pairs' words); 0 = all (default %(default)s)",
    )
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_bench_eval)


def _abs(value: str) -> str:
    return str(Path(value).expanduser().resolve()) if value else ""


def _options(args):
    from core.evaluate import SUITES
    from core.evaluate.options import EvalOptions

    given = args.suite is not None
    suites = tuple(s.strip() for s in args.suite.split(",") if s.strip()) if given else SUITES
    # Paths become absolute: a detached job runs in its own folder.
    return EvalOptions(
        model=args.model,
        suites=suites,
        data=args.data,
        num_samples=args.num_samples,
        device=args.device,
        output=_abs(args.output),
        custom_prompts=_abs(args.custom_prompts),
        pairs_dir=_abs(args.pairs_dir),
        cloze_file=_abs(args.cloze_file),
        batch_size=args.batch_size,
        seq_length=args.seq_length or 0,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        babylm_data=_abs(args.babylm_data),
        fast=args.fast,
        temperatures=args.temperatures,
        revision=args.revision,
        tasks=args.tasks,
        pooling=args.pooling,
        epochs=args.epochs,
        max_train_examples=args.max_train_examples,
        max_valid_examples=args.max_valid_examples,
        exact=args.exact,
        suites_given=given,
    )


def _cmd_eval(args) -> int:
    from core import jobs
    from core.history import open_history

    ws = Workspace.resolve(args.workspace).ensure()
    opts = _options(args)
    opts.check()
    from core.cli.backend_args import one_process_backend

    backend = one_process_backend(args, ws, "eval")
    with open_history(ws) as history:
        if args.detach or backend is not None:
            stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(args.model).name).strip("-.") or "model"
            name = history.free_name(f"eval-{stem}-{datetime.now():%Y%m%d-%H%M%S}"[:100])
            command = _command(opts)
            run = jobs.start_task("eval", opts.to_dict(), ws, history, name=name, command=command, backend=backend)
            print(f"eval job {run.name} started (log: {Path(run.run_dir) / jobs.LOG_FILE})", flush=True)
            print(run.name)
            return 0
        from core.evaluate.runner import run_eval

        run_eval(opts, ws, history=history, log=lambda m: print(m, flush=True))
    return 0


def _command(opts) -> str:
    """The foreground command equivalent to an eval job (shown by the studio and `runs show`)."""
    from core.evaluate.options import EvalOptions

    default, argv = EvalOptions(model=opts.model), ["babyllama", "eval", opts.model]
    for key, value in opts.to_dict().items():
        if key in ("model", "suites_given") or value == default.to_dict()[key]:
            continue
        if isinstance(value, bool):  # a flag; --no-X turns off one that is on by default
            argv.append(f"--{'' if value else 'no-'}{key.replace('_', '-')}")
            continue
        argv += [
            f"--{key.replace('_', '-')}".replace("--suites", "--suite"),
            ",".join(value) if isinstance(value, list) else str(value),
        ]
    return " ".join(shlex.quote(a) for a in argv)


def _cmd_report(args) -> int:
    from core.evaluate.compare import write_compare_report
    from core.history import open_history

    ws = Workspace.resolve(args.workspace)
    with open_history(ws) as history:
        out = write_compare_report(history, args.runs, args.output)
    print(f"report written to {out}")
    return 0


def _cmd_bench_eval(args) -> int:
    from core.bench.eval import EvalBenchOptions, format_report, run_eval_bench
    from core.cli.lazy import given

    opts = EvalBenchOptions(
        model=args.model,
        pairs_dir=_abs(args.pairs_dir),
        device=args.device,
        threads=args.threads,
        babylm_data=_abs(args.babylm_data),
        fast=args.fast,
        **given(args, ("preset", "pairs", "vocab", "batch_size", "rounds", "reading_rows")),
    )
    result = run_eval_bench(opts, Workspace.resolve(args.workspace), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    same = result["same_accuracies"] and result["babylm"]["same_decisions"] and result["reading"]["agree"]
    return 0 if same else 1  # no ratio: a script must notice
