"""`python -m benchmarks.gemm_ceiling`: the matrix products of one real training step, replayed alone.

One forward + backward of our loop's objective (the model from a preset, the fused output layer +
loss) runs under a dispatch mode that records every matrix product: its op, shapes and memory
layout. Those products are then replayed back to back, with nothing else in between, and a
2048^3 peak measurement follows each pass. Their FLOP/s over that peak is the most `bench train`'s
(fp32) MFU could reach on this machine if attention, norms, activations, the loss's softmax and the
optimizer took no time at all.

The replay runs in a child process with the allocator settings training jobs get (core.jobs
WORKER_ENV; glibc reads them at start-up): with the default allocator each 65 MB logits chunk is
a fresh mmap that page-faults, and the products replayed 1.5x slower (1.05 s vs 0.70 s a step).
`python -m benchmarks.gemm_ceiling --child SPEC_JSON` is that child; it prints one JSON object.
Must not import gradio.
"""

from __future__ import annotations

import argparse
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


def _mm(a, b) -> int:
    return 2 * a[0] * a[1] * b[1]


def _bmm(a, b) -> int:
    return 2 * a[0] * a[1] * a[2] * b[2]


# Matrix products: FLOPs from the shapes of their two factors, and where the factors are among
# the tensor arguments (addmm/baddbmm(input, a, b): the product is arguments 1 and 2).
_PRODUCTS = {
    aten.mm.default: (_mm, 0),
    aten.mm.out: (_mm, 0),
    aten.addmm.default: (_mm, 1),
    aten.addmm.out: (_mm, 1),
    aten.addmm_.default: (_mm, 1),
    aten.bmm.default: (_bmm, 0),
    aten.bmm.out: (_bmm, 0),
    aten.baddbmm.default: (_bmm, 1),
    aten.baddbmm_.default: (_bmm, 1),
}
_BATCHED = (aten.bmm.default, aten.bmm.out, aten.baddbmm.default, aten.baddbmm_.default)


@dataclass(frozen=True)
class TensorSpec:
    """What a replay needs to rebuild an operand: shape, strides (the layout) and dtype."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: torch.dtype

    @classmethod
    def of(cls, t: torch.Tensor) -> TensorSpec:
        return cls(tuple(t.shape), tuple(t.stride()), t.dtype)

    def make(self) -> torch.Tensor:
        # A flat random buffer viewed with the recorded strides: works for expanded (stride 0)
        # and overlapping layouts too, which cannot be filled in place.
        size = 1 + sum((n - 1) * st for n, st in zip(self.shape, self.stride)) if all(self.shape) else 0
        return torch.randn(size, dtype=self.dtype).as_strided(self.shape, self.stride)


@dataclass(frozen=True)
class Product:
    """One recorded matrix product: the op, its arguments (tensors as TensorSpec, other values as
    they were, e.g. alpha and beta) and its FLOPs."""

    op: object
    args: tuple
    kwargs: dict
    flops: int

    @property
    def batched(self) -> bool:
        """bmm/baddbmm: attention's products where it runs on the math path (GPT-J, dropout)."""
        return self.op in _BATCHED


def _spec(value):
    return TensorSpec.of(value) if isinstance(value, torch.Tensor) else value


class _Recorder(TorchDispatchMode):
    """Records the matrix products that run under it (autograd's backward ones included: on CPU
    the engine runs them on the calling thread, where the mode is active)."""

    def __init__(self):
        super().__init__()
        self.products: list[Product] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _PRODUCTS:
            count, first = _PRODUCTS[func]
            a, b = args[first], args[first + 1]
            self.products.append(
                Product(func, tuple(_spec(x) for x in args), {k: _spec(v) for k, v in kwargs.items()}, count(a.shape, b.shape))
            )
        return func(*args, **kwargs)


def record_step(cfg, vocab_size: int, batch_size: int, seq_length: int) -> list[Product]:
    """The matrix products of one fp32 forward + backward of the training objective (FusedLossModel)."""
    from core.model.build import build_model
    from core.train.fused_loss import FusedLossModel

    torch.manual_seed(0)
    model = FusedLossModel(build_model(cfg.model, vocab_size).train())
    ids = torch.randint(0, vocab_size, (batch_size, seq_length))
    recorder = _Recorder()
    with recorder:
        model(ids).backward()
    return recorder.products


def _materialise(products: list[Product]) -> list:
    """Each product as a ready call on random operands with the recorded shapes, strides and dtypes."""

    def make(value):
        return value.make() if isinstance(value, TensorSpec) else value

    return [(p.op, [make(a) for a in p.args], {k: make(v) for k, v in p.kwargs.items()}) for p in products]


def replay(calls: list) -> float:
    """Seconds to run every product once, back to back."""
    start = time.perf_counter()
    for op, args, kwargs in calls:
        op(*args, **kwargs)
    return time.perf_counter() - start


def run_ceiling(cfg, vocab_size: int, batch_size: int, seq_length: int, passes: int = 10) -> dict:
    """Record one step's products, then replay them `passes` times, measuring the peak after each
    pass (as `bench train` does after each round)."""
    products = record_step(cfg, vocab_size, batch_size, seq_length)
    calls = _materialise(products)
    gemm_flops = sum(p.flops for p in products)
    model_flops = flops_per_token(cfg.model, vocab_size, seq_length) * batch_size * seq_length
    replay(calls)  # warm-up: page faults of the outputs, thread pool
    seconds, peaks = [], []
    for _ in range(passes):
        seconds.append(replay(calls))
        peaks.append(matmul_peak())
    step = statistics.median(seconds)
    return {
        "products": len(products),
        "gemm_gflop": gemm_flops / 1e9,
        "model_gflop": model_flops / 1e9,
        "batched_gflop": sum(p.flops for p in products if p.batched) / 1e9,
        "dtype": "fp32",
        "replay_s": step,
        "replay_s_all": seconds,
        "matmul_peaks_gflops": [p / 1e9 for p in peaks],
        # The products' own rate: over the peak measured right after each pass, and over the best.
        "paired_gemm_efficiency": statistics.median(gemm_flops / s / p for s, p in zip(seconds, peaks)),
        "gemm_efficiency": gemm_flops / step / max(peaks),
        # MFU if everything but these products took no time (FLOPs of the model that are not
        # among them, e.g. attention in its fused kernel, counted as free).
        "mfu_ceiling": model_flops / step / max(peaks),
        "paired_mfu_ceiling": statistics.median(model_flops / s / p for s, p in zip(seconds, peaks)),
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "seq_length": seq_length,
        "vocab_size": vocab_size,
    }


def run_ceiling_process(cfg, vocab_size: int, batch_size: int, seq_length: int, passes: int = 10, threads: int = 1) -> dict:
    """run_ceiling() in a child process that starts with the training jobs' environment."""
    from core.errors import UserError
    from core.jobs import worker_env

    root = str(Path(__file__).resolve().parents[1])
    spec = json.dumps(
        {
            "config": cfg.to_dict(),
            "vocab_size": vocab_size,
            "batch_size": batch_size,
            "seq_length": seq_length,
            "passes": passes,
            "threads": threads,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.gemm_ceiling", "--child", spec],
        env=worker_env(),
        cwd=root,
        capture_output=True,
        text=True,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise UserError(f"gemm-ceiling: the replay process failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])  # the result is the last line; libraries may print before it


def _child(spec_json: str) -> int:
    from core import config as config_mod

    spec = json.loads(spec_json)
    torch.set_num_threads(spec["threads"])
    result = run_ceiling(
        config_mod.from_dict(spec["config"]), spec["vocab_size"], spec["batch_size"], spec["seq_length"], spec["passes"]
    )
    result["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", "")
    print(json.dumps(result))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.gemm_ceiling",
        description="replay one training step's matrix products alone: their share of the "
        "matmul peak is the most MFU `babyllama bench train` can reach here",
    )
    p.add_argument("--preset", default="llama-10M", help="model preset (default llama-10M)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per step (default 32)")
    p.add_argument("--seq-length", type=int, default=128, help="tokens per sequence (default 128)")
    p.add_argument("--vocab-size", type=int, default=16000, help="model vocabulary (default 16000)")
    p.add_argument("--passes", type=int, default=10, help="replays, each after a peak measurement (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--workspace", metavar="DIR", default=None, help="workspace whose presets are searched too")
    p.add_argument("--child", metavar="SPEC_JSON", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """The command line: measure and print the ceiling (or, with --child, be the replay process)."""
    from core import config as config_mod
    from core.bench import require_at_least_one
    from core.config import presets
    from core.workspace import Workspace

    args = parser().parse_args(argv)
    if args.child is not None:
        return _child(args.child)
    require_at_least_one(args, ("batch_size", "seq_length", "vocab_size", "passes"))
    ws = Workspace.resolve(args.workspace)
    cfg = config_mod.load(presets.find(args.preset, ws), [f"data.seq_length={args.seq_length}"])
    # All cores, as bench train.
    result = run_ceiling_process(cfg, args.vocab_size, args.batch_size, args.seq_length, args.passes, threads=os.cpu_count() or 1)
    result["preset"] = args.preset
    print(json.dumps(result, indent=2) if args.json else format_ceiling(result, args.preset), flush=True)
    return 0


def format_ceiling(r: dict, preset: str) -> str:
    peaks = r["matmul_peaks_gflops"]
    attention = (
        f"{r['batched_gflop']:.1f} GFLOP of them are attention's batched products"
        if r.get("batched_gflop")
        else "attention's products run inside its fused kernel"
    )
    return "\n".join(
        [
            f"gemm ceiling: {preset}, batch {r['batch_size']} x {r['seq_length']}, vocab {r['vocab_size']:,}, "
            f"{r.get('dtype', 'fp32')}, {r['threads']} threads",
            f"  {r['products']} matrix products per step, {r['gemm_gflop']:.1f} GFLOP "
            f"(the model counts {r['model_gflop']:.1f}: {attention}, and the loss skips each sequence's last position)",
            f"  replayed alone: {r['replay_s']:.3f} s per step (median of {len(r['replay_s_all'])} passes)",
            f"  their rate: {100 * r['paired_gemm_efficiency']:.1f} % of the peak measured right after each pass, "
            f"{100 * r['gemm_efficiency']:.1f} % of the best ({max(peaks):.0f} GFLOP/s; range {min(peaks):.0f}-{max(peaks):.0f})",
            f"  MFU ceiling (everything else free): {100 * r['mfu_ceiling']:.1f} % "
            f"({100 * r['paired_mfu_ceiling']:.1f} % paired), what `bench train` could reach at most",
        ]
    )


if __name__ == "__main__":
    from benchmarks import run

    sys.exit(run(main))
