"""One task's fine-tuning, as the pipeline's `finetune/trainer.py` runs it: a copy of the language
model's body + a fresh head, AdamW, warm-up + cosine, full shuffled batches, one validation pass per
epoch, the best epoch's scores and predictions kept. Imports torch; never gradio or studio.
"""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from core.evaluate.babylm.finetune.head import SequenceClassifier, body_of
from core.evaluate.babylm.finetune.metrics import scores
from core.evaluate.babylm.finetune.recipe import Recipe, lr_factor
from core.evaluate.babylm.finetune.tasks import Example


@dataclass
class EpochRecord:
    """One epoch: mean training loss, validation scores, time and training throughput."""

    epoch: int
    loss: float
    scores: dict[str, float]
    seconds: float
    examples_per_s: float


@dataclass
class TaskResult:
    """The best epoch's scores and validation predictions, and every epoch's record."""

    best_epoch: int
    scores: dict[str, float]
    predictions: list[int]
    epochs: list[EpochRecord] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


@dataclass
class Progress:
    """Optimizer steps done out of all tasks' steps, for ETA lines and the job's progress."""

    total_steps: int
    report: Callable[[int, int], None] = lambda done, total: None
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    _reported: float = 0.0

    def step(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self._reported > 2 or self.done == self.total_steps:
            self._reported = now
            self.report(self.done, self.total_steps)

    def eta(self) -> str:
        if not self.done:
            return "?"
        left = (time.perf_counter() - self.started) / self.done * (self.total_steps - self.done)
        if left >= 3600:
            return f"{int(left // 3600)}h{int(left % 3600 // 60):02d}m"
        return f"{int(left // 60)}m{int(left % 60):02d}s"


def encode(tokenizer, examples: list[Example], max_length: int) -> list[list[int]]:
    """Token ids of each pair as the tokenizer joins a pair (its special tokens included), cut to
    `max_length` longest-first: what the pipeline's collate function gets before padding."""
    enc = tokenizer([e.a for e in examples], [e.b for e in examples], truncation=True, max_length=max_length)
    return enc["input_ids"]


def _batch(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right padding to the longest row (padding=True), and the 0/1 attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on a CUDA GPU that has it, else fp16 on CUDA; None (fp32) on the CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@torch.no_grad()
def predict(model, rows: list[list[int]], batch_size: int, pad_id: int, dtype) -> list[int]:
    """Argmax class of every row, in file order, in eval mode (no dropout)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(rows), batch_size):
        ids, mask = _batch(rows[start : start + batch_size], pad_id, device)
        with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
            logits = model(ids, mask)
        out += logits.argmax(dim=-1).tolist()
    return out


def build_classifier(lm, recipe: Recipe, pooling: str, device) -> SequenceClassifier:
    """A fresh classifier: a float32 copy of `lm`'s body (the caller's model is left untouched) and a
    head drawn right after torch.manual_seed(recipe.seed)."""
    body = copy.deepcopy(body_of(lm)).float().to(device)
    torch.manual_seed(recipe.seed)
    model = SequenceClassifier(body, lm.config.hidden_size, recipe.num_labels, pooling, recipe.dropout, recipe.layer_norm_eps)
    return model.to(device)


def finetune(
    lm,
    tokenizer,
    train: list[Example],
    valid: list[Example],
    recipe: Recipe,
    *,
    pooling: str = "first",
    max_length: int = 512,
    pad_id: int = 0,
    progress: Progress | None = None,
    log=print,
) -> TaskResult:
    """Fine-tune a copy of `lm` on `train`, score every epoch on `valid`, keep the best epoch."""
    device = lm.device
    dtype = autocast_dtype(device)
    model = build_classifier(lm, recipe, pooling, device)
    train_rows, valid_rows = encode(tokenizer, train, max_length), encode(tokenizer, valid, max_length)
    train_labels, valid_labels = [e.label for e in train], [e.label for e in valid]
    progress = progress or Progress(recipe.total_steps(len(train)))

    # AdamW on every parameter, weight decay included for norms and biases (the pipeline's choice).
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=recipe.lr, betas=recipe.betas, eps=recipe.eps, weight_decay=recipe.weight_decay
    )
    total, warmup = recipe.total_steps(len(train)), recipe.warmup_steps(len(train))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, warmup, total, recipe.min_factor))
    # fp16 needs loss scaling; bf16 and fp32 do not (the scaler is then a no-op).
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    # Our own generator for the order: the data order depends on the seed only, not on how many
    # numbers loading the model drew from the global RNG.
    order = torch.Generator().manual_seed(recipe.seed)
    result, epochs, started = None, [], time.perf_counter()
    for epoch in range(1, recipe.epochs + 1):
        model.train()  # dropout on, in the head and in the body (its config's rates)
        t0, loss_sum, steps = time.perf_counter(), torch.zeros((), device=device), 0
        perm = torch.randperm(len(train), generator=order).tolist()
        # Full batches only: the pipeline's DataLoader drops the last partial batch.
        for start in range(0, len(perm) - recipe.batch_size + 1, recipe.batch_size):
            picked = perm[start : start + recipe.batch_size]
            ids, mask = _batch([train_rows[i] for i in picked], pad_id, device)
            labels = torch.tensor([train_labels[i] for i in picked], device=device)
            with torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext():
                logits = model(ids, mask)
            loss = F.cross_entropy(logits.float(), labels)  # mean over the batch; no clipping
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.detach()  # summed on the device: no sync per step
            steps += 1
            progress.step()
        train_seconds = time.perf_counter() - t0
        # Validation on the whole valid file each epoch; the first strictly better score wins.
        preds = predict(model, valid_rows, recipe.valid_batch_size, pad_id, dtype)
        got = scores(valid_labels, preds, recipe.metrics)
        record = EpochRecord(
            epoch,
            loss_sum.item() / max(steps, 1),
            got,
            time.perf_counter() - t0,
            steps * recipe.batch_size / max(train_seconds, 1e-9),
        )
        if result is None or got[recipe.metric_for_valid] > result.scores[recipe.metric_for_valid]:
            # The pipeline predicts the valid file again with the kept model; the same weights give
            # these predictions, so they are kept instead of a copy of the model.
            result = TaskResult(epoch, got, preds)
        epochs.append(record)
        log(
            f"  glue {recipe.task}: epoch {epoch}/{recipe.epochs}, loss {record.loss:.4f}, "
            f"valid {recipe.metric_for_valid} {got[recipe.metric_for_valid]:.4f} (best epoch {result.best_epoch}), "
            f"{record.examples_per_s:,.1f} examples/s, ETA {progress.eta()}"
        )
    result.epochs, result.steps, result.seconds = epochs, total, time.perf_counter() - started
    return result
