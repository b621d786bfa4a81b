"""What the loop measures when an evaluation is due: the plain model's mean token loss and
perplexity on the eval blocks across processes, and greedy samples of fixed prompts.
Must not import gradio or core.history."""

from __future__ import annotations

import math

import torch

from core.train.fused_loss import causal_lm_loss
from core.train.machine import unwrap

# Greedy continuations of these show how the model is doing, in the log and the studio.
SAMPLE_PROMPTS = ("Once upon a time", "The little dog", "Mommy, can I")


@torch.no_grad()
def evaluate(model, blocks: torch.Tensor, batch_size: int, accelerator, max_samples: int = 0) -> dict:
    """Mean token loss and perplexity of the plain model (whatever the training objective) over
    (the first `max_samples` of) the eval blocks."""
    model.eval()
    if max_samples:
        blocks = blocks[:max_samples]
    total, count = torch.zeros((), dtype=torch.float64), 0
    world, rank = accelerator.num_processes, accelerator.process_index
    for start in range(rank * batch_size, len(blocks), batch_size * world):
        batch = blocks[start : start + batch_size].to(accelerator.device)
        with accelerator.autocast():
            loss = causal_lm_loss(unwrap(accelerator, model), batch)
        n = batch.numel() - batch.shape[0]  # predicted positions: all but the first of each row
        total += loss.double().cpu() * n
        count += n
    sums = accelerator.reduce(torch.tensor([total.item(), float(count)], device=accelerator.device), "sum")
    model.train()
    mean = (sums[0] / sums[1].clamp(min=1)).item()
    return {"eval_loss": mean, "eval_perplexity": math.exp(min(mean, 50.0))}


@torch.no_grad()
def generate_samples(model, tokenizer, max_new_tokens: int = 24) -> list[tuple[str, str]]:
    """Greedy continuations of SAMPLE_PROMPTS; greedy uses no RNG, so resume stays exact."""
    was_training = model.training
    model.eval()
    out = []
    device = next(model.parameters()).device
    for prompt in SAMPLE_PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
        gen = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        out.append((prompt, tokenizer.decode(gen[0, ids.shape[1] :], skip_special_tokens=True)))
    model.train(was_training)
    return out
