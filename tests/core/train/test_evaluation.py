"""core.train.evaluation: the eval loss is the mean over every predicted token, however the blocks
fall into batches, and the model goes back to training mode."""

from __future__ import annotations

import math

import pytest
import torch

from core.config import ModelConfig
from core.model.build import build_model
from core.train.evaluation import evaluate
from core.train.fused_loss import FusedLossModel


@pytest.fixture
def accelerator():
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    return Accelerator(cpu=True)


def test_eval_loss_is_the_token_mean_over_uneven_batches(accelerator):
    torch.manual_seed(0)
    lm = build_model(ModelConfig(hidden_size=32, n_layer=1, n_head=2, intermediate_size=64), 50)
    model = FusedLossModel(lm)
    blocks = torch.randint(0, 50, (7, 9))
    with torch.no_grad():
        lm.eval()
        whole = lm(input_ids=blocks, labels=blocks).loss.item()  # one batch: the mean over all 7 x 8 predictions
    model.train()
    got = evaluate(model, blocks, batch_size=3, accelerator=accelerator)  # batches of 3, 3 and 1
    assert got["eval_loss"] == pytest.approx(whole, rel=1e-5)
    assert got["eval_perplexity"] == pytest.approx(math.exp(whole), rel=1e-5)
    assert model.training and lm.training
    first = evaluate(model, blocks, batch_size=3, accelerator=accelerator, max_samples=2)
    with torch.no_grad():
        lm.eval()
        assert first["eval_loss"] == pytest.approx(lm(input_ids=blocks[:2], labels=blocks[:2]).loss.item(), rel=1e-5)
