"""The Model tab: pick a preset or edit the architecture; see parameters, memory and data fit live.

Handlers are plain functions over core.config / core.model.build / core.config.presets; nothing is built or
trained here. Must not hold state: every handler takes the studio context and explicit values.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import gradio as gr
import plotly.graph_objects as go

from core import config
from core.config import presets
from core.data import read_manifest
from core.doctor.machine import system_summary
from core.errors import ConfigError, Issue, UserError
from core.model import build as models
from core.tokenizer import corpus_stats, resolve_tokenizer, vocab_size_of
from core.workspace import check_name
from studio.context import StudioContext
from studio.plots import PALETTE
from studio.shared import refilled, refresh_on_open

# The form's fields, in the order every handler takes and returns their values.
FIELDS = (
    "model.type",
    "model.hidden_size",
    "model.intermediate_size",
    "model.n_layer",
    "model.n_head",
    "model.max_position_embeddings",
    "data.seq_length",
    "model.vocab_size",
    "model.tie_word_embeddings",
    "training.batch_size",
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
WORDS_PER_TOKEN = 0.75  # without a tokenizer: about 4 tokens for every 3 words of English
LOW_RATIO, HIGH_RATIO = 0.2, 20.0  # tokens per parameter the guide's rule of thumb (about 1) tolerates
NONE = ("(none)", "")
ERROR_STYLE = 'style="color:#b42318;background:#fef3f2;border:1px solid #fda29b;border-radius:6px;padding:8px 12px"'


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


def resolve_form(ctx: StudioContext, preset: str, values, tokenizer_vocab: int | None = None) -> config.RunConfig:
    """The preset with the form's values as overrides; raise one ConfigError naming every bad field."""
    issues, overrides = [], []
    for path, value in zip(FIELDS, values):
        if value is None or value == "":
            issues.append(Issue(path, "is empty", "enter a value"))
        else:
            overrides.append(f"{path}={_as_text(value)}")
    base = presets.available(ctx.workspace).get(preset or "")
    checks = [lambda cfg: config.check_tokenizer_vocab(cfg, tokenizer_vocab)] if tokenizer_vocab else []
    try:
        cfg = config.load(base, overrides, checks=checks)
    except ConfigError as err:
        issues += err.issues
    if issues:
        raise ConfigError(issues)
    return cfg


def estimate(
    ctx: StudioContext, preset: str, tokenizer: str, corpus: str, fertility: float | None, *values
) -> tuple[str, str, go.Figure, str]:
    """(summary, errors, memory figure, data fit) for the form; errors are shown, never raised."""
    vocab, tok_issue = _tokenizer_vocab(ctx, tokenizer)
    try:
        cfg = resolve_form(ctx, preset, values, vocab)
    except ConfigError as err:
        issues = ([tok_issue] if tok_issue else []) + err.issues
        return ("*Fix the fields below to see the size.*", errors_markdown(issues), memory_figure({}), "")
    v = cfg.model.vocab_size or vocab or models.NOMINAL_VOCAB
    params = models.count_parameters(cfg.model, v)
    mem = models.estimate_memory(cfg, v)
    parts = {"weights": mem.weights, "gradients": mem.gradients, "optimizer": mem.optimizer, "activations": mem.activations}
    source = (
        "set in the form"
        if cfg.model.vocab_size
        else f"from tokenizer {tokenizer}"
        if vocab
        else "nominal: choose a tokenizer or set vocab size"
    )
    summary = (
        f"### {models.human(params)} parameters\n`{params:,}` exactly ({cfg.model.type}, "
        f"vocab {v:,}, {source})\n\n**Training memory** about **{_bytes(mem.total)}** "
        f"(AdamW, batch {cfg.training.batch_size} x {cfg.data.seq_length} tokens, "
        f"{'16-bit' if cfg.training.fp16 or cfg.training.bf16 else 'float32'})"
    )
    errors = errors_markdown([tok_issue]) if tok_issue else ""
    return summary, errors, memory_figure(parts), data_fit(ctx, corpus, params, fertility)


def measure_fertility(ctx: StudioContext, tokenizer: str, corpus: str) -> float | None:
    """Tokens per word of `tokenizer` on a sample of `corpus` (None unless both are chosen)."""
    if not tokenizer or not corpus:
        return None
    from tokenizers import Tokenizer  # the raw tokenizer: measuring needs no transformers (seconds to import)

    try:
        path = resolve_tokenizer(tokenizer, ctx.workspace)
        tok = Tokenizer.from_file(str(path / "tokenizer.json" if path.is_dir() else path))
        stats = corpus_stats(tok, ctx.workspace.corpus_dir(corpus) / "train")
    except Exception as err:  # tokenizers raises a bare Exception on a broken file: show it, don't fail
        gr.Warning(f"tokens per word not measured: {err}")
        return None
    return round(stats.fertility, 3)


def data_fit(ctx: StudioContext, corpus: str, params: int, fertility: float | None = None) -> str:
    """Tokens per parameter for `corpus` against the guide's rule of thumb (1M parameters per 1M tokens)."""
    rule = "rule of thumb: about 1M parameters per 1M tokens of data"
    if not corpus:
        return f"Choose a corpus to check the model size against your data ({rule})."
    try:
        words = read_manifest(ctx.workspace.corpus_dir(corpus))["splits"]["train"]["words"]
    except (UserError, KeyError, TypeError) as err:
        return f"Corpus {corpus!r}: no word count ({err})."
    if fertility:
        tokens, how = words * fertility, f"{fertility:.2f} tokens per word, measured"
    else:
        tokens, how = words / WORDS_PER_TOKEN, f"words / {WORDS_PER_TOKEN}"
    ratio = tokens / params
    line = (
        f"**{corpus}**: {models.human(words)} words, about {models.human(tokens)} tokens ({how}): "
        f"**{ratio:.2g} tokens per parameter** ({rule})."
    )
    if ratio < LOW_RATIO:
        return line + ("\n\n⚠️ **The model is large for this data: expect overfitting; pick a smaller preset or more data.**")
    if ratio > HIGH_RATIO:
        return line + ("\n\n⚠️ **The model is small for this data: it may underfit; pick a larger preset or use less data.**")
    return line + "\n\n✅ Size and data are within the rule of thumb."


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


def errors_markdown(issues: list[Issue], title: str = "") -> str:
    """A red box listing each problem with the field it belongs to and its fix."""
    items = "".join(
        f"<li><b>{i.where}</b>: {_escape(i.problem)}" + (f" <i>(fix: {_escape(i.fix)})</i>" if i.fix else "") + "</li>"
        for i in issues
    )
    head = f"<b>{_escape(title)}</b>" if title else f"<b>{len(issues)} problem{'s' * (len(issues) != 1)}</b>"
    return f"<div {ERROR_STYLE}>{head}" + (f"<ul>{items}</ul>" if items else "") + "</div>"


def memory_figure(parts: dict[str, int]) -> go.Figure:
    """Bars of the training-memory parts (bytes), in MB or GB, with the total in the title."""
    total = sum(parts.values())
    scale, unit = (1e9, "GB") if total >= 1e9 else (1e6, "MB")
    fig = go.Figure(
        go.Bar(
            x=list(parts),
            y=[v / scale for v in parts.values()],
            marker_color=list(PALETTE[: len(parts)]),
            text=[_bytes(v) for v in parts.values()],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_yaxes(title_text=unit, rangemode="tozero")
    title = f"training memory about {_bytes(total)}" if parts else "no estimate"
    fig.update_layout(
        title=dict(text=title, x=0.02, font=dict(size=14)),
        height=280,
        template="plotly_white",
        margin=dict(l=50, r=20, t=50, b=30),
        showlegend=False,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _get(cfg: config.RunConfig, path: str):
    section, name = path.split(".")
    return getattr(getattr(cfg, section), name)


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _bytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _tokenizer_vocab(ctx: StudioContext, tokenizer: str) -> tuple[int | None, Issue | None]:
    if not tokenizer:
        return None, None
    try:
        return vocab_size_of(tokenizer, ctx.workspace), None
    except UserError as err:
        return None, Issue("tokenizer", str(err), "pick another tokenizer or (none)")


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


def _build_outputs(ctx: StudioContext, initial: tuple) -> dict:
    summary, errors, fig, fit = initial
    o = {
        "summary": gr.Markdown(summary, elem_id="model-summary"),
        "errors": gr.Markdown(errors, elem_id="model-errors"),
        "memory_plot": gr.Plot(fig, label="memory", elem_id="model-memory"),
        "fit": gr.Markdown(fit, elem_id="model-fit"),
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
            o = _build_outputs(ctx, estimate(ctx, preset, "", "", None, *values))
    fields = list(c["fields"])
    form = [c["preset"], c["tokenizer"], c["corpus"], c["fertility"], *fields]
    outputs = [o["summary"], o["errors"], o["memory_plot"], o["fit"]]
    c["preset"].change(functools.partial(load_preset, ctx), c["preset"], fields, show_progress="hidden", api_name="preset_values")
    gr.on(
        [f.change for f in form],
        functools.partial(estimate, ctx),
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
    return ModelComponents(
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


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: ModelComponents, tab: gr.Tab | None = None) -> None:
    """On page load and on opening the tab, re-read the presets, tokenizers and corpora other tabs made."""
    lists = [c.preset, c.tokenizer, c.corpus]
    refresh_on_open(demo, tab, functools.partial(refresh_lists, ctx), lists, lists)
