"""Run configuration: typed sections with field metadata (`fields`), reading YAML + overrides
(`loader`), checks (`checks`), finding presets (`presets`) and resolving data/tokenizer references
(`resolve`). The names below are the package's public API. Must not import torch or gradio.
"""

from core.config.checks import check_tokenizer_vocab, machine_fallbacks, validate
from core.config.fields import (
    FLAG_ALIASES,
    SECTIONS,
    DataConfig,
    DistillationConfig,
    EvalConfig,
    LoggingConfig,
    ModelConfig,
    RunConfig,
    TrainingConfig,
    field_limits,
    field_specs,
    field_types,
)
from core.config.loader import from_dict, load, load_distillation, parse_overrides, to_yaml

__all__ = [
    "FLAG_ALIASES",
    "SECTIONS",
    "DataConfig",
    "DistillationConfig",
    "EvalConfig",
    "LoggingConfig",
    "ModelConfig",
    "RunConfig",
    "TrainingConfig",
    "check_tokenizer_vocab",
    "field_limits",
    "field_specs",
    "field_types",
    "from_dict",
    "load",
    "load_distillation",
    "machine_fallbacks",
    "parse_overrides",
    "to_yaml",
    "validate",
]
