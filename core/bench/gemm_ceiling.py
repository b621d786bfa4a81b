"""`babyllama bench gemm-ceiling`: the matrix products of one real training step, replayed alone.

One forward + backward of our loop's objective (the model from a preset, the fused output layer +
loss) runs under a dispatch mode that records every matrix product: its op, shapes and memory
layout. Those products are then replayed back to back, with nothing else in between, each pass
right after a 2048^3 peak measurement. Their FLOP/s over that peak is the most `bench train`'s
MFU could reach on this machine if attention, norms, activations, the loss's softmax and the
optimizer took no time at all.

The replay runs in a child process with the allocator settings training jobs get (core.jobs
WORKER_ENV; glibc reads them at start-up): with the default allocator each 65 MB logits chunk is
a fresh mmap that page-faults, and the products measured 1.5x slower than in training.
`python -m core.bench.gemm_ceiling SPEC_JSON` is that child; it prints one JSON object.
Must not import gradio.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from core.bench.flops import flops_per_token, matmul_peak

aten = torch.ops.aten
# Matrix products and how to count their FLOPs from the (first two) operands' shapes.
_PRODUCTS = {
    aten.mm.default: lambda a, b: 2 * a[0] * a[1] * b[1],
    aten.mm.out: lambda a, b: 2 * a[0] * a[1] * b[1],
    aten.bmm.default: lambda a, b: 2 * a[0] * a[1] * a[2] * b[2],
}
_ADD_PRODUCTS = {  # addmm(bias_or_self, a, b): the product is operands 1 and 2
    aten.addmm.default: lambda a, b: 2 * a[0] * a[1] * b[1],
    aten.addmm_.default: lambda a, b: 2 * a[0] * a[1] * b[1],
}


@dataclass(frozen=True)
class Product:
    """One recorded matrix product: the op and each tensor operand's (shape, stride)."""

    op: object
    operands: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    flops: int


class _Recorder(TorchDispatchMode):
    """Records the matrix products that run under it (autograd's backward ones included: on CPU
    the engine runs them on the calling thread, where the mode is active)."""

    def __init__(self):
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if func in _PRODUCTS or func in _ADD_PRODUCTS:
            pair = tensors[:2] if func in _PRODUCTS else tensors[1:3]
            count = (_PRODUCTS.get(func) or _ADD_PRODUCTS[func])(pair[0].shape, pair[1].shape)
            layout = [(tuple(t.shape), tuple(t.stride())) for t in tensors]
            if "out" in kwargs:
                layout.append((tuple(kwargs["out"].shape), tuple(kwargs["out"].stride())))
            self.products.append(Product(func, tuple(layout), count))
        return func(*args, **kwargs)


def record_step(cfg, vocab_size: int, batch_size: int, seq_length: int) -> list[Product]:
    """The matrix products of one forward + backward of the training objective (FusedLossModel)."""
    from core.models import build_model
    from core.train.fused_loss import FusedLossModel

    torch.manual_seed(0)
    model = FusedLossModel(build_model(cfg.model, vocab_size).train())
    ids = torch.randint(0, vocab_size, (batch_size, seq_length))
    recorder = _Recorder()
    with recorder:
        model(ids).backward()
    return recorder.products


def _materialise(products: list[Product]) -> list:
    """Each product as a ready call on random operands with the recorded shapes and strides."""
    calls = []
    for p in products:
        tensors = [torch.empty_strided(shape, stride).normal_() for shape, stride in p.operands]
        if p.op is aten.mm.out:
            calls.append((p.op, tensors[:2], {"out": tensors[2]}))
        else:
            calls.append((p.op, tensors, {}))
    return calls


def replay(calls: list) -> float:
    """Seconds to run every product once, back to back."""
    start = time.perf_counter()
    for op, args, kwargs in calls:
        op(*args, **kwargs)
    return time.perf_counter() - start


def run_ceiling(cfg, vocab_size: int, batch_size: int, seq_length: int, passes: int = 10) -> dict:
    """Record one step's products, replay them `passes` times (each after a peak measurement)."""
    products = record_step(cfg, vocab_size, batch_size, seq_length)
    calls = _materialise(products)
    gemm_flops = sum(p.flops for p in products)
    model_flops = flops_per_token(cfg.model, vocab_size, seq_length) * batch_size * seq_length
    replay(calls)  # warm-up: page faults of the outputs, thread pool
    seconds, peaks = [], []
    for _ in range(passes):
        peaks.append(matmul_peak())
        seconds.append(replay(calls))
    paired = statistics.median(gemm_flops / s / p for s, p in zip(seconds, peaks))
    step = statistics.median(seconds)
    return {
        "products": len(products), "gemm_gflop": gemm_flops / 1e9, "model_gflop": model_flops / 1e9,
        "replay_s": step, "replay_s_all": seconds, "matmul_peaks_gflops": [p / 1e9 for p in peaks],
        # The products' own rate: over the peak measured just before each pass, and over the best.
        "paired_gemm_efficiency": paired, "gemm_efficiency": gemm_flops / step / max(peaks),
        # MFU if everything but these products took no time (attention's FLOPs counted as free).
        "mfu_ceiling": model_flops / step / max(peaks),
        "paired_mfu_ceiling": statistics.median(model_flops / s / p for s, p in zip(seconds, peaks)),
        "threads": torch.get_num_threads(), "batch_size": batch_size, "seq_length": seq_length,
        "vocab_size": vocab_size,
    }


def run_ceiling_process(cfg, vocab_size: int, batch_size: int, seq_length: int, passes: int = 10) -> dict:
    """run_ceiling() in a child process that starts with the training jobs' environment."""
    from core.errors import UserError
    from core.jobs import WORKER_ENV

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, **WORKER_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    spec = json.dumps({"config": cfg.to_dict(), "vocab_size": vocab_size, "batch_size": batch_size,
                       "seq_length": seq_length, "passes": passes, "threads": torch.get_num_threads()})
    done = subprocess.run([sys.executable, "-m", "core.bench.gemm_ceiling", spec], env=env, cwd=root,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"bench gemm-ceiling: the replay process failed (exit {done.returncode}):\n"
                        f"{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def main(argv: list[str]) -> int:
    from core import config as config_mod

    spec = json.loads(argv[0])
    torch.set_num_threads(spec["threads"])
    result = run_ceiling(config_mod.from_dict(spec["config"]), spec["vocab_size"], spec["batch_size"],
                         spec["seq_length"], spec["passes"])
    result["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    print(json.dumps(result))
    return 0


def format_ceiling(r: dict, preset: str) -> str:
    peaks = r["matmul_peaks_gflops"]
    return "\n".join([
        f"bench gemm-ceiling: {preset}, batch {r['batch_size']} x {r['seq_length']}, vocab {r['vocab_size']:,}, "
        f"{r['threads']} threads",
        f"  {r['products']} matrix products per step, {r['gemm_gflop']:.1f} GFLOP "
        f"(the model counts {r['model_gflop']:.1f}: attention's products run inside its fused kernel, "
        "and the loss skips each sequence's last position)",
        f"  replayed alone: {r['replay_s']:.3f} s per step (median of {len(r['replay_s_all'])} passes)",
        f"  their rate: {100 * r['paired_gemm_efficiency']:.1f} % of the peak measured just before each pass, "
        f"{100 * r['gemm_efficiency']:.1f} % of the best ({max(peaks):.0f} GFLOP/s; range {min(peaks):.0f}-{max(peaks):.0f})",
        f"  MFU ceiling (everything else free): {100 * r['mfu_ceiling']:.1f} % "
        f"({100 * r['paired_mfu_ceiling']:.1f} % paired), what `bench train` could reach at most",
    ])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
