"""Typed run configuration: the guide's `data`, `model`, `training` and `logging` sections,
`distillation` for runs that learn from teacher models, and `eval` for evaluation during training.

Field metadata (help, min, max, choices) is the single source for CLI help, UI forms and validation.
`load(path, overrides)` merges YAML with guide-style flags and `section.key=value` overrides and
raises one `ConfigError` listing every problem. Must not import torch, transformers or gradio.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from core import bounds as B
from core import challenge, yamlio
from core.errors import ConfigError, Issue


def _f(default: Any, help: str, *, min: float | None = None, max: float | None = None,
       choices: tuple | None = None, min_exclusive: bool = False, allow_nonfinite: bool = False) -> Any:
    """A dataclass field whose metadata drives --help, UI forms and validation.

    Float fields must be finite unless `allow_nonfinite` (NaN fails every comparison, so the
    bounds alone would let it through, and inf passes any field without a maximum)."""
    meta = {"help": help, "min": min, "max": max, "choices": choices, "min_exclusive": min_exclusive,
            "allow_nonfinite": allow_nonfinite}
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """Where the text and the tokenizer come from, and how text is cut into training sequences."""

    tokenizer_path: str = _f("", "Tokenizer: a workspace tokenizer name, a tokenizer folder, or a tokenizer.json file.")
    train_path: str = _f("", "Training text: a workspace corpus name (uses its train/ split) or a folder of text files.")
    eval_path: str = _f("", "Evaluation text: a corpus name or folder; empty = the dev/ split of the training corpus.")
    seq_length: int = _f(128, "Tokens per training sequence (context length).", min=8, max=B.MAX_SEQ)
    eval_samples: int = _f(256, "Sequences of the eval split used for each evaluation (0 = all).", min=0, max=B.MAX_ITEMS)
    random_offset: bool = _f(False, "Start each training block at a random offset (0 to seq_length - 1 tokens) each "
                                    "time it is drawn, as timinar/BabyLlama's random_chunk; drawn from training.seed "
                                    "and the epoch, so resume stays exact. One block fewer per epoch.")


@dataclass
class ModelConfig:
    """The architecture: one of the three families the guide supports and its shape."""

    type: str = _f("Llama", "Architecture family: Llama (RoPE, SwiGLU, RMSNorm), GPT2 (learned positions, GELU) "
                            "or GPTJ (RoPE, GELU).",
                   choices=("Llama", "GPT2", "GPTJ"))
    name: str = _f("", "Model (and run) name; empty = derived from the preset.")
    hidden_size: int = _f(192, "Model width (embedding dimension); must be divisible by n_head.", min=8, max=B.MAX_WIDTH)
    intermediate_size: int = _f(768, "Feed-forward width (about 2.67x hidden for Llama, 4x for GPT-2/GPT-J).",
                                min=8, max=B.MAX_WIDTH)
    n_layer: int = _f(6, "Number of transformer layers.", min=1, max=256)
    n_head: int = _f(6, "Number of attention heads.", min=1, max=256)
    max_position_embeddings: int = _f(512, "Longest sequence the model can see; must be >= data.seq_length.",
                                      min=8, max=B.MAX_POSITIONS)
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
    gradient_accumulation_steps: int = _f(1, "Micro-batches per optimizer step (effective batch = batch_size x this x devices).",
                                          min=1, max=B.MAX_BATCH)
    warmup_steps: int = _f(0, "Linear warm-up steps (about 5-15 % of the total is usual).", min=0, max=B.MAX_STEPS)
    lr_scheduler: str = _f("cosine", "Learning-rate schedule after warm-up.", choices=("cosine", "linear", "constant"))
    weight_decay: float = _f(0.1, "AdamW weight decay (not applied to norms and biases).", min=0.0, max=1.0)
    max_grad_norm: float = _f(1.0, "Gradient clipping norm; 0 disables clipping.", min=0.0, max=B.MAX_GRAD_NORM)
    fp16: bool = _f(False, "float16 mixed precision (CUDA only; falls back to fp32 elsewhere with a warning).")
    bf16: bool = _f(False, "bfloat16 mixed precision (GPUs with bf16 support; falls back to float32 elsewhere with a warning).")
    torch_compile: bool = _f(False, "Compile the model's training forward with torch.compile (CUDA, or CPU with a C++ compiler; "
                                    "runs eagerly elsewhere, with a warning). "
                                    "The first step takes a minute or more while it compiles.")
    seed: int = _f(42, "Seed for weights, data order and sampling; same seed = same run.", min=0, max=B.MAX_SEED)
    logging_steps: int = _f(10, "Log training metrics every N optimizer steps.", min=1, max=B.MAX_STEPS)
    eval_steps: int = _f(200, "Evaluate on the eval split every N steps (0 = only at the end).", min=0, max=B.MAX_STEPS)
    save_steps: int = _f(500, "Write a resumable checkpoint every N steps (0 = only at the end).", min=0, max=B.MAX_STEPS)
    save_total_limit: int = _f(2, "Keep at most N checkpoints, oldest removed first (0 = keep all).", min=0, max=100_000)
    dataloader_num_workers: int = _f(0, "Background processes loading batches (0 = in the training process).", min=0, max=64)
    checkpoint_words: str = _f("", "Extra checkpoints when words seen first reach these counts, "
                                   "kept whatever save_total_limit says: "
                                   "babylm (chck_1M ... chck_10M, chck_20M ... chck_100M, chck_200M ... chck_1000M) or "
                                   "increasing counts such as 10k,20k or 1M,2M (empty = none).")
    babylm_track: str = _f("none", "BabyLM track whose word budget the run must respect: strict-small = 100M words seen "
                                   "(10M x 10 epochs), strict = 1B; a run passing it warns once. A track with "
                                   "checkpoint_words empty also sets checkpoint_words=babylm (the checkpoints "
                                   "a submission hands in).",
                           choices=("none", "strict-small", "strict"))
    keep_best: str = _f("none", "Model kept at the end: none = the last step's; eval_loss = the checkpoint with the "
                                "lowest eval loss (HF load_best_model_at_end); every evaluation then also saves "
                                "a checkpoint, and <run>/best.json records its step.",
                        choices=("none", "eval_loss"))
    stop_at_budget: bool = _f(False, "End the run (checkpoint, status finished) at the step where words seen reach "
                                     "the babylm_track budget.")


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

    teacher_models: str = _f("", "Teachers: comma-separated run names or model folders sharing the student's tokenizer "
                                 "(a YAML list works too); empty = plain training.")
    alpha: float = _f(0.5, "Weight of the cross-entropy on the labels; 1 - alpha goes to the teachers' KL term.",
                      min=0.0, max=1.0)
    temperature: float = _f(2.0, "Softmax temperature T for teachers and student in the KL term (scaled by T^2).",
                            min=0.0, max=100.0, min_exclusive=True)
    kl_reduction: str = _f("token", "How the KL term is reduced: sequence = timinar/BabyLlama's KLDivLoss(batchmean) "
                                    "(summed over every position of a sequence, averaged over sequences: seq_length "
                                    "times larger); token = the mean per predicted token.",
                           choices=("sequence", "token"))

    @property
    def teachers(self) -> list[str]:
        return [t.strip() for t in self.teacher_models.split(",") if t.strip()]


@dataclass
class EvalConfig:
    """Evaluation during training beyond the eval loss, logged against tokens and words seen: minimal
    pairs every N steps (`pairs_acc`, mean accuracy over paradigms) and the BabyLM fast suite
    (`babylm/<folder>`, the official rule)."""

    pairs_every: int = _f(0, "Score the minimal pairs every N optimizer steps, at step 0 and at the end "
                             "(0 = never); logged as pairs_acc.", min=0, max=B.MAX_STEPS)
    pairs_dir: str = _f("", "Folder of BLiMP-format .jsonl files, one per paradigm; empty = <workspace>/blimp/.")
    pairs_limit: int = _f(0, "Pairs scored per paradigm each time (0 = all; 100-200 keeps it quick).", min=0, max=B.MAX_ITEMS)
    babylm_fast_dir: str = _f("", "The official BabyLM evaluation_data/ (its fast_eval/ is used) or fast_eval/ "
                                  "folder: the fast suite, scored by the official rule at step 0, at every "
                                  "chck_ checkpoint and at the end; logged as babylm/<folder>. Empty = off.")
    babylm_every: int = _f(0, "Also score the BabyLM fast suite every N optimizer steps (0 = only at step 0, "
                              "the chck_ checkpoints and the end).", min=0, max=B.MAX_STEPS)
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


def _types(cls: type) -> dict[str, type]:
    return get_type_hints(cls)


# ---------------------------------------------------------------------------------------------
# Loading and overrides
# ---------------------------------------------------------------------------------------------

def load(path: str | Path | None = None, overrides: list[str] | None = None,
         *, base: dict | None = None, checks=()) -> RunConfig:
    """Read YAML (or start from `base` / defaults), apply overrides, validate; raise one ConfigError.

    `checks` are extra functions cfg -> list[Issue] (e.g. that the named corpus and tokenizer
    exist) whose problems join the same error list.
    """
    issues: list[Issue] = []
    raw: dict = {}
    if base is not None:
        raw = _deep_copy(base)
    if path is not None:
        raw = _merge(raw, _read_yaml(Path(path), issues))
    for key, value in parse_overrides(overrides or [], issues):
        section, _, name = key.partition(".")
        raw.setdefault(section, {})
        if not isinstance(raw[section], dict):
            raw[section] = {}
        raw[section][name] = value
    cfg = challenge.track_defaults(_build(raw, issues))
    issues += validate(cfg)
    for check in checks:
        issues += check(cfg)
    if issues:
        raise ConfigError(issues)
    return cfg


def load_distillation(path: str | Path, student: str | Path | None = None, overrides: list[str] | None = None,
                      *, checks=()) -> RunConfig:
    """The config of a distillation run (the guide's `--config distillation.yaml --student-config
    llama-58M.yaml`): data, training, logging and distillation from `path`, the `model` section
    from `student` when given. The student's name gets a `-distilled` suffix, so the run does not
    take the name of a plain run of the same preset (`--model_name` still wins)."""
    issues: list[Issue] = []
    raw = _read_yaml(Path(path), issues)
    if student is not None:
        model = _read_yaml(Path(student), issues).get("model")
        if not isinstance(model, dict):
            issues.append(Issue(f"--student-config {student}", "has no `model:` section",
                                "pass a model preset (presets/llama-58M.yaml) as the student"))
        else:
            raw["model"] = dict(model, name=f"{model.get('name') or model.get('type', 'model')}-distilled")
    if issues:
        raise ConfigError(issues)
    return load(overrides=overrides, base=raw, checks=checks)


def from_dict(raw: dict) -> RunConfig:
    """Rebuild a config saved with a run (`to_dict` output); raise ConfigError if it is invalid."""
    return load(base=raw)


def _read_yaml(path: Path, issues: list[Issue]) -> dict:
    if not path.is_file():
        issues.append(Issue(str(path), "config file not found", "check the path, or pick a preset with `babyllama presets list`"))
        return {}
    try:
        raw = yamlio.load_file(path)
    except yamlio.YamlError as err:  # bad syntax, too big, aliases, too deep, duplicate keys
        issues.append(Issue(str(path), str(err).removeprefix(f"{path}").lstrip(":, ")))
        return {}
    if raw is None:
        # An empty file would silently train the built-in default shape: never what was meant.
        issues.append(Issue(str(path), "the config file is empty (no sections)",
                            "write `data:`, `model:`, `training:` sections, or pick a preset (`babyllama presets list`)"))
        return {}
    if not isinstance(raw, dict):
        issues.append(Issue(str(path), "the top level must be a mapping of sections",
                            "use `data:`, `model:`, `training:`, `logging:`"))
        return {}
    return raw


def parse_overrides(tokens: list[str], issues: list[Issue]) -> list[tuple[str, Any]]:
    """Turn `--lr 5e-4`, `--fp16`, `training.lr=5e-4` or `lr=5e-4` into (dotted key, raw value) pairs."""
    specs = field_specs()
    pairs: list[tuple[str, Any]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            key = _resolve_key(name, specs, issues, shown=f"--{name}")
            if key is None:
                if not eq and i < len(tokens) and not tokens[i].startswith("--"):
                    i += 1  # skip the unknown flag's value so it is not reported twice
                continue
            if not eq:
                is_bool = _types(SECTIONS[key.split(".")[0]])[key.split(".")[1]] is bool
                if is_bool and (i >= len(tokens) or tokens[i].lower() not in _BOOL_WORDS):
                    value = "true"  # a bare boolean flag such as --fp16
                elif i < len(tokens):
                    value = tokens[i]
                    i += 1
                else:
                    issues.append(Issue(f"--{name}", "needs a value", f"write --{name} VALUE"))
                    continue
            _add_pair(pairs, key, value, issues)
        elif "=" in token:
            name, _, value = token.partition("=")
            key = _resolve_key(name, specs, issues, shown=name)
            if key is not None:
                _add_pair(pairs, key, value, issues)
        else:
            issues.append(Issue(token, "not an override", "write section.key=value (training.lr=5e-4) or a flag (--lr 5e-4)"))
    return pairs


def _add_pair(pairs: list, key: str, value: str, issues: list[Issue]) -> None:
    try:
        pairs.append((key, _yaml_scalar(value, key)))
    except yamlio.YamlError as err:
        issues.append(Issue(key, str(err).removeprefix(key).lstrip(":, ")))


_BOOL_WORDS = {"true", "false", "yes", "no", "1", "0", "on", "off"}
_TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _resolve_key(name: str, specs: dict, issues: list[Issue], shown: str) -> str | None:
    """Map a flag or key (dashes or underscores, dotted or bare) to a dotted config path."""
    name = name.replace("-", "_")
    if name in FLAG_ALIASES:
        return FLAG_ALIASES[name]
    if "." in name:
        if name in specs:
            return name
        issues.append(Issue(shown, "unknown config key", _suggest(name.split(".")[-1], specs)))
        return None
    matches = [key for key in specs if key.split(".")[1] == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        issues.append(Issue(shown, f"ambiguous: it could be {' or '.join(matches)}", "write the full section.key"))
        return None
    issues.append(Issue(shown, "unknown option", _suggest(name, specs)))
    return None


def _suggest(name: str, specs: dict) -> str:
    import difflib

    close = difflib.get_close_matches(name, [k.split(".")[1] for k in specs], n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(next(k for k in specs if k.endswith("." + c)) for c in close) + "?"
    return "see `babyllama config keys` for every key"


def _yaml_scalar(text: str, key: str = "value") -> Any:
    """An override's value read as YAML (`5e-4`, `true`, `[1, 2]`); what is not YAML stays text.
    Over-long numbers, aliases and deep nesting are refused (YamlError naming `key`)."""
    if not text.strip():
        return ""
    try:
        return yamlio.loads(text, key)
    except yamlio.YamlError as err:
        if "not valid YAML" in str(err):
            return text
        raise


def _build(raw: dict, issues: list[Issue]) -> RunConfig:
    """Coerce raw YAML values into the dataclasses, recording unknown keys and wrong types."""
    sections = {}
    for section_name, value in raw.items():
        if section_name not in SECTIONS:
            issues.append(Issue(str(section_name), "unknown section", f"use one of: {', '.join(SECTIONS)}"))
    for section_name, cls in SECTIONS.items():
        given = raw.get(section_name) or {}
        if not isinstance(given, dict):
            issues.append(Issue(section_name, "must be a mapping of keys", f"write `{section_name}:` followed by indented keys"))
            given = {}
        types = _types(cls)
        kwargs = {}
        for key, value in given.items():
            path = f"{section_name}.{key}"
            if key not in types:
                issues.append(Issue(path, "unknown config key", _suggest(str(key), field_specs())))
                continue
            ok, coerced = _coerce(value, types[key])
            choices = cls.__dataclass_fields__[key].metadata.get("choices")
            if ok and choices and isinstance(coerced, str):
                # Choices match case-insensitively (`--model_type llama` means Llama).
                coerced = {c.lower(): c for c in choices}.get(coerced.lower(), coerced)
            if ok:
                kwargs[key] = coerced
            else:
                kind = _TYPE_WORDS[types[key]]
                issues.append(Issue(path, f"expected {kind}, got {value!r}", f"set {path} to {kind}"))
        sections[section_name] = cls(**kwargs)
    return RunConfig(**sections)


def _coerce(value: Any, typ: type) -> tuple[bool, Any]:
    """Lenient where YAML is surprising (`3e-4` is a string to PyYAML), strict otherwise."""
    if typ is bool:
        if isinstance(value, bool):
            return True, value
        if isinstance(value, str) and value.lower() in _BOOL_WORDS:
            return True, value.lower() in {"true", "yes", "1", "on"}
        if isinstance(value, int) and value in (0, 1):
            return True, bool(value)
        return False, None
    if typ is int:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return True, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return False, None
            return (True, int(number)) if number.is_integer() else (False, None)
        return False, None
    if typ is float:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, (int, float)):
            return True, float(value)
        if isinstance(value, str):
            try:
                return True, float(value)
            except ValueError:
                return False, None
        return False, None
    if typ is str:
        if value is None:
            return True, ""
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
            return True, ",".join(str(v) for v in value)  # a YAML list where a comma-separated string is expected
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return True, str(value)
        return False, None
    return False, None


def _merge(base: dict, update: dict) -> dict:
    out = _deep_copy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _deep_copy(raw: dict) -> dict:
    return {k: (_deep_copy(v) if isinstance(v, dict) else v) for k, v in raw.items()}


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

def validate(cfg: RunConfig) -> list[Issue]:
    """Every problem in `cfg`: bounds and choices of each field, then shapes that must agree."""
    issues: list[Issue] = []
    for section_name in SECTIONS:
        section = getattr(cfg, section_name)
        for f in fields(section):
            issues += _check_field(f"{section_name}.{f.name}", getattr(section, f.name), f.metadata)
    m, d = cfg.model, cfg.data
    if m.n_head >= 1 and m.hidden_size % m.n_head:
        options = [h for h in range(1, min(m.hidden_size, 64) + 1) if m.hidden_size % h == 0]
        issues.append(Issue("model.hidden_size", f"{m.hidden_size} is not divisible by model.n_head={m.n_head}",
                            f"pick n_head from {options[-6:]} or change hidden_size"))
    if d.seq_length > m.max_position_embeddings:
        issues.append(Issue("data.seq_length",
                            f"{d.seq_length} is longer than model.max_position_embeddings={m.max_position_embeddings}",
                            f"lower data.seq_length or raise model.max_position_embeddings to at least {d.seq_length}"))
    if m.type == "GPTJ" and m.n_head >= 1 and m.hidden_size % m.n_head == 0 and (m.hidden_size // m.n_head) % 2:
        issues.append(Issue("model.n_head", "GPT-J's rotary embedding needs an even head size (hidden_size / n_head)",
                            "choose n_head so that hidden_size / n_head is even"))
    t = cfg.training
    counted = {"training.max_steps", "training.batch_size", "training.gradient_accumulation_steps", "data.seq_length"}
    if (not any(i.where in counted for i in issues)  # each within its own bound, the product may not be
            and t.max_steps * t.batch_size * t.gradient_accumulation_steps * d.seq_length > B.INT64_SAFE):
        # Tokens seen are counted in SQLite int64 and float metrics: past 2**53 they stop being exact.
        issues.append(Issue("training.max_steps", f"{t.max_steps:,} steps x {t.batch_size * t.gradient_accumulation_steps:,} "
                            f"sequences x {d.seq_length} tokens is more than {B.INT64_SAFE:,} tokens",
                            "lower training.max_steps (or the batch)"))
    issues += challenge.check(cfg)  # training.checkpoint_words: babylm or increasing word counts
    return issues


def _check_field(path: str, value: Any, meta: Any) -> list[Issue]:
    choices, lo, hi = meta.get("choices"), meta.get("min"), meta.get("max")
    if choices and value not in choices:
        lowered = {c.lower(): c for c in choices}
        hint = f"did you mean {lowered[value.lower()]!r}?" if isinstance(value, str) and value.lower() in lowered else ""
        return [Issue(path, f"{value!r} is not one of {', '.join(choices)}", hint or f"use one of {', '.join(choices)}")]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return []
    if isinstance(value, float) and not math.isfinite(value) and not meta.get("allow_nonfinite"):
        return [Issue(path, f"must be a finite number, got {value}", f"set {path} to a finite number")]
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value <= lo)):
        bound = f"> {lo}" if meta.get("min_exclusive") else f">= {lo}"
        return [Issue(path, f"must be {bound}, got {value}", f"set {path} {bound}")]
    if hi is not None and value > hi:
        return [Issue(path, f"must be <= {hi}, got {value}", f"set {path} <= {hi}")]
    return []


def check_tokenizer_vocab(cfg: RunConfig, tokenizer_vocab: int) -> list[Issue]:
    """A set model.vocab_size must equal the tokenizer's size (0 means: take the tokenizer's)."""
    if cfg.model.vocab_size and cfg.model.vocab_size != tokenizer_vocab:
        return [Issue("model.vocab_size", f"{cfg.model.vocab_size} does not match the tokenizer ({tokenizer_vocab} tokens)",
                      f"set model.vocab_size={tokenizer_vocab}, or 0 to take it from the tokenizer")]
    return []


def machine_fallbacks(cfg: RunConfig, *, cuda: bool, bf16_ok: bool, compile_ok: bool) -> tuple[RunConfig, list[str]]:
    """Turn off what this machine cannot do, with a warning each; the same YAML runs anywhere."""
    notes: list[str] = []
    t = cfg.training
    changes: dict[str, Any] = {}
    if t.fp16 and not cuda:
        changes["fp16"] = False
        notes.append("training.fp16: float16 needs CUDA; training in float32 on this machine")
    if t.bf16 and not bf16_ok:
        changes["bf16"] = False
        notes.append("training.bf16: this device has no bfloat16 support; training in float32")
    if t.fp16 and t.bf16 and cuda and bf16_ok:
        changes["fp16"] = False
        notes.append("training.fp16 and bf16 both set: using bf16")
    if t.torch_compile and not compile_ok:
        changes["torch_compile"] = False
        notes.append("training.torch_compile: needs CUDA or a C++ compiler (g++, or $CXX) for CPU kernels; "
                     "running eagerly")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    new_training = dataclasses.replace(t, **changes)
    return dataclasses.replace(cfg, training=new_training), notes


def to_yaml(cfg: RunConfig) -> str:
    """The config as YAML, section by section, the way a user would write it."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False)
