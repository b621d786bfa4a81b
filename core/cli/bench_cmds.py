"""`babyllama bench train`: tokens/s of our training loop vs transformers.Trainer, MFU, peak RSS.

A thin wrapper over core.bench.run; progress goes to stderr so `--json` prints one JSON object.
Must not import gradio; torch is imported only when the bench runs.
"""

from __future__ import annotations

import json

from core.workspace import Workspace


def register(subparsers) -> None:
    from core.bench.run import BenchOptions
    from core.cli import BENCH_HELP, add_workspace_arg, verb_group

    d = BenchOptions()
    q = verb_group(subparsers, "bench", BENCH_HELP).add_parser(
        "train",
        help="tokens/s of our loop and of Trainer on the same model and batch, their ratio, "
        "MFU against a measured matmul peak, peak RSS",
    )
    q.add_argument("--preset", default=d.preset, help=f"model preset (default {d.preset})")
    q.add_argument("--steps", type=int, default=d.steps, help=f"timed steps per side per round (default {d.steps})")
    q.add_argument(
        "--rounds",
        type=int,
        default=d.rounds,
        help=f"rounds; in each, every side runs --steps steps in turn (default {d.rounds})",
    )
    q.add_argument("--warmup", type=int, default=d.warmup, help=f"untimed steps per side first (default {d.warmup})")
    q.add_argument("--batch-size", type=int, default=d.batch_size, help=f"sequences per step (default {d.batch_size})")
    q.add_argument("--seq-length", type=int, default=d.seq_length, help=f"tokens per sequence (default {d.seq_length})")
    q.add_argument(
        "--vocab-size",
        type=int,
        default=d.vocab_size,
        help=f"model vocabulary; rows beyond the tokenizer's stay unused (default {d.vocab_size})",
    )
    q.add_argument(
        "--no-malloc-tuning",
        action="store_true",
        help="run every side with glibc's default allocator instead of the GLIBC_TUNABLES "
        "training jobs get (default: the jobs' settings on every side)",
    )
    q.add_argument(
        "--no-malloc-effect",
        action="store_true",
        help="skip the third side (ours with the other allocator setting) that measures what the allocator alone is worth",
    )
    q.add_argument(
        "--bf16",
        action="store_true",
        help="every side under bfloat16 autocast, MFU against a bf16 matmul peak (CPUs with AVX512-BF16 or AMX)",
    )
    q.add_argument(
        "--compile",
        action="store_true",
        help="compile every side: ours with training.torch_compile, Trainer with "
        "torch_compile=True (compiles in the untimed warm-up: a minute or more on CPU; "
        "needs a C++ compiler)",
    )
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from core.bench.report import format_report
    from core.bench.run import BenchOptions, run_bench

    opts = BenchOptions(
        preset=args.preset,
        steps=args.steps,
        rounds=args.rounds,
        warmup=args.warmup,
        batch_size=args.batch_size,
        seq_length=args.seq_length,
        vocab_size=args.vocab_size,
        tuned_malloc=not args.no_malloc_tuning,
        malloc_effect=not args.no_malloc_effect,
        bf16=args.bf16,
        compile=args.compile,
    )
    result = run_bench(opts, Workspace.resolve(args.workspace))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 0
