"""`babyllama bench generate` (our sampling loop against transformers' generate); `babyllama serve`
arrives with core.serve. Thin wrappers over core.bench.generate.
Must not import gradio; torch is imported only when a command runs a model.
"""
from __future__ import annotations

import json
import sys

from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import BENCH_HELP, add_workspace_arg, verb_group

    _register_bench_generate(verb_group(subparsers, "bench", BENCH_HELP), add_workspace_arg)


def _register_bench_generate(bench, add_workspace_arg) -> None:
    from core.bench.generate import GenBenchOptions

    d = GenBenchOptions()
    q = bench.add_parser("generate", help="tokens/s of our KV-cached sampling loop vs transformers' generate, "
                                          "batch 1 and batch 8, and their ratio")
    q.add_argument("--preset", default=d.preset, help=f"model preset, randomly initialised (default {d.preset})")
    q.add_argument("--new-tokens", type=int, default=d.new_tokens, help=f"tokens generated per row (default {d.new_tokens})")
    q.add_argument("--prompt-tokens", type=int, default=d.prompt_tokens,
                   help=f"longest prompt in tokens; the rows of a batch step down by 2 (default {d.prompt_tokens})")
    q.add_argument("--batch-sizes", default=",".join(map(str, d.batch_sizes)),
                   help=f"comma-separated batch sizes; the first one's figures head the JSON (default "
                        f"{','.join(map(str, d.batch_sizes))})")
    q.add_argument("--rounds", type=int, default=d.rounds, help=f"timed rounds per side, alternating (default {d.rounds})")
    q.add_argument("--vocab-size", type=int, default=d.vocab_size, help=f"model vocabulary (default {d.vocab_size})")
    q.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default: one per core)")
    q.add_argument("--sample", action="store_true",
                   help="seeded sampling (temperature 0.8, top-k 50, top-p 0.95) instead of greedy")
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_bench_generate)


def _cmd_bench_generate(args) -> int:
    from core.bench.generate import GenBenchOptions, format_report, run_gen_bench
    from core.errors import UserError

    try:
        batches = tuple(int(b) for b in args.batch_sizes.split(",") if b.strip())
    except ValueError:
        raise UserError(f"--batch-sizes: expected whole numbers like 1,8, got {args.batch_sizes!r}") from None
    opts = GenBenchOptions(preset=args.preset, new_tokens=args.new_tokens, prompt_tokens=args.prompt_tokens,
                           batch_sizes=batches, rounds=args.rounds, vocab_size=args.vocab_size,
                           threads=args.threads, sample=args.sample)
    result = run_gen_bench(opts, Workspace.resolve(args.workspace), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 0
