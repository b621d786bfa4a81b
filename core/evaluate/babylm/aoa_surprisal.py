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
from pathlib import Path

import torch

from core.errors import UserError
from core.evaluate.babylm.scorer import Encoded, score_batch


def aoa_text(context: str, word: str) -> str:
    """The text the pipeline scores: the stripped context, one space, the stripped word."""
    return context.strip() + " " + word.strip()


def encode(tokenizer, contexts: list[str], words: list[str]) -> list[Encoded]:
    """Tokens and word mask of each (context, word), in one tokenizer call."""
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            "the AoA suite needs a fast tokenizer (character offsets); save the model's tokenizer with a tokenizer.json"
        )
    texts = [aoa_text(c, w) for c, w in zip(contexts, words)]
    out = tokenizer(texts, return_offsets_mapping=True)
    encoded = []
    for ids, offsets, text, word in zip(out["input_ids"], out["offset_mapping"], texts, words):
        start = len(text) - len(word.strip())
        encoded.append(Encoded(tuple(ids), tuple(end > start for _, end in offsets)))
    return encoded


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
        chosen = runnable[start : start + batch_size]
        sums = score_batch(model, [unique[i] for i in chosen], [1.0])[:, 0]  # log-probabilities, T = 1
        for i, value in zip(chosen, (-sums).tolist()):
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
