"""The Model tab: pick a preset or edit the architecture; see parameters, memory and data fit live.

Handlers are plain functions over core.config / core.model.build / core.config.presets; nothing is built or
trained here. Must not hold state: every handler takes the studio context and explicit values.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import gradio as gr

from core import config
from core.config import presets
from core.doctor.machine import system_summary
from core.errors import ConfigError, UserError
from core.workspace import check_name
from studio.context import StudioContext
from studio.shared import refilled, refresh_on_open
from studio.tabs.model_size import (
    FIELDS,
    Estimate,
    errors_markdown,
    measure_fertility,
    resolve_form,
    size_of,
)

LABELS = {
    "model.type": "architecture",
    "model.max_position_embeddings": "max position embeddings",
    "data.seq_length": "sequence length (data.seq_length)",
    "model.vocab_size": "vocab size (0 = from tokenizer)",
    "model.tie_word_embeddings": "tie word embeddings",
    "training.batch_size": "batch size (for the memory estimate)",
}
DEFAULT_PRESET = "llama-10M"
NONE = ("(none)", "")


class ModelComponents(NamedTuple):
    preset: gr.Dropdown
    fields: tuple  # one component per FIELDS entry, same order
    tokenizer: gr.Dropdown
    corpus: gr.Dropdown
    fertility: gr.Number
    summary: gr.Markdown
    errors: gr.Markdown
    memory_plot: gr.Plot
    fit: gr.Markdown
    save_name: gr.Textbox
    save_button: gr.Button
    save_status: gr.Markdown
    system: gr.Markdown
    refresh: gr.Button


# ---------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------


def load_preset(ctx: StudioContext, name: str) -> list:
    """The form values (FIELDS order) of preset `name`; defaults when it is gone or broken."""
    path = presets.available(ctx.workspace).get(name or "")
    try:
        cfg = config.load(path) if path else config.RunConfig()
    except ConfigError as err:
        gr.Warning(f"preset {name!r} does not load: {err}")
        cfg = config.RunConfig()
    return [_get(cfg, p) for p in FIELDS]


def estimate(
    ctx: StudioContext, preset: str, tokenizer: str, corpus: str, fertility: float | None, *values, c: ModelComponents
) -> dict:
    """The form's summary, errors, memory figure and data fit (model_size.size_of), keyed by the tab's components."""
    size = size_of(ctx, preset, tokenizer, corpus, fertility, *values)
    return {c.summary: size.summary, c.errors: size.errors, c.memory_plot: size.figure, c.fit: size.fit}


def save_preset(ctx: StudioContext, name: str, preset: str, *values):
    """Write the resolved form as `<workspace>/presets/<name>.yaml`; (message, preset dropdown update)."""
    name = (name or "").strip()
    try:
        check_name(name, "preset name")
        taken = {k.lower(): k for k in presets.available(ctx.workspace)}
        if name.lower() in taken:
            raise UserError(f"preset name {name!r} is taken (by {taken[name.lower()]!r}): choose another name")
        cfg = resolve_form(ctx, preset, values)
    except ConfigError as err:
        return errors_markdown(err.issues, "Not saved: fix the fields first."), gr.update()
    except UserError as err:
        return errors_markdown([], f"Not saved: {err}"), gr.update()
    cfg.model.name = name  # runs started from the preset are named after it
    folder = ctx.workspace.root / "presets"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    header = f"# {name}: saved from the Studio's Model tab (based on {preset or 'the defaults'}).\n"
    path.write_text(header + config.to_yaml(cfg), encoding="utf-8")
    choices = sorted(presets.available(ctx.workspace), key=str.lower)
    return f"✅ Saved preset **{name}** to `{path}`.", gr.update(choices=choices, value=name)


def refresh_lists(ctx: StudioContext, preset: str, tokenizer: str, corpus: str):
    """Re-read presets, tokenizers and corpora (made in other tabs) into the three dropdowns."""
    ws = ctx.workspace
    names = sorted(presets.available(ws), key=str.lower)
    return (
        gr.update(choices=names, value=preset if preset in names else None),
        gr.update(choices=[NONE, *ws.tokenizers()], value=tokenizer if tokenizer in ws.tokenizers() else ""),
        gr.update(choices=[NONE, *ws.corpora()], value=corpus if corpus in ws.corpora() else ""),
    )


def system_markdown(ctx: StudioContext) -> str:
    """This machine, from core.doctor.machine.system_summary, as a small table."""
    s = system_summary(ctx.workspace)
    gpu = f"{s['gpu_mem_gb']} GB" if s["gpu_mem_gb"] else "none"
    return (
        "| | this machine |\n|---|---|\n"
        f"| device | {s['device']} |\n| CPU threads | {s['threads']} of {s['cpus']} |\n"
        f"| RAM | {s['ram_gb']} GB ({s['ram_available_gb']} GB free) |\n"
        f"| GPU memory | {gpu} |\n| free disk | {s['free_disk_gb']} GB |"
    )


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _get(cfg: config.RunConfig, path: str):
    section, name = path.split(".")
    return getattr(getattr(cfg, section), name)


def _help(path: str) -> str:
    return config.field_specs()[path].metadata["help"]


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def _field(path: str, value):
    label, kw = LABELS.get(path, path.split(".")[1]), dict(info=_help(path), elem_id=f"model-{path.split('.')[1]}")
    meta = config.field_specs()[path].metadata
    if meta.get("choices"):
        return gr.Dropdown(list(meta["choices"]), value=value, label=label, **kw)
    if isinstance(value, bool):
        return gr.Checkbox(value=value, label=label, **kw)
    return gr.Number(value=value, label=label, precision=0, minimum=meta.get("min"), maximum=meta.get("max"), **kw)


def _build_controls(ctx: StudioContext, names: list[str], preset: str, values: list) -> dict:
    ws = ctx.workspace
    c: dict = {}
    with gr.Row():
        c["preset"] = gr.Dropdown(
            names,
            value=preset,
            label="preset",
            elem_id="model-preset",
            scale=3,
            info="Built-in presets and the ones saved in this workspace; editing a field below overrides it.",
        )
        c["refresh"] = gr.Button("Refresh lists", size="sm", scale=1, elem_id="model-refresh")
    fields = []
    with gr.Row():
        for path, value in zip(FIELDS[:4], values[:4]):
            fields.append(_field(path, value))
    with gr.Row():
        for path, value in zip(FIELDS[4:7], values[4:7]):
            fields.append(_field(path, value))
    with gr.Row():
        for path, value in zip(FIELDS[7:], values[7:]):
            fields.append(_field(path, value))
    c["fields"] = tuple(fields)
    with gr.Row():
        c["tokenizer"] = gr.Dropdown(
            [NONE, *ws.tokenizers()],
            value="",
            label="tokenizer (optional)",
            elem_id="model-tokenizer",
            info="Its vocabulary sets the model's vocab size.",
        )
        c["corpus"] = gr.Dropdown(
            [NONE, *ws.corpora()],
            value="",
            label="corpus (optional)",
            elem_id="model-corpus",
            info="Checks the model size against the amount of data.",
        )
        c["fertility"] = gr.Number(
            None,
            label="tokens per word (measured)",
            interactive=False,
            elem_id="model-fertility",
            info="Needs a tokenizer and a corpus.",
        )
    with gr.Row():
        c["save_name"] = gr.Textbox(label="save as preset", placeholder="my-llama-5M", elem_id="model-save-name", scale=3)
        c["save_button"] = gr.Button("Save preset", elem_id="model-save", scale=1)
    c["save_status"] = gr.Markdown(elem_id="model-save-status")
    return c


def _build_outputs(ctx: StudioContext, initial: Estimate) -> dict:
    o = {
        "summary": gr.Markdown(initial.summary, elem_id="model-summary"),
        "errors": gr.Markdown(initial.errors, elem_id="model-errors"),
        "memory_plot": gr.Plot(initial.figure, label="memory", elem_id="model-memory"),
        "fit": gr.Markdown(initial.fit, elem_id="model-fit"),
    }
    with gr.Accordion("System", open=False, elem_id="model-system-panel"):
        o["system"] = refilled(gr.Markdown, functools.partial(system_markdown, ctx), elem_id="model-system")
    return o


def build(ctx: StudioContext) -> ModelComponents:
    """The Model tab's components and events; call inside a `gr.Tab`."""
    names = sorted(presets.available(ctx.workspace), key=str.lower)
    preset = DEFAULT_PRESET if DEFAULT_PRESET in names else (names[0] if names else None)
    values = load_preset(ctx, preset)
    with gr.Row():
        with gr.Column(scale=3):
            c = _build_controls(ctx, names, preset, values)
        with gr.Column(scale=2):
            o = _build_outputs(ctx, size_of(ctx, preset, "", "", None, *values))
    fields = list(c["fields"])
    form = [c["preset"], c["tokenizer"], c["corpus"], c["fertility"], *fields]
    outputs = [o["summary"], o["errors"], o["memory_plot"], o["fit"]]
    parts = ModelComponents(
        preset=c["preset"],
        fields=c["fields"],
        tokenizer=c["tokenizer"],
        corpus=c["corpus"],
        fertility=c["fertility"],
        save_name=c["save_name"],
        save_button=c["save_button"],
        save_status=c["save_status"],
        refresh=c["refresh"],
        **o,
    )
    c["preset"].change(functools.partial(load_preset, ctx), c["preset"], fields, show_progress="hidden", api_name="preset_values")
    gr.on(
        [f.change for f in form],
        functools.partial(estimate, ctx, c=parts),
        form,
        outputs,
        show_progress="hidden",
        api_name="estimate_model",
    )
    gr.on(
        [c["tokenizer"].change, c["corpus"].change],
        functools.partial(measure_fertility, ctx),
        [c["tokenizer"], c["corpus"]],
        c["fertility"],
        show_progress="hidden",
        api_name="measure_fertility",
    )
    c["save_button"].click(
        functools.partial(save_preset, ctx),
        [c["save_name"], c["preset"], *fields],
        [c["save_status"], c["preset"]],
        api_name="save_preset",
    )
    c["refresh"].click(
        functools.partial(refresh_lists, ctx),
        [c["preset"], c["tokenizer"], c["corpus"]],
        [c["preset"], c["tokenizer"], c["corpus"]],
        api_name="list_presets",
    )
    return parts


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: ModelComponents, tab: gr.Tab | None = None) -> None:
    """On page load and on opening the tab, re-read the presets, tokenizers and corpora other tabs made."""
    lists = [c.preset, c.tokenizer, c.corpus]
    refresh_on_open(demo, tab, functools.partial(refresh_lists, ctx), lists, lists)
