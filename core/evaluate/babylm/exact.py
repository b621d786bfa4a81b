"""The official pipeline's arithmetic for `--exact` (the default of `babyllama eval --suite babylm`).

The pipeline's DataLoader takes one task folder's items in file order, `PIPELINE_BATCH` at a
time; for each candidate index k it right-pads the k-th candidates of those items together (pad
id: the tokenizer's, else EOS), runs inputs tokens[:-1] with the padded attention mask, takes
log_softmax(logits / T) over the whole [batch, width, vocab] tensor, gathers the targets
tokens[1:], multiplies by the phrase mask and sums along the row in the model's dtype (float32).
Reproducing it bit for bit keeps near-ties and WUG probabilities as the pipeline has them. Never
imports gradio, studio or core.history.
"""

from __future__ import annotations

import torch

from core.errors import UserError
from core.evaluate.babylm.scorer import Encoded

PIPELINE_BATCH = 64  # the pipeline's --batch_size default, which its eval scripts keep: items, not candidates


def pad_id(tokenizer) -> int:
    """The pipeline's padding value for a causal model: the pad token, else EOS."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _candidate_count(batch: list[list[Encoded]], ids: list[str], label: str) -> int:
    # The pipeline's collate takes the number of candidates from the batch's first item.
    counts = {len(item) for item in batch}
    if len(counts) > 1:
        odd = next(i for i, item in enumerate(batch) if len(item) != len(batch[0]))
        raise UserError(
            f"{label}: items {ids[0]} ({len(batch[0])} candidates) and {ids[odd]} ({len(batch[odd])}) "
            "share one of the pipeline's batches, which cannot score different numbers of candidates; "
            "use --no-exact to score them"
        )
    return len(batch[0])


@torch.no_grad()
def _forward_sums(model, column: list[Encoded], temperatures: list[float], pad: int) -> list[torch.Tensor]:
    """One padded forward of the k-th candidates of a batch: per temperature, [batch] sums."""
    device = model.device
    width = max(len(e.tokens) for e in column)
    tokens = torch.full((len(column), width), pad, dtype=torch.long)
    attention = torch.zeros(len(column), width, dtype=torch.long)
    phrase = torch.zeros(len(column), width, dtype=torch.long)
    for r, e in enumerate(column):
        tokens[r, : len(e.tokens)] = torch.tensor(e.tokens)
        attention[r, : len(e.tokens)] = 1
        phrase[r, : len(e.tokens)] = torch.tensor([int(s) for s in e.scored])
    if width < 2:  # nothing is predicted: every sum is empty
        return [torch.zeros(len(column)) for _ in temperatures]
    inputs, targets = tokens[:, :-1].to(device), tokens[:, 1:].to(device)
    logits = model(input_ids=inputs, attention_mask=attention[:, :-1].to(device)).logits
    mask = phrase[:, 1:].to(device)
    out = []
    for temperature in temperatures:
        log_probs = torch.log_softmax(logits / temperature, dim=-1)
        picked = torch.gather(log_probs, -1, targets.unsqueeze(-1)).squeeze(-1)
        out.append(torch.sum(picked * mask, dim=1).cpu())  # the model's dtype, zeros included
    return out


def score_task_exact(
    model,
    items: list[list[Encoded]],
    ids: list[str],
    temperatures: list[float],
    pad: int,
    label: str = "",
    batch_items: int = PIPELINE_BATCH,
    progress=None,
) -> list[list[list[float]]]:
    """[item][candidate][temperature] scores of one task folder, as the pipeline sums them.

    `items[i]` are item i's encoded candidates in file order; `ids[i]` names it in errors
    (`<UID>_<n>`); `progress(done)` gets the number of items scored after each batch.
    """
    if batch_items < 1:
        raise UserError(f"exact batch {batch_items}: must be at least 1")
    out: list[list[list[float]]] = []
    for start in range(0, len(items), batch_items):
        batch = items[start : start + batch_items]
        count = _candidate_count(batch, ids[start : start + batch_items], label)
        per_candidate = [_forward_sums(model, [item[k] for item in batch], temperatures, pad) for k in range(count)]
        for r in range(len(batch)):
            out.append([[float(per_candidate[k][t][r]) for t in range(len(temperatures))] for k in range(count)])
        if progress is not None:
            progress(len(out))
    return out
