"""The fast path's shared prefixes: an item's candidates that start with the same tokens (EWoK's
context, entity tracking's long prefix) run that prefix once.

The prefix batch runs with a KV cache; each candidate's remaining tokens then run on its item's
cached prefix (right-padded prefixes are masked; positions continue from the prefix's length).
The output layer runs only at scored positions; sums are float64, as `scorer.score_all`'s. Other
architectures and items without a shared prefix go through `score_all`. Never imports gradio.
"""

from __future__ import annotations

import inspect

import torch

from core.evaluate.babylm.scorer import PLAIN_HEADS, Encoded, score_all, target_log_probs

# Prefix tokens an item must save (shared length x (candidates - 1)) to take the two-pass path: a
# BLiMP pair sharing 4 tokens saves less than the second pass costs (bench eval: 152/s in one
# batched pass vs 145/s through prefixes on the BLiMP sample); EWoK contexts and entity-tracking
# prefixes save tens of tokens an item.
MIN_SAVED = 16

# Tokens a plain pass of the fast path may take (`scorer.length_batches`): short BLiMP sentences
# run 300 at a time, one length a batch, with no padding and no attention mask.
FAST_TOKENS = 4096


def shared_length(cands: list[Encoded]) -> int:
    """Tokens every candidate starts with, leaving each at least one token to predict after it."""
    first, n = cands[0].tokens, min(len(c.tokens) for c in cands) - 1
    for c in cands[1:]:
        n = min(n, next((i for i, (a, b) in enumerate(zip(first, c.tokens)) if a != b), n))
    return max(n, 0)


def _pad(rows: list[tuple[int, ...]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def _log_probs(model, hidden: torch.Tensor, targets: list[int], temperatures: list[float]) -> torch.Tensor:
    head = model.get_output_embeddings()
    return target_log_probs(head, hidden, torch.tensor(targets, device=hidden.device), temperatures, head.weight.shape[0]).cpu()


@torch.inference_mode()
def _score_group(model, group: list[list[Encoded]], temperatures: list[float]) -> list[list[list[float]]]:
    """[item][candidate][temperature] for items whose candidates share their first P tokens."""
    device, body = model.device, model.base_model
    shared = [shared_length(cands) for cands in group]
    ids, mask = _pad([cands[0].tokens[:p] for cands, p in zip(group, shared)])
    out = body(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True)
    cache_name = "cache" if "cache" in inspect.signature(body.forward).parameters else "past_key_values"
    cache, prefix_hidden = getattr(out, cache_name), out.last_hidden_state
    sums = [[torch.zeros(len(temperatures), dtype=torch.float64) for _ in cands] for cands in group]
    # Targets 1..P are predicted inside the prefix (target j at position j - 1), each distinct
    # (item, position, target) once: only target P may differ between an item's candidates.
    distinct: dict[tuple[int, int, int], int] = {}
    uses = [
        (i, k, distinct.setdefault((i, j, c.tokens[j]), len(distinct)))
        for i, cands in enumerate(group)
        for k, c in enumerate(cands)
        for j in range(1, shared[i] + 1)
        if c.scored[j]
    ]
    if uses:
        hidden = prefix_hidden[torch.tensor([i for i, _, _ in distinct]), torch.tensor([j - 1 for _, j, _ in distinct])]
        lp = _log_probs(model, hidden, [t for *_, t in distinct], temperatures)
        for i, k, u in uses:
            sums[i][k] += lp[u]
    # The rest of each candidate runs on its item's cached prefix.
    rows = [(i, k) for i, cands in enumerate(group) for k, c in enumerate(cands) if len(c.tokens) - 1 > shared[i]]
    if rows:
        tails, tail_mask = _pad([group[i][k].tokens[shared[i] : -1] for i, k in rows])
        owner = torch.tensor([i for i, _ in rows])
        cache.reorder_cache(owner.to(device))
        positions = torch.stack([shared[i] + torch.arange(tails.shape[1]) for i, _ in rows])
        attention = torch.cat([mask[owner], tail_mask], dim=1)
        hidden_all = body(
            input_ids=tails.to(device),
            attention_mask=attention.to(device),
            position_ids=positions.to(device),
            use_cache=True,
            **{cache_name: cache},
        ).last_hidden_state
        picks = [
            (r, j)
            for r, (i, k) in enumerate(rows)
            for j in range(shared[i] + 1, len(group[i][k].tokens))
            if group[i][k].scored[j]
        ]
        if picks:
            hidden = hidden_all[torch.tensor([r for r, _ in picks]), torch.tensor([j - 1 - shared[rows[r][0]] for r, j in picks])]
            lp = _log_probs(model, hidden, [group[rows[r][0]][rows[r][1]].tokens[j] for r, j in picks], temperatures)
            for n, (r, _) in enumerate(picks):
                i, k = rows[r]
                sums[i][k] += lp[n]
    return [[s.tolist() for s in item] for item in sums]


def score_items(
    model,
    items: list[list[Encoded]],
    temperatures: list[float],
    batch_size: int = 64,
    progress=None,
    min_saved: int = MIN_SAVED,
    tokens: int = FAST_TOKENS,
) -> list[list[list[float]]]:
    """[item][candidate][temperature], the fast path: shared prefixes once where the architecture
    allows (`PLAIN_HEADS`) and an item saves at least `min_saved` tokens, identical candidates of
    an item once, everything else `score_all` in batches of one length (`tokens` a pass)."""
    out: list = [None] * len(items)
    uniques = [list(dict.fromkeys(cands)) for cands in items]
    plain = getattr(model.config, "model_type", "") in PLAIN_HEADS
    sharing = [i for i, u in enumerate(uniques) if plain and len(u) > 1 and shared_length(u) * (len(u) - 1) >= max(min_saved, 1)]
    chosen = set(sharing)
    rest = [i for i in range(len(items)) if i not in chosen]
    flat = score_all(model, [e for i in rest for e in items[i]], temperatures, batch_size, tokens=tokens)
    at = 0
    for i in rest:
        out[i] = flat[at : at + len(items[i])]
        at += len(items[i])
    sharing.sort(key=lambda i: -max(len(c.tokens) for c in uniques[i]))  # similar lengths share a batch
    start, done = 0, len(rest)
    while start < len(sharing):
        group, count = [], 0
        while start < len(sharing) and (not group or count + len(uniques[sharing[start]]) <= batch_size):
            group.append(sharing[start])
            count += len(uniques[sharing[start]])
            start += 1
        for i, scores in zip(group, _score_group(model, [uniques[i] for i in group], temperatures)):
            by_candidate = dict(zip(uniques[i], scores))
            out[i] = [by_candidate[e] for e in items[i]]
        done += len(group)
        if progress is not None:
            progress(done, len(items))
    return out
