"""core.train.fused_loss gives transformers' loss and gradients without materialising the logits."""
from __future__ import annotations

import pytest
import torch

from core import config as config_mod
from core import presets
from core.models import build_model
from core.train.fused_loss import IGNORE_INDEX, FusedLossModel, causal_lm_loss, linear_cross_entropy

VOCAB = 300


def _model(kind: str, tied: bool = False):
    overrides = [f"model.type={kind}", f"model.tie_word_embeddings={str(tied).lower()}"]
    cfg = config_mod.load(presets.find("tiny"), overrides)
    torch.manual_seed(0)
    return build_model(cfg.model, VOCAB).train()


def _grads(model) -> dict[str, torch.Tensor]:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.parametrize("kind,tied", [("Llama", False), ("Llama", True), ("GPT2", False), ("GPTJ", False)])
def test_same_loss_and_gradients_as_transformers(kind, tied):
    model = _model(kind, tied)
    ids = torch.randint(0, VOCAB, (3, 40), generator=torch.Generator().manual_seed(1))
    expected = model(input_ids=ids, labels=ids).loss
    expected.backward()
    want = _grads(model)
    got = causal_lm_loss(model, ids, chunk_rows=29)  # 117 rows: chunks that do not divide evenly
    got.backward()
    have = _grads(model)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    assert have.keys() == want.keys()
    for name in want:
        torch.testing.assert_close(have[name], want[name], rtol=1e-4, atol=1e-6, msg=name)


def test_ignored_labels_and_a_scaled_loss_match_cross_entropy():
    torch.manual_seed(0)
    hidden = torch.randn(50, 16, requires_grad=True)
    weight = torch.randn(70, 16, requires_grad=True)
    targets = torch.randint(0, 70, (50,))
    targets[::3] = IGNORE_INDEX
    (3.0 * torch.nn.functional.cross_entropy(hidden @ weight.t(), targets)).backward()
    want = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None
    (3.0 * linear_cross_entropy(hidden, weight, None, targets, chunk_rows=16)).backward()
    torch.testing.assert_close(hidden.grad, want[0])
    torch.testing.assert_close(weight.grad, want[1])


def test_no_grad_evaluation_and_the_wrapper():
    model = _model("Llama")
    ids = torch.randint(0, VOCAB, (2, 24))
    with torch.no_grad():
        expected = model(input_ids=ids, labels=ids).loss
        torch.testing.assert_close(causal_lm_loss(model, ids), expected)
    wrapper = FusedLossModel(model, chunk_rows=8)
    loss = wrapper(ids)
    loss.backward()
    torch.testing.assert_close(loss.detach(), expected)
    assert all(p.grad is not None for p in wrapper.parameters())


def test_under_bf16_autocast_the_head_runs_in_bf16_and_matches_the_model():
    model = _model("Llama")
    ids = torch.randint(0, VOCAB, (2, 32), generator=torch.Generator().manual_seed(2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = model(input_ids=ids, labels=ids).loss
        expected.backward()
        want = _grads(model)
        got = causal_lm_loss(model, ids, chunk_rows=16)
        got.backward()
        have = _grads(model)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected.float(), rtol=2e-2, atol=2e-2)
    for name in ("lm_head.weight", "model.embed_tokens.weight"):
        assert have[name].dtype == torch.float32  # parameters' gradients stay in their own dtype
        cos = torch.nn.functional.cosine_similarity(have[name].flatten(), want[name].flatten(), dim=0)
        assert cos > 0.98, (name, float(cos))


@pytest.mark.slow
def test_a_compiled_body_gives_the_eager_loss_and_gradients_and_leaves_the_model_plain(cxx):
    """GPT-2 (learned positions, LayerNorm, GELU): the other body next to the loop test's Llama."""
    model = _model("GPT2")
    keys = list(model.state_dict())
    ids = torch.randint(0, VOCAB, (3, 40), generator=torch.Generator().manual_seed(3))
    wrapper = FusedLossModel(model)
    expected = wrapper(ids)
    expected.backward()
    want = _grads(model)
    wrapper.compile_body()
    got = wrapper(ids)
    got.backward()
    have = _grads(model)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for name in want:
        torch.testing.assert_close(have[name], want[name], rtol=1e-4, atol=1e-6, msg=name)
    assert list(model.state_dict()) == keys  # compiling did not wrap or rename the model
