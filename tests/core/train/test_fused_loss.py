"""core.train.fused_loss gives transformers' loss and gradients without materialising the logits."""

from __future__ import annotations

import pytest
import torch

from core import config as config_mod
from core.config import presets
from core.model.build import build_model
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


# --- fp16 with a loss scale: the gradient of the logits must not underflow (issue 13, item 5) ---

LOSS_SCALE = 65536.0  # GradScaler's initial scale
FP16_RTOL = 5e-3  # fp16 keeps ~3 decimal digits (2^-11 = 4.9e-4 per rounding); 10x that, summed


def _fp16_problem():
    """The real output layer's shape at the first steps of training: vocab 16000, 32 x 128 tokens,
    every fifth label ignored, weights at initializer_range 0.02 (near-uniform softmax, so each
    (softmax - one_hot) / count entry is about 6e-5 / 3277 = 1.9e-8, under fp16's 6e-8)."""
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(32 * 128, 64, generator=g)
    weight = 0.02 * torch.randn(16000, 64, generator=g)
    targets = torch.randint(0, 16000, (32 * 128,), generator=g)
    targets[::5] = IGNORE_INDEX
    return hidden, weight, targets


def _fp32_reference(hidden, weight, targets):
    h, w = hidden.double().requires_grad_(), weight.double().requires_grad_()
    torch.nn.functional.cross_entropy(h @ w.t(), targets).backward()
    return h.grad.float(), w.grad.float()


def _old_forward_cast(hidden, weight, targets):
    """Reproduces the computation fused_loss.py had before the fix: the logits' gradient divided by
    the token count and cast to fp16 in forward; backward multiplied by the scale afterwards
    (in fp32, so the scale cancels out of what is compared here)."""
    h16, w16 = hidden.half(), weight.half()
    logits = (h16 @ w16.t()).float()
    valid = targets != IGNORE_INDEX
    one_hot = torch.zeros_like(logits)
    one_hot[valid.nonzero().squeeze(1), targets[valid]] = 1.0
    grad = ((logits.softmax(1) - one_hot) * valid.unsqueeze(1) / int(valid.sum())).half()
    return (grad @ w16).float(), (grad.t() @ h16).float()


def _rel(got, want):
    return float((got - want).norm() / want.norm())


def _fp16_errors(grads, reference, targets):
    """Relative (Frobenius) errors of the hidden states' and output weight's gradients, and of the
    output rows no target names (their whole gradient is the softmax part)."""
    unnamed = torch.ones(reference[1].shape[0], dtype=torch.bool)
    unnamed[targets[targets != IGNORE_INDEX]] = False
    return {
        "hidden": _rel(grads[0], reference[0]),
        "weight": _rel(grads[1], reference[1]),
        "unnamed rows": _rel(grads[1][unnamed], reference[1][unnamed]),
    }


def test_fp16_autocast_with_a_loss_scale_gives_the_fp32_gradient():
    """Under fp16 autocast and a GradScaler-like scale of 65536, the unscaled gradients match an
    fp64 reference within FP16_RTOL. Before the fix 99.8 % of the logits' gradient entries
    were 0 and this failed: errors 0.019 (hidden), 0.010 (weight), 0.91 (unnamed rows), as
    the negative control below shows with the old computation."""
    hidden, weight, targets = _fp16_problem()
    reference = _fp32_reference(hidden, weight, targets)
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.float16):
        loss = linear_cross_entropy(h, w, None, targets)
    (loss * LOSS_SCALE).backward()
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(hidden @ weight.t(), targets), rtol=1e-3, atol=1e-3)
    errors = _fp16_errors((h.grad / LOSS_SCALE, w.grad / LOSS_SCALE), reference, targets)
    assert max(errors.values()) < FP16_RTOL, errors


def test_negative_control_the_old_fp16_cast_fails_the_same_check():
    hidden, weight, targets = _fp16_problem()
    errors = _fp16_errors(_old_forward_cast(hidden, weight, targets), _fp32_reference(hidden, weight, targets), targets)
    assert errors["hidden"] > FP16_RTOL and errors["weight"] > FP16_RTOL, errors
    assert errors["unnamed rows"] > 0.5, errors  # most of those rows' gradient was lost


def test_fp16_tensors_and_a_bias_match_the_reference():
    """Pure fp16 tensors (no autocast) take the same scaled path; a bias (GPT-J's head) too."""
    hidden, weight, targets = _fp16_problem()
    hidden, weight, targets = hidden[:1000], weight[:3000], targets[:1000].clamp(max=2999)
    bias = torch.zeros(3000)
    h, w, b = (x.double().requires_grad_() for x in (hidden, weight, bias))
    torch.nn.functional.cross_entropy(h @ w.t() + b, targets).backward()
    h16, w16, b16 = (x.half().requires_grad_() for x in (hidden, weight, bias))
    (linear_cross_entropy(h16, w16, b16, targets, chunk_rows=300) * LOSS_SCALE).backward()
    for got, want in ((h16.grad, h.grad), (w16.grad, w.grad), (b16.grad, b.grad)):
        assert got.dtype == torch.float16
        assert _rel(got.double() / LOSS_SCALE, want) < FP16_RTOL


def test_grad_scaler_on_the_model_under_fp16_autocast():
    """End to end as the loop runs fp16: GradScaler.scale(loss).backward(), unscale_, then the
    output layer's gradient is the fp32 one (tiny Llama at vocab 16000, 16 x 128 tokens).
    Before the fix: error 0.27, and the rows no target names lost all of their gradient."""
    model = _model("Llama")
    model.resize_token_embeddings(16000)
    ids = torch.randint(0, 16000, (16, 128), generator=torch.Generator().manual_seed(4))
    labels = ids.clone()
    labels[:, :10] = IGNORE_INDEX
    causal_lm_loss(model, ids, labels).backward()
    want = _grads(model)["lm_head.weight"]
    scaler = torch.amp.GradScaler("cpu", init_scale=LOSS_SCALE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with torch.autocast("cpu", dtype=torch.float16):
        loss = causal_lm_loss(model, ids, labels)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    got = model.lm_head.weight.grad
    assert torch.isfinite(got).all()
    assert _rel(got, want) < FP16_RTOL


def test_causal_lm_loss_matches_the_model_with_ignored_labels():
    model = _model("Llama")
    ids = torch.randint(0, VOCAB, (3, 40), generator=torch.Generator().manual_seed(5))
    labels = ids.clone()
    labels[0, :15] = IGNORE_INDEX  # a prompt not to learn
    labels[2, 30:] = IGNORE_INDEX  # padding at the end
    expected = model(input_ids=ids, labels=labels).loss
    expected.backward()
    want = _grads(model)
    got = causal_lm_loss(model, ids, labels, chunk_rows=17)
    got.backward()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for name, grad in _grads(model).items():
        torch.testing.assert_close(grad, want[name], rtol=1e-4, atol=1e-6, msg=name)
