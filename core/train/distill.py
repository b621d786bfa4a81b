"""Ensemble distillation (BabyLlama's recipe): a student learns from the labels and from the
averaged predictions of frozen teacher models.

    loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teachers_avg / T) || softmax(student / T))

The teachers' logits are averaged before the softmax (timinar/BabyLlama). T^2 keeps the soft
term's gradients on the scale of the hard one (Hinton et al., 2015). `distillation.kl_reduction`
says how the KL is reduced: `sequence` is timinar's `KLDivLoss(reduction="batchmean")` on
batch x seq x vocab logits (summed over every position, the last included, divided by the number
of sequences: seq_length times the per-token value); `token` is the mean per predicted token.

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

    def __init__(self, lm, teachers: list, alpha: float, temperature: float, vocab: int, kl_reduction: str = "token"):
        super().__init__()
        if kl_reduction not in KL_REDUCTIONS:
            raise ValueError(f"kl_reduction must be one of {KL_REDUCTIONS}, got {kl_reduction!r}")
        self.lm = lm
        self.alpha, self.temperature, self.vocab, self.kl_reduction = alpha, temperature, vocab, kl_reduction
        self._teachers = tuple(teachers)
        self._sums: torch.Tensor | None = None  # CE and KL of this logging window, on the device
        self._count = 0
        self._student_forward = student_logits

    def compile_body(self) -> None:
        """Run the student's forward compiled in training steps (training.torch_compile)."""
        self._student_forward = compiled(student_logits)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # Position i predicts token i+1: the CE (the HF `labels` loss) uses all but the last
        # position. The KL of `token` mode uses the same positions; `sequence` mode (timinar's)
        # compares every position, the last included. The KL uses the tokenizer's real
        # vocabulary only: a model may have spare output rows (vocab_size above the tokenizer's).
        every = self.kl_reduction == "sequence"
        logits = self._student_forward(self.lm, input_ids)
        labels = input_ids[:, 1:]
        shifted = logits[:, :-1]
        ce = F.cross_entropy(shifted.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))
        with torch.no_grad():
            teacher = self._teacher_logits(input_ids, every)
        student = (logits if every else shifted)[..., : self.vocab].float()
        kl = soft_kl(student, teacher, self.temperature, per=self.kl_reduction)
        # The soft term as it enters the loss (T^2 included): loss = alpha ce + (1 - alpha) kl.
        soft = self.temperature**2 * kl
        loss = self.alpha * ce + (1 - self.alpha) * soft
        parts = torch.stack([ce.detach(), soft.detach()])
        self._sums = parts if self._sums is None else self._sums + parts
        self._count += 1
        return loss

    def _teacher_logits(self, input_ids: torch.Tensor, every: bool) -> torch.Tensor:
        """The teachers' logits averaged (before any softmax), summed one teacher at a time so
        only one extra batch x seq x vocab tensor is alive."""
        total = None
        for teacher in self._teachers:
            out = teacher(input_ids=input_ids, use_cache=False).logits
            out = (out if every else out[:, :-1])[..., : self.vocab].float()
            total = out if total is None else total.add_(out)
        return total.div_(len(self._teachers))

    def window_metrics(self, reduce) -> dict[str, float]:
        """Mean CE and soft term (T^2 x KL, reduced by `kl_reduction`) since the last call, so that
        loss = alpha ce_loss + (1 - alpha) kl_loss (`reduce` averages a tensor over processes)."""
        if self._sums is None:
            return {}
        ce, kl = (reduce(self._sums) / self._count).tolist()
        self._sums, self._count = None, 0
        return {"ce_loss": ce, "kl_loss": kl}


def student_logits(lm, input_ids: torch.Tensor) -> torch.Tensor:
    """The student's logits, batch x seq x vocab."""
    return lm(input_ids=input_ids, use_cache=False).logits


KL_REDUCTIONS = ("sequence", "token")


def soft_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float, per: str = "token") -> torch.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)) over batch x seq x vocab logits: the
    mean per position (`token`) or the sum over positions divided by the sequences (`sequence`,
    what `KLDivLoss(reduction="batchmean")` gives on 3-D logits)."""
    vocab = student_logits.shape[-1]
    s = F.log_softmax(student_logits / temperature, dim=-1).reshape(-1, vocab)
    t = F.log_softmax(teacher_logits / temperature, dim=-1).reshape(-1, vocab)
    total = F.kl_div(s, t, log_target=True, reduction="sum")
    rows = student_logits.shape[0] if per == "sequence" else s.shape[0]
    return total / rows


def teacher_folders(names: list[str], ws: Workspace) -> list[Path]:
    """The model folder of each teacher (a run name or a folder); every missing one reported."""
    from core.model.folders import resolve_model

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
            raise UserError(
                f"distillation.teacher_models: the teacher {folder} uses a different tokenizer than "
                f"the student's {student_name!r}: {len(have):,} vs {len(want):,} tokens, "
                f"{differing:,} token ids differ; distil only from teachers trained with the "
                "student's data.tokenizer_path"
            )


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
            raise UserError(
                f"distillation.teacher_models: the teacher {folder} predicts {model.config.vocab_size:,} "
                f"tokens, fewer than the tokenizer's {vocab:,}"
            )
        teachers.append(model)
    return teachers


def distill_objective(cfg, ws: Workspace, tokenizer, device):
    """The loop's `objective` for a distillation run: checks and loads the teachers, then returns
    `lm -> DistillLossModel`."""
    d = cfg.distillation
    folders = teacher_folders(d.teachers, ws)
    check_tokenizers(tokenizer, cfg.data.tokenizer_path, folders)
    teachers = load_teachers(folders, device, len(tokenizer))
    return lambda lm: DistillLossModel(lm, teachers, d.alpha, d.temperature, len(tokenizer), d.kl_reduction)
