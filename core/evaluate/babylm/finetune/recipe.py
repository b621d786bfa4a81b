"""The fine-tuning recipe of the 2025 pipeline as `eval_finetuning.sh` runs it (defaults of
`finetune/run.py` plus the script's flags), one frozen dataclass per task, and its lr schedule.

Standard library only: never imports torch, gradio or studio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

# The script's per-task choices: batch 16 for the two long-passage tasks, 30 epochs for WSC,
# F1 picks the best epoch for the paraphrase tasks, MNLI (3 classes) reports accuracy only.
_BATCH = {"boolq": 16, "multirc": 16}
_EPOCHS = {"wsc": 30}
_VALID_METRIC = {"mrpc": "f1", "qqp": "f1"}
_METRICS = {"mnli": ("accuracy",)}


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of one task's fine-tuning; `official(task)` gives the pipeline's."""

    task: str
    num_labels: int = 2
    lr: float = 3e-5
    batch_size: int = 32
    valid_batch_size: int = 64
    epochs: int = 10
    seed: int = 42
    weight_decay: float = 0.01  # AdamW, on every parameter (body and head, biases too)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_proportion: float = 0.06  # warm-up steps = int(0.06 * total steps)
    min_factor: float = 0.1  # cosine decays to 0.1 x lr
    max_length: int = 512  # truncation (longest_first over the pair)
    dropout: float = 0.1  # the head's dropout
    layer_norm_eps: float = 1e-5  # the head's two LayerNorms (no affine parameters)
    metrics: tuple[str, ...] = ("accuracy", "f1", "mcc")  # results.txt, in this order
    metric_for_valid: str = "accuracy"  # picks the best epoch (higher is better, strictly)

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps of the whole run: full batches only (the last partial one is dropped)."""
        return (n_train // self.batch_size) * self.epochs

    def warmup_steps(self, n_train: int) -> int:
        return int(self.warmup_proportion * self.total_steps(n_train))


def official(task: str, num_labels: int = 2) -> Recipe:
    """The recipe eval_finetuning.sh runs for `task`."""
    return Recipe(
        task=task,
        num_labels=num_labels,
        batch_size=_BATCH.get(task, 32),
        epochs=_EPOCHS.get(task, 10),
        metrics=_METRICS.get(task, ("accuracy", "f1", "mcc")),
        metric_for_valid=_VALID_METRIC.get(task, "accuracy"),
    )


def with_epochs(recipe: Recipe, epochs: int) -> Recipe:
    """The same recipe run for `epochs` (0 keeps the official count)."""
    return replace(recipe, epochs=epochs) if epochs else recipe


def lr_factor(step: int, warmup: int, total: int, min_factor: float) -> float:
    """The multiplier of lr at optimizer step `step` (0-based, before that step): linear warm-up from
    0 over `warmup` steps, then a cosine from 1 down to `min_factor` at step `total`, floored there."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(min_factor, min_factor + (1 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
