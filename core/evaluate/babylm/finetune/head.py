"""The classifier the pipeline fine-tunes: the language model's body (no LM head) + a small head on
one position's final hidden state. Pooling `first` (position 0) is the official rule; `last` (the
last real token) is ours, NOT the official rule. Imports torch; never gradio or studio.
"""

from __future__ import annotations

import torch
from torch import nn

POOLINGS = ("first", "last")


class ClassifierHead(nn.Module):
    """LayerNorm (no affine) -> Linear(h, h) -> GELU -> LayerNorm (no affine) -> Dropout -> Linear(h, labels),
    in the pipeline's order; `nonlinearity` is one Sequential, so the default initialisation draws
    from the RNG in that order."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.nonlinearity = nn.Sequential(
            nn.LayerNorm(hidden_size, eps, elementwise_affine=False),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
            nn.LayerNorm(hidden_size, eps, elementwise_affine=False),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, num_labels),
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.nonlinearity(pooled)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, S, H) -> (B, H): position 0 (`first`, official), or each row's last attended position
    (`last`; the inputs are right-padded, so that is mask.sum - 1)."""
    if pooling == "first":
        return hidden[:, 0]
    if pooling == "last":
        last = attention_mask.long().sum(dim=1) - 1
        return hidden[torch.arange(hidden.size(0), device=hidden.device), last]
    raise ValueError(f"pooling {pooling!r} is not one of {POOLINGS}")


class SequenceClassifier(nn.Module):
    """`body` is the transformers base model (e.g. LlamaModel: embeddings, blocks, final norm);
    the whole thing is trained, body included, as the pipeline does."""

    def __init__(
        self, body: nn.Module, hidden_size: int, num_labels: int, pooling: str = "first", dropout: float = 0.1, eps: float = 1e-5
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r} is not one of {POOLINGS}")
        self.body, self.pooling = body, pooling
        self.classifier = ClassifierHead(hidden_size, num_labels, dropout, eps)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return self.classifier(pool(hidden, attention_mask, self.pooling))


def body_of(lm: nn.Module) -> nn.Module:
    """The base model inside a causal LM (what the pipeline's AutoModel.from_pretrained loads)."""
    body = getattr(lm, "base_model", lm)
    if body is lm and hasattr(lm, "get_decoder"):
        body = lm.get_decoder()
    return body
