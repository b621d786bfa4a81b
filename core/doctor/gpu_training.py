"""`babyllama doctor --gpu-check`: does training work on this machine's GPU? One command, a time
budget (8 minutes by default), and a JSON verdict: each check ok / skip / fail, a reason, figures.

On CUDA: llama-10M trained under bf16 and fp16, eager and compiled; our loss against transformers'
on one batch; stop + resume against a straight run; 2-GPU `accelerate launch` when there are two;
evaluation and generation; `bench train` against Trainer. On CPU the same command runs tiny
versions of what a CPU can check and skips the rest with a reason. The checks live in
core.doctor.gpu_training_checks. Must not import gradio.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

DEFAULT_BUDGET_S = 480.0


@dataclass(frozen=True)
class GpuCheckOptions:
    """What the check runs; the defaults fit the 8 minutes on one H100/H200-class GPU."""

    budget_s: float = DEFAULT_BUDGET_S
    preset: str = ""  # "" = llama-10M on CUDA, tiny on CPU
    steps: int = 0  # training steps per run; 0 = 40 on CUDA, 8 on CPU

    def check(self) -> None:
        if not self.budget_s > 0:
            raise UserError(f"--budget-s: {self.budget_s} must be a positive number of seconds")
        if self.steps < 0:
            raise UserError(f"--steps: {self.steps} must be >= 0 (0 = the default)")


# (name, function of the context, estimated seconds on CUDA, on CPU). A check whose estimate is
# more than the budget left is skipped, so the command ends near its budget on a slow machine.
def _plan(parts, ctx) -> list[tuple[str, object, float, float]]:
    # On CPU only fp32 eager trains; the others skip at once (estimate 0, so they say why).
    train = [
        (
            f"train {p}{' compiled' if c else ''}",
            lambda p=p, c=c: parts.train_check(ctx, p, c),
            90 if c else 25,
            0 if c or p != "fp32" else 20,
        )
        for p, c in (("fp32", False), ("bf16", False), ("fp16", False), ("bf16", True), ("fp16", True))
    ]
    return [
        *train,
        ("loss vs transformers", lambda: parts.loss_check(ctx), 15, 10),
        ("stop and resume", lambda: parts.resume_check(ctx), 60, 30),
        ("2-GPU accelerate launch", lambda: parts.ddp_check(ctx, timeout_s=240), 120 if ctx.n_gpus > 1 else 0, 0),
        ("evaluate and generate", lambda: parts.eval_generate_check(ctx), 15, 10),
        ("bench train vs Trainer", lambda: parts.bench_check(ctx), 120, 120),
    ]


def run_gpu_check(opts: GpuCheckOptions, log=print) -> dict:
    """Run every check within the budget; returns the verdict dict (`--json` prints it)."""
    opts.check()
    import torch

    from core.doctor import gpu_training_checks as parts
    from core.workspace import Workspace

    started = time.perf_counter()
    cuda = torch.cuda.is_available()
    n_gpus = torch.cuda.device_count() if cuda else 0
    tmp = Path(tempfile.mkdtemp(prefix="babyllama-gpu-check-"))
    ctx = parts.Context(
        cuda=cuda,
        n_gpus=n_gpus,
        preset=opts.preset or ("llama-10M" if cuda else "tiny"),
        steps=opts.steps or (40 if cuda else 8),
        ws=Workspace(tmp / "ws").ensure(),
    )
    checks = [_device(torch, cuda, n_gpus)]
    try:
        log(f"gpu-check: {checks[0]['reason']}; preparing a synthetic corpus and tokenizer")
        checks.append(_run_one("prepare data", lambda: _prepare(parts, ctx), 0, opts.budget_s, parts))
        for name, fn, cuda_s, cpu_s in _plan(parts, ctx):
            left = opts.budget_s - (time.perf_counter() - started)
            if checks[1]["status"] == parts.FAIL:  # nothing to train on: say so once per check
                fn, cuda_s, cpu_s = (lambda: (parts.SKIP, "no data: 'prepare data' failed", {})), 0, 0
            checks.append(_run_one(name, fn, cuda_s if cuda else cpu_s, left, parts))
            log(f"gpu-check: {name}: {checks[-1]['status']} ({checks[-1]['reason']})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    failed = [c["name"] for c in checks if c["status"] == parts.FAIL]
    return {
        "verdict": "fail" if failed else "ok",
        "failed": failed,
        "skipped": [c["name"] for c in checks if c["status"] == parts.SKIP],
        "cuda": cuda,
        "gpus": n_gpus,
        "preset": ctx.preset,
        "steps": ctx.steps,
        "budget_s": opts.budget_s,
        "seconds": round(time.perf_counter() - started, 1),
        "checks": checks,
    }


def _prepare(parts, ctx):
    parts.prepare(ctx)
    return parts.OK, f"a synthetic corpus and tokenizer for {ctx.preset}", {}


def _device(torch, cuda: bool, n_gpus: int) -> dict:
    if not cuda:
        return {
            "name": "device",
            "status": "skip",
            "reason": "no CUDA device: the GPU parts skip, the CPU parts run tiny versions",
            "figures": {"torch": torch.__version__},
            "seconds": 0.0,
        }
    names = [torch.cuda.get_device_name(i) for i in range(n_gpus)]
    return {
        "name": "device",
        "status": "ok",
        "reason": f"{n_gpus} x {names[0]}",
        "seconds": 0.0,
        "figures": {
            "gpus": names,
            "torch": torch.__version__,
            "cuda": torch.version.cuda,
            "bf16_supported": torch.cuda.is_bf16_supported(),
            "memory_gb": round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
        },
    }


def _run_one(name: str, fn, estimate_s: float, left_s: float, parts) -> dict:
    """One check, timed; an exception is that check's failure (with its traceback's tail), not the
    end of the command: the verdict should name every part that is broken."""
    if estimate_s > left_s:
        return {
            "name": name,
            "status": parts.SKIP,
            "seconds": 0.0,
            "figures": {},
            "reason": f"time budget: {max(left_s, 0):.0f} s left, this check needs about {estimate_s:.0f} s",
        }
    started = time.perf_counter()
    try:
        status, reason, figures = fn()
    except Exception as err:  # reported in the verdict with its traceback, never swallowed
        status, reason = parts.FAIL, f"{type(err).__name__}: {err}"
        figures = {"traceback": traceback.format_exc()[-2000:]}
    return {
        "name": name,
        "status": status,
        "reason": reason,
        "figures": figures,
        "seconds": round(time.perf_counter() - started, 1),
    }


def format_verdict(result: dict) -> str:
    """The table `doctor --gpu-check` prints without --json."""
    marks = {"ok": "[ok]  ", "skip": "[skip]", "fail": "[FAIL]"}
    width = max(len(c["name"]) for c in result["checks"])
    lines = [f"{marks[c['status']]} {c['name']:<{width}}  {c['reason']} ({c['seconds']:.0f} s)" for c in result["checks"]]
    lines.append(
        f"\nverdict: {result['verdict']} in {result['seconds']:.0f} s of a {result['budget_s']:.0f} s budget"
        f" ({len(result['failed'])} failed, {len(result['skipped'])} skipped); --json for the figures"
    )
    return "\n".join(lines)
