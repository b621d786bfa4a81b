"""`babyllama serve RUN` (the REST server over one model) and `babyllama bench generate` (our
sampling loop against transformers' generate). Thin wrappers over core.serve and core.bench.generate.
Must not import gradio; torch is imported only when a command runs a model.
"""

from __future__ import annotations

import gc
import json
import signal
import sys

from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import BENCH_HELP, add_workspace_arg, verb_group
    from core.cli.lazy import defaults_formatter

    # Defaults shown from ServeOptions, whose module imports torch: unset flags parse as None.
    p = subparsers.add_parser(
        "serve",
        help="serve a model over HTTP: POST /generate, POST /v1/completions (OpenAI), GET /health",
        description="One model in memory, one generation at a time (FastAPI on uvicorn). Binds 127.0.0.1 "
        "unless --allow-remote. See docs/serving.md.",
        formatter_class=defaults_formatter("core.serve:ServeOptions"),
    )
    p.add_argument("run", help="run name, checkpoint folder or any transformers causal-LM folder")
    p.add_argument("--host", default=None, help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=None, help="port (default %(default)s; 0 = any free port)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other than loopback (anyone who reaches it can use the model: no auth)",
    )
    p.add_argument(
        "--allowed-hosts",
        metavar="HOST[,HOST...]",
        default=None,
        help="Host / Origin names to answer besides the bound address, localhost, 127.0.0.1 and "
        "[::1] (any port; *.example.org matches subdomains); others get 400 / 403",
    )
    p.add_argument(
        "--max-new-tokens-cap",
        type=int,
        default=None,
        help="largest max_new_tokens / max_tokens a request may ask for (default %(default)s)",
    )
    p.add_argument("--max-body-bytes", type=int, default=None, help="largest request body (default %(default)s)")
    p.add_argument(
        "--max-prompts", type=int, default=None, help="most prompts in one request; more get 413 (default %(default)s)"
    )
    p.add_argument(
        "--max-request-tokens",
        type=int,
        default=None,
        help="most tokens one request may cost: its prompts' tokens plus max_new_tokens per prompt; "
        "more get 413 (default %(default)s)",
    )
    p.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="requests that may wait for the model while one generates; more get 503 with Retry-After (default %(default)s)",
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available, else cpu")
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_serve)
    _register_bench_generate(verb_group(subparsers, "bench", BENCH_HELP), add_workspace_arg)


def _register_bench_generate(bench, add_workspace_arg) -> None:
    from core.bench.generate import GenBenchOptions

    d = GenBenchOptions()
    q = bench.add_parser(
        "generate", help="tokens/s of our KV-cached sampling loop vs transformers' generate, batch 1 and batch 8, and their ratio"
    )
    q.add_argument("--preset", default=d.preset, help=f"model preset, randomly initialised (default {d.preset})")
    q.add_argument("--new-tokens", type=int, default=d.new_tokens, help=f"tokens generated per row (default {d.new_tokens})")
    q.add_argument(
        "--prompt-tokens",
        type=int,
        default=d.prompt_tokens,
        help=f"longest prompt in tokens; the rows of a batch step down by 2 (default {d.prompt_tokens})",
    )
    q.add_argument(
        "--batch-sizes",
        default=",".join(map(str, d.batch_sizes)),
        help=f"comma-separated batch sizes; the first one's figures head the JSON (default {','.join(map(str, d.batch_sizes))})",
    )
    q.add_argument("--rounds", type=int, default=d.rounds, help=f"timed rounds per side, alternating (default {d.rounds})")
    q.add_argument("--vocab-size", type=int, default=d.vocab_size, help=f"model vocabulary (default {d.vocab_size})")
    q.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default: one per core)")
    q.add_argument(
        "--sample", action="store_true", help="seeded sampling (temperature 0.8, top-k 50, top-p 0.95) instead of greedy"
    )
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_bench_generate)


def _stop_on_sigterm() -> None:
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill` stops the server as Ctrl-C does


def _cmd_serve(args) -> int:
    from core.cli.lazy import given
    from core.net import parse_allowed_hosts
    from core.serve import ServeOptions, load_engine, serve

    opts = ServeOptions(
        allow_remote=args.allow_remote,
        allowed_hosts=parse_allowed_hosts(args.allowed_hosts),
        **given(args, ("host", "port", "max_body_bytes", "max_new_tokens_cap", "max_queue", "max_prompts", "max_request_tokens")),
    )
    opts.check()  # before loading the model: a refused --host costs nothing
    engine = load_engine(args.run, Workspace.resolve(args.workspace), device=args.device)
    _stop_on_sigterm()
    serve(engine, opts, log=lambda m: print(m, file=sys.stderr if m.startswith("warning") else sys.stdout, flush=True))
    # The interpreter's exit would now garbage-collect every object of torch and transformers: 4-5 s
    # on our 2-core VM (gdb: gc_collect_main in Py_FinalizeEx). Nothing here needs finalizing.
    gc.freeze()
    return 0


def _cmd_bench_generate(args) -> int:
    from core.bench.generate import GenBenchOptions, format_report, refused, run_gen_bench
    from core.errors import UserError

    try:
        batches = tuple(int(b) for b in args.batch_sizes.split(",") if b.strip())
    except ValueError:
        raise UserError(f"--batch-sizes: expected whole numbers like 1,8, got {args.batch_sizes!r}") from None
    opts = GenBenchOptions(
        preset=args.preset,
        new_tokens=args.new_tokens,
        prompt_tokens=args.prompt_tokens,
        batch_sizes=batches,
        rounds=args.rounds,
        vocab_size=args.vocab_size,
        threads=args.threads,
        sample=args.sample,
    )
    result = run_gen_bench(opts, Workspace.resolve(args.workspace), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 1 if refused(result) else 0  # different tokens: no ratio, and a script must notice
