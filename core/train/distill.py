"""Ensemble distillation (BabyLlama's recipe): a student learns from the labels and from the
averaged predictions of frozen teacher models.

    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teachers_avg / T) || softmax(student / T))

The teachers' logits are averaged before the softmax (timinar/BabyLlama). T^2 keeps the soft
term's gradients on the scale of the hard one (Hinton et al., 2015). KL is the mean per predicted
token (timinar's `batchmean` divides by sequences instead, i.e. it is seq_length times larger).

`DistillLossModel` plays the role `FusedLossModel` plays for plain training: what the loop
prepares with accelerate, whose forward returns the loss. Must not import gradio.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from core.errors import UserError
from core.train.fused_loss import compiled
from core.workspace import Workspace


class DistillLossModel(torch.nn.Module):
    """Wraps the student `lm`; `forward(input_ids)` returns the distillation loss.

    The teachers are kept outside the module tree on purpose: they are not trained, not saved
    with the student, and DDP must not see them.
    """

    def __init__(self, lm, teachers: list, alpha: float, temperature: float, vocab: int):
        super().__init__()
        self.lm = lm
        self.alpha, self.temperature, self.vocab = alpha, temperature, vocab
        self._teachers = tuple(teachers)
        self._sums: torch.Tensor | None = None  # CE and KL of this logging window, on the device
        self._count = 0
        self._student_forward = student_logits

    def compile_body(self) -> None:
        """Run the student's forward compiled in training steps (training.torch_compile)."""
        self._student_forward = compiled(student_logits)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Position i predicts token i+1. The KL uses the tokenizer's real vocabulary only: a model
        # may have spare output rows (a preset's vocab_size above the tokenizer's size).
        logits = self._student_forward(self.lm, input_ids)[:, :-1]
        labels = input_ids[:, 1:]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))
        with torch.no_grad():
            teacher = torch.stack([t(input_ids=input_ids, use_cache=False).logits[:, :-1, :self.vocab].float()
                                   for t in self._teachers]).mean(0)
        kl = soft_kl(logits[..., :self.vocab].float(), teacher, self.temperature)
        loss = self.alpha * ce + (1 - self.alpha) * self.temperature ** 2 * kl
        parts = torch.stack([ce.detach(), kl.detach()])
        self._sums = parts if self._sums is None else self._sums + parts
        self._count += 1
        return loss

    def window_metrics(self, reduce) -> dict[str, float]:
        """Mean CE and KL since the last call (`reduce` averages a tensor over processes)."""
        if self._sums is None:
            return {}
        ce, kl = (reduce(self._sums) / self._count).tolist()
        self._sums, self._count = None, 0
        return {"ce_loss": ce, "kl_loss": kl}


def student_logits(lm, input_ids: torch.Tensor) -> torch.Tensor:
    """The student's logits, batch x seq x vocab."""
    return lm(input_ids=input_ids, use_cache=False).logits


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)), the mean over all positions."""
    s = F.log_softmax(student_logits / temperature, dim=-1).reshape(-1, student_logits.shape[-1])
    t = F.log_softmax(teacher_logits / temperature, dim=-1).reshape(-1, teacher_logits.shape[-1])
    return F.kl_div(s, t, log_target=True, reduction="batchmean")  # batchmean over flattened rows


def teacher_folders(names: list[str], ws: Workspace) -> list[Path]:
    """The model folder of each teacher (a run name or a folder); every missing one reported."""
    from core.modelio import resolve_model

    if not names:
        raise UserError("distillation.teacher_models: no teachers given; pass --teacher-models RUN_OR_PATH,...")
    folders, problems = [], []
    for name in names:
        try:
            folders.append(resolve_model(name, ws))
        except UserError as err:
            problems.append(str(err))
    if problems:
        raise UserError("distillation.teacher_models: " + "; ".join(problems))
    return folders


def check_tokenizers(student_tokenizer, student_name: str, teachers: list[Path]) -> None:
    """Teachers and student must map the same tokens to the same ids (not just have the same size)."""
    from transformers import AutoTokenizer

    want = student_tokenizer.get_vocab()
    for folder in teachers:
        have = AutoTokenizer.from_pretrained(str(folder)).get_vocab()
        if have != want:
            differing = sum(1 for token, i in want.items() if have.get(token) != i) + len(set(have) - set(want))
            raise UserError(f"distillation.teacher_models: the teacher {folder} uses a different tokenizer than "
                            f"the student's {student_name!r}: {len(have):,} vs {len(want):,} tokens, "
                            f"{differing:,} token ids differ; distil only from teachers trained with the "
                            "student's data.tokenizer_path")


def check_teachers(cfg, ws: Workspace) -> list[Path]:
    """Everything about the teachers that can fail, checked before a distillation run starts:
    each exists and shares the student's tokenizer. Returns their model folders."""
    from core.tokenizer import load_tokenizer

    folders = teacher_folders(cfg.distillation.teachers, ws)
    check_tokenizers(load_tokenizer(cfg.data.tokenizer_path, ws), cfg.data.tokenizer_path, folders)
    return folders


def load_teachers(folders: list[Path], device, vocab: int) -> list:
    """Frozen teachers in eval mode on `device`; each must predict at least the tokenizer's vocab."""
    from transformers import AutoModelForCausalLM

    teachers = []
    for folder in folders:
        model = AutoModelForCausalLM.from_pretrained(str(folder)).to(device).eval()
        model.requires_grad_(False)
        if model.config.vocab_size < vocab:
            raise UserError(f"distillation.teacher_models: the teacher {folder} predicts {model.config.vocab_size:,} "
                            f"tokens, fewer than the tokenizer's {vocab:,}")
        teachers.append(model)
    return teachers


def distill_objective(cfg, ws: Workspace, tokenizer, device):
    """The loop's `objective` for a distillation run: checks and loads the teachers, then returns
    `lm -> DistillLossModel`."""
    d = cfg.distillation
    folders = teacher_folders(d.teachers, ws)
    check_tokenizers(tokenizer, cfg.data.tokenizer_path, folders)
    teachers = load_teachers(folders, device, len(tokenizer))
    return lambda lm: DistillLossModel(lm, teachers, d.alpha, d.temperature, len(tokenizer))
