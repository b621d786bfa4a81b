"""The checks of `babyllama doctor --gpu-check` (core.doctor.gpu_training runs them under a time budget).

Each check takes the shared context and returns (status, reason, figures). They call the same
code a user's run calls: core.train.loop.train, the fused loss, checkpoints and resume, the CLI
under `accelerate launch`, evaluation, generation and `bench train`. Must not import gradio.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.workspace import Workspace

OK, SKIP, FAIL = "ok", "skip", "fail"
CORPUS, TOKENIZER = "gpu-check-syn", "gpu-check-tok"
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Context:
    """What the checks share: the machine, the preset and step count, a private workspace with a
    synthetic corpus and tokenizer, and the run folders the training checks leave behind."""

    cuda: bool
    n_gpus: int
    preset: str
    steps: int
    ws: Workspace
    runs: dict[str, Path] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    def config(self, precision: str = "fp32", compile: bool = False, extra=()):
        from core import config as config_mod
        from core.config import presets

        return config_mod.load(
            presets.find(self.preset),
            [
                f"data.train_path={CORPUS}",
                f"data.tokenizer_path={TOKENIZER}",
                f"training.max_steps={self.steps}",
                f"training.logging_steps={max(1, self.steps // 4)}",
                "training.save_steps=0",
                "training.eval_steps=0",
                "training.save_total_limit=0",
                "training.gradient_accumulation_steps=1",
                f"training.bf16={str(precision == 'bf16').lower()}",
                f"training.fp16={str(precision == 'fp16').lower()}",
                f"training.torch_compile={str(compile).lower()}",
                *extra,
            ],
        )


def prepare(ctx: Context) -> None:
    """A synthetic corpus and a tokenizer in the check's own workspace (small on CPU)."""
    from core.data.synthetic import create_synthetic_corpus
    from core.tokenizer import train_tokenizer

    words = 200_000 if ctx.cuda else 30_000
    create_synthetic_corpus(ctx.ws, CORPUS, n_words=words, complexity="medium", seed=1)
    train_tokenizer(
        ctx.ws.corpus_dir(CORPUS), ctx.ws.tokenizer_dir(TOKENIZER), vocab_size=16000 if ctx.cuda else 600, progress=False
    )


def _data(ctx: Context, cfg):
    from core.train.data import load_train_data

    data, tokenizer = load_train_data(cfg, ctx.ws)
    return data, tokenizer


class _Recorder:
    """A loop callback that keeps the logged metrics (the loop calls only what exists)."""

    def __init__(self):
        from core.train.callbacks import Callback

        outer = self

        class Rec(Callback):
            def on_log(self, state, control, logs):
                outer.logs[state.step] = dict(logs)

        self.logs: dict[int, dict] = {}
        self.callback = Rec()


def _train(ctx: Context, cfg, run_dir: Path, callbacks=(), resume_from=None):
    """(status, logs, notes): one run of core.train.loop.train as a job runs it."""
    from core.train.loop import train
    from core.train.machine import make_accelerator

    accelerator, cfg, notes = make_accelerator(cfg)
    data, tokenizer = _data(ctx, cfg)
    rec = _Recorder()
    status = train(cfg, data, tokenizer, run_dir, [rec.callback, *callbacks], resume_from=resume_from, accelerator=accelerator)
    return status, rec.logs, notes


def train_check(ctx: Context, precision: str, compile: bool):
    """Train `steps` steps; ok when every logged loss is finite and the last is below the first."""
    if not ctx.cuda and (precision != "fp32" or compile):
        return SKIP, "needs CUDA (on CPU, fp16/bf16 training and torch.compile are covered by the tests)", {}
    name = f"{precision}{'-compiled' if compile else ''}"
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    status, logs, notes = _train(ctx, ctx.config(precision, compile), ctx.ws.root / "runs" / name)
    losses = [logs[s]["loss"] for s in sorted(logs)]
    figures = {
        "steps": ctx.steps,
        "seconds": round(time.perf_counter() - started, 1),
        "losses": losses,
        "tokens_per_s": logs[max(logs)].get("tokens_per_s") if logs else None,
        "fallbacks": notes,
    }
    if ctx.cuda:
        figures["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    ctx.runs[name] = ctx.ws.root / "runs" / name
    if notes:
        return FAIL, f"the loop fell back: {'; '.join(notes)}", figures
    if status != "finished" or not losses or not all(math.isfinite(v) for v in losses):
        return FAIL, f"status {status}, losses {losses}", figures
    if losses[-1] >= losses[0]:
        return FAIL, f"the loss did not fall ({losses[0]:.3f} -> {losses[-1]:.3f})", figures
    return OK, f"loss {losses[0]:.3f} -> {losses[-1]:.3f} in {ctx.steps} steps", figures


def _loss_and_head_grad(model, ids, dtype, ours: bool, scale: float):
    from core.train.fused_loss import causal_lm_loss

    model.zero_grad(set_to_none=True)
    with torch.autocast(ids.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = causal_lm_loss(model, ids) if ours else model(input_ids=ids, labels=ids).loss
    (loss.float() * scale).backward()
    return float(loss.detach()), model.get_output_embeddings().weight.grad.float() / scale


def loss_check(ctx: Context):
    """Our fused loss against transformers' `model(labels=...)` on one batch, under every precision
    the device runs: each side's loss and output-layer gradient against the fp32 reference; ours
    must be as close as transformers' own (fp16 with GradScaler's 65536 factor)."""
    from core.model.build import build_model

    cfg = ctx.config()
    data, tokenizer = _data(ctx, cfg)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(tokenizer)).to(ctx.device).train()
    ids = data.train[: cfg.training.batch_size].to(ctx.device)
    ref_loss, ref_grad = _loss_and_head_grad(model, ids, None, False, 1.0)
    figures, failures = {}, []
    for precision in ("fp32", "bf16", "fp16") if ctx.cuda else ("fp32",):
        scale = 65536.0 if precision == "fp16" else 1.0
        row = {}
        for side in ("ours", "hf"):
            loss, grad = _loss_and_head_grad(model, ids, DTYPES[precision], side == "ours", scale)
            row[f"{side}_loss_error"] = abs(loss - ref_loss)
            row[f"{side}_grad_rel_error"] = float((grad - ref_grad).norm() / ref_grad.norm())
        figures[precision] = row
        floor = 1e-4 if precision == "fp32" else 1e-2  # a precision's own rounding, below which all is equal
        for what in ("loss_error", "grad_rel_error"):
            if row[f"ours_{what}"] > max(2 * row[f"hf_{what}"], floor):
                failures.append(f"{precision} {what}: ours {row[f'ours_{what}']:.2e}, transformers {row[f'hf_{what}']:.2e}")
    if failures:
        return FAIL, "; ".join(failures), figures
    return OK, f"as close to the fp32 reference as transformers' own loss ({', '.join(figures)})", figures


def resume_check(ctx: Context):
    """Train straight, then the same run stopped halfway and resumed: the final weights must match
    (bit for bit on CPU; on a GPU within 1e-3, as its kernels may add in another order)."""
    from safetensors.torch import load_file

    from core.train.callbacks import StopAfter

    precision = "bf16" if ctx.cuda else "fp32"
    half = max(1, ctx.steps // 2)
    root = ctx.ws.root / "resume"
    _train(ctx, ctx.config(precision), root / "straight")
    status, _, _ = _train(ctx, ctx.config(precision), root / "stopped", callbacks=[StopAfter(half)])
    if status != "stopped":
        return FAIL, f"the run did not stop at step {half} (status {status})", {}
    _train(ctx, ctx.config(precision), root / "stopped", resume_from=root / "stopped" / f"checkpoint-{half}")
    a, b = (load_file(str(root / name / "model.safetensors")) for name in ("straight", "stopped"))
    diff = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    figures = {"precision": precision, "stopped_at": half, "steps": ctx.steps, "max_weight_diff": diff}
    if diff == 0.0:
        return OK, "resumed weights are bit-identical to the straight run", figures
    if ctx.cuda and diff < 1e-3:
        return OK, f"resumed weights within {diff:.1e} of the straight run (GPU kernels' order)", figures
    return FAIL, f"resumed weights differ from the straight run by up to {diff:.2e}", figures


def ddp_check(ctx: Context, timeout_s: float):
    """`babyllama train --num-processes 2` (accelerate launch, one process per GPU), to the end."""
    if ctx.n_gpus < 2:
        return SKIP, f"needs 2 GPUs, found {ctx.n_gpus}", {}
    from core.jobs import worker_env

    argv = [
        sys.executable,
        "-m",
        "core.cli",
        "train",
        "--config",
        ctx.preset,
        "--num-processes",
        "2",
        f"data.train_path={CORPUS}",
        f"data.tokenizer_path={TOKENIZER}",
        f"training.max_steps={ctx.steps}",
        "training.bf16=true",
        "training.save_steps=0",
        "training.eval_steps=0",
        "--workspace",
        str(ctx.ws.root),
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, env=worker_env(), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return FAIL, f"did not finish within {timeout_s:.0f} s", {"command": " ".join(argv)}
    figures = {
        "seconds": round(time.perf_counter() - started, 1),
        "exit_code": done.returncode,
        "output_tail": (done.stdout + done.stderr)[-1500:],
    }
    if done.returncode != 0:
        return FAIL, f"exit code {done.returncode}", figures
    return OK, f"2 processes trained {ctx.steps} steps to the end", figures


def eval_generate_check(ctx: Context):
    """The first trained run's final model: perplexity on the corpus' dev text, and greedy text."""
    import numpy as np

    from core.evaluate.perplexity import stream_nll
    from core.generate import SamplingParams, generate, load_model

    if not ctx.runs:
        return SKIP, "no training check ran, so there is no model to evaluate", {}
    name, folder = next(iter(ctx.runs.items()))
    if not (folder / "model.safetensors").is_file():
        return FAIL, f"run {name} left no final model in {folder}", {}
    model, tokenizer = load_model(folder, ctx.ws, device=ctx.device)
    dev = " ".join(p.read_text(encoding="utf-8") for p in sorted((ctx.ws.corpus_dir(CORPUS) / "dev").glob("*.txt")))
    ids = np.asarray(tokenizer(dev[:200_000], add_special_tokens=False)["input_ids"], dtype=np.int64)
    total, count = stream_nll(model, ids, 128, 16, max_windows=64)
    result = generate(model, tokenizer, "Once upon a time", SamplingParams(temperature=0.0, max_new_tokens=16))
    ppl = math.exp(min(total / max(count, 1), 50.0))
    figures = {
        "model": name,
        "perplexity": ppl,
        "scored_tokens": count,
        "text": result.text,
        "new_tokens": result.n_new_tokens,
        "generate_tokens_per_s": result.tokens_per_s,
    }
    if not math.isfinite(ppl) or count == 0 or result.n_new_tokens == 0:
        return FAIL, "no finite perplexity or no generated tokens", figures
    return OK, f"perplexity {ppl:.1f} over {count:,} tokens; {result.n_new_tokens} tokens generated", figures


def bench_check(ctx: Context):
    """`babyllama bench train` against transformers.Trainer, short: both sides on this device."""
    from core.bench.run import BenchOptions, run_bench

    opts = BenchOptions(
        preset=ctx.preset,
        rounds=5 if ctx.cuda else 2,
        warmup=2,
        malloc_effect=False,
        batch_size=32 if ctx.cuda else 8,
        seq_length=128 if ctx.cuda else 64,
    )
    r = run_bench(opts, Workspace(ctx.ws.root / "bench").ensure(), log=lambda m: None)
    keys = (
        "ours_tokens_per_s",
        "baseline_tokens_per_s",
        "ratio",
        "paired_ratio",
        "mfu",
        "peak_rss_mb",
        "baseline_peak_rss_mb",
        "rounds",
        "batch_size",
        "seq_length",
    )
    figures = {k: r[k] for k in keys}
    if not all(math.isfinite(r[k]) and r[k] > 0 for k in ("ours_tokens_per_s", "baseline_tokens_per_s")):
        return FAIL, "a side reported no throughput", figures
    return OK, f"ours / Trainer {r['ratio']:.2f}x (round by round {r['paired_ratio']:.2f}x)", figures
