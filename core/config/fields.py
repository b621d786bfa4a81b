"""The run configuration's typed sections (`data`, `model`, `training`, `logging`, `distillation`,
`eval`) and their field metadata (help, min, max, choices): the single source for `--help`, the
UI forms and validation. Must not import torch, transformers or gradio.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

from core import bounds as B


def _f(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple | None = None,
    min_exclusive: bool = False,
    allow_nonfinite: bool = False,
) -> Any:
    """A dataclass field whose metadata drives --help, UI forms and validation.

    Float fields must be finite unless `allow_nonfinite` (NaN fails every comparison, so the
    bounds alone would let it through, and inf passes any field without a maximum)."""
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "choices": choices,
        "min_exclusive": min_exclusive,
        "allow_nonfinite": allow_nonfinite,
    }
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """Where the text and the tokenizer come from, and how text is cut into training sequences."""

    tokenizer_path: str = _f("", "Tokenizer: a workspace tokenizer name, a tokenizer folder, or a tokenizer.json file.")
    train_path: str = _f("", "Training text: a workspace corpus name (uses its train/ split) or a folder of text files.")
    eval_path: str = _f("", "Evaluation text: a corpus name or folder; empty = the dev/ split of the training corpus.")
    seq_length: int = _f(128, "Tokens per training sequence (context length).", min=8, max=B.MAX_SEQ)
    eval_samples: int = _f(256, "Sequences of the eval split used for each evaluation (0 = all).", min=0, max=B.MAX_ITEMS)
    random_offset: bool = _f(
        False,
        "Start each training block at a random offset (0 to seq_length - 1 tokens) each "
        "time it is drawn, as timinar/BabyLlama's random_chunk; drawn from training.seed "
        "and the epoch, so resume stays exact. One block fewer per epoch.",
    )


@dataclass
class ModelConfig:
    """The architecture: one of the three families the guide supports and its shape."""

    type: str = _f(
        "Llama",
        "Architecture family: Llama (RoPE, SwiGLU, RMSNorm), GPT2 (learned positions, GELU) or GPTJ (RoPE, GELU).",
        choices=("Llama", "GPT2", "GPTJ"),
    )
    name: str = _f("", "Model (and run) name; empty = derived from the preset.")
    hidden_size: int = _f(192, "Model width (embedding dimension); must be divisible by n_head.", min=8, max=B.MAX_WIDTH)
    intermediate_size: int = _f(
        768, "Feed-forward width (about 2.67x hidden for Llama, 4x for GPT-2/GPT-J).", min=8, max=B.MAX_WIDTH
    )
    n_layer: int = _f(6, "Number of transformer layers.", min=1, max=256)
    n_head: int = _f(6, "Number of attention heads.", min=1, max=256)
    max_position_embeddings: int = _f(
        512, "Longest sequence the model can see; must be >= data.seq_length.", min=8, max=B.MAX_POSITIONS
    )
    vocab_size: int = _f(0, "Vocabulary size; 0 = take it from the tokenizer (recommended).", min=0, max=B.MAX_VOCAB)
    tie_word_embeddings: bool = _f(False, "Share the input embedding with the output layer (saves vocab x hidden parameters).")
    dropout: float = _f(0.0, "Dropout on attention and residual paths (0 is usual for pre-training).", min=0.0, max=0.9)
    initializer_range: float = _f(0.02, "Standard deviation of the initial weights.", min=0.0, max=1.0, min_exclusive=True)


@dataclass
class TrainingConfig:
    """The optimisation: the guide's keys plus the transformers names for the rest."""

    lr: float = _f(3e-4, "Peak learning rate (AdamW; 1e-4 to 1e-3 is usual).", min=0.0, max=B.MAX_LR, min_exclusive=True)
    batch_size: int = _f(32, "Sequences per device per micro-step.", min=1, max=B.MAX_BATCH)
    num_epochs: int = _f(1, "Passes over the training data (ignored when max_steps > 0).", min=1, max=B.MAX_EPOCHS)
    max_steps: int = _f(0, "Optimizer steps to run; > 0 wins over num_epochs.", min=0, max=B.MAX_STEPS)
    gradient_accumulation_steps: int = _f(
        1, "Micro-batches per optimizer step (effective batch = batch_size x this x devices).", min=1, max=B.MAX_BATCH
    )
    warmup_steps: int = _f(0, "Linear warm-up steps (about 5-15 % of the total is usual).", min=0, max=B.MAX_STEPS)
    lr_scheduler: str = _f("cosine", "Learning-rate schedule after warm-up.", choices=("cosine", "linear", "constant"))
    weight_decay: float = _f(0.1, "AdamW weight decay (not applied to norms and biases).", min=0.0, max=1.0)
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 disables clipping.", min=0.0, max=B.MAX_GRAD_NORM)
    fp16: bool = _f(False, "float16 mixed precision (CUDA only; falls back to fp32 elsewhere with a warning).")
    bf16: bool = _f(False, "bfloat16 mixed precision (GPUs with bf16 support; falls back to float32 elsewhere with a warning).")
    torch_compile: bool = _f(
        False,
        "Compile the model's training forward with torch.compile (CUDA, or CPU with a C++ compiler; "
        "runs eagerly elsewhere, with a warning). "
        "The first step takes a minute or more while it compiles.",
    )
    seed: int = _f(42, "Seed for weights, data order and sampling; same seed = same run.", min=0, max=B.MAX_SEED)
    logging_steps: int = _f(10, "Log training metrics every N optimizer steps.", min=1, max=B.MAX_STEPS)
    eval_steps: int = _f(200, "Evaluate on the eval split every N steps (0 = only at the end).", min=0, max=B.MAX_STEPS)
    save_steps: int = _f(500, "Write a resumable checkpoint every N steps (0 = only at the end).", min=0, max=B.MAX_STEPS)
    save_total_limit: int = _f(2, "Keep at most N checkpoints, oldest removed first (0 = keep all).", min=0, max=100_000)
    dataloader_num_workers: int = _f(0, "Background processes loading batches (0 = in the training process).", min=0, max=64)
    checkpoint_words: str = _f(
        "",
        "Extra checkpoints when words seen first reach these counts, "
        "kept whatever save_total_limit says: "
        "babylm (chck_1M ... chck_10M, chck_20M ... chck_100M, chck_200M ... chck_1000M) or "
        "increasing counts such as 10k,20k or 1M,2M (empty = none).",
    )
    babylm_track: str = _f(
        "none",
        "BabyLM track whose word budget the run must respect: strict-small = 100M words seen "
        "(10M x 10 epochs), strict = 1B; a run passing it warns once. A track with "
        "checkpoint_words empty also sets checkpoint_words=babylm (the checkpoints "
        "a submission hands in).",
        choices=("none", "strict-small", "strict"),
    )
    keep_best: str = _f(
        "none",
        "Model kept at the end: none = the last step's; eval_loss = the checkpoint with the "
        "lowest eval loss (HF load_best_model_at_end); every evaluation then also saves "
        "a checkpoint, and <run>/best.json records its step.",
        choices=("none", "eval_loss"),
    )
    stop_at_budget: bool = _f(
        False, "End the run (checkpoint, status finished) at the step where words seen reach the babylm_track budget."
    )


@dataclass
class LoggingConfig:
    """Where results go and which trackers see them."""

    output_dir: str = _f("./models/", "Parent folder of run folders; relative paths are inside the workspace.")
    wandb: bool = _f(False, "Also log to Weights & Biases (needs `pip install wandb`).")
    project: str = _f("babyllama", "W&B project name.")
    run_name: str = _f("", "W&B run name; empty = the model name.")
    tensorboard: bool = _f(False, "Also write TensorBoard event files to <run>/tensorboard/ (needs `pip install tensorboard`).")


@dataclass
class DistillationConfig:
    """Ensemble distillation (`babyllama distill`): loss = alpha x CE(labels)
    + (1 - alpha) x T^2 x KL(teachers' averaged distribution at temperature T || the student's)."""

    teacher_models: str = _f(
        "",
        "Teachers: comma-separated run names or model folders sharing the student's tokenizer "
        "(a YAML list works too); empty = plain training.",
    )
    alpha: float = _f(
        0.5, "Weight of the cross-entropy on the labels; 1 - alpha goes to the teachers' KL term.", min=0.0, max=1.0
    )
    temperature: float = _f(
        2.0,
        "Softmax temperature T for teachers and student in the KL term (scaled by T^2).",
        min=0.0,
        max=100.0,
        min_exclusive=True,
    )
    kl_reduction: str = _f(
        "token",
        "How the KL term is reduced: sequence = timinar/BabyLlama's KLDivLoss(batchmean) "
        "(summed over every position of a sequence, averaged over sequences: seq_length "
        "times larger); token = the mean per predicted token.",
        choices=("sequence", "token"),
    )

    @property
    def teachers(self) -> list[str]:
        return [t.strip() for t in self.teacher_models.split(",") if t.strip()]


@dataclass
class EvalConfig:
    """Evaluation during training beyond the eval loss, logged against tokens and words seen: minimal
    pairs every N steps (`pairs_acc`, mean accuracy over paradigms) and the BabyLM fast suite
    (`babylm/<folder>`, the official rule)."""

    pairs_every: int = _f(
        0,
        "Score the minimal pairs every N optimizer steps, at step 0 and at the end (0 = never); logged as pairs_acc.",
        min=0,
        max=B.MAX_STEPS,
    )
    pairs_dir: str = _f("", "Folder of BLiMP-format .jsonl files, one per paradigm; empty = <workspace>/blimp/.")
    pairs_limit: int = _f(0, "Pairs scored per paradigm each time (0 = all; 100-200 keeps it quick).", min=0, max=B.MAX_ITEMS)
    babylm_fast_dir: str = _f(
        "",
        "The official BabyLM evaluation_data/ (its fast_eval/ is used) or fast_eval/ "
        "folder: the fast suite, scored by the official rule at step 0, at every "
        "chck_ checkpoint and at the end; logged as babylm/<folder>. Empty = off.",
    )
    babylm_every: int = _f(
        0,
        "Also score the BabyLM fast suite every N optimizer steps (0 = only at step 0, the chck_ checkpoints and the end).",
        min=0,
        max=B.MAX_STEPS,
    )
    babylm_limit: int = _f(0, "Items scored per file of the fast suite each time (0 = all).", min=0, max=B.MAX_ITEMS)


@dataclass
class RunConfig:
    """A whole run: the four sections of the guide's YAML (+ `distillation`, `eval`)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def field_limits(meta, choice_sep: str = "|") -> list[str]:
    """A field's allowed values as short phrases (`config keys`, docs/config.md, where a table
    cell cannot hold "|": `choice_sep`)."""
    parts = [choice_sep.join(meta["choices"])] if meta.get("choices") else []
    if meta.get("min") is not None:
        parts.append(f"{'>' if meta.get('min_exclusive') else '>='} {meta['min']:g}")
    if meta.get("max") is not None:
        parts.append(f"<= {meta['max']:g}")
    return parts


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(RunConfig)}  # type: ignore[misc]

# The guide's command-line flags whose names differ from the config key they set.
FLAG_ALIASES = {
    "model_name": "model.name",
    "wandb_project": "logging.project",
    "wandb_run_name": "logging.run_name",
    "model_type": "model.type",
    "teacher_models": "distillation.teacher_models",
}


def field_specs() -> dict[str, dataclasses.Field]:
    """Every config field by dotted path (`training.lr`), in declaration order."""
    return {f"{section}.{f.name}": f for section, cls in SECTIONS.items() for f in fields(cls)}


def field_types(cls: type) -> dict[str, type]:
    """A section's field types by name (the annotations resolved: `int`, not "int")."""
    return get_type_hints(cls)
