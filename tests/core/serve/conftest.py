"""The serving tests' model: a tiny randomly initialised Llama over the session's tokenizer."""

from __future__ import annotations

import pytest
import torch

from core import config
from core.model import build as models
from core.serve import Engine

CTX = 64  # the tiny model's context length


@pytest.fixture(scope="module")
def engine(data_template):
    from core.tokenizer import load_tokenizer

    tok = load_tokenizer("tok", data_template)
    cfg = config.load(
        overrides=[
            "model.hidden_size=32",
            "model.n_head=2",
            "model.intermediate_size=64",
            "model.n_layer=2",
            f"model.max_position_embeddings={CTX}",
            "data.seq_length=32",
        ]
    )
    torch.manual_seed(11)
    return Engine(models.build_model(cfg.model, len(tok)).eval(), tok, name="tiny", folder="/nowhere/tiny")
