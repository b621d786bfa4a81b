"""What a training step costs and what the machine can do: model FLOPs per token, a measured
matmul peak, and the peak resident memory of this process.

Pure arithmetic plus one timed matmul; must not import gradio or transformers.
"""

from __future__ import annotations

import resource
import time

from core.config import ModelConfig
from core.model.build import count_parameters


def matmul_parameters(m: ModelConfig, vocab_size: int) -> int:
    """Parameters that take part in a matmul per token: all but the lookup tables.

    The input embedding (and GPT-2's position table) is a row lookup, not a matmul, so it costs
    no FLOPs; a tied embedding is also the output layer's weight, so it stays in.
    """
    lookups = 0 if m.tie_word_embeddings else vocab_size * m.hidden_size
    if m.type == "GPT2":
        lookups += m.max_position_embeddings * m.hidden_size
    return count_parameters(m, vocab_size) - lookups


def attention_flops_per_token(m: ModelConfig, seq_length: int) -> int:
    """12 x layers x hidden x seq: the QK^T scores and the weighted sum of V, forward (2 matmuls
    x 2 FLOPs per multiply-add) plus backward (twice that), as in PaLM's appendix B. It counts
    the full square; a causal kernel may skip the masked half, so this is the usual upper count."""
    return 12 * m.n_layer * m.hidden_size * seq_length


def flops_per_token(m: ModelConfig, vocab_size: int, seq_length: int) -> int:
    """Training FLOPs per token: 6 x matmul parameters (2 forward + 4 backward per weight)
    plus the attention term; the output layer is included (about 46 % of it for llama-10M at 16k)."""
    return 6 * matmul_parameters(m, vocab_size) + attention_flops_per_token(m, seq_length)


def matmul_peak(n: int = 2048, repeats: int = 3, dtype=None, device: str = "cpu") -> float:
    """The best FLOP/s of an n x n @ n x n matmul (2 n^3 FLOPs; fp32 unless `dtype`) over
    `repeats` timed runs, after one untimed run; uses torch's current thread count on CPU."""
    import torch

    dtype = dtype or torch.float32
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)  # CUDA matmuls return at once
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    out = torch.empty(n, n, dtype=dtype, device=device)
    torch.mm(a, b, out=out)  # warm-up: thread pool, caches, page faults of `out`
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
