"""The BabyLlama 2023 recipe (timinar/BabyLlama, docs/reproduce.md) as data: its steps, their kinds,
presets, overrides and dependencies, at the published scale and at `tiny` scale (tests, laptops).
Must not import gradio, studio or torch; the chain that runs these steps is core.recipe.chain.
"""

from __future__ import annotations

from dataclasses import dataclass

NAME = "babyllama-2023"
SCALES = ("published", "tiny")
VOCAB = {"published": 16000, "tiny": 1000}  # the guide's 16k BPE; tiny: a laptop's
# `tiny`: every model the `tiny` preset for a few steps (NOT the published recipe; recorded so).
TINY_PRESET = "tiny"
TINY_OVERRIDES = (
    "training.max_steps=12",
    "training.eval_steps=6",
    "training.save_steps=6",
    "training.logging_steps=3",
    "data.eval_samples=16",
)
# timinar's distillation: alpha 0.5 on the labels' CE, T = 2, KLDivLoss(batchmean) = `sequence`.
DISTILL_OVERRIDES = ("distillation.alpha=0.5", "distillation.temperature=2.0", "distillation.kl_reduction=sequence")


@dataclass(frozen=True)
class Step:
    """One step of the chain. `kind`: gpu-check | tokenize | train | distill | eval | table.
    `model` names the run a train/distill step makes (the run is `<chain>-<model>`), or the run an
    eval step scores; `depends_on` lists step names that must be done first."""

    name: str
    kind: str
    preset: str = ""
    model: str = ""
    overrides: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


TEACHERS = ("gpt2-705M", "llama-360M")
STUDENT = "llama-58M"
MODELS = (*TEACHERS, STUDENT)

STEPS: tuple[Step, ...] = (
    Step("gpu-check", "gpu-check"),
    Step("tokenizer", "tokenize", depends_on=("gpu-check",)),
    Step("gpt2-705M", "train", "babyllama-2023-gpt2-705M", "gpt2-705M", depends_on=("tokenizer",)),
    Step("llama-360M", "train", "babyllama-2023-llama-360M", "llama-360M", depends_on=("tokenizer",)),
    Step("llama-58M", "distill", "babyllama-2023-llama-58M", "llama-58M", DISTILL_OVERRIDES, depends_on=TEACHERS),
    *(Step(f"eval-{m}", "eval", model=m, depends_on=(m,)) for m in MODELS),
    Step("table", "table", depends_on=tuple(f"eval-{m}" for m in MODELS)),
)


def preset_for(step: Step, scale: str) -> str:
    """The preset a model step trains at `scale`."""
    return TINY_PRESET if scale == "tiny" else step.preset


def overrides_for(step: Step, scale: str) -> tuple[str, ...]:
    """The step's own overrides, plus the tiny scale's few steps."""
    return step.overrides + (TINY_OVERRIDES if scale == "tiny" else ())
