"""The Model tab's size estimate of a form: the form resolved into a config, its parameters and
training memory (a figure), and how its size fits a corpus; the red box of problems. Plain
functions over core.config / core.model.build (gradio only for a warning); must not import the tab builder.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import plotly.graph_objects as go

from core import config
from core.config import presets
from core.data import read_manifest
from core.errors import ConfigError, Issue, UserError
from core.model import build as models
from core.tokenizer import corpus_stats, resolve_tokenizer, vocab_size_of
from studio.context import StudioContext
from studio.plots import PALETTE

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
WORDS_PER_TOKEN = 0.75  # without a tokenizer: about 4 tokens for every 3 words of English
LOW_RATIO, HIGH_RATIO = 0.2, 20.0  # tokens per parameter the guide's rule of thumb (about 1) tolerates
ERROR_STYLE = 'style="color:#b42318;background:#fef3f2;border:1px solid #fda29b;border-radius:6px;padding:8px 12px"'


@dataclass(frozen=True)
class Estimate:
    """What the Model tab shows for a form: the size summary, the problems, the memory bars, the data fit."""

    summary: str
    errors: str
    figure: go.Figure
    fit: str


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


def size_of(ctx: StudioContext, preset: str, tokenizer: str, corpus: str, fertility: float | None, *values) -> Estimate:
    """The form's size: summary, errors, memory figure and data fit; errors are shown, never raised."""
    vocab, tok_issue = _tokenizer_vocab(ctx, tokenizer)
    try:
        cfg = resolve_form(ctx, preset, values, vocab)
    except ConfigError as err:
        issues = ([tok_issue] if tok_issue else []) + err.issues
        return Estimate("*Fix the fields below to see the size.*", errors_markdown(issues), memory_figure({}), "")
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
    return Estimate(summary, errors, memory_figure(parts), data_fit(ctx, corpus, params, fertility))


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
