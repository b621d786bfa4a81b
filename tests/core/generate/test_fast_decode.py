"""core.generate.fast_decode: a Llama decoding step through the weights gives transformers' numbers."""

from __future__ import annotations

import pytest
import torch

from core import config
from core.generate.batch import pad_left
from core.generate.fast_decode import fast_decoder
from core.model import build as models


def _model(family: str, **over):
    cfg = config.load(
        overrides=[
            f"model.type={family}",
            "model.hidden_size=32",
            "model.n_head=2",
            "model.intermediate_size=64",
            "model.n_layer=2",
            "model.max_position_embeddings=64",
            "data.seq_length=32",
        ]
    )
    torch.manual_seed(5)
    model = models.build_model(cfg.model, 300).eval()
    for key, value in over.items():
        setattr(model.config, key, value)
    return model


def test_only_plain_llamas_get_the_fast_step():
    assert fast_decoder(_model("Llama")) is not None
    assert fast_decoder(_model("GPT2")) is None
    assert fast_decoder(_model("Llama", _attn_implementation="eager")) is None
    assert fast_decoder(_model("Llama").train()) is None


@pytest.mark.parametrize("rows", [[[5, 9, 14, 2, 77]], [[5, 9, 14, 2, 77], [8, 30], [41, 42, 43]]])
def test_three_steps_match_transformers_forward(rows):
    model = _model("Llama")
    ids, mask = pad_left(rows, 0)
    padded = len({len(r) for r in rows}) > 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    step = fast_decoder(model)
    with torch.inference_mode():
        kw = {"attention_mask": mask, "position_ids": positions} if padded else {}
        ref = model(input_ids=ids, use_cache=True, **kw)
        step.start(ref.cache)
        ref_cache, full_mask, pos = ref.cache, mask, positions[:, -1:]
        token = ref.logits[:, -1].argmax(-1, keepdim=True)
        for _ in range(3):
            pos, full_mask = pos + 1, torch.cat([full_mask, torch.ones_like(token)], dim=-1)
            kw = {"attention_mask": full_mask, "position_ids": pos} if padded else {}
            want = model(input_ids=token, cache=ref_cache, use_cache=True, **kw)
            ref_cache = want.cache
            got = step(token, pos if padded else None, full_mask if padded else None)
            assert got.shape == want.logits[:, -1].shape
            torch.testing.assert_close(got, want.logits[:, -1], rtol=1e-5, atol=1e-5)
            token = want.logits[:, -1].argmax(-1, keepdim=True)
