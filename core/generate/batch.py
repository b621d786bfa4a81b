"""Batched generation: several prompts left-padded into one run of core.generate's KV-cached loop
(`decode_steps`), one GenerationResult per prompt. Greedy output equals one prompt at a time.
Must not import gradio or studio.
"""
from __future__ import annotations

import time

import torch

from core.generate.sampling import GenerationResult, SamplingParams, _stop_at, decode_steps, prepare_prompt


def pad_left(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) for token rows of different lengths, padded on the left so
    every row's last token sits in the last column (the column the next token is read from)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def generate_batch(model, tokenizer, prompts: list[str], params: SamplingParams | None = None) -> list[GenerationResult]:
    """The continuations of `prompts`, generated together (one forward pass per token for all).

    Each prompt is prepared as `generate` prepares it (truncation, new-token cap); with
    temperature 0 every result equals `generate(model, tokenizer, prompt, params)`. Sampled rows
    draw from one seeded generator, so they differ from one-at-a-time sampling with that seed.
    """
    params = params or SamplingParams()
    if not prompts:
        return []
    start = time.perf_counter()
    prepared = [prepare_prompt(model, tokenizer, p, params.max_new_tokens) for p in prompts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids, mask = pad_left([p.ids for p in prepared], pad_id, model.device)
    limits = [p.max_new_tokens for p in prepared]
    eos = tokenizer.eos_token_id
    rows: list[list[int]] = [[] for _ in prompts]
    ended = [False] * len(prompts)
    for step in decode_steps(model, ids, params, budget=max(limits), attention_mask=mask, eos_id=eos,
                             pad_id=pad_id, limits=limits):
        for i, token in enumerate(step):
            if ended[i]:
                continue
            if token == eos:
                ended[i] = True
                continue
            rows[i].append(token)
            ended[i] = len(rows[i]) >= limits[i]
    seconds = time.perf_counter() - start
    return [_result(tokenizer, p, row, params, seconds) for p, row in zip(prepared, rows)]


def _result(tokenizer, prepared, tokens: list[int], params: SamplingParams, seconds: float) -> GenerationResult:
    text = tokenizer.decode(tokens, skip_special_tokens=True)
    reason = "length" if len(tokens) >= prepared.max_new_tokens else "eos"
    cut = _stop_at(text, params.stop)
    if cut is not None:
        text, reason = cut, "stop"
    rate = len(tokens) / seconds if seconds > 0 else 0.0
    return GenerationResult(text, list(tokens), len(prepared.ids), len(tokens), seconds, rate, reason,
                            list(prepared.notes))
