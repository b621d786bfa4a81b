"""core.train.optim: weight decay on matrices only, and our scheduler names onto transformers'."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core.config import TrainingConfig
from core.train.optim import make_optimizer, make_scheduler


def _tiny():
    return torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 10))


def test_matrices_decay_and_norms_and_biases_do_not():
    lm = _tiny()
    t = dataclasses.replace(TrainingConfig(), weight_decay=0.25, lr=1e-3)
    decay, plain = make_optimizer(lm, t).param_groups
    assert decay["weight_decay"] == 0.25 and plain["weight_decay"] == 0.0
    assert {p.dim() for p in decay["params"]} == {2} and {p.dim() for p in plain["params"]} == {1}
    assert len(decay["params"]) + len(plain["params"]) == len(list(lm.parameters()))
    assert decay["lr"] == plain["lr"] == 1e-3


@pytest.mark.parametrize(
    "name, after_warmup, at_end",
    [("constant", 1.0, 1.0), ("linear", 1.0, 0.0), ("cosine", 1.0, 0.0)],
)
def test_every_schedule_warms_up_then_follows_its_shape(name, after_warmup, at_end):
    optimizer = make_optimizer(_tiny(), dataclasses.replace(TrainingConfig(), lr=1.0))
    scheduler = make_scheduler(name, optimizer, warmup=4, total=20)
    lrs = []
    for _ in range(20):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(0.5)  # linear warm-up over 4 steps
    assert lrs[4] == pytest.approx(after_warmup)
    assert scheduler.get_last_lr()[0] == pytest.approx(at_end, abs=1e-9)
