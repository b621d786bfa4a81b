"""`babyllama bench generate`: tokens/s of our KV-cached sampling loop against transformers'
`model.generate` on the same random model, prompts, settings and number of new tokens.

Both sides run in this process, warm-up first, then in alternating order round by round; the
greedy tokens of both must be identical, else that batch gets no ratio. Must not import gradio.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

from core.errors import UserError
from core.workspace import Workspace

TARGET_RATIO = 1.2


@dataclass(frozen=True)
class GenBenchOptions:
    """What `bench generate` measures; the defaults take about a minute on 2 CPU cores."""

    preset: str = "llama-10M"
    new_tokens: int = 64
    prompt_tokens: int = 32
    batch_sizes: tuple[int, ...] = (1, 8)
    rounds: int = 5
    vocab_size: int = 16_000
    threads: int = 0  # torch CPU threads; 0 = one per core
    sample: bool = False  # seeded sampling (temperature 0.8, top-k 50, top-p 0.95) instead of greedy

    def check(self) -> None:
        for name in ("new_tokens", "prompt_tokens", "rounds", "vocab_size"):
            if getattr(self, name) < 1:
                raise UserError(f"bench generate: --{name.replace('_', '-')} must be >= 1")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UserError("bench generate: --batch-sizes takes whole numbers >= 1, e.g. 1,8")
        if self.threads < 0:
            raise UserError("bench generate: --threads must be >= 0 (0 = one per core)")


def _model(opts: GenBenchOptions, ws: Workspace):
    import torch

    from core import config as config_mod
    from core.config import presets
    from core.model.build import build_model

    cfg = config_mod.load(presets.resolve_config_path(opts.preset, ws))
    torch.manual_seed(0)
    return build_model(cfg.model, opts.vocab_size).eval(), cfg.model.max_position_embeddings


def _prompts(opts: GenBenchOptions, batch: int):
    """`batch` rows of random token ids, lengths stepping down by 2 (left padding gets exercised)."""
    import torch

    from core.generate.batch import pad_left

    g = torch.Generator().manual_seed(batch)
    lengths = [max(1, opts.prompt_tokens - 2 * (i % 4)) for i in range(batch)]
    rows = [torch.randint(4, opts.vocab_size, (n,), generator=g).tolist() for n in lengths]
    return rows, *pad_left(rows, pad_id=0)


def _sides(model, opts: GenBenchOptions, batch: int):
    """(ours, hf): functions that generate opts.new_tokens tokens per row and return the rows."""
    import torch
    from transformers import GenerationConfig

    from core.generate import SamplingParams, decode_steps, iter_tokens

    rows, ids, mask = _prompts(opts, batch)
    params = SamplingParams(
        temperature=0.8 if opts.sample else 0.0,
        top_k=50,
        top_p=0.95,
        repetition_penalty=1.0,
        max_new_tokens=opts.new_tokens,
        seed=0,
    )
    hf_config = GenerationConfig(
        do_sample=opts.sample,
        max_new_tokens=opts.new_tokens,
        eos_token_id=None,
        pad_token_id=0,
        bos_token_id=None,
        temperature=0.8 if opts.sample else 1.0,
        top_k=50 if opts.sample else None,
        top_p=0.95 if opts.sample else None,
    )

    def ours():
        if batch == 1:  # what chat and the server run
            return [list(iter_tokens(model, rows[0], params, eos_id=None))]
        steps = list(decode_steps(model, ids, params, budget=opts.new_tokens, attention_mask=mask))
        return [list(col) for col in zip(*steps)]

    def hf():
        out = model.generate(ids, attention_mask=mask, generation_config=hf_config)
        return out[:, ids.shape[1] :].tolist()

    torch.manual_seed(0)
    return ours, hf


def _measure(opts: GenBenchOptions, model, batch: int, log) -> dict:
    ours, hf = _sides(model, opts, batch)
    same = ours() == hf()  # also the warm-up of both
    times, cpu = {"ours": [], "hf": []}, {"ours": [], "hf": []}
    for r in range(opts.rounds):  # alternate who goes first: a busy machine slows both alike
        for name, fn in (("ours", ours), ("hf", hf)) if r % 2 == 0 else (("hf", hf), ("ours", ours)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    tokens = batch * opts.new_tokens
    ours_s, hf_s = statistics.median(times["ours"]), statistics.median(times["hf"])
    row = {
        "batch": batch,
        "ours_tokens_per_s": tokens / ours_s,
        "hf_tokens_per_s": tokens / hf_s,
        "ratio": hf_s / ours_s,
        "ratio_by_round": statistics.median(h / o for o, h in zip(times["ours"], times["hf"])),
        # CPU seconds of this process: steadier than wall time on a shared machine (with one thread)
        "ratio_cpu": statistics.median(cpu["hf"]) / statistics.median(cpu["ours"]),
        "same_tokens": same if not opts.sample else None,
    }
    if row["same_tokens"] is False:  # different work done: a speed ratio would compare nothing
        row.update(ratio=None, ratio_by_round=None, ratio_cpu=None)
        log(f"batch {batch}: the two sides gave different tokens; no ratio")
        return row
    log(
        f"batch {batch}: ours {row['ours_tokens_per_s']:,.0f} tok/s, transformers {row['hf_tokens_per_s']:,.0f} "
        f"tok/s, ratio {row['ratio']:.2f}x"
    )
    return row


def refused(result: dict) -> bool:
    """Whether any batch size gave different greedy tokens (its ratio is null; the CLI exits 1)."""
    return any(row["same_tokens"] is False for row in result["by_batch"])


def run_gen_bench(opts: GenBenchOptions, ws: Workspace, log=print) -> dict:
    """Measure every batch size; returns the dict `--json` prints (batch 1's figures at the top)."""
    opts.check()
    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(opts.threads or os.cpu_count() or 1)  # this process only (its own CLI process)
    model, ctx = _model(opts, ws)
    if ctx and opts.prompt_tokens + opts.new_tokens > ctx:
        raise UserError(
            f"bench generate: --prompt-tokens + --new-tokens ({opts.prompt_tokens + opts.new_tokens}) "
            f"exceed the {opts.preset} context ({ctx}); lower --new-tokens"
        )
    log(
        f"random {opts.preset} ({sum(p.numel() for p in model.parameters()):,} parameters), "
        f"{torch.get_num_threads()} threads, {'sampled' if opts.sample else 'greedy'}"
    )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # no generation-config notices between the figures
    try:
        rows = [_measure(opts, model, b, log) for b in opts.batch_sizes]
    finally:
        hf_logging.set_verbosity(verbosity)
    first = rows[0]
    return {
        "ours_tokens_per_s": first["ours_tokens_per_s"],
        "hf_tokens_per_s": first["hf_tokens_per_s"],
        "ratio": first["ratio"],
        "batch": first["batch"],
        "same_tokens": first["same_tokens"],
        "by_batch": rows,
        "preset": opts.preset,
        "n_params": sum(p.numel() for p in model.parameters()),
        "vocab_size": opts.vocab_size,
        "new_tokens": opts.new_tokens,
        "prompt_tokens": opts.prompt_tokens,
        "rounds": opts.rounds,
        "mode": "sampled" if opts.sample else "greedy",
        "threads": torch.get_num_threads(),
        "device": str(model.device),
        "target_ratio": TARGET_RATIO,
    }


def format_report(r: dict) -> str:
    """The human summary `bench generate` prints without --json."""
    lines = [
        f"random {r['preset']} ({r['n_params']:,} parameters, vocab {r['vocab_size']:,}) on {r['device']}, "
        f"{r['threads']} threads, {r['mode']}, {r['prompt_tokens']}-token prompts + {r['new_tokens']} new tokens, "
        f"median of {r['rounds']} alternating rounds"
    ]
    for row in r["by_batch"]:
        if row["ratio"] is None:
            lines.append(f"batch {row['batch']}: the two sides gave different tokens: no ratio (a bug to report)")
            continue
        same = "" if row["same_tokens"] is None else f"; same tokens: {row['same_tokens']}"
        lines.append(
            f"batch {row['batch']}: ours {row['ours_tokens_per_s']:,.0f} tok/s, transformers generate "
            f"{row['hf_tokens_per_s']:,.0f} tok/s, ratio {row['ratio']:.2f}x "
            f"({row['ratio_by_round']:.2f}x round by round, {row['ratio_cpu']:.2f}x in CPU time){same}"
        )
    if r["ratio"] is None:
        return "\n".join(lines)
    ok = r["ratio"] >= r["target_ratio"]
    lines.append(f"batch {r['batch']} {'meets' if ok else 'MISSES'} the {r['target_ratio']:g}x target")
    return "\n".join(lines)
