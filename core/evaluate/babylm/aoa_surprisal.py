"""A word's surprisal after its context, by the official AoA causal rule, many contexts per forward pass.

Rule (evaluation_pipeline/AoA_word/evaluation_functions.py, `use_bos_only=False`): the text is
`context.strip() + " " + word.strip()`, tokenized with the tokenizer's defaults (special tokens
included) and character offsets; the word starts `len(text) - len(word)` characters in, and every
token whose span ends past that is the word's. Inputs tokens[:-1], targets tokens[1:]; surprisal =
-(sum of the word's targets' natural-log probabilities). Batched here with right padding (every real
position sees what it sees alone), identical texts scored once, and the output layer applied only
at the word's positions. Never imports gradio or studio.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import UserError

# Models whose logits are exactly output_layer(base_model's last hidden state): for these the output
# layer runs on the scored positions only (most of a small model's work on short texts).
_SPLIT_HEAD = {"llama", "gpt2", "gptj"}


@dataclass(frozen=True)
class Encoded:
    """One context + word: its token ids and which tokens belong to the word."""

    tokens: tuple[int, ...]
    scored: tuple[bool, ...]


def aoa_text(context: str, word: str) -> str:
    """The text the pipeline scores: the stripped context, one space, the stripped word."""
    return context.strip() + " " + word.strip()


def encode(tokenizer, contexts: list[str], words: list[str]) -> list[Encoded]:
    """Tokens and word mask of each (context, word), in one tokenizer call."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("the AoA suite needs a fast tokenizer (character offsets); save the model's "
                        "tokenizer with a tokenizer.json")
    texts = [aoa_text(c, w) for c, w in zip(contexts, words)]
    out = tokenizer(texts, return_offsets_mapping=True)
    encoded = []
    for ids, offsets, text, word in zip(out["input_ids"], out["offset_mapping"], texts, words):
        start = len(text) - len(word.strip())
        encoded.append(Encoded(tuple(ids), tuple(end > start for _, end in offsets)))
    return encoded


def _scored_logits(model, ids: torch.Tensor, att: torch.Tensor | None, rows: torch.Tensor, cols: torch.Tensor):
    if getattr(model.config, "model_type", "") in _SPLIT_HEAD and model.get_output_embeddings() is not None:
        hidden = model.base_model(input_ids=ids, attention_mask=att, use_cache=False).last_hidden_state
        return model.get_output_embeddings()(hidden[rows, cols])
    return model(input_ids=ids, attention_mask=att).logits[rows, cols]


@torch.inference_mode()
def _batch(model, batch: list[Encoded]) -> list[float]:
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
    sums = torch.zeros(len(batch), dtype=torch.float64)
    if rows:
        padded = bool((att == 0).any())  # without padding, no mask: attention keeps its fastest path
        logits = _scored_logits(model, ids.to(device), att.to(device) if padded else None,
                                torch.tensor(rows, device=device), torch.tensor(cols, device=device))
        logp = torch.log_softmax(logits.float(), dim=-1).gather(1, torch.tensor(targets, device=device)[:, None])
        sums.index_add_(0, torch.tensor(rows), logp.squeeze(1).double().cpu())
    return (-sums).tolist()


def surprisals(model, encoded: list[Encoded], batch_size: int = 32, progress=None) -> list[float]:
    """Surprisal (nats) of every encoded word; NaN where the pipeline's call fails (a text of one
    token, or longer than the model's positions). Longest first, so a batch holds similar lengths."""
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    cfg = model.config
    context = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    unique = list(dict.fromkeys(encoded))
    values = [math.nan] * len(unique)
    runnable = [i for i, e in enumerate(unique) if len(e.tokens) > 1 and not (context and len(e.tokens) - 1 > context)]
    runnable.sort(key=lambda i: -len(unique[i].tokens))
    for start in range(0, len(runnable), batch_size):
        chosen = runnable[start:start + batch_size]
        for i, value in zip(chosen, _batch(model, [unique[i] for i in chosen])):
            values[i] = value
        if progress is not None:
            progress(min(start + batch_size, len(runnable)), len(runnable))
    index = {e: i for i, e in enumerate(unique)}
    return [values[index[e]] for e in encoded]


def load(path: Path, device):
    """(model, tokenizer) of one checkpoint folder, in eval mode on `device`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(str(path))
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a checkpoint transformers can load ({err}); re-export or remove it") from err
    return model.to(device).eval(), tokenizer


def score_checkpoint(path: Path, device, words, batch_size: int = 32) -> list[float]:
    """Surprisal of every (word, context) of `words` (`aoa.Words`) under the checkpoint at `path`,
    word by word, contexts in order."""
    model, tokenizer = load(path, device)
    flat_contexts = [c for cs in words.contexts for c in cs]
    flat_words = [w for w, cs in zip(words.words, words.contexts) for _ in cs]
    try:
        return surprisals(model, encode(tokenizer, flat_contexts, flat_words), batch_size)
    finally:
        del model
        if torch.device(device).type == "cuda":
            torch.cuda.empty_cache()
