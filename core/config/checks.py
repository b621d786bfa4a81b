"""Checks of a built config: each field's bounds and choices, shapes that must agree, a tokenizer's
vocabulary size, and the fallbacks for what this machine cannot do (fp16, bf16, compile).
Must not import torch, transformers or gradio.

Non-finite floats (NaN, inf) are refused unless a field's metadata says `allow_nonfinite`; steps x
batch x seq_length must stay under 2**53 tokens (exact in SQLite and float metrics);
`training.checkpoint_words` is checked by `core.train.word_marks`. `machine_fallbacks` turns off
fp16/bf16/compile where the machine lacks them, with a warning each, so one YAML runs anywhere.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import fields
from typing import Any

from core import bounds as B
from core.config.fields import SECTIONS, RunConfig
from core.errors import Issue
from core.train import word_marks


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
        issues.append(
            Issue(
                "model.hidden_size",
                f"{m.hidden_size} is not divisible by model.n_head={m.n_head}",
                f"pick n_head from {options[-6:]} or change hidden_size",
            )
        )
    if d.seq_length > m.max_position_embeddings:
        issues.append(
            Issue(
                "data.seq_length",
                f"{d.seq_length} is longer than model.max_position_embeddings={m.max_position_embeddings}",
                f"lower data.seq_length or raise model.max_position_embeddings to at least {d.seq_length}",
            )
        )
    if m.type == "GPTJ" and m.n_head >= 1 and m.hidden_size % m.n_head == 0 and (m.hidden_size // m.n_head) % 2:
        issues.append(
            Issue(
                "model.n_head",
                "GPT-J's rotary embedding needs an even head size (hidden_size / n_head)",
                "choose n_head so that hidden_size / n_head is even",
            )
        )
    t = cfg.training
    counted = {"training.max_steps", "training.batch_size", "training.gradient_accumulation_steps", "data.seq_length"}
    if (
        not any(i.where in counted for i in issues)  # each within its own bound, the product may not be
        and t.max_steps * t.batch_size * t.gradient_accumulation_steps * d.seq_length > B.INT64_SAFE
    ):
        # Tokens seen are counted in SQLite int64 and float metrics: past 2**53 they stop being exact.
        issues.append(
            Issue(
                "training.max_steps",
                f"{t.max_steps:,} steps x {t.batch_size * t.gradient_accumulation_steps:,} "
                f"sequences x {d.seq_length} tokens is more than {B.INT64_SAFE:,} tokens",
                "lower training.max_steps (or the batch)",
            )
        )
    issues += word_marks.check(cfg)  # training.checkpoint_words: babylm or increasing word counts
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
        return [
            Issue(
                "model.vocab_size",
                f"{cfg.model.vocab_size} does not match the tokenizer ({tokenizer_vocab} tokens)",
                f"set model.vocab_size={tokenizer_vocab}, or 0 to take it from the tokenizer",
            )
        ]
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
        notes.append("training.torch_compile: needs CUDA or a C++ compiler (g++, or $CXX) for CPU kernels; running eagerly")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    new_training = dataclasses.replace(t, **changes)
    return dataclasses.replace(cfg, training=new_training), notes
