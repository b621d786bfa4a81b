"""Candidate scores as the official pipeline's causal backend computes them, batched.

Encoding (`encode_all`): the candidate sentence goes through the tokenizer with its defaults, special
tokens included (so a BOS is there exactly when the tokenizer adds one); a token is scored when
its character span ends past the start of the completion. Scoring (`score_all`): inputs are
tokens[:-1], targets tokens[1:] (the first token is never scored), and a candidate's score is the
sum of its scored targets' log_softmax(logits / T). Never imports gradio or core.history.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.errors import UserError


@dataclass(frozen=True)
class Encoded:
    """One candidate: its token ids and which of them are scored (the first one never is)."""

    tokens: tuple[int, ...]
    scored: tuple[bool, ...]


def encode_all(tokenizer, sentences: list[str], completions: list[str]) -> list[Encoded]:
    """Tokens and phrase mask of each candidate (the pipeline's rule, verbatim: the completion
    starts `len(sentence) - len(completion)` characters in, shifted by the first token's start
    offset; every token whose span ends after that is in the phrase). One tokenizer call."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            "the BabyLM suite needs a fast tokenizer (character offsets); save the model's tokenizer with a tokenizer.json"
        )
    out = tokenizer(list(sentences), return_offsets_mapping=True)
    encoded = []
    for ids, offsets, sentence, completion in zip(out["input_ids"], out["offset_mapping"], sentences, completions):
        start = len(sentence) - len(completion) + offsets[0][0]
        encoded.append(Encoded(tuple(ids), tuple(end > start for _, end in offsets)))
    return encoded


def position_limit(model) -> int | None:
    """The longest input a plain transformers forward pass of `model` computes; None: no limit.

    Llama's rotary positions are computed from the position ids (any length runs, as in the
    official pipeline, past the trained length); GPT-2's learned table and GPT-J's precomputed
    sin/cos table (`embed_positions[position_ids]`) stop at n_positions: an IndexError past it.
    """
    if getattr(model.config, "model_type", "") == "llama":
        return None
    return getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)


# Plain output layers (a Linear, GPT-J's with a bias): the logits of the scored positions alone
# equal those rows of the full logits, so padding and unscored context cost no output layer.
PLAIN_HEADS = ("llama", "gpt2", "gptj")

# Logit elements computed at once (16 MiB of float32): the output layer and the log-softmax run on
# row chunks that stay in cache and that the allocator reuses; one [scored positions, vocabulary]
# tensor, divided by T and log-softmaxed whole, cost 28 % of the fast path at a 16,000-token
# vocabulary (page faults and memory traffic, torch profiler).
HEAD_ELEMENTS = 1 << 22


def target_log_probs(head, rows: torch.Tensor, targets: torch.Tensor, temperatures: list[float], vocab: int) -> torch.Tensor:
    """[len(rows), len(temperatures)] float64 on rows' device: log_softmax(head(rows) / T) at
    `targets`, as target logit / T - logsumexp(logits / T) in float32, `HEAD_ELEMENTS // vocab`
    rows at a time (`head`: the output layer, or `torch.nn.Identity()` when rows are logits)."""
    out = torch.empty(len(rows), len(temperatures), dtype=torch.float64, device=rows.device)
    step = max(1, HEAD_ELEMENTS // max(vocab, 1))
    for start in range(0, len(rows), step):
        logits = head(rows[start : start + step]).float()
        picked = logits.gather(1, targets[start : start + step, None]).squeeze(1)
        for t, temperature in enumerate(temperatures):
            scaled = logits if temperature == 1.0 else logits / temperature
            out[start : start + step, t] = (picked / temperature).double() - torch.logsumexp(scaled, dim=-1).double()
    return out


def _scored_log_probs(model, ids, attention, rows, cols, targets, temperatures) -> torch.Tensor:
    """Log-probabilities of `targets` at (rows, cols) only; other architectures (a scaled or capped
    head) go through the model's own forward."""
    if getattr(model.config, "model_type", "") in PLAIN_HEADS:
        hidden = model.base_model(input_ids=ids, attention_mask=attention, use_cache=False).last_hidden_state
        head = model.get_output_embeddings()
        return target_log_probs(head, hidden[rows, cols], targets, temperatures, head.weight.shape[0])
    logits = model(input_ids=ids, attention_mask=attention).logits[rows, cols]
    return target_log_probs(torch.nn.Identity(), logits, targets, temperatures, logits.shape[-1])


def _distinct_picks(batch: list[Encoded], rows: list[int], cols: list[int]) -> tuple[list[int], list[int]]:
    """Picks that predict the same token after the same tokens (a minimal pair's common start, a
    common first word) have one log-probability: the index of the first pick of each such target,
    and every pick's index among those (prefixes numbered through a trie of (parent, token))."""
    node_of: dict[tuple[int, int], int] = {}
    first_of: dict[int, int] = {}
    firsts, inverse, path, last = [], [], [], -1
    for n, (r, c) in enumerate(zip(rows, cols)):
        if r != last:
            path, node, last = [], -1, r
            for token in batch[r].tokens:
                node = node_of.setdefault((node, token), len(node_of))
                path.append(node)
        u = first_of.setdefault(path[c + 1], len(firsts))  # tokens[:c + 2]: the context and the target
        if u == len(firsts):
            firsts.append(n)
        inverse.append(u)
    return firsts, inverse


@torch.inference_mode()
def score_batch(model, batch: list[Encoded], temperatures: list[float]) -> torch.Tensor:
    """[len(batch), len(temperatures)] float64 sums of the scored targets' log-probabilities (one
    padded forward pass, the output layer once per distinct (context, target): `_distinct_picks`;
    also the AoA suite's, at temperature 1)."""
    device = model.device
    lengths = [len(e.tokens) for e in batch]
    width = max(lengths)
    tokens = torch.tensor([e.tokens + (0,) * (width - len(e.tokens)) for e in batch], dtype=torch.long)
    scored = torch.tensor([e.scored + (False,) * (width - len(e.scored)) for e in batch], dtype=torch.bool)
    rows, cols = scored[:, 1:].nonzero(as_tuple=True)  # target j + 1 is predicted at position j
    sums = torch.zeros(len(batch), len(temperatures), dtype=torch.float64)
    if not len(rows):
        return sums
    # Right padding leaves every real position as when its row runs alone; without padding the
    # mask is left out so attention keeps its fastest path.
    attention = None
    if min(lengths) < width:
        attention = (torch.arange(width - 1) < torch.tensor(lengths)[:, None] - 1).long().to(device)
    firsts, inverse = _distinct_picks(batch, rows.tolist(), cols.tolist())
    first = torch.tensor(firsts)
    targets = tokens[:, 1:][rows[first], cols[first]]
    logp = _scored_log_probs(
        model,
        tokens[:, :-1].to(device),
        attention,
        rows[first].to(device),
        cols[first].to(device),
        targets.to(device),
        temperatures,
    )
    return sums.index_add_(0, rows, logp.cpu()[torch.tensor(inverse)])


MIN_ROWS = 16  # a batch with fewer candidates takes shorter ones too (padded), if within 3/4 of its width


def length_batches(lengths: list[int], batch_size: int, tokens: int = 0) -> list[list[int]]:
    """Indices of `lengths`, longest first, cut into batches. `tokens` 0: `batch_size` at a time.
    Else one length a batch (no padding: attention keeps its causal fast path), up to
    max(batch_size, tokens // length) candidates; a batch of fewer than `MIN_ROWS` takes shorter
    candidates down to 3/4 of its width (padding a few tokens costs less than a tiny pass)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    if not tokens:
        return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else []
        width = lengths[batch[0]] if batch else 0
        shorter = batch and lengths[i] < lengths[batch[-1]]
        if (
            not batch
            or len(batch) >= max(batch_size, tokens // width)
            or (shorter and (len(batch) >= MIN_ROWS or 4 * lengths[i] < 3 * width))
        ):
            batches.append([i])
        else:
            batch.append(i)
    return batches


def score_all(
    model, encoded: list[Encoded], temperatures: list[float], batch_size: int = 64, progress=None, tokens: int = 0
) -> list[list[float]]:
    """Score of every candidate at every temperature ([candidate][temperature]).

    Identical candidates are scored once, so a tie is an exact tie (the first candidate wins it,
    as in the pipeline) whatever the batching. Longest first: similar lengths share a batch and
    the first batch fails fast on memory; `tokens` > 0: batches of one length, as many candidates
    as fit `tokens` (at least `batch_size`; see `length_batches`). `progress(done, total)` is
    called after each batch. Lengths are not checked here: `position_limit` says what the model can compute, and the suite
    refuses a longer candidate by name before scoring.
    """
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    unique = list(dict.fromkeys(encoded))
    index = {e: i for i, e in enumerate(unique)}
    scores = [[0.0] * len(temperatures) for _ in unique]
    runnable = [i for i in range(len(unique)) if len(unique[i].tokens) > 1]  # a lone token has nothing scored
    done = 0
    for chosen in length_batches([len(unique[i].tokens) for i in runnable], batch_size, tokens):
        chosen = [runnable[c] for c in chosen]
        sums = score_batch(model, [unique[i] for i in chosen], temperatures).tolist()
        for i, row in zip(chosen, sums):
            scores[i] = row
        done += len(chosen)
        if progress is not None:
            progress(done, len(runnable))
    return [scores[index[e]] for e in encoded]
