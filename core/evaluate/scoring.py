"""Log-probabilities of token sequences under a causal LM, batched with right padding.

Minimal pairs, cloze and perplexity all score through `batch_nll`: one forward per batch, padding
never counted, the same numbers (to float rounding) whatever the batch size. Must not import
gradio or core.history.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.errors import UserError

IGNORE = -100  # the target id cross_entropy skips: padding and the unpredicted last position


def context_token(tokenizer) -> int:
    """The token every scored sentence is conditioned on, so that its first word is scored too.

    lm-eval scores a sentence with an empty context by prepending one token. We take the BOS when
    the tokenizer itself starts texts with it (tokenizers trained here: training starts every
    document with it); otherwise the EOS, because our older training data (and GPT-2's) separates
    documents with it, so it is what the model saw before every first word; a tokenizer with
    neither cannot be scored this way. With a BOS this equals the official BabyLM 2025 rule
    (`core.evaluate.babylm`); without one the official rule skips the first token instead.
    """
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    if bos is not None and probe and probe[0] == bos:
        return bos
    if eos is not None:
        return eos
    if bos is not None:
        return bos
    raise UserError(
        "the tokenizer has neither a bos_token nor an eos_token, so a sentence's first word "
        "cannot be scored; save the tokenizer with an eos_token (e.g. </s>)"
    )


def model_context(model) -> int | None:
    """The longest sequence the model's positions allow (None when its config does not say)."""
    cfg = model.config
    return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)


def encode_sentences(tokenizer, texts: list[str], where: list[str], limit: int | None) -> list[list[int]]:
    """[context token] + the tokens of each text (no other special tokens).

    `where[i]` names text i's origin (file and line) for the error a too-long or empty text raises;
    `limit` is the model's context (`model_context(model)`; None: unchecked).
    """
    start = context_token(tokenizer)
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    for ids, origin in zip(encoded, where):
        if not ids:
            raise UserError(f"{origin}: the text is empty; remove that item or give it words")
        if limit and len(ids) + 1 > limit:
            raise UserError(
                f"{origin}: {len(ids)} tokens, longer than the model's context of {limit} "
                "(one more is the context token); shorten or split that text"
            )
    return [[start, *ids] for ids in encoded]


@torch.inference_mode()
def batch_nll(model, batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token negative log-likelihood [B, T] and the mask of scored positions (float64 sums OK).

    Position t holds -log p(token t+1 | tokens <= t). Rows are right-padded; the attention mask
    marks the padding, and right padding leaves every real position's positions and attention
    exactly as when the row runs alone. Padded and final positions are never counted.
    """
    device = model.device
    width = max(len(seq) for seq in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, seq in enumerate(batch):
        ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    # Target of position t is token t+1; the last position and padding predict nothing.
    targets = torch.full_like(ids, IGNORE)
    targets[:, :-1] = torch.where(mask[:, 1:].bool(), ids[:, 1:], IGNORE)
    padded = bool((mask == 0).any())
    # Without padding the mask is all ones: leaving it out keeps attention on its fastest path.
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device) if padded else None).logits
    if logits.dtype != torch.float32:
        logits = logits.float()  # log-softmax in half precision loses the small differences we rank by
    nll = F.cross_entropy(
        logits.view(-1, logits.shape[-1]), targets.view(-1).to(device), ignore_index=IGNORE, reduction="none"
    ).view(len(batch), width)
    return nll, (targets != IGNORE).to(device)


def sequence_logprobs(model, seqs: list[list[int]], batch_size: int = 64) -> list[float]:
    """Summed log-probability of tokens 1.. of each sequence given the ones before (token 0 is
    context). Longest first, so each batch holds similar lengths and the first one fails fast on
    memory; the result is in the input order."""
    if batch_size < 1:
        raise UserError(f"batch size {batch_size}: must be at least 1")
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    out = [0.0] * len(seqs)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        nll, _ = batch_nll(model, [seqs[i] for i in chosen])
        sums = (-nll.double()).sum(dim=1).tolist()  # ignored positions are exactly 0
        for i, value in zip(chosen, sums):
            out[i] = value
    return out


def sync(device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
