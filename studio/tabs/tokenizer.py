"""The Tokenizer tab: train byte-level BPE on a corpus as a background `tokenize` job, list the
tokenizers, watch one split typed text live (coloured pieces with ids) and measure it on a corpus.
Handlers are plain functions over core.tokenizer; job state stays in SQLite.
"""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import pandas as pd

from core.bounds import MAX_ITEMS, MAX_VOCAB
from core.errors import UserError
from core.tokenizer import MIN_VOCAB, corpus_stats, default_name, inspect_text, load_tokenizer, read_meta
from studio import job_panel
from studio.context import StudioContext
from studio.job_panel import JobPanel
from studio.shared import (
    check_output_name,
    cli_command,
    corpus_choices,
    free_output_name,
    refilled,
    refresh_on_open,
    start_job,
    whole_number,
)

DEFAULT_VOCAB = 16000  # the CLI's default
TOKENIZER_COLUMNS = ["name", "vocab reached", "source corpus", "created"]
MEASURE_COLUMNS = ["measure", "value"]
SAMPLE_TEXT = "The little cat saw a big red ball. Where is the ball now?"
# Light backgrounds that alternate token by token (dark text stays readable on all of them).
TOKEN_COLOURS = ("#dbeafe", "#fde68a", "#bbf7d0", "#fbcfe8", "#e9d5ff", "#fed7aa")


class TokenizerComponents(NamedTuple):
    corpus: gr.Dropdown
    vocab_size: gr.Number
    min_frequency: gr.Number
    name: gr.Textbox
    start: gr.Button
    panel: JobPanel
    tokenizers: gr.Dataframe
    refresh: gr.Button
    picker: gr.Dropdown
    text: gr.Textbox
    tokens: gr.HTML
    text_stats: gr.Markdown
    measure_corpus: gr.Dropdown
    measure: gr.Button
    measure_table: gr.Dataframe


# ---- training -------------------------------------------------------------------------------------


def suggest_name(ctx: StudioContext, corpus: str | None, vocab_size) -> str:
    """A free `<corpus>-bpe<vocab>` name (refreshed when the corpus or the vocab size changes)."""
    try:
        vocab = whole_number(vocab_size, "Vocab size")
    except UserError:
        return gr.skip()
    return free_output_name(ctx, default_name(corpus or "corpus", vocab), "tokenize")


def _first_suggestion(ctx: StudioContext) -> str:
    corpora = ctx.workspace.corpora()
    return suggest_name(ctx, corpora[0] if corpora else None, DEFAULT_VOCAB)


def start_training(ctx: StudioContext, corpus: str | None, vocab_size, min_frequency, name: str, c: TokenizerComponents) -> dict:
    """Start a `tokenize` job -> the job block and the next free name; bad input starts nothing."""
    try:
        if not corpus:
            raise UserError("Corpus: choose a corpus to train on (make one in the Data tab)")
        if corpus not in ctx.workspace.corpora():
            raise UserError(f"Corpus: no corpus named {corpus!r} in {ctx.workspace.data_dir}; refresh the list")
        vocab = whole_number(vocab_size, "Vocab size", minimum=MIN_VOCAB)
        min_freq = whole_number(min_frequency, "Min frequency")
        name = check_output_name(ctx, name, "tokenize", "Tokenizer name", default_name(corpus, vocab))
        params = {"data": corpus, "vocab_size": vocab, "min_frequency": min_freq, "output": name}
        command = cli_command(
            ctx,
            "tokenizer",
            "train",
            "--data",
            corpus,
            "--vocab-size",
            str(vocab),
            "--min-frequency",
            str(min_freq),
            "--name",
            name,
        )
        job = start_job(ctx, "tokenize", params, command)
    except UserError as err:
        return job_panel.refused(c.panel, err)
    return {**job_panel.started(ctx, c.panel, job), c.name: suggest_name(ctx, corpus, vocab)}


# ---- listing and polling --------------------------------------------------------------------------


def _source_label(ctx: StudioContext, source) -> str:
    """A workspace corpus by its name, anything else by its path."""
    if isinstance(source, list):
        return ", ".join(_source_label(ctx, s) for s in source)
    if not source:
        return ""
    path = Path(source)
    return path.name if path.parent == ctx.workspace.data_dir.resolve() else str(path)


def tokenizer_table(ctx: StudioContext) -> pd.DataFrame:
    """One row per tokenizer: name, vocab reached, source corpus, created (from its metadata)."""
    rows = []
    for name in ctx.workspace.tokenizers():
        meta = read_meta(ctx.workspace.tokenizer_dir(name))
        rows.append([name, meta.get("vocab_size"), _source_label(ctx, meta.get("source")), meta.get("created", "")])
    return pd.DataFrame(rows, columns=TOKENIZER_COLUMNS)


def tokenizer_choices(ctx: StudioContext) -> gr.Dropdown:
    """Fresh tokenizer choices for the picker."""
    return gr.Dropdown(choices=ctx.workspace.tokenizers())


def refresh_lists(ctx: StudioContext, c: TokenizerComponents, select: str | None = None) -> dict:
    """The tokenizer table, the tokenizer picker, the training and the measuring corpus, with fresh choices."""
    names = ctx.workspace.tokenizers()
    picker = gr.Dropdown(choices=names, value=select) if select in names else tokenizer_choices(ctx)
    return {
        c.tokenizers: tokenizer_table(ctx),
        c.picker: picker,
        c.corpus: corpus_choices(ctx),
        c.measure_corpus: corpus_choices(ctx),
    }


def poll_job(ctx: StudioContext, job: str, c: TokenizerComponents) -> dict:
    """Timer tick -> the job block, and the table, picker and both corpus lists when they change.

    With no job (page load) it re-attaches to a running `tokenize` job, else refreshes the lists;
    when the job ends it refreshes the lists, picks the new tokenizer and stops.
    """
    return job_panel.poll(ctx, c.panel, "tokenize", job, partial(refresh_lists, ctx, c))


# ---- looking at one tokenizer ---------------------------------------------------------------------


def tokens_html(pieces: list[str], ids: list[int], tokens: list[str]) -> str:
    """Coloured spans, one per token, its id beneath and in the tooltip; the pieces tile the text.

    A token with an empty piece (a later byte of a multi-byte character) joins the span before it.
    """
    groups: list[tuple[str, list[int], list[str]]] = []
    for piece, token_id, token in zip(pieces, ids, tokens):
        if piece == "" and groups:
            groups[-1][1].append(token_id)
            groups[-1][2].append(token)
        else:
            groups.append((piece, [token_id], [token]))
    spans = []
    for i, (piece, group_ids, group_tokens) in enumerate(groups):
        shown = html.escape(piece.replace("\n", "↵"))
        title = html.escape(" + ".join(f"{t!r} = {n}" for t, n in zip(group_tokens, group_ids)), quote=True)
        spans.append(
            f'<span class="tok" title="{title}" style="display:inline-block;margin:2px 1px;padding:1px 3px;'
            f'border-radius:4px;background:{TOKEN_COLOURS[i % len(TOKEN_COLOURS)]};color:#111;text-align:center">'
            f'<span style="white-space:pre;font-family:monospace">{shown}</span>'
            f'<span style="display:block;font-size:0.7em;color:#555">{" ".join(map(str, group_ids))}</span></span>'
            + ("<br>" if piece.endswith("\n") else "")
        )
    return f'<div class="tok-view" style="line-height:1.4">{"".join(spans)}</div>'


def inspect_live(ctx: StudioContext, tokenizer: str | None, text: str | None) -> tuple[str, str]:
    """(token HTML, counts Markdown) for typed text: tokens, words, fertility and bytes per token."""
    if not tokenizer:
        return "<p>Pick a tokenizer to see how it splits the text.</p>", ""
    try:
        result = inspect_text(load_tokenizer(tokenizer, ctx.workspace), text or "")
    except UserError as err:
        return f"<p>⚠️ {html.escape(str(err), quote=False)}</p>", ""
    counts = (
        f"**{len(result.ids):,}** tokens · **{result.words:,}** words · fertility "
        f"**{result.fertility:.2f}** tokens/word · **{result.bytes_per_token:.2f}** bytes/token"
    )
    return tokens_html(result.pieces, result.ids, result.tokens), counts


def _first_inspection(ctx: StudioContext, part: int) -> str:
    names = ctx.workspace.tokenizers()
    return inspect_live(ctx, names[0] if names else None, SAMPLE_TEXT)[part]


def measure_on_corpus(ctx: StudioContext, tokenizer: str | None, corpus: str | None) -> pd.DataFrame:
    """Fertility, bytes/token, unknown rate and coverage of `tokenizer` on a sample of `corpus`."""
    try:
        if not tokenizer:
            raise UserError("Tokenizer: pick a tokenizer to measure")
        if not corpus or corpus not in ctx.workspace.corpora():
            raise UserError(f"Corpus: choose a corpus of this workspace to measure on (got {corpus!r})")
        stats = corpus_stats(load_tokenizer(tokenizer, ctx.workspace), ctx.workspace.corpus_dir(corpus))
    except UserError as err:
        gr.Warning(str(err))
        return gr.skip()
    rows = [
        ("measured", f"{tokenizer} on {corpus}"),
        ("fertility (tokens/word)", f"{stats.fertility:.3f}"),
        ("bytes per token", f"{stats.bytes_per_token:.3f}"),
        ("unknown rate", f"{stats.unknown_rate:.2%}"),
        ("coverage (words that are one token)", f"{stats.coverage:.1%}"),
        ("sample", f"{stats.lines:,} lines, {stats.words:,} words, {stats.tokens:,} tokens"),
    ]
    return pd.DataFrame(rows, columns=MEASURE_COLUMNS)


# ---- the tab --------------------------------------------------------------------------------------


def build(ctx: StudioContext) -> TokenizerComponents:
    """The Tokenizer tab's components, with every event wired (call inside `with gr.Tab(...)`)."""
    c = TokenizerComponents(**_build_controls(ctx), **_build_outputs(ctx))
    # trigger_mode="always_last": while typing, the last keystroke is always shown, never a stale one.
    for trigger in (c.corpus, c.vocab_size):
        trigger.change(
            partial(suggest_name, ctx),
            [c.corpus, c.vocab_size],
            c.name,
            show_progress="hidden",
            trigger_mode="always_last",
            api_visibility="private",
        )
    c.start.click(
        partial(start_training, ctx, c=c),
        [c.corpus, c.vocab_size, c.min_frequency, c.name],
        [*c.panel.outputs, c.name],
        api_name="train_tokenizer",
    )
    lists = [c.tokenizers, c.picker, c.corpus, c.measure_corpus]
    c.panel.timer.tick(
        partial(poll_job, ctx, c=c), c.panel.job, c.panel.outputs + lists, show_progress="hidden", api_name="tokenizer_job"
    )
    c.refresh.click(partial(refresh_lists, ctx, c), None, lists, api_name="list_tokenizers")
    # Opening a dropdown refreshes its choices: the Data tab (or the CLI) may have added some.
    c.picker.focus(partial(tokenizer_choices, ctx), None, c.picker, show_progress="hidden", api_visibility="private")
    for dropdown in (c.corpus, c.measure_corpus):
        dropdown.focus(partial(corpus_choices, ctx), None, dropdown, show_progress="hidden", api_visibility="private")
    live = dict(
        fn=partial(inspect_live, ctx),
        inputs=[c.picker, c.text],
        outputs=[c.tokens, c.text_stats],
        show_progress="hidden",
        trigger_mode="always_last",
    )
    gr.on([c.text.change, c.picker.change], **live, api_name="tokenize_text")  # one event, so "always_last" orders both
    c.measure.click(partial(measure_on_corpus, ctx), [c.picker, c.measure_corpus], c.measure_table, api_name="measure_tokenizer")
    return c


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: TokenizerComponents, tab: gr.Tab | None = None) -> None:
    """On page load and on opening the tab: re-attach to a running `tokenize` job, else refresh the lists."""
    lists = [c.tokenizers, c.picker, c.corpus, c.measure_corpus]
    refresh_on_open(demo, tab, partial(poll_job, ctx, "", c=c), None, c.panel.outputs + lists)


def _build_controls(ctx: StudioContext) -> dict:
    corpora = ctx.workspace.corpora()
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Row():
                corpus = gr.Dropdown(
                    corpora,
                    value=corpora[0] if corpora else None,
                    allow_custom_value=True,
                    label="Corpus",
                    info="trained on its train split",
                    elem_id="tokenizer-corpus",
                )
                vocab_size = gr.Number(
                    DEFAULT_VOCAB,
                    label="Vocab size",
                    precision=0,
                    minimum=MIN_VOCAB,
                    maximum=MAX_VOCAB,
                    info=f"{MIN_VOCAB} (256 bytes + 4 special tokens) to {MAX_VOCAB:,}",
                    elem_id="tokenizer-vocab",
                )
                min_frequency = gr.Number(
                    2,
                    label="Min frequency",
                    precision=0,
                    minimum=1,
                    maximum=MAX_ITEMS,
                    info="a pair must occur this often to merge",
                    elem_id="tokenizer-min-freq",
                )
            with gr.Row():
                name = refilled(
                    gr.Textbox, partial(_first_suggestion, ctx), label="Tokenizer name", scale=3, elem_id="tokenizer-name"
                )
                start = gr.Button("Train tokenizer", variant="primary", scale=1, elem_id="tokenizer-start")
        with gr.Column(scale=2):
            panel = job_panel.job_panel("tokenizer", "No tokenizer job started yet.", log_lines=4)
    return dict(
        corpus=corpus,
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        name=name,
        start=start,
        panel=panel,
    )


def _build_outputs(ctx: StudioContext) -> dict:
    names, corpora = ctx.workspace.tokenizers(), ctx.workspace.corpora()
    with gr.Row():
        tokenizers = refilled(
            gr.Dataframe,
            partial(tokenizer_table, ctx),
            headers=TOKENIZER_COLUMNS,
            interactive=False,
            label="Tokenizers",
            max_height=240,
            elem_id="tokenizer-list",
        )
    refresh = gr.Button("Refresh lists", size="sm", elem_id="tokenizer-refresh")
    gr.Markdown("### Try it")
    with gr.Row():
        picker = gr.Dropdown(
            names,
            value=names[0] if names else None,
            allow_custom_value=True,
            label="Tokenizer",
            scale=1,
            elem_id="tokenizer-pick",
        )
        text = gr.Textbox(SAMPLE_TEXT, label="Text", lines=3, scale=3, elem_id="tokenizer-text")
    tokens = refilled(gr.HTML, partial(_first_inspection, ctx, 0), label="Tokens", elem_id="tokenizer-tokens")
    text_stats = refilled(gr.Markdown, partial(_first_inspection, ctx, 1), elem_id="tokenizer-text-stats")
    with gr.Row():
        measure_corpus = gr.Dropdown(
            corpora,
            value=corpora[0] if corpora else None,
            allow_custom_value=True,
            label="Measure on corpus",
            scale=3,
            elem_id="tokenizer-measure-corpus",
        )
        measure = gr.Button("Measure on corpus", scale=1, elem_id="tokenizer-measure")
    measure_table = gr.Dataframe(
        headers=MEASURE_COLUMNS, interactive=False, label="On the corpus (line sample)", elem_id="tokenizer-measure-table"
    )
    return dict(
        tokenizers=tokenizers,
        refresh=refresh,
        picker=picker,
        text=text,
        tokens=tokens,
        text_stats=text_stats,
        measure_corpus=measure_corpus,
        measure=measure,
        measure_table=measure_table,
    )
