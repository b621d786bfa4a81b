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
        raise UserError("the BabyLM suite needs a fast tokenizer (character offsets); save the model's "
                        "tokenizer with a tokenizer.json")
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


def _scored_logits(model, ids, attention, rows, cols) -> torch.Tensor:
    """Logits at (rows, cols) only; other architectures (a scaled or capped head) go through the
    model's own forward."""
    if getattr(model.config, "model_type", "") in PLAIN_HEADS:
        hidden = model.base_model(input_ids=ids, attention_mask=attention, use_cache=False).last_hidden_state
        return model.get_output_embeddings()(hidden[rows, cols])
    return model(input_ids=ids, attention_mask=attention).logits[rows, cols]


@torch.inference_mode()
def score_batch(model, batch: list[Encoded], temperatures: list[float]) -> torch.Tensor:
    """[len(batch), len(temperatures)] float64 sums of the scored targets' log-probabilities (one
    padded forward pass; also the AoA suite's, at temperature 1)."""
    device = model.device
    width = max(len(e.tokens) for e in batch) - 1
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    att = torch.zeros(len(batch), width, dtype=torch.long)
    rows, cols, targets = [], [], []
    for r, e in enumerate(batch):
        n = len(e.tokens) - 1
        ids[r, :n] = torch.tensor(e.tokens[:-1])
        att[r, :n] = 1
        for j in range(1, n + 1):  # target j is predicted at position j - 1
            if e.scored[j]:
                rows.append(r)
                cols.append(j - 1)
                targets.append(e.tokens[j])
    sums = torch.zeros(len(batch), len(temperatures), dtype=torch.float64)
    if not rows:
        return sums
    # Right padding leaves every real position as when its row runs alone; without padding the
    # mask is left out so attention keeps its fastest path.
    padded = bool((att == 0).any())
    picked = _scored_logits(model, ids.to(device), att.to(device) if padded else None,
                            torch.tensor(rows, device=device), torch.tensor(cols, device=device)).float()
    target = torch.tensor(targets, device=device).unsqueeze(1)
    owner = torch.tensor(rows)
    for t, temperature in enumerate(temperatures):
        logp = torch.log_softmax(picked / temperature, dim=-1).gather(1, target).squeeze(1)
        sums[:, t].index_add_(0, owner, logp.double().cpu())
    return sums


def score_all(model, encoded: list[Encoded], temperatures: list[float], batch_size: int = 64,
              progress=None) -> list[list[float]]:
    """Score of every candidate at every temperature ([candidate][temperature]).

    Identical candidates are scored once, so a tie is an exact tie (the first candidate wins it,
    as in the pipeline) whatever the batching. Longest first: similar lengths share a batch and
    the first batch fails fast on memory. `progress(done, total)` is called after each batch.
    Lengths are not checked here: `position_limit` says what the model can compute, and the suite
    refuses a longer candidate by name before scoring.
    """
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    unique = list(dict.fromkeys(encoded))
    index = {e: i for i, e in enumerate(unique)}
    order = sorted(range(len(unique)), key=lambda i: -len(unique[i].tokens))
    scores = [[0.0] * len(temperatures) for _ in unique]
    runnable = [i for i in order if len(unique[i].tokens) > 1]  # a lone token has nothing scored
    for start in range(0, len(runnable), batch_size):
        chosen = runnable[start:start + batch_size]
        sums = score_batch(model, [unique[i] for i in chosen], temperatures).tolist()
        for i, row in zip(chosen, sums):
            scores[i] = row
        if progress is not None:
            progress(min(start + batch_size, len(runnable)), len(runnable))
    return [scores[index[e]] for e in encoded]
