"""The AoA surprisal batched against the official one-context-at-a-time loop (`bench eval`'s aoa part).

The official side is re-implemented here as evaluation_pipeline/AoA_word runs it: one tokenizer call
and one full `model(input_ids, attention_mask)` forward per context, log-softmax over every
position, masked sum, `.item()`. Both sides score the same (context, word) list with the same
model in one process, in alternating rounds; the ratio is reported only when every surprisal
agrees within AGREE. Must not import gradio.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

AGREE = 1e-3  # nats: float rounding of padded vs unpadded shapes stays far below this
CONTEXTS = 1000  # (context, word) items per round
_WORD = re.compile(r"^[A-Za-z][A-Za-z']+$")


def items_from_pairs(paradigms, limit: int = CONTEXTS) -> tuple[list[str], list[str]]:
    """(contexts, words) from the good sentences: every word after the first, with the words before
    it as its context (the shape of cdi_childes.json's n-gram contexts)."""
    contexts, words = [], []
    for p in paradigms:
        for good, _ in p.pairs:
            tokens = good.split()
            for i in range(1, len(tokens)):
                word = tokens[i].strip('.,?!;:"')
                if _WORD.match(word):
                    contexts.append(" ".join(tokens[:i]))
                    words.append(word)
    return contexts[:limit], words[:limit]


def items_from_data(folder: str | Path, limit: int = CONTEXTS) -> tuple[list[str], list[str]]:
    """(contexts, words) from the official cdi_childes.json under `folder`, in file order."""
    from core.errors import UserError
    from core.evaluate.babylm import aoa

    path = aoa.find_file(Path(folder).expanduser(), aoa.WORDS_FILE)
    if path is None:
        raise UserError(f"bench eval --babylm-data {folder}: no {aoa.WORDS_FILE} for the AoA part")
    data = aoa.read_words(path)
    pairs = [(c, w) for w, cs in zip(data.words, data.contexts) for c in cs][:limit]
    return [c for c, _ in pairs], [w for _, w in pairs]


def official_loop(model, tokenizer, contexts: list[str], words: list[str]) -> list[float]:
    """The pipeline's `compute_surprisal_causal`, one context at a time (re-implemented)."""
    import torch
    import torch.nn.functional as F

    out, device = [], model.device
    for context, word in zip(contexts, words):
        context, word = context.strip() + " ", word.strip()
        text = context + word
        enc = tokenizer(text=text, return_offsets_mapping=True)
        start = len(text) - len(word)
        mask = [1 if end > start else 0 for _, end in enc["offset_mapping"]]
        tokens = torch.LongTensor(enc["input_ids"]).to(device).unsqueeze(0)
        attention = torch.LongTensor(enc["attention_mask"]).to(device).unsqueeze(0)[:, :-1]
        phrase = torch.LongTensor(mask).to(device).unsqueeze(0)[:, 1:]
        with torch.no_grad():
            logits = model(input_ids=tokens[:, :-1], attention_mask=attention).logits
            logp = torch.gather(F.log_softmax(logits, dim=-1), -1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
            out.append(-torch.sum(logp * phrase, dim=1)[0].item())
    return out


def _timed(fn):
    from core.evaluate.scoring import sync

    def run(model, *args):
        started = time.perf_counter()
        values = fn(model, *args)
        sync(model.device)
        return time.perf_counter() - started, values

    return run


def bench_aoa(model, tokenizer, contexts: list[str], words: list[str], batch_size: int = 64, rounds: int = 3) -> dict:
    """Contexts per second, ours (batched, encoding included) and the official loop, median of
    `rounds` alternating rounds."""
    from core.evaluate.babylm.aoa_surprisal import encode, surprisals

    ours = _timed(lambda m, t, c, w: surprisals(m, encode(t, c, w), batch_size))
    official = _timed(official_loop)
    ours(model, tokenizer, contexts[:batch_size], words[:batch_size])  # warm-up: first-call allocations
    official(model, tokenizer, contexts[:4], words[:4])
    batched, single = [], []
    for r in range(rounds):
        for side in ("ours", "official") if r % 2 == 0 else ("official", "ours"):
            if side == "ours":
                seconds, b_values = ours(model, tokenizer, contexts, words)
                batched.append(seconds)
            else:
                seconds, s_values = official(model, tokenizer, contexts, words)
                single.append(seconds)
    max_diff = max((abs(a - b) for a, b in zip(b_values, s_values)), default=0.0)
    same = max_diff <= AGREE
    n = len(contexts)
    b_rate, s_rate = n / statistics.median(batched), n / statistics.median(single)
    return {
        "contexts": n,
        "batch_size": batch_size,
        "rounds": rounds,
        "batched_contexts_per_s": b_rate,
        "official_contexts_per_s": s_rate,
        "max_surprisal_diff": max_diff,
        "same": same,
        "ratio": b_rate / s_rate if same else None,
    }


def report_line(a: dict, target: float) -> str:
    ratio = (
        f"{a['ratio']:.1f}x ({'meets' if a['ratio'] >= target else 'MISSES'} the {target:g}x target)"
        if a["ratio"] is not None
        else "no ratio: the two sides disagree (a bug to report)"
    )
    return (
        f"AoA surprisal ({a['contexts']:,} contexts): batched {a['batched_contexts_per_s']:,.0f}/s vs the official "
        f"one-at-a-time loop {a['official_contexts_per_s']:,.0f}/s = {ratio}; "
        f"largest difference {a['max_surprisal_diff']:.1e} nats"
    )
