"""Config dataclass metadata -> Gradio components, and form values -> the CLI's override list.

The Train tab's fields are generated here from `core.config` field metadata (help, bounds,
choices), so the form, `babyllama train --help` and validation never disagree.
"""

from __future__ import annotations

import shlex
from dataclasses import fields
from typing import Any

import gradio as gr

from core import config as config_mod

# The form's fields, in order: the data settings a run picks, everything in `training`, then
# `distillation` (teachers chosen = a distillation run), `eval` (minimal pairs while training),
# and the BabyLM challenge settings (word-count checkpoints, track budget, the fast suite).
TEACHERS = "distillation.teacher_models"
CHECKPOINT_WORDS = "training.checkpoint_words"
BABYLM_PATHS = [
    CHECKPOINT_WORDS,
    "training.babylm_track",
    "training.stop_at_budget",
    "eval.babylm_fast_dir",
    "eval.babylm_every",
    "eval.babylm_limit",
]
DISTILL_PATHS = [f"distillation.{f.name}" for f in fields(config_mod.DistillationConfig)]
EVAL_PATHS = [p for p in (f"eval.{f.name}" for f in fields(config_mod.EvalConfig)) if p not in BABYLM_PATHS]
TRAINING_PATHS = ["data.seq_length", "data.eval_samples"] + [
    p for p in (f"training.{f.name}" for f in fields(config_mod.TrainingConfig)) if p not in BABYLM_PATHS
]
FORM_PATHS = TRAINING_PATHS + DISTILL_PATHS + EVAL_PATHS + BABYLM_PATHS


def api_params(paths: list[str] = FORM_PATHS) -> list[str]:
    """The API parameter name of each form field: its key, as its label shows it (`max_steps`)."""
    return [path.split(".")[1] for path in paths]


def component_for(path: str, value: Any) -> gr.components.Component:
    """A labelled input for config field `path` with its help as `info` and its bounds."""
    f = config_mod.field_specs()[path]
    meta, typ = f.metadata, config_mod.field_types(config_mod.SECTIONS[path.split(".")[0]])[f.name]
    label = path.split(".")[1]
    elem_id = "train-" + path.replace(".", "-").replace("_", "-")
    if path == CHECKPOINT_WORDS:  # the challenge's schedule is one pick; word counts can be typed
        return gr.Dropdown(
            ["", "babylm"],
            value=value,
            label="BabyLM checkpoints (checkpoint_words)",
            info=meta["help"],
            allow_custom_value=True,
            elem_id=elem_id,
        )
    if meta.get("choices"):
        return gr.Dropdown(list(meta["choices"]), value=value, label=label, info=meta["help"], elem_id=elem_id)
    if typ is bool:
        return gr.Checkbox(value=bool(value), label=label, info=meta["help"], elem_id=elem_id)
    if typ in (int, float):
        return gr.Number(
            value=value,
            label=label,
            info=meta["help"],
            precision=0 if typ is int else None,
            minimum=meta.get("min"),
            maximum=meta.get("max"),
            elem_id=elem_id,
        )
    return gr.Textbox(value=value, label=label, info=meta["help"], elem_id=elem_id)


def teachers_input(value: list[str], choices: list[str]) -> gr.Dropdown:
    """The teachers field: finished runs to pick from, or any model folder typed in."""
    f = config_mod.field_specs()[TEACHERS]
    return gr.Dropdown(
        choices,
        value=value,
        multiselect=True,
        allow_custom_value=True,
        label="teacher_models",
        info=f.metadata["help"],
        elem_id="train-distillation-teacher-models",
    )


def values_of(cfg: config_mod.RunConfig, paths: list[str] = FORM_PATHS) -> list[Any]:
    """The current values of `paths` in `cfg` (to fill the form from a preset); the teachers as a
    list, the value of their multiselect."""
    return [
        cfg.distillation.teachers if p == TEACHERS else getattr(getattr(cfg, p.split(".")[0]), p.split(".")[1]) for p in paths
    ]


def overrides_from(base: config_mod.RunConfig, values: list[Any], paths: list[str] = FORM_PATHS) -> list[str]:
    """`section.key=value` for each form value that differs from `base` (the preset)."""
    out = []
    for path, value, default in zip(paths, values, values_of(base, paths)):
        if value is None or value == "":
            continue
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float) and value.is_integer():
            value = int(value)
        if value != default:
            out.append(f"{path}={_text(value)}")
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def cli_command(config: str, overrides: list[str], name: str | None = None, verb: str = "train") -> str:
    """The `babyllama train ...` (or `distill ...`) command that starts exactly the same run."""
    argv = ["babyllama", verb, "--config", config]
    if name:
        argv += ["--model_name", name]
    return " ".join(shlex.quote(a) for a in argv + overrides)
