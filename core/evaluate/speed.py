"""Inference speed by batch size: prompt processing (prefill) apart from token-by-token generation.

Each batch size runs one untimed warm-up, then a prefill of `prompt_tokens` per row and
`new_tokens` greedy steps that reuse the KV cache, as core.generate does for one row.
Must not import gradio or core.history.
"""

from __future__ import annotations

import inspect
import time

import torch

from core.errors import UserError
from core.evaluate.scoring import model_context, sync

BATCH_SIZES = (1, 4, 8, 16)


def _cache_name(model) -> str:
    # The KV-cache argument is `cache` since transformers 5.24, `past_key_values` before it.
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


@torch.inference_mode()
def _run(model, ids: torch.Tensor, new_tokens: int) -> tuple[float, float]:
    """(prefill seconds, generation seconds) of one batch."""
    name, device = _cache_name(model), model.device
    start = time.perf_counter()
    out = model(input_ids=ids, use_cache=True)
    token = out.logits[:, -1].argmax(dim=-1, keepdim=True)
    sync(device)
    prefill = time.perf_counter() - start
    start = time.perf_counter()
    cache = getattr(out, name)
    for _ in range(new_tokens):
        out = model(input_ids=token, use_cache=True, **{name: cache})
        cache = getattr(out, name)
        token = out.logits[:, -1].argmax(dim=-1, keepdim=True)
    sync(device)
    return prefill, time.perf_counter() - start


def speed_by_batch(
    model, batch_sizes=BATCH_SIZES, prompt_tokens: int = 32, new_tokens: int = 32, seed: int = 0, log=None
) -> dict:
    """Tokens/s and ms/token of prefill and generation at each batch size."""
    ctx = model_context(model)
    if ctx and prompt_tokens + new_tokens > ctx:
        prompt_tokens, new_tokens = max(1, ctx // 2), max(1, ctx - ctx // 2)
    if any(b < 1 for b in batch_sizes):
        raise UserError(f"speed batch sizes {list(batch_sizes)}: each must be at least 1")
    vocab = model.get_input_embeddings().num_embeddings
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for b in batch_sizes:
        ids = torch.randint(4, vocab, (b, prompt_tokens), generator=gen).to(model.device)
        _run(model, ids, min(new_tokens, 4))  # warm-up: allocator, kernels, lazy init
        prefill, generation = _run(model, ids, new_tokens)
        rows.append(
            {
                "batch_size": b,
                "prefill_tokens_per_s": b * prompt_tokens / prefill,
                "prefill_ms_per_token": 1000 * prefill / (b * prompt_tokens),
                "gen_tokens_per_s": b * new_tokens / generation,
                "gen_ms_per_token": 1000 * generation / (b * new_tokens),
                "gen_ms_per_step": 1000 * generation / new_tokens,
            }
        )
        if log:
            log(
                f"  speed batch {b}: prefill {rows[-1]['prefill_tokens_per_s']:,.0f} tok/s, "
                f"generation {rows[-1]['gen_tokens_per_s']:,.0f} tok/s"
            )
    return {"prompt_tokens": prompt_tokens, "new_tokens": new_tokens, "device": str(model.device), "by_batch": rows}
