"""The optimizer and learning-rate schedule a run trains with: AdamW with decay on matrices only,
and transformers' schedulers by our config names. Must not import gradio or core.history."""

from __future__ import annotations

import torch

from core.config import TrainingConfig


def make_optimizer(lm: torch.nn.Module, t: TrainingConfig) -> torch.optim.AdamW:
    """AdamW without weight decay on norms and biases (1-D tensors), as in nanoGPT and HF.

    fused=True: one kernel over all parameters instead of a loop of small ops per tensor."""
    decay = [p for p in lm.parameters() if p.dim() >= 2]
    no_decay = [p for p in lm.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=t.lr, fused=True)


def make_scheduler(name: str, optimizer, warmup: int, total: int):
    """transformers' scheduler `name` (our `constant` is its `constant_with_warmup`)."""
    from transformers import get_scheduler

    kind = {"constant": "constant_with_warmup"}.get(name, name)
    return get_scheduler(kind, optimizer, num_warmup_steps=warmup, num_training_steps=total)
