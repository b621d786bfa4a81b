"""What this machine gives a run: the Accelerator with its precision and compile fallbacks, the
CPU checks behind them, the deterministic CPU kernels a compiled run needs, and the plain model
inside what accelerate prepared. Must not import gradio, core.history or the loop."""

from __future__ import annotations

from contextlib import contextmanager

import torch

from core.config import RunConfig, machine_fallbacks


def make_accelerator(cfg: RunConfig):
    """An Accelerator for this machine; fp16/bf16/compile fall back (with a warning) where absent."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # accelerate keeps one precision per process: a second run in the same process (a notebook,
    # the tests) with another precision would be refused. The process group (PartialState) stays.
    AcceleratorState._reset_state()
    cuda = torch.cuda.is_available()
    bf16_ok = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16()
    compile_ok = cuda or (cfg.training.torch_compile and cpu_can_compile())
    cfg, notes = machine_fallbacks(cfg, cuda=cuda, bf16_ok=bf16_ok, compile_ok=compile_ok)
    precision = "bf16" if cfg.training.bf16 else "fp16" if cfg.training.fp16 else "no"
    # cpu=True matters under torchrun/accelerate launch on CPU: without it every process
    # would silently train on its own instead of joining one gloo process group.
    return Accelerator(cpu=not cuda, mixed_precision=precision), cfg, notes


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively (AVX512-BF16 or AMX, through oneDNN): there,
    bf16 autocast trains ~1.5x faster than fp32 (`babyllama bench train --bf16`); elsewhere it
    would be emulated and slower, so bf16 falls back to fp32."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def cpu_can_compile() -> bool:
    """Whether torch.compile can build CPU kernels here: inductor writes C++ and compiles it with
    the system's compiler (g++, or $CXX), which a slim container may lack. This only checks that
    the compiler runs; one without OpenMP or headers fails at the first step instead."""
    try:
        from torch._inductor import cpp_builder, exc

        cpp_builder.get_cpp_compiler()
        return True
    except (ImportError, exc.InvalidCxxCompiler):
        return False


@contextmanager
def ordered_cpu_kernels(enabled: bool):
    """Deterministic algorithms on, for a compiled run on CPU.

    Inductor's CPU embedding backward adds gradient rows with atomics, in whatever order the
    threads run, so two identical steps could differ in the last bit and resume would not be
    exact. Under the flag it compiles the ordered kernel instead (no slower on llama-10M). The
    flag is read when each graph compiles, the backward's lazily in the first backward, so it
    holds for the whole run; uninitialised memory is not filled (that would cost a pass).
    """
    if not enabled:
        yield
        return
    was = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    # warn_only: an op without a deterministic kernel warns instead of failing the run (a
    # caller's own strict setting stays strict).
    torch.use_deterministic_algorithms(True, warn_only=was[1] if was[0] else True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was[0], warn_only=was[1])
        torch.utils.deterministic.fill_uninitialized_memory = was[2]


def unwrap(accelerator, model):
    """The plain transformers model inside what accelerate prepared (DDP, FusedLossModel)."""
    return accelerator.unwrap_model(model).lm


def check_ranks_in_sync(accelerator, model) -> None:
    """Data parallelism must leave identical weights on every process; fail loudly if not."""
    with torch.no_grad():
        checksum = torch.stack([p.double().sum() for p in accelerator.unwrap_model(model).parameters()]).sum()
    sums = accelerator.gather(checksum.reshape(1).to(accelerator.device)).cpu()
    if not torch.all(sums == sums[0]):
        raise RuntimeError(f"parameters differ between processes: checksums {sums.tolist()}")
    if accelerator.is_main_process:
        print(f"parameters identical on all {accelerator.num_processes} processes", flush=True)
