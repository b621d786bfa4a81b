"""core.train.distill: the loss is what the formula says, it pulls the student towards the
teachers, and teachers that cannot be used are refused before anything starts."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from core import config
from core.config.presets import find
from core.errors import UserError
from core.model.build import build_model
from core.tokenizer import load_tokenizer, train_tokenizer
from core.train.distill import DistillLossModel, check_teachers, load_teachers, soft_kl

VOCAB = 96


def _lm(seed: int):
    torch.manual_seed(seed)
    return build_model(config.load(find("tiny")).model, VOCAB).eval()


def _batch(seed: int = 0, rows: int = 4, length: int = 16) -> torch.Tensor:
    return torch.randint(0, VOCAB, (rows, length), generator=torch.Generator().manual_seed(seed))


def test_soft_kl_is_the_mean_per_token_kl_of_the_softened_distributions():
    student, teacher = torch.randn(2, 5, 7), torch.randn(2, 5, 7)
    p = F.softmax(teacher / 2.0, -1)
    expected = (p * (p.log() - F.log_softmax(student / 2.0, -1))).sum(-1).mean()
    assert torch.allclose(soft_kl(student, teacher, 2.0), expected, atol=1e-6)
    assert soft_kl(student, teacher, 2.0) > 0


def test_kl_term_is_zero_when_the_student_is_its_teacher():
    lm = _lm(0)
    wrapped = DistillLossModel(lm, [copy.deepcopy(lm)], alpha=0.5, temperature=2.0, vocab=VOCAB)
    with torch.no_grad():
        loss = wrapped(_batch())
    metrics = wrapped.window_metrics(lambda x: x)
    assert abs(metrics["kl_loss"]) < 1e-6
    assert loss.item() == pytest.approx(0.5 * metrics["ce_loss"], rel=1e-5)
    assert wrapped.window_metrics(lambda x: x) == {}  # the window was consumed


def test_alpha_weighs_labels_against_teachers_and_the_teachers_are_averaged():
    student, teachers, batch = _lm(0), [_lm(1), _lm(2)], _batch()
    with torch.no_grad():
        logits = student(input_ids=batch).logits[:, :-1]
        ce = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        avg = torch.stack([t(input_ids=batch).logits[:, :-1] for t in teachers]).mean(0)
        kl = soft_kl(logits, avg, 2.0)
        only_labels = DistillLossModel(student, teachers, alpha=1.0, temperature=2.0, vocab=VOCAB)(batch)
        only_teachers = DistillLossModel(student, teachers, alpha=0.0, temperature=2.0, vocab=VOCAB)(batch)
    assert only_labels.item() == pytest.approx(ce.item(), rel=1e-5)
    assert only_teachers.item() == pytest.approx(4.0 * kl.item(), rel=1e-5)  # T^2 = 4


def _timinar_compute_loss(student, teachers, input_ids, alpha, temperature):
    """timinar/BabyLlama's DistillationTrainer.compute_loss, re-implemented without core: the HF
    `labels` loss of the student plus KLDivLoss(batchmean) of the student's log-softmax against
    the softmax of the teachers' averaged logits, at temperature T, times T^2."""
    inputs = {"input_ids": input_ids, "labels": input_ids}
    out = student(**inputs)
    with torch.no_grad():
        avg = torch.stack([t(**inputs).logits for t in teachers]).mean(dim=0)
    soft = (
        torch.nn.KLDivLoss(reduction="batchmean")(
            F.log_softmax(out.logits / temperature, dim=-1), F.softmax(avg / temperature, dim=-1)
        )
        * temperature**2
    )
    return alpha * out.loss + (1.0 - alpha) * soft, out.loss, soft


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_sequence_reduction_is_timinars_compute_loss(alpha):
    student, teachers, batch = _lm(0), [_lm(1), _lm(2)], _batch(length=32)
    with torch.no_grad():
        expected, ce, soft = _timinar_compute_loss(student, teachers, batch, alpha, 2.0)
        wrapped = DistillLossModel(student, teachers, alpha=alpha, temperature=2.0, vocab=VOCAB, kl_reduction="sequence")
        got = wrapped(batch)
    assert abs(got.item() - expected.item()) < 1e-5
    logged = wrapped.window_metrics(lambda x: x)
    # Logged on the loss's own scale: loss = alpha ce_loss + (1 - alpha) kl_loss.
    assert logged["ce_loss"] == pytest.approx(ce.item(), abs=1e-5)
    assert logged["kl_loss"] == pytest.approx(soft.item(), abs=1e-5)
    assert got.item() == pytest.approx(alpha * logged["ce_loss"] + (1 - alpha) * logged["kl_loss"], abs=1e-5)


def test_token_reduction_is_the_mean_per_predicted_token():
    student, teachers, batch = _lm(0), [_lm(1), _lm(2)], _batch(length=32)
    with torch.no_grad():
        logits = student(input_ids=batch).logits[:, :-1]
        avg = torch.stack([t(input_ids=batch).logits[:, :-1] for t in teachers]).mean(0)
        p = F.softmax(avg / 2.0, -1)
        per_token = (p * (p.log() - F.log_softmax(logits / 2.0, -1))).sum(-1)  # batch x (seq - 1)
        ce = F.cross_entropy(logits.reshape(-1, VOCAB), batch[:, 1:].reshape(-1))
        got = DistillLossModel(student, teachers, alpha=0.5, temperature=2.0, vocab=VOCAB, kl_reduction="token")(batch)
        seq = DistillLossModel(student, teachers, alpha=0.0, temperature=2.0, vocab=VOCAB, kl_reduction="sequence")(batch)
    expected = 0.5 * ce + 0.5 * 4.0 * per_token.mean()
    assert abs(got.item() - expected.item()) < 1e-5
    # The two modes differ by about seq_length: sequence sums the positions (the last one too).
    assert seq.item() > 20 * 4.0 * per_token.mean().item()


def test_an_unknown_kl_reduction_is_refused():
    with pytest.raises(ValueError, match="kl_reduction"):
        DistillLossModel(_lm(0), [_lm(1)], alpha=0.5, temperature=2.0, vocab=VOCAB, kl_reduction="batch")


def test_teachers_are_not_part_of_the_trained_module():
    wrapped = DistillLossModel(_lm(0), [_lm(1)], alpha=0.5, temperature=2.0, vocab=VOCAB)
    assert len(list(wrapped.parameters())) == len(list(_lm(0).parameters()))
    assert all(k.startswith("lm.") for k in wrapped.state_dict())


def test_distilling_moves_the_student_towards_the_teacher():
    student, teacher = _lm(0), _lm(1)
    for p in teacher.parameters():  # a confident teacher: a far-from-uniform target
        p.data.mul_(3.0)
    wrapped = DistillLossModel(student.train(), [teacher], alpha=0.0, temperature=1.0, vocab=VOCAB)
    optimizer = torch.optim.AdamW(wrapped.parameters(), lr=3e-3)
    kls = []
    for step in range(25):
        loss = wrapped(_batch(step % 3))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        kls.append(wrapped.window_metrics(lambda x: x)["kl_loss"])
    assert kls[-1] < 0.5 * kls[0]


def _save(lm, tokenizer, folder):
    lm.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_teachers_must_share_the_students_tokenizer(ready_workspace, tmp_path):
    tok = load_tokenizer("tok", ready_workspace)
    train_tokenizer(ready_workspace.corpus_dir("syn"), ready_workspace.tokenizer_dir("other"), vocab_size=400, progress=False)
    other = load_tokenizer("other", ready_workspace)
    model = build_model(config.load(find("tiny")).model, len(tok))
    good = _save(model, tok, tmp_path / "good")
    bad = _save(model, other, tmp_path / "bad")
    base = ["data.train_path=syn", "data.tokenizer_path=tok"]

    cfg = config.load(find("tiny"), [*base, f"distillation.teacher_models={good}"])
    assert check_teachers(cfg, ready_workspace) == [good]
    with pytest.raises(UserError) as err:
        check_teachers(config.load(find("tiny"), [*base, f"distillation.teacher_models={good},{bad}"]), ready_workspace)
    assert "distillation.teacher_models" in str(err.value) and str(bad) in str(err.value)
    assert "'tok'" in str(err.value) and "token ids differ" in str(err.value)
    with pytest.raises(UserError, match="no run or folder"):
        check_teachers(config.load(find("tiny"), [*base, "distillation.teacher_models=nope,alsonope"]), ready_workspace)


def test_a_teacher_must_predict_the_whole_vocabulary(tmp_path):
    small = build_model(config.load(find("tiny")).model, 50)
    small.save_pretrained(tmp_path / "small")
    with pytest.raises(UserError, match="predicts 50 tokens, fewer than the tokenizer's 96"):
        load_teachers([tmp_path / "small"], "cpu", VOCAB)
    (teacher,) = load_teachers([_save_model(tmp_path / "ok")], "cpu", VOCAB)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def _save_model(folder):
    _lm(3).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_a_compiled_student_gives_the_eager_loss_and_gradients(cxx):
    student = _lm(0).train()
    wrapped = DistillLossModel(student, [_lm(1)], alpha=0.5, temperature=2.0, vocab=VOCAB)
    batch = _batch()
    expected = wrapped(batch)
    expected.backward()
    want = {n: p.grad.clone() for n, p in student.named_parameters()}
    student.zero_grad(set_to_none=True)
    wrapped.compile_body()
    got = wrapped(batch)
    got.backward()
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for name, p in student.named_parameters():
        torch.testing.assert_close(p.grad, want[name], rtol=1e-4, atol=1e-6, msg=name)
    assert wrapped.window_metrics(lambda x: x)["ce_loss"] > 0
